"""``redis://``: the event log on Redis Streams, for processes on many machines.

Keys, under a prefix (``pressbox:`` by default)::

    <prefix>log:{<stream>}     the stream; entry ids are "<seq>-0", fields k (key), p
                               (payload), t (append time, Unix seconds)
    <prefix>keys:{<stream>}    hash: "k:<key>" -> seq for idempotency, "#" -> last seq
    <prefix>streams            set of the stream names appended to (for discovery)
    <prefix>context:{<game>}   hash: kind -> the game's latest context blob of that kind;
                               it expires ``context_ttl_s`` after its last put

The ``{<stream>}`` hash tag keeps a stream's two keys in one slot. An append is one Lua
script (look the key up, XADD with the explicit id, record the key), so two writers can
never give one key two sequences or leave a gap. XADD trims with ``MAXLEN ~`` so a stream
stays bounded at almost no cost. Readers use XRANGE and XREAD BLOCK; consumer groups are
XREADGROUP, XACK, XPENDING and XAUTOCLAIM. Every network await runs inside
``asyncio.timeout``; redis errors become :class:`~pressbox.errors.BackendUnavailable`
(cannot reach or timed out) or :class:`~pressbox.errors.BackendError` (anything else).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Iterable, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

import redis.asyncio as aioredis
import redis.exceptions as redis_errors

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
from pressbox.errors import BackendError, BackendUnavailable
from pressbox.types import Clock

_T = TypeVar("_T")

_APPEND = """
local last = tonumber(redis.call('HGET', KEYS[2], '#')) or 0
local out = {}
local added = false
for i = 4, #ARGV, 2 do
  local field = 'k:' .. ARGV[i]
  local seq = redis.call('HGET', KEYS[2], field)
  if seq then
    out[#out + 1] = tonumber(seq)
  else
    last = last + 1
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], string.format('%d-0', last),
               'k', ARGV[i], 'p', ARGV[i + 1], 't', ARGV[3])
    redis.call('HSET', KEYS[2], field, last)
    out[#out + 1] = last
    added = true
  end
end
if added then
  redis.call('HSET', KEYS[2], '#', last)
  redis.call('SADD', KEYS[3], ARGV[2])
end
return out
"""

# Ownership is checked and refreshed in one step, so a consumer that was presumed dead
# cannot take back an entry another consumer claimed in between.
_TOUCH = """
local owned = {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if #p > 0 and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    owned[#owned + 1] = ARGV[i]
  end
end
return owned
"""

_BLOCK_CHUNK_S = 0.5
"""The longest one XREAD BLOCK waits; longer waits loop, so that aclose takes at most this."""

_BATCH = 256


class _NoGroup(BackendError):
    """The consumer group does not exist (yet, or any more) on a stream."""


def _seq(entry_id: bytes | str) -> int:
    raw = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(raw.split("-", 1)[0])


def _envelope(stream: str, entry_id: bytes, fields: dict[bytes, bytes]) -> Envelope:
    return Envelope(
        stream=stream,
        seq=_seq(entry_id),
        key=fields[b"k"].decode(),
        payload=fields[b"p"],
        ts=float(fields[b"t"]),
    )


class RedisBus:
    """An :class:`~pressbox.bus.base.EventBus` on Redis Streams (Redis 6.2 or later).

    Args:
        url: ``redis://host:port/db`` or ``rediss://...``, passed to redis-py.
        prefix: Prepended to every key, so several deployments (or test runs) can share
            one Redis.
        max_len: Entries kept per stream, approximately (``MAXLEN ~``).
        connect_timeout: Seconds to open a connection.
        read_timeout: Seconds to wait for an answer (a blocking read waits this much
            longer than its block time).
        max_connections: Connections in the pool; a blocked reader holds one. When all
            are busy a call waits up to ``connect_timeout`` for one.
        clock: Time source for entry timestamps and age trimming (the system clock by
            default). Pending idle times are measured by the Redis server.
        context_ttl_s: Seconds a game's context blobs live after their last put (default
            three days: past any game, so a finished game's context does not stay forever).
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "pressbox:",
        max_len: int = 10_000,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        max_connections: int = 64,
        clock: Clock | None = None,
        context_ttl_s: int = 3 * 86_400,
    ) -> None:
        check_seq("max_len", max_len, 1)
        check_seq("context_ttl_s", context_ttl_s, 1)
        self._context_ttl = context_ttl_s
        self._prefix = prefix
        self._max_len = max_len
        self._clock: Clock = clock or SystemClock()
        self._read_timeout = read_timeout
        self._pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=connect_timeout,
            socket_connect_timeout=connect_timeout,
        )
        # Typed Any on purpose: redis-py's response types depend on decode_responses and the
        # RESP version; every answer is converted explicitly where it is read.
        self._r: Any = aioredis.Redis(connection_pool=self._pool)
        self._append = self._r.register_script(_APPEND)
        self._touch = self._r.register_script(_TOUCH)
        self._groups: set[tuple[str, str]] = set()
        self._index = f"{prefix}streams"
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    def _log(self, stream: str) -> str:
        return f"{self._prefix}log:{{{stream}}}"

    def _keys(self, stream: str) -> str:
        return f"{self._prefix}keys:{{{stream}}}"

    async def _run(self, awaitable: Awaitable[_T], *, extra_s: float = 0.0) -> _T:
        if self._closed:
            if asyncio.iscoroutine(awaitable):
                awaitable.close()
            raise BackendUnavailable("redis bus is closed")
        # Calls are counted so that aclose can let them finish (blocking reads are short,
        # see _BLOCK_CHUNK_S) instead of closing connections under redis-py mid-read.
        self._busy += 1
        self._idle.clear()
        try:
            async with asyncio.timeout(self._read_timeout + extra_s):
                return await awaitable
        except TimeoutError as exc:
            raise BackendUnavailable(
                f"redis: no answer within {self._read_timeout + extra_s:.1f}s"
            ) from exc
        except (redis_errors.ConnectionError, redis_errors.TimeoutError) as exc:
            raise BackendUnavailable(f"redis: {exc}") from exc
        except redis_errors.ResponseError as exc:
            if str(exc).startswith("NOGROUP"):
                raise _NoGroup(f"redis: {exc}") from exc
            raise BackendError(f"redis: {exc}") from exc
        except redis_errors.RedisError as exc:
            raise BackendError(f"redis: {exc}") from exc
        finally:
            self._busy -= 1
            if not self._busy:
                self._idle.set()

    async def append(self, stream: str, payload: bytes, *, key: str) -> int:
        """Append one entry unless its key is already in the stream; returns its seq."""
        return (await self.append_many(stream, [(key, payload)]))[0]

    async def append_many(self, stream: str, items: Sequence[tuple[str, bytes]]) -> list[int]:
        """Append ``(key, payload)`` pairs in order, in one atomic script; returns the seqs."""
        check_stream(stream)
        checked = check_items(items)
        if not checked:
            return []
        args: list[Any] = [self._max_len, stream, repr(self._clock.time())]
        for key, payload in checked:
            args.append(key)
            args.append(payload)
        keys = [self._log(stream), self._keys(stream), self._index]
        seqs = await self._run(self._append(keys=keys, args=args))
        return [int(seq) for seq in seqs]

    async def read(
        self, stream: str, start_seq: int = 1, *, limit: int | None = None
    ) -> list[Envelope]:
        """Read entries with ``seq >= start_seq`` in order, at most ``limit`` (XRANGE)."""
        check_stream(stream)
        check_seq("start_seq", start_seq)
        if limit is not None:
            check_seq("limit", limit, 1)
        out: list[Envelope] = []
        start = f"{start_seq}-0"
        while True:
            want = _BATCH * 4 if limit is None else min(limit - len(out), _BATCH * 4)
            entries = await self._run(self._r.xrange(self._log(stream), start, "+", count=want))
            out.extend(_envelope(stream, i, f) for i, f in entries)
            if len(entries) < want or (limit is not None and len(out) >= limit):
                return out
            start = f"({entries[-1][0].decode()}"

    async def tail(self, stream: str, after_seq: int = 0) -> AsyncIterator[Envelope]:
        """Yield every entry after ``after_seq``, then block for new ones (XREAD BLOCK)."""
        check_stream(stream)
        check_seq("after_seq", after_seq)
        nxt = after_seq + 1
        log = self._log(stream)
        try:
            first = await self.first_seq(stream)
            if nxt < first:
                raise Trimmed(stream, nxt, first)
            while not self._closed:
                answer = await self._run(
                    self._r.xread(
                        {log: f"{nxt - 1}-0"}, count=_BATCH, block=int(_BLOCK_CHUNK_S * 1000)
                    ),
                    extra_s=_BLOCK_CHUNK_S,
                )
                for _name, entries in answer or ():
                    for entry_id, fields in entries:
                        envelope = _envelope(stream, entry_id, fields)
                        if envelope.seq != nxt:
                            raise Trimmed(stream, nxt, envelope.seq)
                        yield envelope
                        nxt += 1
        except BackendUnavailable:
            # Closing the bus is how a service stops its readers: end quietly then.
            if not self.closed:
                raise

    async def first_seq(self, stream: str) -> int:
        """The oldest seq held; ``last_seq + 1`` when the stream holds nothing."""
        check_stream(stream)
        entries = await self._run(self._r.xrange(self._log(stream), "-", "+", count=1))
        if entries:
            return _seq(entries[0][0])
        return await self.last_seq(stream) + 1

    async def last_seq(self, stream: str) -> int:
        """The latest seq ever appended (0 for an unknown stream)."""
        check_stream(stream)
        last = await self._run(self._r.hget(self._keys(stream), "#"))
        return int(last) if last is not None else 0

    async def trim(
        self,
        stream: str,
        *,
        max_len: int | None = None,
        max_age_s: float | None = None,
        exact: bool = False,
    ) -> int:
        """Drop the oldest entries (XTRIM MAXLEN [~] and MINID); returns how many."""
        check_stream(stream)
        if max_len is not None:
            check_seq("max_len", max_len)
        if max_age_s is not None:
            check_number("max_age_s", max_age_s)
        log = self._log(stream)
        dropped = 0
        if max_len is not None:
            dropped += int(
                await self._run(self._r.xtrim(log, maxlen=max_len, approximate=not exact))
            )
        if max_age_s is not None:
            cutoff = self._clock.time() - max_age_s
            keep_from = await self._first_young(log, cutoff)
            dropped += int(await self._run(self._r.xtrim(log, minid=keep_from, approximate=False)))
        return dropped

    async def _first_young(self, log: str, cutoff: float) -> str:
        # Entry ids follow the game's sequence, not time, so the first entry young enough
        # to keep is found by reading timestamps in batches from the oldest.
        start = "-"
        last_id = "0-0"
        while True:
            entries = await self._run(self._r.xrange(log, start, "+", count=_BATCH * 4))
            for entry_id, fields in entries:
                if float(fields[b"t"]) >= cutoff:
                    return str(entry_id.decode())
                last_id = entry_id.decode()
            if len(entries) < _BATCH * 4:
                return f"{_seq(last_id) + 1}-0"
            start = f"({last_id}"

    async def delete(self, stream: str) -> None:
        """Forget a stream: entries, keys and groups."""
        check_stream(stream)
        pipe = self._r.pipeline(transaction=True)
        pipe.delete(self._log(stream), self._keys(stream))
        pipe.srem(self._index, stream)
        await self._run(pipe.execute())
        self._groups = {g for g in self._groups if g[1] != stream}

    async def streams(self, prefix: str = "") -> list[str]:
        """Names of the streams appended to, starting with ``prefix``, sorted."""
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be str, not {type(prefix).__name__}")
        names = await self._run(self._r.smembers(self._index))
        return sorted(n for n in (m.decode() for m in names) if n.startswith(prefix))

    async def _ensure_group(self, group: str, stream: str) -> None:
        if (group, stream) in self._groups:
            return
        try:
            await self._run(self._r.xgroup_create(self._log(stream), group, id="0", mkstream=True))
        except BackendError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._groups.add((group, stream))

    async def read_group(
        self,
        group: str,
        consumer: str,
        streams: Sequence[str],
        *,
        count: int = 100,
        block_s: float = 0.0,
    ) -> list[Envelope]:
        """Deliver entries no consumer of ``group`` has had (XREADGROUP ``>``)."""
        check_names(group=group, consumer=consumer)
        names = check_streams(streams)
        check_seq("count", count, 1)
        block = check_number("block_s", block_s)
        by_log = {self._log(name): name for name in names}
        deadline = asyncio.get_running_loop().time() + block
        retried = False
        while True:
            for name in names:
                await self._ensure_group(group, name)
            chunk = min(max(deadline - asyncio.get_running_loop().time(), 0.0), _BLOCK_CHUNK_S)
            try:
                answer = await self._run(
                    self._r.xreadgroup(
                        group,
                        consumer,
                        dict.fromkeys(by_log, ">"),
                        count=count,
                        block=int(chunk * 1000) if chunk > 0 else None,
                    ),
                    extra_s=chunk,
                )
            except _NoGroup:
                # The stream was deleted behind our back: forget what we created, retry once.
                self._groups = {g for g in self._groups if g[0] != group or g[1] not in names}
                if retried:
                    raise
                retried = True
                continue
            if answer or chunk <= 0 or self.closed:
                break
        out: list[Envelope] = []
        for log, entries in answer or ():
            name = by_log[log.decode() if isinstance(log, bytes) else log]
            out.extend(_envelope(name, i, f) for i, f in entries if f)
        return out

    async def ack(self, group: str, stream: str, seqs: Iterable[int]) -> int:
        """Acknowledge entries (XACK); returns how many were pending."""
        check_names(group=group)
        check_stream(stream)
        ids = [f"{check_seq('seq', seq, 1)}-0" for seq in seqs]
        if not ids:
            return 0
        try:
            return int(await self._run(self._r.xack(self._log(stream), group, *ids)))
        except _NoGroup:
            return 0

    async def pending(self, group: str, stream: str) -> list[Pending]:
        """Entries delivered to the group and not acknowledged, by seq (XPENDING)."""
        check_names(group=group)
        check_stream(stream)
        out: list[Pending] = []
        start = "-"
        while True:
            try:
                rows = await self._run(
                    self._r.xpending_range(
                        self._log(stream), group, min=start, max="+", count=_BATCH * 4
                    )
                )
            except _NoGroup:
                return []
            for row in rows:
                out.append(
                    Pending(
                        stream=stream,
                        seq=_seq(row["message_id"]),
                        consumer=row["consumer"].decode(),
                        idle_s=row["time_since_delivered"] / 1000.0,
                        deliveries=int(row["times_delivered"]),
                    )
                )
            if len(rows) < _BATCH * 4:
                return out
            start = f"({rows[-1]['message_id'].decode()}"

    async def claim_pending(
        self, group: str, consumer: str, stream: str, *, min_idle_s: float, count: int = 100
    ) -> list[Envelope]:
        """Move entries idle for ``min_idle_s`` or more to ``consumer`` (XAUTOCLAIM)."""
        check_names(group=group, consumer=consumer)
        check_stream(stream)
        check_seq("count", count, 1)
        idle_ms = int(check_number("min_idle_s", min_idle_s) * 1000)
        out: list[Envelope] = []
        cursor = "0-0"
        while len(out) < count:
            try:
                answer = await self._run(
                    self._r.xautoclaim(
                        self._log(stream),
                        group,
                        consumer,
                        idle_ms,
                        start_id=cursor,
                        count=count - len(out),
                    )
                )
            except _NoGroup:
                return out
            next_cursor, entries = answer[0], answer[1]
            # Entries trimmed while pending come back empty; Redis drops them from the PEL.
            out.extend(_envelope(stream, i, f) for i, f in entries if f)
            cursor = next_cursor.decode() if isinstance(next_cursor, bytes) else next_cursor
            if cursor == "0-0":
                break
        return out

    async def touch(self, group: str, consumer: str, stream: str, seqs: Iterable[int]) -> list[int]:
        """Reset the idle time of entries still pending for ``consumer``; returns those."""
        check_names(group=group, consumer=consumer)
        check_stream(stream)
        ids = [f"{check_seq('seq', seq, 1)}-0" for seq in seqs]
        if not ids:
            return []
        try:
            owned = await self._run(
                self._touch(keys=[self._log(stream)], args=[group, consumer, *ids])
            )
        except _NoGroup:
            return []
        return [_seq(entry_id) for entry_id in owned]

    def _context(self, game_id: str) -> str:
        return f"{self._prefix}context:{{{game_id}}}"

    async def put_context(self, game_id: str, kind: str, payload: bytes) -> None:
        """Replace the game's blob of this kind (HSET, and EXPIRE in the same transaction)."""
        game, what = check_context_key(game_id, kind)
        blob = check_payload(payload)
        pipe = self._r.pipeline(transaction=True)
        pipe.hset(self._context(game), what, blob)
        pipe.expire(self._context(game), self._context_ttl)
        await self._run(pipe.execute())

    async def get_context(self, game_id: str, kind: str) -> bytes | None:
        """The game's latest blob of this kind (HGET), or ``None``."""
        game, what = check_context_key(game_id, kind)
        blob = await self._run(self._r.hget(self._context(game), what))
        return None if blob is None else bytes(blob)

    async def ping(self) -> bool:
        """Whether Redis answers PING within the read timeout; never raises."""
        try:
            return bool(await self._run(self._r.ping()))
        except BackendError:
            return False

    async def aclose(self) -> None:
        """Close the connection pool; blocked tails end."""
        if self._closed:
            return
        self._closed = True
        try:
            async with asyncio.timeout(_BLOCK_CHUNK_S + self._read_timeout):
                await self._idle.wait()
        except TimeoutError:
            pass
        try:
            async with asyncio.timeout(self._read_timeout):
                await self._r.aclose()
                await self._pool.disconnect()
        except (TimeoutError, redis_errors.RedisError, OSError):
            # Closing is best effort: the sockets go away with the process anyway.
            pass

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
