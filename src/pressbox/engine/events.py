"""The normalized play event, the game state and the update message, with their codecs.

Every feed adapter turns its upstream's format into :class:`PlayEvent`; the engine folds
events into :class:`GameState`; a processor publishes :class:`Update`. All three are
versioned (``v = 1``), frozen ``msgspec`` structs, encoded as JSON. The sport-neutral
envelope (sport, game id, sequence, event id, timestamps, score, period, clock, text)
carries a sport-specific situation (:class:`BaseballSituation` or
:class:`FootballSituation`) and play detail (:class:`BaseballPlay` or
:class:`FootballPlay`). Every field is described in ``docs/events.md``.

Decoding validates types and required fields; a document that does not fit raises
:class:`msgspec.ValidationError` or :class:`msgspec.DecodeError`, which
:func:`decode_event` turns into :class:`~pressbox.errors.FeedParseError` with the reason.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import msgspec

from pressbox.errors import FeedParseError
from pressbox.types import GameStatus, Half, Side, Sport

SCHEMA_VERSION = 1

EventKind: TypeAlias = Literal["game_start", "play", "game_end"]
"""``game_start`` opens a game (teams, date); ``play`` changes the situation;
``game_end`` makes the result final (including games called early)."""

HOME_PLATE = 4
"""``RunnerMove.end`` for a runner who scored."""

BATTER = 0
"""``RunnerMove.start`` for the batter (or a runner placed on base by rule)."""


class GameInfo(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """What is known about a game before it starts."""

    home: str
    away: str
    date: str
    """Local date of the game, ``YYYY-MM-DD``."""
    start_time: str | None = None
    site: str | None = None
    game_number: int = 0
    """0 for a single game, 1 or 2 for the games of a doubleheader."""
    innings: int = 9
    """Scheduled length: 9 innings (7 for some doubleheaders); quarters are 4."""
    extra_runner: bool = False
    """Extra innings start with a runner on second (MLB from 2020)."""
    home_name: str | None = None
    away_name: str | None = None


class BaseballSituation(msgspec.Struct, frozen=True, gc=False, kw_only=True, tag="baseball"):
    """Where a baseball game stands between two plays."""

    inning: int
    half: Half
    outs: int
    bases: tuple[str | None, str | None, str | None] = (None, None, None)
    """Runner ids on first, second and third; ``None`` for an empty base."""
    balls: int = 0
    strikes: int = 0

    @property
    def bases_code(self) -> str:
        """The bases as three 0/1 flags for first, second and third (``"101"``)."""
        return "".join("0" if r is None else "1" for r in self.bases)


class FootballSituation(msgspec.Struct, frozen=True, gc=False, kw_only=True, tag="football"):
    """Where a football game stands between two plays."""

    quarter: int
    """1-4, 5 and later for overtime periods."""
    clock_seconds: int
    """Seconds left in the quarter."""
    possession: Side | None = None
    down: int | None = None
    """1-4, ``None`` on kickoffs and extra points."""
    distance: int | None = None
    yard_line: int | None = None
    """Yards from the possessing team's own goal line, 1-99."""
    home_timeouts: int | None = None
    away_timeouts: int | None = None


Situation: TypeAlias = BaseballSituation | FootballSituation


