"""The archive's seam: the :class:`Archive` Protocol, :class:`GameRecord` and shared checks.

The archive keeps every normalized event and every update of every game, the game's
metadata and final result, and the processors' checkpoints. Writes are batched and
idempotent: an event is identified by ``(game_id, event_id)`` and an update by
``(game_id, model, seq)``, so writing the same thing twice stores one row. A processor
writes its events, its updates and its checkpoint in one transaction
(:meth:`Archive.put_batch`), so after a crash it resumes exactly after the last batch
that was stored. Events and updates are stored as JSON; a processor hands over the
bytes it already has (the log's event, the update it published) so that nothing is
encoded twice.

Game rows are kept up to date from the events themselves: the first event of a game
creates its row (status ``live``), ``game_start`` fills in the teams and date, every
event moves the score, and ``game_end`` makes the result final.

Each game's pregame prior is stored once (:meth:`Archive.fix_prior`): the first processor
to fix it wins, and every later one (a restart, a takeover) gets the same prior back, so
a resumed game goes on from the win probabilities it published.

Backends: ``sqlite:///path.db`` (default; ``sqlite://`` is in memory) and
``postgresql://...``, chosen with :func:`pressbox.store.from_url`; both apply the same
versioned migrations when opened.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self, TypeAlias

import msgspec

from pressbox.engine.events import (
    GameInfo,
    GamePrior,
    PlayEvent,
    Update,
    decode_event,
    decode_update,
)
from pressbox.errors import BackendError, FeedParseError
from pressbox.types import GameStatus, Sport

Checkpoint: TypeAlias = tuple[str, str, int]
"""``(consumer, stream, seq)``: ``consumer`` has processed ``stream`` up to ``seq``."""


@dataclass(frozen=True, slots=True)
class GameRecord:
    """What the archive knows about one game.

    Args:
        game_id: The game's id.
        sport: The game's sport.
        status: ``scheduled``, ``live`` (events arrived) or ``final`` (``game_end`` seen).
        info: Teams, date and site, from ``game_start`` (or :meth:`Archive.put_game`).
        home_score: The latest score (the final score once ``final``).
        away_score: The latest score (the final score once ``final``).
        last_seq: The highest event sequence archived (0 before any event).
    """

    game_id: str
    sport: Sport
    status: GameStatus = "scheduled"
    info: GameInfo | None = None
    home_score: int = 0
    away_score: int = 0
    last_seq: int = 0


class Archive(Protocol):
    """Durable storage of events, updates, games and checkpoints.

    Every method raises :class:`~pressbox.errors.BackendError` (or
    :class:`~pressbox.errors.BackendUnavailable`) when the database fails, never a
    driver error; bad arguments raise ``TypeError`` or ``ValueError`` before anything is
    written, so a refused batch leaves what was stored before untouched.
    """

    async def put_events(
        self, events: Sequence[PlayEvent], *, checkpoint: Checkpoint | None = None
    ) -> int:
        """Store events, and the game rows they imply, in one transaction.

        Args:
            events: Normalized events of any games; already stored ones are skipped.
            checkpoint: Also record ``(consumer, stream, seq)`` in the same transaction.

        Returns:
            How many events were new.
        """
        ...

    async def put_updates(
        self,
        updates: Sequence[Update],
        *,
        model: str | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> int:
        """Store updates and, in the same transaction, the processor's checkpoint.

        Args:
            updates: Updates of any games; already stored ones are skipped.
            model: The model name they are filed under; by default each update's
                ``wp.model`` (``""`` without WP).
            checkpoint: ``(consumer, stream, seq)`` to record atomically with the updates.

        Returns:
            How many updates were new.
        """
        ...

    async def put_batch(
        self,
        events: Sequence[PlayEvent],
        updates: Sequence[Update],
        *,
        model: str | None = None,
        checkpoint: Checkpoint | None = None,
        event_docs: Sequence[bytes] | None = None,
        update_docs: Sequence[bytes] | None = None,
    ) -> tuple[int, int]:
        """Store events, updates and the checkpoint in one transaction (a processor's batch).

        Args:
            events: As for :meth:`put_events`.
            updates: As for :meth:`put_updates`.
            model: As for :meth:`put_updates`.
            checkpoint: ``(consumer, stream, seq)`` to record atomically with both.
            event_docs: The JSON of each event, in the same order, as already encoded
                (the bytes the event log holds); spares encoding them again. Stored as
                given, so each must be the encoding of its event.
            update_docs: The same for the updates (the bytes published to the update
                stream).

        Returns:
            How many events and how many updates were new.
        """
        ...

    async def put_game(self, game: GameRecord) -> None:
        """Create or replace a game's row (schedules, corrections by hand)."""
        ...

    async def put_result(self, game_id: str, *, home_score: int, away_score: int) -> None:
        """Record a game's final score and mark it final.

        Raises:
            UnknownGame: The archive has no such game.
        """
        ...

    async def games(
        self, *, sport: Sport | None = None, status: GameStatus | None = None
    ) -> list[GameRecord]:
        """The games, by date then id, optionally of one sport or status."""
        ...

    async def game(self, game_id: str) -> GameRecord:
        """One game's row.

        Raises:
            UnknownGame: The archive has no such game.
        """
        ...

    async def timeline(self, game_id: str) -> list[PlayEvent]:
        """A game's events in sequence order.

        Raises:
            UnknownGame: The archive has no such game.
        """
        ...

    async def updates(self, game_id: str, model: str | None = None) -> list[Update]:
        """A game's updates in sequence order, of one model or of all (by model, then seq).

        Raises:
            UnknownGame: The archive has no such game.
        """
        ...

    async def models(self, game_id: str) -> list[str]:
        """The models a game has updates from, sorted.

        Raises:
            UnknownGame: The archive has no such game.
        """
        ...

    async def wp_series(self, game_id: str, model: str) -> list[tuple[int, float]]:
        """``(update seq, home WP)`` for every update of ``model`` that has a WP, in order.

        Raises:
            UnknownGame: The archive has no such game.
        """
        ...

    async def key_plays(self, game_id: str, model: str, n: int = 5) -> list[Update]:
        """The ``n`` updates of ``model`` with the largest ``|wpa|``, largest first.

        Raises:
            UnknownGame: The archive has no such game.
        """
        ...

    async def checkpoint(self, consumer: str, stream: str) -> int:
        """The last seq ``consumer`` recorded for ``stream``; 0 if none."""
        ...

    async def fix_prior(self, game_id: str, prior: GamePrior) -> GamePrior:
        """Store a game's pregame prior unless it has one already (the first one stays).

        Returns:
            The prior stored for the game: ``prior``, or the one fixed before it.

        Raises:
            TypeError: ``prior`` is not a :class:`GamePrior`.
            ValueError: An empty game id, or a prior out of (0, 1) or without a value
                while its source is not ``none`` (see :func:`check_prior`).
        """
        ...

    async def prior(self, game_id: str) -> GamePrior | None:
        """A game's pregame prior, ``None`` if none was fixed."""
        ...

    async def schema_version(self) -> int:
        """The highest migration applied to the database (for diagnostics)."""
        ...

    async def ping(self) -> bool:
        """Whether the database answers; never raises (for the health endpoint)."""
        ...

    async def aclose(self) -> None:
        """Close connections. Closing twice is harmless."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


@dataclass(slots=True)
class GameChange:
    """What one batch of events says about one game (computed before writing).

    Args:
        game_id: The game.
        sport: Its sport.
        last_seq: The batch's highest sequence for the game.
        home_score: The score after that event.
        away_score: The score after that event.
        info: From a ``game_start`` in the batch.
        final: A ``game_end`` was in the batch (its score is then the final score).
    """

    game_id: str
    sport: Sport
    last_seq: int
    home_score: int
    away_score: int
    info: GameInfo | None = None
    final: bool = False


def game_changes(events: Sequence[PlayEvent]) -> list[GameChange]:
    """Summarize a batch of events per game, for the game rows (shared by backends)."""
    changes: dict[str, GameChange] = {}
    for event in events:
        change = changes.get(event.game_id)
        if change is None:
            change = changes[event.game_id] = GameChange(
                event.game_id, event.sport, event.seq, event.home_score, event.away_score
            )
        elif event.seq >= change.last_seq and not change.final:
            change.last_seq = event.seq
            change.home_score, change.away_score = event.home_score, event.away_score
        if event.kind == "game_start" and event.info is not None:
            change.info = event.info
        if event.kind == "game_end":
            change.final = True
            change.last_seq = max(change.last_seq, event.seq)
            change.home_score, change.away_score = event.home_score, event.away_score
    return list(changes.values())


def info_json(info: GameInfo | None) -> str | None:
    """A game's info as the JSON text of its ``info`` column."""
    return None if info is None else msgspec.json.encode(info).decode()


def game_row(
    game_id: str,
    sport: Sport,
    status: GameStatus,
    info: GameInfo | None,
    home_score: int,
    away_score: int,
    last_seq: int,
    now: float,
) -> tuple[Any, ...]:
    """A ``games`` row in the column order of both backends' statements: id, sport, status,
    info, home, away, date, scores, last seq, ``updated_at``."""
    return (
        game_id,
        sport,
        status,
        info_json(info),
        info.home if info else None,
        info.away if info else None,
        info.date if info else None,
        home_score,
        away_score,
        last_seq,
        now,
    )


def game_change_rows(events: Sequence[PlayEvent], now: float) -> list[tuple[Any, ...]]:
    """The ``games`` rows a batch of events changes (see :func:`game_changes`)."""
    return [
        game_row(
            c.game_id,
            c.sport,
            "final" if c.final else "live",
            c.info,
            c.home_score,
            c.away_score,
            c.last_seq,
            now,
        )
        for c in game_changes(events)
    ]


def record_row(game: GameRecord, now: float) -> tuple[Any, ...]:
    """The ``games`` row of a whole :class:`GameRecord` (``put_game``)."""
    if not isinstance(game, GameRecord):
        raise TypeError(f"expected GameRecord, not {type(game).__name__}")
    check_text("game_id", game.game_id)
    return game_row(
        game.game_id,
        game.sport,
        game.status,
        game.info,
        game.home_score,
        game.away_score,
        game.last_seq,
        now,
    )


@dataclass(frozen=True, slots=True)
class CheckedBatch:
    """The arguments of :meth:`Archive.put_batch`, validated before anything is written."""

    events: list[PlayEvent]
    updates: list[Update]
    checkpoint: Checkpoint | None
    event_docs: list[str] | None
    """The events' JSON as text (``None``: encode them)."""
    update_docs: list[str] | None

    @property
    def empty(self) -> bool:
        """Nothing to write: no event, no update, no checkpoint."""
        return not self.events and not self.updates and self.checkpoint is None


def check_batch(
    events: object,
    updates: object,
    model: object,
    checkpoint: object,
    event_docs: object,
    update_docs: object,
) -> CheckedBatch:
    """Validate a whole ``put_batch`` call (each part as its ``check_*`` function does).

    Raises:
        TypeError: A part has the wrong type.
        ValueError: A part has a wrong value (see the ``check_*`` functions).
    """
    event_batch = check_events(events)
    update_batch = check_updates(updates, model)
    return CheckedBatch(
        event_batch,
        update_batch,
        check_checkpoint(checkpoint),
        check_docs("event_docs", event_docs, len(event_batch)),
        check_docs("update_docs", update_docs, len(update_batch)),
    )


def check_events(events: object) -> list[PlayEvent]:
    """Validate a batch of events before anything is written.

    Raises:
        TypeError: It is not a sequence of :class:`PlayEvent`.
        ValueError: An event has an empty id or a sequence below 1.
    """
    if isinstance(events, (str, bytes)) or not isinstance(events, Sequence):
        raise TypeError("events must be a sequence of PlayEvent")
    for event in events:
        if not isinstance(event, PlayEvent):
            raise TypeError(f"expected PlayEvent, not {type(event).__name__}")
        if not event.game_id or not event.event_id:
            raise ValueError("an event needs a game_id and an event_id")
        if event.seq < 1:
            raise ValueError(f"event {event.event_id}: seq must be >= 1, not {event.seq}")
    return list(events)


def check_updates(updates: object, model: object) -> list[Update]:
    """Validate a batch of updates and its model name before anything is written.

    Raises:
        TypeError: It is not a sequence of :class:`Update`, or ``model`` is not a string.
        ValueError: An update has an empty game id or a sequence below 1.
    """
    if model is not None and not isinstance(model, str):
        raise TypeError(f"model must be str, not {type(model).__name__}")
    if isinstance(updates, (str, bytes)) or not isinstance(updates, Sequence):
        raise TypeError("updates must be a sequence of Update")
    for update in updates:
        if not isinstance(update, Update):
            raise TypeError(f"expected Update, not {type(update).__name__}")
        if not update.game_id:
            raise ValueError("an update needs a game_id")
        if update.seq < 1:
            raise ValueError(f"update of {update.game_id}: seq must be >= 1, not {update.seq}")
    return list(updates)


def check_docs(name: str, docs: object, count: int) -> list[str] | None:
    """Validate the already-encoded JSON documents of a batch and return them as text.

    Args:
        name: ``event_docs`` or ``update_docs``, for the error message.
        docs: ``None``, or one ``bytes`` document per item of the batch.
        count: How many items the batch has.

    Raises:
        TypeError: It is not a sequence of bytes.
        ValueError: It does not have one document per item, or a document is not UTF-8.
    """
    if docs is None:
        return None
    if isinstance(docs, (str, bytes)) or not isinstance(docs, Sequence):
        raise TypeError(f"{name} must be a sequence of bytes")
    if len(docs) != count:
        raise ValueError(f"{name} has {len(docs)} documents for {count} items")
    try:
        # bytes.decode is the type check too: a str or None has no such method.
        return [doc.decode() for doc in docs]
    except AttributeError:
        bad = next(doc for doc in docs if not isinstance(doc, bytes))
        raise TypeError(f"{name} must hold bytes, not {type(bad).__name__}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name}: a document is not UTF-8 ({exc.reason})") from exc


def check_prior(prior: object) -> GamePrior:
    """Validate a pregame prior before it is stored.

    Raises:
        TypeError: It is not a :class:`GamePrior`.
        ValueError: Its source is not ``none`` but its value is missing or outside
            (0, 1), or its source is ``none`` and it has a value.
    """
    if not isinstance(prior, GamePrior):
        raise TypeError(f"expected GamePrior, not {type(prior).__name__}")
    if prior.source not in ("odds", "ratings", "none"):
        raise ValueError(f"unknown prior source {prior.source!r}")
    if prior.source == "none":
        if prior.home is not None:
            raise ValueError("a prior of source none has no value")
    elif prior.home is None or not 0.0 < prior.home < 1.0:
        raise ValueError(f"a prior must be inside (0, 1), not {prior.home}")
    return prior


def model_of(update: Update, model: str | None) -> str:
    """The model an update is filed under: the given one, else its WP's model, else ``""``."""
    if model is not None:
        return model
    return update.wp.model if update.wp is not None else ""


def check_checkpoint(checkpoint: object) -> Checkpoint | None:
    """Validate a ``(consumer, stream, seq)`` checkpoint.

    Raises:
        TypeError: It is not a triple of two strings and an int.
        ValueError: A name is empty or the seq is negative.
    """
    if checkpoint is None:
        return None
    if not isinstance(checkpoint, tuple) or len(checkpoint) != 3:
        raise TypeError("checkpoint must be a (consumer, stream, seq) tuple")
    consumer, stream, seq = checkpoint
    check_text("consumer", consumer)
    check_text("stream", stream)
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise TypeError(f"checkpoint seq must be int, not {type(seq).__name__}")
    if seq < 0:
        raise ValueError(f"checkpoint seq must be >= 0, not {seq}")
    return (consumer, stream, seq)


def check_text(name: str, value: object) -> str:
    """Validate a non-empty string argument (a game id, a consumer name).

    Raises:
        TypeError: It is not a string.
        ValueError: It is empty.
    """
    if not isinstance(value, str):
        raise TypeError(f"{name} must be str, not {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} must not be empty")
    return value


def stored_event(doc: str | bytes) -> PlayEvent:
    """Decode an event read back from the archive.

    Raises:
        BackendError: The stored document no longer decodes (written by an incompatible
            version, or edited by hand).
    """
    try:
        return decode_event(doc, source="archive")
    except FeedParseError as exc:
        raise BackendError(f"archive holds an unreadable event: {exc.reason}") from exc


def stored_update(doc: str | bytes) -> Update:
    """Decode an update read back from the archive.

    Raises:
        BackendError: The stored document no longer decodes.
    """
    try:
        return decode_update(doc, source="archive")
    except FeedParseError as exc:
        raise BackendError(f"archive holds an unreadable update: {exc.reason}") from exc
