"""The request and response bodies of the API, as pydantic models (they make the OpenAPI schema).

Every answer about data that may be missing has ``available`` and, when it is ``false``,
a ``reason``; the other fields are then absent or ``null``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

GAME_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
"""What a game id may look like (Retrosheet ids, gamePks, ESPN ids...)."""


class ErrorBody(BaseModel):
    """Every 4xx and 5xx answer."""

    error: str = Field(description="A short code: unauthorized, rate_limited, overloaded...")
    reason: str = Field(description="What went wrong, in words.")
    limit: str | None = Field(default=None, description="Which limit refused (429).")
    retry_after: float | None = Field(default=None, description="Seconds until a retry.")
    detail: list[dict[str, Any]] | None = Field(
        default=None, description="Validation errors, one per bad field (422)."
    )


class Health(BaseModel):
    """``/healthz``: the process answers."""

    status: Literal["ok"] = "ok"


class Ready(BaseModel):
    """``/readyz``: whether every backend answers."""

    ready: bool
    checks: dict[str, bool]


class GameOut(BaseModel):
    """One game as the archive knows it."""

    game_id: str
    sport: str
    status: Literal["scheduled", "live", "final"]
    home: str | None = None
    away: str | None = None
    date: str | None = None
    home_score: int = 0
    away_score: int = 0
    last_seq: int = 0


class GamesOut(BaseModel):
    """``GET /v1/games``."""

    available: bool
    reason: str | None = None
    games: list[GameOut] = Field(default_factory=list)


class SnapshotOut(BaseModel):
    """``GET /v1/games/{id}``: the game's row and its latest update."""

    available: bool
    reason: str | None = None
    game_id: str
    game: GameOut | None = None
    update: dict[str, Any] | None = Field(
        default=None,
        description=(
            "The latest Update (see docs/events.md). Its `prior` is the pregame prior the"
            ' game\'s WP started from, fixed at game start: `{"home": 0.56, "source":'
            ' "ratings"}` (`source` is `odds`, `ratings` or `none`, when `home` is null);'
            " null before the game starts, without a model, or in updates from before priors."
        ),
    )


class PlayOut(BaseModel):
    """One update of a game, in short."""

    seq: int
    event_id: str
    kind: str
    text: str
    home_score: int
    away_score: int
    home_wp: float | None = None
    wpa: float | None = None
    leverage: float | None = None
    key_play: bool = False
    ts_emit: float | None = None


class PlaysOut(BaseModel):
    """``GET /v1/games/{id}/plays``: updates after ``since``."""

    available: bool
    reason: str | None = None
    game_id: str
    plays: list[PlayOut] = Field(default_factory=list)
    last_seq: int = 0


class WpPoint(BaseModel):
    """One point of a WP chart."""

    seq: int
    home: float


class WpSeriesOut(BaseModel):
    """``GET /v1/games/{id}/wp``."""

    available: bool
    reason: str | None = None
    game_id: str
    model: str | None = None
    points: list[WpPoint] = Field(default_factory=list)


class KeyPlaysOut(BaseModel):
    """``GET /v1/games/{id}/key-plays``: the largest swings, largest first."""

    available: bool
    reason: str | None = None
    game_id: str
    model: str | None = None
    plays: list[PlayOut] = Field(default_factory=list)


class PredictionOut(BaseModel):
    """``GET /v1/predict/{sport}/{game_id}`` (sent as pre-encoded bytes; this is its shape)."""

    model_config = ConfigDict(extra="forbid")

    available: bool
    reason: str | None = None
    sport: str
    game_id: str
    status: Literal["scheduled", "live", "final"] | None = None
    seq: int | None = None
    home: float | None = Field(default=None, ge=0, le=1)
    away: float | None = Field(default=None, ge=0, le=1)
    tie: float | None = Field(default=None, ge=0, le=1)
    model: str | None = None
    home_score: int | None = None
    away_score: int | None = None
    period: int | None = None
    clock: str | None = None
    wpa: float | None = None
    leverage: float | None = None
    as_of: float | None = Field(default=None, description="Unix seconds of the update.")
    staleness_s: float | None = Field(
        default=None, description="Seconds between the update and this answer."
    )


