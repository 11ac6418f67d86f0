"""Per-key rate limits: a token bucket per API key, shared by every worker process.

Each key has a bucket of its tier's ``burst`` tokens refilled at ``rate`` per second; a
request takes one token or is refused with 429.

Two backends:

- :class:`MemoryLimiter` (``cache_url = memory://``, one process): an exact in-process
  token bucket per key.
- :class:`RedisLeaseLimiter` (``redis://``, any number of workers): the bucket lives in
  Redis and is changed only by a Lua script that refills it on the Redis server's clock
  and takes up to N tokens atomically. A worker does not ask Redis for every request,
  which would cost one round trip (about 135 µs of client CPU) each: it *leases* a batch
  of ``min(lease_max, rate × lease_s)`` tokens (at least 1) and spends them locally, at
  in-process speed, asking for the next batch when the lease is spent. A lease not spent
  within ``lease_ttl_s`` is dropped. When Redis says the bucket is empty, the worker
  refuses locally until the moment Redis named, without asking again.

**Tolerance.** Tokens are taken from the shared bucket *before* they are spent, so the
workers together never spend more tokens than the bucket handed out. A lease taken just
before a window opens may be spent inside it, so over any window the admissions of ``W``
workers are at most the bucket's allowance plus ``W × batch`` (one lease per worker), and
at least the allowance minus ``W × batch`` (leases still unspent when the window closes).
With the defaults (``lease_s = 0.05``, ``lease_max = 64``) the batch is 1 token for
Community and Starter (exact), 5 for Pro and 50 for Enterprise.
``tests/api/test_limits_redis.py`` checks both bounds with 4 processes hammering one key.

If Redis fails, each worker falls back to its own in-process bucket for a second at a
time (fail open, at most the tier's rate per worker) rather than refuse every customer.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any, NamedTuple, Protocol

import structlog

from pressbox.api.keys import Principal
from pressbox.resilience.clock import MonotonicClock
from pressbox.types import Clock

_log = structlog.get_logger("pressbox.api.limits")


class Decision(NamedTuple):
    """The limiter's answer for one request (a named tuple: made on every request).

    Args:
        allowed: Whether the request may go on.
        limit: The bucket's size (the tier's burst), for ``RateLimit-Limit``.
        remaining: Tokens left, as well as this worker knows, for ``RateLimit-Remaining``.
        reset: Seconds until the bucket is full again, for ``RateLimit-Reset``.
        retry_after: Seconds until a request would be admitted (0 when allowed).
    """

    allowed: bool
    limit: int
    remaining: int
    reset: float
    retry_after: float = 0.0

    def headers(self) -> list[tuple[bytes, bytes]]:
        """The ``RateLimit-*`` headers (and ``Retry-After`` when refused)."""
        out = [
            (b"ratelimit-limit", b"%d" % self.limit),
            (b"ratelimit-remaining", b"%d" % self.remaining),
            (b"ratelimit-reset", b"%d" % math.ceil(self.reset)),
        ]
        if not self.allowed:
            out.append((b"retry-after", b"%d" % max(1, math.ceil(self.retry_after))))
        return out


class KeyLimiter(Protocol):
    """Takes one token per request from the bucket of the request's key."""

    def try_local(self, principal: Principal) -> Decision | None:
        """Answer without I/O when possible; ``None`` means :meth:`acquire` must be awaited."""
        ...

    async def acquire(self, principal: Principal) -> Decision:
        """Take one token for ``principal`` (or say when one would be there)."""
        ...


class _Bucket:
    __slots__ = ("burst", "rate", "tokens", "updated")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = now


class MemoryLimiter:
    """An exact token bucket per key, in this process.

    The same arithmetic as :class:`~pressbox.resilience.RateLimiter` (over ``t`` seconds a
    key is admitted at most ``burst + rate × t`` times), inlined because it runs on every
    request: a bucket here is four slots and one clock reading.

    Args:
        clock: Source of monotonic time.
        max_keys: Buckets kept; beyond it, full buckets are forgotten (a new bucket
            starts full, so forgetting a full one changes nothing).
    """

    def __init__(self, *, clock: Clock | None = None, max_keys: int = 100_000) -> None:
        self._clock: Clock = clock or MonotonicClock()
        self._max = max_keys
        self._buckets: dict[str, _Bucket] = {}

    def _forget_full(self, now: float) -> None:
        self._buckets = {
            k: b
            for k, b in self._buckets.items()
            if b.tokens + (now - b.updated) * b.rate < b.burst
        }

    def try_local(self, principal: Principal) -> Decision:
        """Take one token (always answers without I/O)."""
        now = self._clock.monotonic()
        spec = principal.spec
        bucket = self._buckets.get(principal.key_id)
        if bucket is None or bucket.rate != spec.rate or bucket.burst != spec.burst:
            if len(self._buckets) >= self._max:
                self._forget_full(now)
            bucket = self._buckets[principal.key_id] = _Bucket(spec.rate, spec.burst, now)
        tokens = bucket.tokens + (now - bucket.updated) * bucket.rate
        if tokens > bucket.burst:
            tokens = bucket.burst
        bucket.updated = now
        if tokens >= 1.0:
            tokens -= 1.0
            bucket.tokens = tokens
            return Decision(True, bucket.burst, int(tokens), (bucket.burst - tokens) / bucket.rate)
        bucket.tokens = tokens
        reset = (bucket.burst - tokens) / bucket.rate
        return Decision(False, bucket.burst, 0, reset, (1.0 - tokens) / bucket.rate)

    async def acquire(self, principal: Principal) -> Decision:
        """Take one token."""
        return self.try_local(principal)


