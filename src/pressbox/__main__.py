"""Entry point for ``python -m pressbox``."""

from __future__ import annotations

from pressbox.cli import main

main()
