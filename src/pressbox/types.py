"""Shared type aliases and identifiers, in the manner of ``starlette/types.py``.

This module imports nothing from the project so that every layer can use it.
"""

from __future__ import annotations

from typing import Any, Literal, NewType, Protocol, TypeAlias

GameId = NewType("GameId", str)
"""A game's identifier, unique within its sport (Retrosheet ``NYA201504060``, a gamePk...)."""

PlayerId = NewType("PlayerId", str)
"""A player's identifier in the source's own scheme (Retrosheet ``reyej001``, an MLBAM id...)."""

Sport: TypeAlias = Literal["mlb", "nfl", "ncaaf"]
"""The sports pressbox models."""

SPORTS: tuple[Sport, ...] = ("mlb", "nfl", "ncaaf")

Half: TypeAlias = Literal["top", "bottom"]
"""Half of a baseball inning: the visitors bat in the top, the home team in the bottom."""

Side: TypeAlias = Literal["home", "away"]

GameStatus: TypeAlias = Literal["scheduled", "live", "final"]

JSON: TypeAlias = Any
"""A decoded JSON value. ``Any`` is only used at the JSON boundary."""


class Clock(Protocol):
    """A source of time, injected so that tests never sleep."""

    def monotonic(self) -> float:
        """Seconds on a monotonic clock, for intervals and deadlines."""

    def time(self) -> float:
        """Seconds since the Unix epoch, for timestamps that leave the process."""
