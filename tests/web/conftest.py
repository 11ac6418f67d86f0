"""Browser tests of the booth dashboard: the ``browser`` marker (``-m browser`` selects them)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker (strict markers are on)."""
    config.addinivalue_line(
        "markers", "browser: end-to-end in headless Chromium against a real `pressbox serve`"
    )
