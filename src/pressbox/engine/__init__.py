"""The pure domain: events, game state and win-probability models. No I/O, no asyncio."""

from __future__ import annotations
