"""Tests for TTLCache: TTL, serve-stale on error, single-flight, bounds."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from pressbox.resilience import Cached, ManualClock, TTLCache

pytestmark = pytest.mark.anyio


def make(clock: ManualClock, **kwargs: Any) -> TTLCache[str, int]:
    return TTLCache("test", clock=clock, registry=CollectorRegistry(), **kwargs)


def test_value_is_fresh_until_its_ttl_then_stale():
    """An entry is fresh for its TTL, then stale with its age."""
    clock = ManualClock()
    cache = make(clock, ttl=10.0)
    assert cache.set("k", 1) == Cached(1, 0.0, stale=False)
    clock.advance(10.0)
    assert cache.get("k") == Cached(1, 10.0, stale=False)
    clock.advance(0.5)
    assert cache.get("k") == Cached(1, 10.5, stale=True)


def test_per_entry_ttl_overrides_the_default():
    """set(ttl=...) gives that entry its own time-to-live."""
    clock = ManualClock()
    cache = make(clock, ttl=10.0)
    cache.set("k", 1, ttl=1.0)
    clock.advance(2.0)
    cached = cache.get("k")
    assert cached is not None
    assert cached.stale


def test_entries_past_max_stale_are_dropped():
    """An entry older than ttl + max_stale is gone."""
    clock = ManualClock()
    cache = make(clock, ttl=1.0, max_stale=5.0)
    cache.set("k", 1)
    clock.advance(6.0)
    assert cache.get("k") is not None
    clock.advance(0.1)
    assert cache.get("k") is None
    assert len(cache) == 0


def test_least_recently_used_entry_is_evicted():
    """Past max_entries, the least recently used entry goes first."""
    cache = make(ManualClock(), max_entries=2)
    cache.set("a", 1)
    cache.set("b", 2)
    cache.get("a")
    cache.set("c", 3)
    assert cache.get("b") is None
    assert cache.get("a") is not None
    assert cache.get("c") is not None


def test_delete_forgets_a_key():
    """delete() removes an entry and ignores a missing one."""
    cache = make(ManualClock())
    cache.set("a", 1)
    cache.delete("a")
    cache.delete("missing")
    assert cache.get("a") is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ttl": 0}, "ttl"),
        ({"max_stale": -1}, "max_stale"),
        ({"max_entries": 0}, "max_entries"),
    ],
)
def test_bounds_are_validated(kwargs, message):
    """Non-positive bounds are refused with ValueError."""
    with pytest.raises(ValueError, match=message):
        make(ManualClock(), **kwargs)


def test_set_refuses_a_non_positive_ttl():
    """set(ttl=0) is a ValueError."""
    with pytest.raises(ValueError, match="ttl"):
        make(ManualClock()).set("k", 1, ttl=0)


async def test_fresh_value_is_served_without_fetching():
    """A fresh entry answers get_or_fetch without calling fetch."""
    cache = make(ManualClock())
    cache.set("k", 1)

    async def fetch() -> int:
        raise AssertionError("must not fetch")

    assert (await cache.get_or_fetch("k", fetch)).value == 1


async def test_missing_value_is_fetched_and_stored():
    """A miss fetches, stores with the given TTL and returns the fresh value."""
    clock = ManualClock()
    cache = make(clock)

    async def fetch() -> int:
        return 7

    assert await cache.get_or_fetch("k", fetch, ttl=5.0) == Cached(7, 0.0, stale=False)
    clock.advance(6.0)
    cached = cache.get("k")
    assert cached is not None
    assert cached.stale


async def test_failed_refresh_serves_the_stale_value_with_its_age():
    """When the refresh raises, the last good value is served with stale=True and its age."""
    clock = ManualClock()
    cache = make(clock, ttl=1.0)
    cache.set("k", 1)
    clock.advance(30.0)
    boom = RuntimeError("upstream down")

    async def fetch() -> int:
        raise boom

    with capture_logs() as logs:
        cached = await cache.get_or_fetch("k", fetch)
    assert cached == Cached(1, 30.0, stale=True, error=boom)
    assert [e["event"] for e in logs] == ["cache.stale_served"]
    assert logs[0]["age"] == 30.0


async def test_failed_fetch_without_a_value_raises():
    """With nothing to serve, the fetch's error reaches the caller."""
    cache = make(ManualClock())

    async def fetch() -> int:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError, match="no"):
        await cache.get_or_fetch("k", fetch)


async def test_fallback_keeps_a_value_refreshed_meanwhile_fresh():
    """A value stored while the failed fetch ran is served as it is (fresh)."""
    cache = make(ManualClock())

    async def fetch() -> int:
        cache.set("k", 3)
        raise RuntimeError("late")

    cached = await cache.get_or_fetch("k", fetch)
    assert (cached.value, cached.stale) == (3, False)
    assert isinstance(cached.error, RuntimeError)


async def test_concurrent_callers_share_one_fetch():
    """However many callers miss at once, fetch runs once and all get its value."""
    cache = make(ManualClock())
    calls = 0
    gate = asyncio.Event()

    async def fetch() -> int:
        nonlocal calls
        calls += 1
        await gate.wait()
        return 42

    async def ask() -> Cached[int]:
        return await cache.get_or_fetch("k", fetch)

    tasks = [asyncio.create_task(ask()) for _ in range(20)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*tasks)
    assert calls == 1
    assert {r.value for r in results} == {42}


async def test_concurrent_callers_share_the_error():
    """When the shared fetch fails with nothing cached, every caller gets its error."""
    cache = make(ManualClock())
    gate = asyncio.Event()

    async def fetch() -> int:
        await gate.wait()
        raise KeyError("gone")

    tasks = [asyncio.create_task(cache.get_or_fetch("k", fetch)) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, KeyError) for r in results)


async def test_cancelled_leader_hands_the_fetch_to_a_follower():
    """If the fetching caller is cancelled, a waiting caller fetches instead of failing."""
    cache = make(ManualClock())
    started = asyncio.Event()
    calls = 0

    async def fetch() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            started.set()
            await asyncio.Event().wait()
        return 5

    leader = asyncio.create_task(cache.get_or_fetch("k", fetch))
    await started.wait()
    follower = asyncio.create_task(cache.get_or_fetch("k", fetch))
    await asyncio.sleep(0)
    leader.cancel()
    assert (await follower).value == 5
    assert calls == 2
    with pytest.raises(asyncio.CancelledError):
        await leader


async def test_cancelled_follower_does_not_cancel_the_fetch():
    """Cancelling a waiting caller leaves the shared fetch running for the others."""
    cache = make(ManualClock())
    gate = asyncio.Event()

    async def fetch() -> int:
        await gate.wait()
        return 9

    leader = asyncio.create_task(cache.get_or_fetch("k", fetch))
    await asyncio.sleep(0)
    follower = asyncio.create_task(cache.get_or_fetch("k", fetch))
    await asyncio.sleep(0)
    follower.cancel()
    with pytest.raises(asyncio.CancelledError):
        await follower
    gate.set()
    assert (await leader).value == 9
