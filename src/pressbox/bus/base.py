"""The event log's seam: the :class:`EventBus` Protocol, its :class:`Envelope` and errors.

A bus holds named streams, one per game and direction (``events:<game_id>`` written by
ingest, ``updates:<game_id>`` written by the processor; see :func:`event_stream` and
:func:`update_stream`). Each stream is an ordered log whose entries are numbered 1, 2, 3...
without gaps. Appends are idempotent: an entry carries a key (the event id), and
appending the same key to the same stream again returns the sequence it already has and
appends nothing, so a feed that re-sends a whole game document is harmless.

Readers either read a range (:meth:`EventBus.read`), or follow a stream
(:meth:`EventBus.tail`), which blocks for new entries. Streams are bounded (trimmed by
length or age); a reader that asks for entries that were trimmed away gets
:class:`Trimmed` from ``tail`` (and can compare with :meth:`EventBus.first_seq` after a
``read``) so that it can fall back to a snapshot instead of silently skipping entries.

Processors that share games use consumer groups. The intended pattern:

1. Ingest appends one entry per game to a ``games`` stream when it starts following it.
2. Each processor calls ``read_group("processors", me, ["games"])``: every game entry is
   delivered to exactly one processor and stays *pending* for it; the processor owns the
   game while the entry is pending, keeps it fresh with :meth:`EventBus.touch` (which
   also tells it whether it still owns it) and acknowledges it with :meth:`EventBus.ack`
   when the game is final.
3. For its games it calls ``read_group("processors", me, ["events:<id>", ...])`` and
   acknowledges each entry once the update and its checkpoint are archived.
4. Periodically each processor calls :meth:`EventBus.claim_pending` with a ``min_idle_s``
   longer than the touch interval, on ``games`` and then on the claimed games' event
   streams: entries a dead consumer left pending move to the caller, which resumes the game
   from its archived checkpoint.

Payloads are bytes and the bus never inspects them.

Besides the streams, a bus keeps a small **context** per game: the latest blob of each kind
(``"matchup"``: the current batter and pitcher with their season lines), written by ingest
with :meth:`ContextStore.put_context` and read by any API process with
:meth:`ContextStore.get_context`. It is a register, not a log: a put replaces the previous
blob of that game and kind, and nothing is kept of the old one.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

# Re-exported: readers of the log catch it from here as well as from pressbox.errors.
from pressbox.errors import Trimmed as Trimmed


class SystemClock:
    """The real clock: :func:`time.monotonic` and :func:`time.time`."""

    def monotonic(self) -> float:
        """Seconds on a monotonic clock."""
        return time.monotonic()

    def time(self) -> float:
        """Seconds since the Unix epoch."""
        return time.time()


def event_stream(game_id: str) -> str:
    """The name of a game's stream of normalized events."""
    return f"events:{game_id}"


def update_stream(game_id: str) -> str:
    """The name of a game's stream of processor updates."""
    return f"updates:{game_id}"


GAMES_STREAM = "games"
"""The stream where ingest announces each game it follows (one entry per game)."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """One entry of a stream.

    Args:
        stream: The stream's name.
        seq: Position in the stream, 1-based and without gaps.
        key: The idempotency key it was appended with (an event id).
        payload: The bytes appended, never inspected by the bus.
        ts: When it was appended, Unix seconds.
    """

    stream: str
    seq: int
    key: str
    payload: bytes
    ts: float


@dataclass(frozen=True, slots=True)
class Pending:
    """An entry delivered to a consumer of a group and not yet acknowledged.

    Args:
        stream: The stream's name.
        seq: The entry's sequence.
        consumer: The consumer it is pending for.
        idle_s: Seconds since it was delivered, claimed or touched.
        deliveries: How many times it was delivered (1 on the first read).
    """

    stream: str
    seq: int
    consumer: str
    idle_s: float
    deliveries: int


def check_context_key(game_id: object, kind: object) -> tuple[str, str]:
    """Validate the game id and kind of a context blob (shared by the backends).

    Raises:
        TypeError: Either is not a string.
        ValueError: Either is empty.
    """
    check_names(game_id=game_id, kind=kind)
    return str(game_id), str(kind)


def check_payload(payload: object) -> bytes:
    """Validate a payload: bytes-like (shared by the backends).

    Raises:
        TypeError: It is not bytes, bytearray or memoryview.
    """
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise TypeError(f"payload must be bytes, not {type(payload).__name__}")
    return bytes(payload)


class ContextStore(Protocol):
    """The latest blob of each kind per game, shared by every process on the backend.

    Every method raises :class:`~pressbox.errors.BackendError` when the backend fails;
    bad arguments raise ``TypeError`` or ``ValueError``.
    """

    async def put_context(self, game_id: str, kind: str, payload: bytes) -> None:
        """Replace the game's blob of this kind (``"matchup"``...).

        Args:
            game_id: The game.
            kind: What the blob holds; one blob per game and kind.
            payload: The bytes (JSON by convention), never inspected.
        """
        ...

    async def get_context(self, game_id: str, kind: str) -> bytes | None:
        """The game's latest blob of this kind, or ``None`` when none was put."""
        ...


