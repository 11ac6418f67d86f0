"""pressbox: the live data backbone of a sports broadcast.

Live feeds in, normalized per-game event logs, win probability and its consequences out,
fanned out to booths, graphics and second screens.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
