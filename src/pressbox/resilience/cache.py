"""A TTL cache that serves the last good value when a refresh fails, with single-flight.

:class:`TTLCache` keeps values for a time-to-live measured on the injected clock. Its
:meth:`TTLCache.get_or_fetch` returns a fresh value when it has one; otherwise it runs
the fetch, and however many callers ask for the same key at once, only one fetch runs
(single-flight) and every caller gets its result. When the fetch fails and a value is on
hand that is not older than ``max_stale`` past its TTL, that value is served with its age
and ``stale=True`` instead of the error. The cache knows nothing about what it stores.

Kept by hand rather than taken from cashews: its ``failover`` and ``locked`` decorators
give serve-stale and single-flight, but they key through the decorated function's
arguments and hand back the bare value, while callers here need each answer's age and
``stale`` flag, and expiry there is not driven by an injectable clock. hishel caches
whole HTTP responses by RFC 9111 headers; the TTLs here are our per-source policy, not
the upstream's ``Cache-Control``, so it does not fit either.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

import structlog
from prometheus_client import CollectorRegistry

from pressbox.resilience._metrics import metrics_for
from pressbox.resilience.clock import MonotonicClock
from pressbox.types import Clock

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_log = structlog.get_logger("pressbox.resilience.cache")


@dataclass(frozen=True, slots=True)
class Cached(Generic[V]):
    """A value from the cache, with how old it is.

    Attributes:
        value: The stored value.
        age: Seconds (monotonic) since the value was stored or last revalidated.
        stale: ``True`` when the value is past its TTL (served because a refresh failed).
        error: The refresh error that made a stale value be served, else ``None``.
    """

    value: V
    age: float
    stale: bool
    error: Exception | None = None


@dataclass(frozen=True, slots=True)
class _Entry(Generic[V]):
    value: V
    stored_at: float
    ttl: float


class TTLCache(Generic[K, V]):
    """An in-process TTL cache with serve-stale on error and single-flight refreshes.

    Args:
        name: The cache's name, used as the metrics label and in logs.
        ttl: Default time-to-live of an entry, seconds (default ``60.0``).
        max_stale: How long past its TTL an entry may still be served when a refresh
            fails, seconds (default ``86_400.0``, a day: stale data beats no data, but not
            forever). Entries older than ``ttl + max_stale`` are dropped.
        max_entries: The most entries kept; the least recently used go first
            (default ``1024``).
        clock: Source of time; :class:`MonotonicClock` when ``None``.
        registry: Prometheus registry for the metrics; the default registry when ``None``.

    Raises:
        ValueError: A bound is not positive (``max_stale`` may be ``0``).
    """

    def __init__(
        self,
        name: str = "cache",
        *,
        ttl: float = 60.0,
        max_stale: float = 86_400.0,
        max_entries: int = 1024,
        clock: Clock | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        if ttl <= 0:
            raise ValueError(f"ttl must be positive, got {ttl}")
        if max_stale < 0:
            raise ValueError(f"max_stale must not be negative, got {max_stale}")
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self.name = name
        self.ttl = ttl
        self.max_stale = max_stale
        self.max_entries = max_entries
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        self._entries: OrderedDict[K, _Entry[V]] = OrderedDict()
        self._inflight: dict[K, asyncio.Future[Cached[V]]] = {}
        m = metrics_for(registry)
        self._hits = m.cache_requests.labels(cache=name, outcome="hit")
        self._misses = m.cache_requests.labels(cache=name, outcome="miss")
        self._stale = m.cache_stale_served.labels(cache=name)
        self._errors = m.cache_fetch_errors.labels(cache=name)

    def __len__(self) -> int:
        return len(self._entries)

    def _lookup(self, key: K) -> tuple[_Entry[V], float] | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        age = self._clock.monotonic() - entry.stored_at
        if age > entry.ttl + self.max_stale:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry, age

    def get(self, key: K) -> Cached[V] | None:
        """The entry for ``key``, fresh or stale, or ``None``.

        Args:
            key: The key.

        Returns:
            The value with its age and whether it is past its TTL; ``None`` when there is
            no entry or it is older than ``ttl + max_stale``.
        """
        found = self._lookup(key)
        if found is None:
            return None
        entry, age = found
        return Cached(entry.value, age, stale=age > entry.ttl)

    def set(self, key: K, value: V, *, ttl: float | None = None) -> Cached[V]:
        """Store ``value`` as fresh now.

        Args:
            key: The key.
            value: The value.
            ttl: This entry's time-to-live, seconds; the cache's ``ttl`` when ``None``.

        Returns:
            The stored value, fresh, age ``0``.

        Raises:
            ValueError: ``ttl`` is not positive.
        """
        ttl = self.ttl if ttl is None else ttl
        if ttl <= 0:
            raise ValueError(f"ttl must be positive, got {ttl}")
        self._entries[key] = _Entry(value, self._clock.monotonic(), ttl)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return Cached(value, 0.0, stale=False)

    def delete(self, key: K) -> None:
        """Forget ``key``; nothing happens when it is absent."""
        self._entries.pop(key, None)

    async def get_or_fetch(
        self,
        key: K,
        fetch: Callable[[], Awaitable[V]],
        *,
        ttl: float | None = None,
    ) -> Cached[V]:
        """A fresh value for ``key``, fetching it at most once however many callers wait.

        Args:
            key: The key.
            fetch: Makes the value; called only when no fresh value is cached and no
                other caller is already fetching ``key``. It receives no arguments.
            ttl: Time-to-live of a fetched value, seconds; the cache's ``ttl`` when ``None``.

        Returns:
            A fresh value; or, when ``fetch`` raised and a value within ``max_stale`` is on
            hand, that value with ``stale=True`` and the ``error``.

        Raises:
            Exception: Whatever ``fetch`` raised, when there is nothing to serve instead.
        """
        while True:
            cached = self.get(key)
            if cached is not None and not cached.stale:
                self._hits.inc()
                return cached
            pending = self._inflight.get(key)
            if pending is None:
                break
            try:
                # Shielded so that one follower's cancellation does not cancel the fetch
                # the leader and the other followers wait on.
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if pending.cancelled() and task is not None and not task.cancelling():
                    # The leader was cancelled, not us: take over the fetch.
                    continue
                raise
        self._misses.inc()
        return await self._lead(key, fetch, ttl)

    async def _lead(
        self, key: K, fetch: Callable[[], Awaitable[V]], ttl: float | None
    ) -> Cached[V]:
        future: asyncio.Future[Cached[V]] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            value = await fetch()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            self._errors.inc()
            cached = self.get(key)
            if cached is None:
                future.set_exception(exc)
                # Marks the exception as retrieved: with no follower waiting, asyncio
                # would otherwise log it as never retrieved; followers still get it.
                future.exception()
                raise
            self._stale.inc()
            _log.warning(
                "cache.stale_served",
                cache=self.name,
                key=str(key),
                age=round(cached.age, 3),
                error=str(exc),
            )
            result = Cached(cached.value, cached.age, stale=cached.stale, error=exc)
        else:
            result = self.set(key, value, ttl=ttl)
        finally:
            del self._inflight[key]
        future.set_result(result)
        return result