TAKE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate)
  ts = now
end
local granted = math.min(want, math.floor(tokens))
if granted < 0 then granted = 0 end
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts',
  string.format('%.17g', ts))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 60000)
local wait = 0
if tokens < 1 then wait = (1 - tokens) / rate end
return {granted, string.format('%.17g', tokens), string.format('%.17g', wait)}
"""
"""Refill the bucket ``KEYS[1]`` on the server's clock, then take up to ``want`` whole
tokens. ARGV: rate (tokens/s), burst, want. Returns ``[granted, tokens_left, wait_s]``."""


class _Lease:
    __slots__ = ("empty_until", "expires", "pending", "shared_left", "tokens")

    def __init__(self) -> None:
        self.tokens = 0
        self.expires = 0.0
        self.empty_until = 0.0
        self.shared_left = 0.0
        self.pending: asyncio.Future[None] | None = None


class RedisLeaseLimiter:
    """A token bucket per key in Redis, spent through local leases (see the module doc).

    Args:
        client: An open ``redis.asyncio`` client.
        lease_s: Seconds of the tier's rate leased at once (default 0.05).
        lease_max: The most tokens in one lease (default 64).
        lease_ttl_s: Seconds after which an unspent lease is dropped (default 1).
        prefix: Key prefix of the buckets in Redis.
        clock: Source of monotonic time for leases.
        fallback: The in-process limiter used while Redis fails.
    """

    def __init__(
        self,
        client: Any,
        *,
        lease_s: float = 0.05,
        lease_max: int = 64,
        lease_ttl_s: float = 1.0,
        prefix: str = "pressbox:bucket:",
        clock: Clock | None = None,
        fallback: MemoryLimiter | None = None,
    ) -> None:
        self._client = client
        self._script = client.register_script(TAKE_SCRIPT)
        self._lease_s = lease_s
        self._lease_max = lease_max
        self._ttl = lease_ttl_s
        self._prefix = prefix
        self._clock: Clock = clock or MonotonicClock()
        self._fallback = fallback or MemoryLimiter(clock=self._clock)
        self._leases: dict[str, _Lease] = {}
        self._down_until = 0.0
        self.round_trips = 0
        """Scripts run against Redis (for tests and the benchmark)."""

    def batch(self, principal: Principal) -> int:
        """Tokens leased at once for this key's tier (the per-worker tolerance)."""
        spec = principal.spec
        return max(1, min(self._lease_max, spec.burst, int(spec.rate * self._lease_s)))

    def try_local(self, principal: Principal) -> Decision | None:
        """Spend a leased token, or refuse while Redis said empty; else ``None``."""
        lease = self._leases.get(principal.key_id)
        now = self._clock.monotonic()
        if now < self._down_until:
            return self._fallback.try_local(principal)
        if lease is None:
            return None
        spec = principal.spec
        if lease.tokens > 0 and now < lease.expires:
            lease.tokens -= 1
            left = lease.shared_left + lease.tokens
            return Decision(True, spec.burst, int(left), (spec.burst - left) / spec.rate)
        if now < lease.empty_until:
            wait = lease.empty_until - now
            return Decision(False, spec.burst, 0, spec.burst / spec.rate, wait)
        return None

    async def acquire(self, principal: Principal) -> Decision:
        """Take one token, refilling this worker's lease from Redis when it is spent."""
        for _ in range(8):
            decision = self.try_local(principal)
            if decision is not None:
                return decision
            lease = self._leases.get(principal.key_id)
            if lease is None:
                lease = self._leases[principal.key_id] = _Lease()
            if lease.pending is not None:
                # One refill per key at a time in this worker; the others wait for it.
                await asyncio.shield(lease.pending)
                continue
            await self._refill(principal, lease)
        # Eight refills in a row were spent by others before this request got a token:
        # the bucket is contended to exhaustion, so refuse.
        spec = principal.spec
        return Decision(False, spec.burst, 0, spec.burst / spec.rate, 1.0 / spec.rate)

    async def _refill(self, principal: Principal, lease: _Lease) -> None:
        spec = principal.spec
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        lease.pending = future
        try:
            self.round_trips += 1
            granted, left, wait = await self._script(
                keys=[self._prefix + principal.key_id],
                args=[repr(float(spec.rate)), spec.burst, self.batch(principal)],
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._down_until = self._clock.monotonic() + 1.0
            _log.warning("ratelimit.backend_unavailable", error=str(exc))
        else:
            now = self._clock.monotonic()
            # Leftovers of an expired lease are dropped, never added: see the tolerance.
            lease.tokens = int(granted)
            lease.expires = now + self._ttl
            lease.shared_left = float(left)
            lease.empty_until = now + float(wait) if int(granted) == 0 else 0.0
        finally:
            lease.pending = None
            if not future.done():
                future.set_result(None)
