"""``memory://``: the in-process event log, the embedded default and the tests' seam.

Every stream is a list of envelopes bounded by ``max_len`` (the oldest entries are dropped
as new ones arrive, like Redis ``MAXLEN``). Readers never get a queue of their own: a
tailing reader keeps only its next sequence and reads from the stream itself, waking on
the stream's :class:`asyncio.Condition`, so a slow reader costs no memory; if it falls
behind a trim it gets :class:`~pressbox.bus.base.Trimmed`. Consumer groups keep, per
stream, the last delivered sequence and a pending map, as Redis does. Context blobs live in
one dict bounded by ``max_contexts`` (the least recently put is dropped first).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from pressbox.bus.base import (
    Envelope,
    Pending,
    SystemClock,
    Trimmed,
    check_context_key,
    check_items,
    check_names,
    check_number,
    check_payload,
    check_seq,
    check_stream,
    check_streams,
)
from pressbox.errors import BackendUnavailable
from pressbox.types import Clock

_COMPACT_AT = 1024
"""Dropped entries are removed from the list in one slice once this many accumulate."""


@dataclass(slots=True)
class _PendingEntry:
    consumer: str
    since: float
    deliveries: int


@dataclass(slots=True)
class _Group:
    last_delivered: int = 0
    pending: dict[int, _PendingEntry] | None = None

    def pending_map(self) -> dict[int, _PendingEntry]:
        if self.pending is None:
            self.pending = {}
        return self.pending


class _Stream:
    __slots__ = ("cond", "entries", "groups", "head", "keys", "last")

    def __init__(self) -> None:
        self.entries: list[Envelope] = []
        self.head = 0
        self.last = 0
        self.keys: dict[str, int] = {}
        self.cond = asyncio.Condition()
        self.groups: dict[str, _Group] = {}

    @property
    def size(self) -> int:
        return len(self.entries) - self.head

    @property
    def first_seq(self) -> int:
        return self.entries[self.head].seq if self.size else self.last + 1

    def get_from(self, seq: int, limit: int | None) -> list[Envelope]:
        # Sequences have no gaps, so an entry's index follows from the first kept seq.
        start = self.head + max(seq - self.first_seq, 0)
        stop = len(self.entries) if limit is None else min(start + limit, len(self.entries))
        return self.entries[start:stop]

    def get(self, seq: int) -> Envelope | None:
        index = self.head + seq - self.first_seq
        if self.head <= index < len(self.entries):
            return self.entries[index]
        return None

    def drop(self, n: int) -> int:
        n = min(n, self.size)
        self.head += n
        if self.head >= _COMPACT_AT and self.head * 2 >= len(self.entries):
            del self.entries[: self.head]
            self.head = 0
        return n


class MemoryBus:
    """An :class:`~pressbox.bus.base.EventBus` held in this process.

    Args:
        max_len: Entries kept per stream (default 10,000, several full games); the oldest
            are dropped as new ones arrive.
        clock: Time source for entry timestamps, age trimming and pending idle times
            (the system clock by default; tests pass a manual one).
        max_contexts: Context blobs kept, all games and kinds together (default 10,000);
            the least recently put is dropped first.
    """

    def __init__(
        self, *, max_len: int = 10_000, clock: Clock | None = None, max_contexts: int = 10_000
    ) -> None:
        check_seq("max_len", max_len, 1)
        check_seq("max_contexts", max_contexts, 1)
        self._max_len = max_len
        self._max_contexts = max_contexts
        self._contexts: dict[tuple[str, str], bytes] = {}
        self._clock: Clock = clock or SystemClock()
        self._streams: dict[str, _Stream] = {}
        self._changed = asyncio.Condition()
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise BackendUnavailable("memory bus is closed")

    def _stream(self, name: str) -> _Stream:
        stream = self._streams.get(name)
        if stream is None:
            stream = self._streams[name] = _Stream()
        return stream

    async def append(self, stream: str, payload: bytes, *, key: str) -> int:
        """Append one entry unless its key is already in the stream; returns its seq."""
        return (await self.append_many(stream, [(key, payload)]))[0]

    async def append_many(self, stream: str, items: Sequence[tuple[str, bytes]]) -> list[int]:
        """Append ``(key, payload)`` pairs in order; returns the seq of each."""
        check_stream(stream)
        checked = check_items(items)
        self._check_open()
        s = self._stream(stream)
        now = self._clock.time()
        seqs: list[int] = []
        added = 0
        for key, payload in checked:
            seq = s.keys.get(key)
            if seq is None:
                seq = s.last + 1
                s.last = seq
                s.keys[key] = seq
                s.entries.append(Envelope(stream, seq, key, payload, now))
                added += 1
            seqs.append(seq)
        if added:
            if s.size > self._max_len:
                s.drop(s.size - self._max_len)
            async with s.cond:
                s.cond.notify_all()
            async with self._changed:
                self._changed.notify_all()
        return seqs

    async def read(
        self, stream: str, start_seq: int = 1, *, limit: int | None = None
    ) -> list[Envelope]:
        """Read entries with ``seq >= start_seq`` in order, at most ``limit``."""
        check_stream(stream)
        check_seq("start_seq", start_seq)
        if limit is not None:
            check_seq("limit", limit, 1)
        self._check_open()
        s = self._streams.get(stream)
        return [] if s is None else s.get_from(start_seq, limit)

    async def tail(self, stream: str, after_seq: int = 0) -> AsyncIterator[Envelope]:
        """Yield every entry after ``after_seq``, then block for new ones until closed."""
        check_stream(stream)
        check_seq("after_seq", after_seq)
        self._check_open()
        s = self._stream(stream)
        nxt = after_seq + 1
        while not self._closed:
            if self._streams.get(stream) is not s:
                raise Trimmed(stream, nxt, 1)
            if nxt < s.first_seq:
                raise Trimmed(stream, nxt, s.first_seq)
            batch = s.get_from(nxt, 256)
            if batch:
                for envelope in batch:
                    yield envelope
                    nxt = envelope.seq + 1
                continue
            async with s.cond:
                while not (self._closed or s.last >= nxt or self._streams.get(stream) is not s):
                    await s.cond.wait()

    async def first_seq(self, stream: str) -> int:
        """The oldest seq held; ``last_seq + 1`` when the stream holds nothing."""
        check_stream(stream)
        self._check_open()
        s = self._streams.get(stream)
        return 1 if s is None else s.first_seq

    async def last_seq(self, stream: str) -> int:
        """The latest seq ever appended (0 for an unknown stream)."""
        check_stream(stream)
        self._check_open()
        s = self._streams.get(stream)
        return 0 if s is None else s.last

    async def trim(
        self,
        stream: str,
        *,
        max_len: int | None = None,
        max_age_s: float | None = None,
        exact: bool = False,
    ) -> int:
        """Drop the oldest entries (always exactly); returns how many were dropped."""
        check_stream(stream)
        if max_len is not None:
            check_seq("max_len", max_len)
        if max_age_s is not None:
            check_number("max_age_s", max_age_s)
        self._check_open()
        s = self._streams.get(stream)
        if s is None:
            return 0
        dropped = 0
        if max_len is not None and s.size > max_len:
            dropped += s.drop(s.size - max_len)
        if max_age_s is not None:
            cutoff = self._clock.time() - max_age_s
            old = 0
            for envelope in s.entries[s.head :]:
                if envelope.ts >= cutoff:
                    break
                old += 1
            dropped += s.drop(old)
        return dropped

    async def delete(self, stream: str) -> None:
        """Forget a stream: entries, keys and groups; its tailers get ``Trimmed``."""
        check_stream(stream)
        self._check_open()
        s = self._streams.pop(stream, None)
        if s is not None:
            async with s.cond:
                s.cond.notify_all()

    async def streams(self, prefix: str = "") -> list[str]:
        """Names of the streams appended to, starting with ``prefix``, sorted."""
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be str, not {type(prefix).__name__}")
        self._check_open()
        return sorted(n for n, s in self._streams.items() if s.last and n.startswith(prefix))

    def _deliver(
        self, group: str, consumer: str, streams: Sequence[str], count: int
    ) -> list[Envelope]:
        now = self._clock.monotonic()
        out: list[Envelope] = []
        for name in streams:
            s = self._stream(name)
            g = s.groups.setdefault(group, _Group())
            batch = s.get_from(g.last_delivered + 1, count)
            if not batch:
                continue
            pending = g.pending_map()
            for envelope in batch:
                pending[envelope.seq] = _PendingEntry(consumer, now, 1)
            g.last_delivered = batch[-1].seq
            out.extend(batch)
        return out

    def _has_new(self, group: str, streams: Sequence[str]) -> bool:
        for name in streams:
            s = self._streams.get(name)
            if s is None:
                continue
            g = s.groups.get(group)
            if s.last > (g.last_delivered if g else 0) and s.size:
                return True
        return False

    async def read_group(
        self,
        group: str,
        consumer: str,
        streams: Sequence[str],
        *,
        count: int = 100,
        block_s: float = 0.0,
    ) -> list[Envelope]:
        """Deliver entries no consumer of ``group`` has had; they become pending for it."""
        check_names(group=group, consumer=consumer)
        names = check_streams(streams)
        check_seq("count", count, 1)
        check_number("block_s", block_s)
        self._check_open()
        out = self._deliver(group, consumer, names, count)
        if out or block_s <= 0:
            return out
        try:
            async with asyncio.timeout(block_s), self._changed:
                await self._changed.wait_for(lambda: self._closed or self._has_new(group, names))
        except TimeoutError:
            return []
        self._check_open()
        return self._deliver(group, consumer, names, count)

    async def ack(self, group: str, stream: str, seqs: Iterable[int]) -> int:
        """Acknowledge entries; returns how many were pending."""
        check_names(group=group)
        check_stream(stream)
        wanted = [check_seq("seq", seq, 1) for seq in seqs]
        self._check_open()
        s = self._streams.get(stream)
        g = s.groups.get(group) if s else None
        if g is None or not g.pending:
            return 0
        return sum(g.pending.pop(seq, None) is not None for seq in wanted)

    async def pending(self, group: str, stream: str) -> list[Pending]:
        """Entries delivered to the group and not acknowledged, by seq."""
        check_names(group=group)
        check_stream(stream)
        self._check_open()
        s = self._streams.get(stream)
        g = s.groups.get(group) if s else None
        if g is None or not g.pending:
            return []
        now = self._clock.monotonic()
        return [
            Pending(stream, seq, p.consumer, max(now - p.since, 0.0), p.deliveries)
            for seq, p in sorted(g.pending.items())
        ]

    async def claim_pending(
        self, group: str, consumer: str, stream: str, *, min_idle_s: float, count: int = 100
    ) -> list[Envelope]:
        """Move entries idle for ``min_idle_s`` or more to ``consumer``; returns them."""
        check_names(group=group, consumer=consumer)
        check_stream(stream)
        check_seq("count", count, 1)
        check_number("min_idle_s", min_idle_s)
        self._check_open()
        s = self._streams.get(stream)
        g = s.groups.get(group) if s else None
        if s is None or g is None or not g.pending:
            return []
        now = self._clock.monotonic()
        out: list[Envelope] = []
        for seq in sorted(g.pending):
            p = g.pending[seq]
            if now - p.since < min_idle_s:
                continue
            envelope = s.get(seq)
            if envelope is None:
                del g.pending[seq]
                continue
            p.consumer, p.since, p.deliveries = consumer, now, p.deliveries + 1
            out.append(envelope)
            if len(out) >= count:
                break
        return out

    async def touch(self, group: str, consumer: str, stream: str, seqs: Iterable[int]) -> list[int]:
        """Reset the idle time of entries still pending for ``consumer``; returns those."""
        check_names(group=group, consumer=consumer)
        check_stream(stream)
        wanted = [check_seq("seq", seq, 1) for seq in seqs]
        self._check_open()
        s = self._streams.get(stream)
        g = s.groups.get(group) if s else None
        if g is None or not g.pending:
            return []
        now = self._clock.monotonic()
        owned: list[int] = []
        for seq in wanted:
            p = g.pending.get(seq)
            if p is not None and p.consumer == consumer:
                p.since = now
                owned.append(seq)
        return owned

    async def put_context(self, game_id: str, kind: str, payload: bytes) -> None:
        """Replace the game's blob of this kind."""
        key = check_context_key(game_id, kind)
        blob = check_payload(payload)
        self._check_open()
        # Re-inserted at the end, so the dict's order is the order of the last puts.
        self._contexts.pop(key, None)
        self._contexts[key] = blob
        while len(self._contexts) > self._max_contexts:
            del self._contexts[next(iter(self._contexts))]

    async def get_context(self, game_id: str, kind: str) -> bytes | None:
        """The game's latest blob of this kind, or ``None``."""
        key = check_context_key(game_id, kind)
        self._check_open()
        return self._contexts.get(key)

    async def ping(self) -> bool:
        """Whether the bus is open."""
        return not self._closed

    async def aclose(self) -> None:
        """Close the bus; blocked readers end."""
        if self._closed:
            return
        self._closed = True
        for s in list(self._streams.values()):
            async with s.cond:
                s.cond.notify_all()
        async with self._changed:
            self._changed.notify_all()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