class RunnerMove(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """One runner's movement on a play, batter included.

    Encoded as a JSON array ``[runner, start, end, out]`` to keep events small.
    """

    runner: str
    start: int
    """0 for the batter (or a runner placed by rule), else the base 1-3 the runner left."""
    end: int
    """The base reached, 1-3, or 4 for a run; for an out, the base where it was made."""
    out: bool = False


class BaseballPlay(msgspec.Struct, frozen=True, gc=False, kw_only=True, tag="baseball"):
    """What happened on a baseball play."""

    batter: str | None = None
    pitcher: str | None = None
    code: str = ""
    """The source's own event code (a Retrosheet play string such as ``S8/G.2-H``)."""
    moves: tuple[RunnerMove, ...] = ()
    """Every runner who moved or was put out, batter included; runners not named stay."""
    runs: int = 0
    outs_on_play: int = 0
    pa_end: bool = False
    """The plate appearance ended on this play (the next batter comes up)."""
    rbi: int = 0
    event_type: str = ""
    """A coarse family: ``single``, ``strikeout``, ``stolen_base``, ``walk``..."""


class FootballPlay(msgspec.Struct, frozen=True, gc=False, kw_only=True, tag="football"):
    """What happened on a football play."""

    play_type: str = ""
    """``pass``, ``run``, ``punt``, ``field_goal``, ``kickoff``, ``extra_point``,
    ``two_point``, ``penalty``, ``kneel``, ``spike``, ``timeout``, ``two_minute_warning``,
    ``end_period``, ``note``."""
    yards: int | None = None
    scoring: bool = False


PlayDetail: TypeAlias = BaseballPlay | FootballPlay


class PlayEvent(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """One normalized event of a game, as every adapter produces it."""

    v: int = SCHEMA_VERSION
    sport: Sport
    game_id: str
    seq: int
    """Position in the game's log, 1-based and without gaps."""
    event_id: str
    """Stable id from the source; a repeated id is a duplicate."""
    kind: EventKind = "play"
    period: int = 0
    """Inning or quarter during which the event happened."""
    clock: str | None = None
    """Display clock: ``"T9"``/``"B9"`` for innings, ``"12:34"`` for quarters."""
    text: str = ""
    home_score: int = 0
    """Score after the event."""
    away_score: int = 0
    before: BaseballSituation | FootballSituation | None = None
    after: BaseballSituation | FootballSituation | None = None
    detail: BaseballPlay | FootballPlay | None = None
    info: GameInfo | None = None
    """Set on ``game_start``."""
    corrects: str | None = None
    """The event id of an earlier event that this one replaces."""
    ts_source: float | None = None
    """When the source published the play, Unix seconds."""
    ts_ingest: float | None = None
    """When pressbox received it, Unix seconds."""


class GameState(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """Everything the engine knows about a game after its latest event."""

    v: int = SCHEMA_VERSION
    sport: Sport
    game_id: str
    seq: int = 0
    """Sequence of the last event applied (0 before any)."""
    status: GameStatus = "scheduled"
    info: GameInfo | None = None
    home_score: int = 0
    away_score: int = 0
    period: int = 0
    clock: str | None = None
    situation: BaseballSituation | FootballSituation | None = None
    last_play: str | None = None
    plays: int = 0
    """Number of ``play`` events applied."""


PriorSource: TypeAlias = Literal["odds", "ratings", "none"]
"""Where a game's pregame prior came from: the betting market (margin removed), the
in-season rating book, or nowhere (the model's average home team against an average
visitor)."""


class GamePrior(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """The pregame prior a game's win probability starts from, fixed when the game starts."""

    home: float | None = None
    """The home team's pregame win probability, in (0, 1); ``None`` when the source is
    ``none``."""
    source: PriorSource = "none"


class WinProbability(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """A model's answer for one state."""

    home: float
    away: float
    tie: float = 0.0
    model: str = ""
    """Model name and version, ``"mlb-markov/2015-2016"``."""


class Update(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """What a processor publishes after each event: the state and its consequences."""

    v: int = SCHEMA_VERSION
    sport: Sport
    game_id: str
    seq: int
    """Position in the game's update stream, 1-based without gaps; SSE ids use it."""
    event_seq: int = 0
    """Sequence of the event (in the game's event log) that caused the update."""
    event_id: str
    kind: EventKind = "play"
    correction: bool = False
    """This update follows a correction; updates after ``seq`` were recomputed."""
    state: GameState
    wp: WinProbability | None = None
    wpa: float | None = None
    """Change of the home team's WP caused by this event."""
    leverage: float | None = None
    """Leverage index of the situation after the event (1.0 = average)."""
    key_play: bool = False
    text: str = ""
    ts_source: float | None = None
    ts_ingest: float | None = None
    ts_emit: float | None = None
    prior: GamePrior | None = None
    """The game's pregame prior, once it is fixed (``None`` before, or without a model)."""


_event_decoder = msgspec.json.Decoder(PlayEvent)
_update_decoder = msgspec.json.Decoder(Update)
_state_decoder = msgspec.json.Decoder(GameState)
_encoder = msgspec.json.Encoder()


def encode(value: PlayEvent | GameState | Update) -> bytes:
    """Encode an event, state or update as compact JSON bytes."""
    return _encoder.encode(value)


def to_dict(value: PlayEvent | GameState | Update) -> dict[str, object]:
    """Return the plain-dict form of an event, state or update (the JSON shape)."""
    result: dict[str, object] = msgspec.to_builtins(value)
    return result


def decode_event(data: bytes | str, source: str = "event") -> PlayEvent:
    """Decode one JSON event.

    Raises:
        FeedParseError: The document is not JSON or does not fit the event schema.
    """
    try:
        event = _event_decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise FeedParseError(source, f"bad event: {exc}") from exc
    if event.v != SCHEMA_VERSION:
        raise FeedParseError(source, f"unsupported event version {event.v}")
    return event


def decode_update(data: bytes | str, source: str = "update") -> Update:
    """Decode one JSON update.

    Raises:
        FeedParseError: The document is not JSON or does not fit the update schema.
    """
    try:
        return _update_decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise FeedParseError(source, f"bad update: {exc}") from exc


def decode_state(data: bytes | str, source: str = "state") -> GameState:
    """Decode one JSON game state.

    Raises:
        FeedParseError: The document is not JSON or does not fit the state schema.
    """
    try:
        return _state_decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise FeedParseError(source, f"bad state: {exc}") from exc
