"""Season aggregates the booth endpoints need: records to date and who won each game.

Everything is computed from the loaded games' final scores in date order; a game counts
for a date when its date is strictly earlier (so "to date" on a game day means before
that day's games), which is what a booth sees before first pitch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pressbox.feeds.upstream.data import UpstreamData


@dataclass(slots=True)
class Record:
    """A team's results over some games."""

    wins: int = 0
    losses: int = 0
    ties: int = 0
    runs_scored: int = 0
    runs_allowed: int = 0
    home_wins: int = 0
    home_losses: int = 0
    away_wins: int = 0
    away_losses: int = 0
    last: list[str] = field(default_factory=list)
    """``"W"``/``"L"`` of every game, in order."""

    @property
    def pct(self) -> float:
        """Winning percentage (0.5 before any decision)."""
        decided = self.wins + self.losses
        return self.wins / decided if decided else 0.5

    @property
    def pct_text(self) -> str:
        """The percentage as the Stats API writes it: ``".550"``, ``"1.000"``."""
        text = f"{self.pct:.3f}"
        return text[1:] if text.startswith("0") else text

    @property
    def streak(self) -> str:
        """``"W3"``, ``"L1"``, or ``""`` before any game."""
        if not self.last:
            return ""
        kind, count = self.last[-1], 0
        for result in reversed(self.last):
            if result != kind:
                break
            count += 1
        return f"{kind}{count}"


def records(data: UpstreamData, season: int, before: str | None) -> dict[str, Record]:
    """Every team's regular-season record from the games dated before ``before``.

    Results are cached on ``data`` (the data never change once loaded).

    Args:
        data: The loaded games.
        season: Only games of this season count.
        before: ``YYYY-MM-DD``; ``None`` counts every game of the season.

    Returns:
        Team code → record (teams without a game so far are absent).
    """
    key = ("records", season, before)
    cached = data.cache.get(key)
    if isinstance(cached, dict):
        return cached
    out: dict[str, Record] = {}
    data.cache[key] = out
    for mg in data.games.values():
        info = mg.game.info
        if mg.season != season or mg.game.postseason or (before and info.date >= before):
            continue
        home, away = out.setdefault(info.home, Record()), out.setdefault(info.away, Record())
        hs, as_ = mg.game.home_score, mg.game.away_score
        home.runs_scored += hs
        home.runs_allowed += as_
        away.runs_scored += as_
        away.runs_allowed += hs
        if hs == as_:
            home.ties += 1
            away.ties += 1
            continue
        home_won = hs > as_
        home.wins += home_won
        home.losses += not home_won
        home.home_wins += home_won
        home.home_losses += not home_won
        away.wins += not home_won
        away.losses += home_won
        away.away_wins += not home_won
        away.away_losses += home_won
        home.last.append("W" if home_won else "L")
        away.last.append("L" if home_won else "W")
    return out