class PredictionsOut(BaseModel):
    """``GET /v1/predictions/latest``: every live game."""

    available: bool
    reason: str | None = None
    predictions: list[PredictionOut] = Field(default_factory=list)


class BaseballStateIn(BaseModel):
    """A baseball situation typed in by an analyst."""

    model_config = ConfigDict(extra="forbid")

    inning: int = Field(ge=1, le=30)
    half: Literal["top", "bottom"]
    outs: int = Field(ge=0, le=2)
    bases: tuple[bool, bool, bool] = (False, False, False)
    home_score: int = Field(ge=0, le=99)
    away_score: int = Field(ge=0, le=99)
    innings: int = Field(default=9, ge=5, le=9)
    extra_runner: bool = False


class FootballStateIn(BaseModel):
    """A football situation typed in by an analyst."""

    model_config = ConfigDict(extra="forbid")

    quarter: int = Field(ge=1, le=5)
    clock_seconds: int = Field(ge=0, le=900)
    possession: Literal["home", "away"]
    down: int | None = Field(default=None, ge=1, le=4)
    distance: int | None = Field(default=None, ge=1, le=99)
    yard_line: int | None = Field(default=None, ge=1, le=99)
    home_score: int = Field(ge=0, le=199)
    away_score: int = Field(ge=0, le=199)
    home_timeouts: int = Field(default=3, ge=0, le=3)
    away_timeouts: int = Field(default=3, ge=0, le=3)


class WpOut(BaseModel):
    """``POST /v1/wp/{sport}``: WP, leverage and, for a football fourth down, the decision."""

    available: bool
    reason: str | None = None
    sport: str
    home: float | None = None
    away: float | None = None
    tie: float | None = None
    model: str | None = None
    leverage: float | None = None
    decision: dict[str, Any] | None = Field(
        default=None, description="Fourth-down options (football, down 4), else null."
    )


class BattingLineOut(BaseModel):
    """A batter's line: counts, and rates as a box score prints them (``".340"``)."""

    pa: int | None = None
    ab: int | None = None
    h: int | None = None
    hr: int | None = None
    bb: int | None = None
    so: int | None = None
    avg: str | None = None
    obp: str | None = None
    slg: str | None = None
    ops: str | None = None


class PitchingLineOut(BaseModel):
    """A pitcher's line: innings as printed (``"21.1"``), rates as strings, counts."""

    ip: str | None = None
    era: str | None = None
    whip: str | None = None
    so: int | None = None
    bb: int | None = None
    h: int | None = None
    hr: int | None = None
    bf: int | None = Field(default=None, description="Batters faced.")
    g: int | None = Field(default=None, description="Games pitched in.")


class _Freshness(BaseModel):
    reason: str | None = Field(
        default=None, description="Why a value is missing or stale (shown on the page's dash)."
    )
    stale: bool = Field(
        default=False, description="The value is the last good one; its refresh failed."
    )
    age_s: float | None = Field(default=None, description="Age of a stale value, seconds.")


class _Player(_Freshness):
    id: str | None = None
    name: str | None = None
    team: str | None = None


class BatterOut(_Player):
    """The current batter and his season line to date (``null`` with a ``reason``)."""

    season: BattingLineOut | None = None


class PitcherOut(_Player):
    """The current pitcher and his season line to date (``null`` with a ``reason``)."""

    season: PitchingLineOut | None = None


class HeadToHeadOut(_Freshness):
    """The batter's history against the pitcher; only ``reason`` for a first meeting."""

    pa: int | None = None
    ab: int | None = None
    h: int | None = None
    hr: int | None = None
    bb: int | None = None
    so: int | None = None
    avg: str | None = None


class MatchupOut(BaseModel):
    """``GET /v1/games/{id}/matchup``: the current batter against the current pitcher.

    Written by ingest when the matchup changes; any field may be ``null``.
    """

    available: bool
    reason: str | None = None
    game_id: str
    seq: int | None = Field(
        default=None, description="The event (in the game's log) that named this matchup."
    )
    batter: BatterOut | None = None
    pitcher: PitcherOut | None = None
    head_to_head: HeadToHeadOut | None = None
    as_of: float | None = Field(default=None, description="Unix seconds it was fetched.")
    age_s: float | None = Field(default=None, description="Seconds since ``as_of``.")
