"""Pure helpers shared by the feed adapters: decoding JSON and reading fields defensively.

Upstream documents drift: fields get renamed, dropped or change type without notice. The
readers here turn every such surprise into :class:`~pressbox.errors.FeedParseError` naming
the source, the JSON path and what was expected, so that an adapter can refuse a document
with a reason a log reader understands and keep its last good state. Nothing here does I/O.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import msgspec
import orjson

from pressbox.engine.events import FootballPlay, FootballSituation, GameInfo, PlayEvent
from pressbox.errors import FeedParseError
from pressbox.types import JSON, Side, Sport

_GZIP_MAGIC = b"\x1f\x8b"

QUARTER_SECONDS = 15 * 60
"""Length of a football quarter, seconds (NFL and college alike)."""

MAX_QUARTER = 10
"""Four quarters and up to six overtime periods (college overtimes can run long)."""

MAX_POINTS_PER_PLAY = 8
"""A touchdown with a two-point try is the most one play can score."""


def gunzip_if_needed(data: bytes, source: str) -> bytes:
    """Return ``data`` decompressed when it is gzip, unchanged otherwise.

    Raises:
        FeedParseError: The data starts like gzip but cannot be decompressed (truncated).
    """
    if not data.startswith(_GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise FeedParseError(source, f"bad gzip data: {exc}") from exc


def decode_json(data: bytes | str, source: str) -> JSON:
    """Decode one JSON document (gzip-compressed bytes are accepted too).

    Raises:
        FeedParseError: The data is empty, truncated or not JSON.
    """
    if isinstance(data, bytes):
        data = gunzip_if_needed(data, source)
    if not data.strip():
        raise FeedParseError(source, "empty document")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise FeedParseError(source, f"malformed JSON: {exc}") from exc


def decode_concatenated(data: bytes | str, source: str) -> list[JSON]:
    """Decode JSON values written back to back (a capture of successive responses).

    Raises:
        FeedParseError: A value is malformed or the data ends in the middle of one.
    """
    if isinstance(data, bytes):
        try:
            data = gunzip_if_needed(data, source).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FeedParseError(
                source, f"not UTF-8 text: {exc.reason} at byte {exc.start}"
            ) from exc
    decoder = json.JSONDecoder()
    values: list[JSON] = []
    position = 0
    end = len(data)
    while True:
        while position < end and data[position].isspace():
            position += 1
        if position >= end:
            return values
        try:
            value, position = decoder.raw_decode(data, position)
        except json.JSONDecodeError as exc:
            raise FeedParseError(
                source, f"malformed JSON in value {len(values) + 1}: {exc.msg}", line=exc.lineno
            ) from exc
        values.append(value)


class Reader:
    """Typed, path-aware access to a decoded document.

    Every accessor names the JSON path in its error, so that a drifted document is
    reported as ``"liveData.plays.allPlays[3].about: missing field 'inning'"``.

    Args:
        source: The document's name, used in every error.
    """

    __slots__ = ("source",)

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, path: str, reason: str) -> FeedParseError:
        """An error about the value at ``path``."""
        return FeedParseError(self.source, f"{path}: {reason}" if path else reason)

    def obj(self, value: JSON, path: str) -> dict[str, JSON]:
        """``value`` as an object."""
        if not isinstance(value, dict):
            raise self.error(path, f"expected an object, got {_kind(value)}")
        return value

    def array(self, value: JSON, path: str) -> list[JSON]:
        """``value`` as an array."""
        if not isinstance(value, list):
            raise self.error(path, f"expected an array, got {_kind(value)}")
        return value

    def field(self, parent: JSON, key: str, path: str) -> JSON:
        """The required field ``key`` of the object at ``path``."""
        mapping = self.obj(parent, path)
        if key not in mapping:
            raise self.error(path, f"missing field {key!r}")
        return mapping[key]

    def get_obj(self, parent: JSON, key: str, path: str) -> dict[str, JSON]:
        """The required object field ``key``."""
        return self.obj(self.field(parent, key, path), _join(path, key))

    def get_list(self, parent: JSON, key: str, path: str) -> list[JSON]:
        """The required array field ``key``."""
        return self.array(self.field(parent, key, path), _join(path, key))

    def get_int(self, parent: JSON, key: str, path: str) -> int:
        """The required integer field ``key`` (integral strings such as ``"72"`` accepted)."""
        value = self.field(parent, key, path)
        result = _as_int(value)
        if result is None:
            raise self.error(_join(path, key), f"expected an integer, got {_kind(value)}")
        return result

    def opt_int(self, parent: JSON, key: str, path: str) -> int | None:
        """The optional integer field ``key``; ``None`` when absent or null."""
        value = self.obj(parent, path).get(key)
        if value is None:
            return None
        result = _as_int(value)
        if result is None:
            raise self.error(_join(path, key), f"expected an integer, got {_kind(value)}")
        return result

    def get_str(self, parent: JSON, key: str, path: str) -> str:
        """The required string field ``key``."""
        value = self.field(parent, key, path)
        if not isinstance(value, str):
            raise self.error(_join(path, key), f"expected a string, got {_kind(value)}")
        return value

    def opt_str(self, parent: JSON, key: str, path: str) -> str | None:
        """The optional string field ``key``; ``None`` when absent or null."""
        value = self.obj(parent, path).get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error(_join(path, key), f"expected a string, got {_kind(value)}")
        return value

    def opt_bool(self, parent: JSON, key: str, path: str) -> bool | None:
        """The optional boolean field ``key``; ``None`` when absent or null."""
        value = self.obj(parent, path).get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise self.error(_join(path, key), f"expected a boolean, got {_kind(value)}")
        return value

    def opt_float(self, parent: JSON, key: str, path: str) -> float | None:
        """The optional number field ``key`` (numeric strings accepted); ``None`` if absent."""
        value = self.obj(parent, path).get(key)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise self.error(_join(path, key), "expected a number, got a boolean")
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise self.error(_join(path, key), f"expected a number, got {_kind(value)}")


def _as_int(value: JSON) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def join(path: str, key: str | int) -> str:
    """The JSON path of ``key`` (a field or an array index) under ``path``."""
    return _join(path, key)


def _kind(value: JSON) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, int | float):
        return f"the number {value}"
    return type(value).__name__


def parse_clock(text: str) -> int | None:
    """Seconds in a ``"M:SS"`` (or ``"MM:SS"``) display clock; ``None`` if it is not one."""
    minutes, sep, seconds = text.strip().partition(":")
    if not sep:
        return None
    try:
        whole = int(minutes)
        secs = float(seconds)
    except ValueError:
        return None
    if whole < 0 or not 0 <= secs < 60:
        return None
    return whole * 60 + int(secs)


def format_clock(seconds: int) -> str:
    """The ``"M:SS"`` display form of a number of seconds."""
    return f"{seconds // 60}:{seconds % 60:02d}"


@dataclass(frozen=True, slots=True)
class NormalizedDocument:
    """What one captured document says, normalized.

    Attributes:
        game_id: The game's id in the source's scheme.
        events: ``game_start``, the plays and, if the game is over, ``game_end``, numbered
            from 1.
        plays: How many of the source's plays are among the events.
        final: The game is over and ``game_end`` is among the events.
        issues: Inconsistencies that did not stop the reading (a final score the plays do
            not reach...).
    """

    game_id: str
    events: tuple[PlayEvent, ...]
    plays: int
    final: bool
    issues: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FootballRow:
    """One football play as an adapter reads it, before it becomes a :class:`PlayEvent`.

    The situation fields describe the snap; the scores are those after the play.
    """

    event_id: str
    quarter: int
    clock_seconds: int
    home_score: int
    away_score: int
    text: str = ""
    possession: Side | None = None
    down: int | None = None
    distance: int | None = None
    yard_line: int | None = None
    end_possession: Side | None = None
    end_down: int | None = None
    end_distance: int | None = None
    end_yard_line: int | None = None
    has_end: bool = False
    """The source gives the situation after the play (``end_*``)."""
    play_type: str = ""
    yards: int | None = None
    scoring: bool = False
    ts_source: float | None = None


def football_events(
    *,
    sport: Sport,
    game_id: str,
    info: GameInfo,
    rows: Sequence[FootballRow],
    final_score: tuple[int, int] | None,
    source: str,
    start_clock: int = QUARTER_SECONDS,
    issues: Sequence[str] = (),
) -> NormalizedDocument:
    """Number the football rows of one game into events of the contract.

    The clock after a play is the clock of the next play in the same quarter, 0 when the
    quarter ends before the next play, and the play's own clock for the latest play. A score
    that falls back (a stale copy upstream) keeps the score reached so far and is reported in
    ``issues``.

    Args:
        sport: ``"nfl"`` or ``"ncaaf"``.
        game_id: The game's id.
        info: What ``game_start`` says about the game.
        rows: The plays in order.
        final_score: ``(home, away)`` when the source says the game is over; ``game_end``
            follows the plays only if they reach this score.
        source: The document's name in errors.
        start_clock: Seconds in a quarter, the clock of ``game_start``.
        issues: What the adapter already noticed about the document.

    Raises:
        FeedParseError: A quarter that does not exist or comes back after a later one, or
            a score that jumps by more than one play can score (plays are missing).
    """
    events: list[PlayEvent] = [
        PlayEvent(
            sport=sport,
            game_id=game_id,
            seq=1,
            event_id=f"{game_id}:start",
            kind="game_start",
            period=1,
            clock=format_clock(start_clock),
            text=f"{info.away} at {info.home}",
            info=info,
            after=FootballSituation(quarter=1, clock_seconds=start_clock),
        )
    ]
    last_after: FootballSituation | None = None
    noticed: list[str] = list(issues)
    home = away = 0
    quarter = 1
    for index, row in enumerate(rows):
        if not 1 <= row.quarter <= MAX_QUARTER:
            raise FeedParseError(source, f"{row.event_id}: quarter {row.quarter} does not exist")
        if row.quarter < quarter:
            raise FeedParseError(
                source,
                f"{row.event_id}: a play of quarter {row.quarter} after one of quarter {quarter}",
            )
        quarter = row.quarter
        following = rows[index + 1] if index + 1 < len(rows) else None
        if following is None:
            clock_after = row.clock_seconds
        elif following.quarter == row.quarter:
            clock_after = min(following.clock_seconds, row.clock_seconds)
        else:
            clock_after = 0
        before = FootballSituation(
            quarter=row.quarter,
            clock_seconds=row.clock_seconds,
            possession=row.possession,
            down=row.down,
            distance=row.distance,
            yard_line=row.yard_line,
        )
        if row.has_end:
            after = FootballSituation(
                quarter=row.quarter,
                clock_seconds=clock_after,
                possession=row.end_possession,
                down=row.end_down,
                distance=row.end_distance,
                yard_line=row.end_yard_line,
            )
        elif following is not None and following.quarter == row.quarter:
            after = FootballSituation(
                quarter=row.quarter,
                clock_seconds=clock_after,
                possession=following.possession,
                down=following.down,
                distance=following.distance,
                yard_line=following.yard_line,
            )
        else:
            after = msgspec.structs.replace(before, clock_seconds=clock_after)
        last_after = after
        # A score never falls in football; upstream rows that show an older score (a stale
        # copy of the score on the play after a touchdown) keep the score reached so far.
        if row.home_score < home or row.away_score < away:
            noticed.append(
                f"{row.event_id}: score {row.away_score}-{row.home_score} (away-home) falls "
                f"below {away}-{home}; kept {max(away, row.away_score)}-{max(home, row.home_score)}"
            )
        jump = max(row.home_score - home, row.away_score - away)
        if jump > MAX_POINTS_PER_PLAY:
            raise FeedParseError(
                source,
                f"{row.event_id}: the score jumps by {jump} points on one play "
                f"({away}-{home} to {row.away_score}-{row.home_score}, away-home); "
                "plays are missing",
            )
        home, away = max(home, row.home_score), max(away, row.away_score)
        events.append(
            PlayEvent(
                sport=sport,
                game_id=game_id,
                seq=len(events) + 1,
                event_id=row.event_id,
                kind="play",
                period=row.quarter,
                clock=format_clock(row.clock_seconds),
                text=row.text,
                home_score=home,
                away_score=away,
                before=before,
                after=after,
                detail=FootballPlay(play_type=row.play_type, yards=row.yards, scoring=row.scoring),
                ts_source=row.ts_source,
            )
        )
    final = final_score is not None
    if final_score is not None and final_score != (home, away):
        final = False
        noticed.append(
            f"the game is final at {final_score[1]}-{final_score[0]} (away-home) but its plays "
            f"reach {away}-{home}; no game_end"
        )
    if final:
        events.append(
            PlayEvent(
                sport=sport,
                game_id=game_id,
                seq=len(events) + 1,
                event_id=f"{game_id}:end",
                kind="game_end",
                period=last_after.quarter if last_after else 1,
                clock=format_clock(last_after.clock_seconds if last_after else 0),
                text="Final",
                home_score=home,
                away_score=away,
                after=last_after,
            )
        )
    return NormalizedDocument(
        game_id=game_id,
        events=tuple(events),
        plays=len(rows),
        final=final,
        issues=tuple(noticed),
    )


class EventLog:
    """Numbers the events of successive readings of one game: new ones, then corrections.

    An adapter re-reads the whole upstream document on every poll; this log remembers what
    was already emitted (by event id) and returns only what is new: events not seen before,
    numbered after the previous ones, and, for a ``play`` whose content changed, a
    correction with the next number, the id ``"<id>~<n>"`` and ``corrects`` set to the id
    it replaces (the latest revision). ``game_start`` and ``game_end`` are never corrected,
    and timestamps are not content: an upstream that fills in a play's end time later does
    not correct it.

    Args:
        ignore_after: Do not treat a change of ``after`` alone as a correction (football
            adapters refine the situation after a play when the next play arrives).
    """

    __slots__ = ("_current", "_emitted", "_events", "_ignore_after", "_revisions")

    def __init__(self, *, ignore_after: bool = False) -> None:
        self._ignore_after = ignore_after
        self._events: list[PlayEvent] = []
        self._emitted: dict[str, PlayEvent] = {}
        self._current: dict[str, str] = {}
        self._revisions: dict[str, int] = {}

    @property
    def events(self) -> list[PlayEvent]:
        """Every event emitted so far, in order (corrections included)."""
        return list(self._events)

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._emitted

    def update(self, events: Sequence[PlayEvent]) -> list[PlayEvent]:
        """Take the events of the latest reading, in order, and return what is new."""
        seq = len(self._events)
        new: list[PlayEvent] = []
        for event in events:
            key = event.event_id
            content = self._content(event)
            known = self._emitted.get(key)
            if known is None:
                seq += 1
                out = msgspec.structs.replace(event, seq=seq)
                self._current[key] = key
            elif known == content or event.kind != "play":
                continue
            else:
                revision = self._revisions.get(key, 0) + 1
                self._revisions[key] = revision
                seq += 1
                out = msgspec.structs.replace(
                    event, seq=seq, event_id=f"{key}~{revision}", corrects=self._current[key]
                )
                self._current[key] = out.event_id
            self._emitted[key] = content
            new.append(out)
        self._events.extend(new)
        return new

    def _content(self, event: PlayEvent) -> PlayEvent:
        """The event without what differs between two readings of the same play."""
        return msgspec.structs.replace(
            event,
            seq=0,
            event_id="",
            corrects=None,
            ts_source=None,
            ts_ingest=None,
            after=None if self._ignore_after else event.after,
        )


class DocumentGame:
    """One game followed by re-reading its whole document on every poll.

    Args:
        read: The adapter: a decoded document and its source name to a
            :class:`NormalizedDocument` (:func:`~pressbox.feeds.espn.read_summary`,
            :func:`~pressbox.feeds.generic.read_generic`).
        source: The upstream's name in errors.
        ignore_after: See :class:`EventLog` (true for the football adapters).
    """

    __slots__ = ("_doc", "_issues", "_log", "_read", "game_id", "source")

    def __init__(
        self,
        read: Callable[[JSON, str], NormalizedDocument],
        *,
        source: str,
        ignore_after: bool = True,
    ) -> None:
        self._read = read
        self.source = source
        self.game_id: str | None = None
        self._doc: JSON = None
        self._issues: tuple[str, ...] = ()
        self._log = EventLog(ignore_after=ignore_after)

    @property
    def document(self) -> JSON:
        """The last good document (``None`` before the first)."""
        return self._doc

    @property
    def events(self) -> list[PlayEvent]:
        """Every event returned so far, in order."""
        return self._log.events

    @property
    def issues(self) -> tuple[str, ...]:
        """Inconsistencies of the last good document that did not stop it."""
        return self._issues

    @property
    def final(self) -> bool:
        """``game_end`` has been emitted."""
        return self.game_id is not None and f"{self.game_id}:end" in self._log

    def update_bytes(self, data: bytes | str) -> list[PlayEvent]:
        """Decode a response body (JSON, gzip accepted) and :meth:`update` with it."""
        return self.update(decode_json(data, self.source))

    def update(self, doc: JSON) -> list[PlayEvent]:
        """Read the latest document and return the events new since the last call.

        Raises:
            FeedParseError: The document cannot be read, or is for another game; the game
                keeps its last good document and events.
        """
        normalized = self._read(doc, self.source)
        if self.game_id is not None and normalized.game_id != self.game_id:
            raise FeedParseError(
                self.source, f"document is for game {normalized.game_id}, not {self.game_id}"
            )
        new = self._log.update(normalized.events)
        self.game_id = normalized.game_id
        self._doc = doc
        self._issues = normalized.issues
        return new