class EventBus(ContextStore, Protocol):
    """An ordered, replayable log of per-game streams, plus each game's context blobs.

    Backends: ``memory://`` (:class:`~pressbox.bus.memory.MemoryBus`) and ``redis://``
    (:class:`~pressbox.bus.redis.RedisBus`), chosen with :func:`pressbox.bus.from_url`.
    Every method raises :class:`~pressbox.errors.BackendError` (or its subclass
    :class:`~pressbox.errors.BackendUnavailable`) when the backend fails, never a driver
    error; bad arguments raise ``TypeError`` or ``ValueError``.
    """

    async def append(self, stream: str, payload: bytes, *, key: str) -> int:
        """Append one entry unless its key is already in the stream.

        Args:
            stream: The stream's name.
            payload: The entry's bytes.
            key: The idempotency key (an event id). Keys are remembered while the
                stream exists, even after their entry is trimmed.

        Returns:
            The entry's sequence: the next one (1, 2, 3...) for a new key, the existing
            one for a key already appended.
        """
        ...

    async def append_many(self, stream: str, items: Sequence[tuple[str, bytes]]) -> list[int]:
        """Append ``(key, payload)`` pairs in order, atomically and in one round trip.

        Returns:
            The sequence of each item, as :meth:`append` would return it; a key repeated
            within ``items`` gets the sequence of its first occurrence.
        """
        ...

    async def read(
        self, stream: str, start_seq: int = 1, *, limit: int | None = None
    ) -> list[Envelope]:
        """Read entries with ``seq >= start_seq`` in order, at most ``limit`` (all if None).

        Entries already trimmed are simply absent: compare the first returned seq (or
        :meth:`first_seq`) with ``start_seq`` to detect it. An unknown stream reads empty.
        """
        ...

    def tail(self, stream: str, after_seq: int = 0) -> AsyncIterator[Envelope]:
        """Yield every entry after ``after_seq`` in order, then block for new ones, forever.

        Raises:
            Trimmed: Entries after ``after_seq`` are no longer in the stream, at the start
                or because the reader fell behind a trim; the reader should reload a
                snapshot and tail again from its sequence.
        """
        ...

    async def first_seq(self, stream: str) -> int:
        """The oldest sequence still held; ``last_seq + 1`` when the stream holds nothing."""
        ...

    async def last_seq(self, stream: str) -> int:
        """The sequence of the latest entry ever appended (0 for an unknown stream)."""
        ...

    async def trim(
        self,
        stream: str,
        *,
        max_len: int | None = None,
        max_age_s: float | None = None,
        exact: bool = False,
    ) -> int:
        """Drop the oldest entries of a stream.

        Args:
            stream: The stream's name.
            max_len: Keep at most this many of the newest entries.
            max_age_s: Drop entries appended more than this many seconds ago.
            exact: Trim to exactly ``max_len``; otherwise a backend may keep a few more
                (Redis ``MAXLEN ~`` trims whole nodes, which is much cheaper).

        Returns:
            The number of entries dropped.
        """
        ...

    async def delete(self, stream: str) -> None:
        """Forget a stream entirely: its entries, its keys, its groups."""
        ...

    async def streams(self, prefix: str = "") -> list[str]:
        """The names of the streams that were appended to, starting with ``prefix``, sorted."""
        ...

    async def read_group(
        self,
        group: str,
        consumer: str,
        streams: Sequence[str],
        *,
        count: int = 100,
        block_s: float = 0.0,
    ) -> list[Envelope]:
        """Deliver entries of ``streams`` that no consumer of ``group`` has received yet.

        The group is created on first use, starting at the beginning of each stream. Each
        delivered entry becomes pending for ``consumer`` until acknowledged.

        Args:
            group: The consumer group's name.
            consumer: This consumer's name, stable across its restarts.
            streams: The streams to read.
            count: At most this many entries per stream.
            block_s: Wait up to this many seconds when nothing is new (0: do not wait).

        Returns:
            The entries, in order within each stream; empty after ``block_s``.
        """
        ...

    async def ack(self, group: str, stream: str, seqs: Iterable[int]) -> int:
        """Acknowledge entries of a stream for a group; returns how many were pending."""
        ...

    async def pending(self, group: str, stream: str) -> list[Pending]:
        """The entries of a stream delivered to the group and not acknowledged, by seq."""
        ...

    async def claim_pending(
        self, group: str, consumer: str, stream: str, *, min_idle_s: float, count: int = 100
    ) -> list[Envelope]:
        """Move entries pending for longer than ``min_idle_s`` to ``consumer``.

        This is how a live consumer takes over the work of a dead one. Entries trimmed
        while pending are dropped from the pending list and not returned.

        Returns:
            The claimed entries, by seq (they are now pending for ``consumer``).
        """
        ...

    async def touch(self, group: str, consumer: str, stream: str, seqs: Iterable[int]) -> list[int]:
        """Reset the idle time of entries still pending for ``consumer`` (a heartbeat).

        Returns:
            The seqs still pending for ``consumer``; a seq missing from the answer was
            claimed by another consumer (or acknowledged), so the caller no longer owns it.
        """
        ...

    async def ping(self) -> bool:
        """Whether the backend answers; never raises (for the health endpoint)."""
        ...

    async def aclose(self) -> None:
        """Release connections; blocked readers end. Closing twice is harmless."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def check_stream(stream: object) -> str:
    """Validate a stream name (shared by the backends).

    Raises:
        TypeError: It is not a string.
        ValueError: It is empty.
    """
    if not isinstance(stream, str):
        raise TypeError(f"stream name must be str, not {type(stream).__name__}")
    if not stream:
        raise ValueError("stream name must not be empty")
    return stream


def check_items(items: object) -> list[tuple[str, bytes]]:
    """Validate ``(key, payload)`` pairs before anything is appended (shared by backends).

    Raises:
        TypeError: An item is not a pair of a str key and bytes payload.
        ValueError: A key is empty.
    """
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
        raise TypeError("items must be a sequence of (key, payload) pairs")
    checked: list[tuple[str, bytes]] = []
    for item in items:
        if not isinstance(item, tuple) or len(item) != 2:
            raise TypeError(f"each item must be a (key, payload) pair, not {item!r:.80}")
        key, payload = item
        if not isinstance(key, str):
            raise TypeError(f"key must be str, not {type(key).__name__}")
        if not key:
            raise ValueError("key must not be empty")
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise TypeError(f"payload must be bytes, not {type(payload).__name__}")
        checked.append((key, bytes(payload)))
    return checked


def check_seq(name: str, value: object, minimum: int = 0) -> int:
    """Validate an integer sequence argument (bool is refused).

    Raises:
        TypeError: It is not an int.
        ValueError: It is below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be int, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, not {value}")
    return value


def check_number(name: str, value: object) -> float:
    """Validate a non-negative number of seconds (bool is refused).

    Raises:
        TypeError: It is not an int or float.
        ValueError: It is negative.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, not {value}")
    return float(value)


def check_names(**names: object) -> None:
    """Validate group and consumer names: non-empty strings.

    Raises:
        TypeError: A name is not a string.
        ValueError: A name is empty.
    """
    for what, value in names.items():
        if not isinstance(value, str):
            raise TypeError(f"{what} must be str, not {type(value).__name__}")
        if not value:
            raise ValueError(f"{what} must not be empty")


def check_streams(streams: object) -> list[str]:
    """Validate a sequence of stream names.

    Raises:
        TypeError: It is a bare string or not a sequence of strings.
        ValueError: It is empty or holds an empty name.
    """
    if isinstance(streams, (str, bytes)) or not isinstance(streams, Sequence):
        raise TypeError("streams must be a sequence of stream names")
    if not streams:
        raise ValueError("streams must not be empty")
    return [check_stream(name) for name in streams]
