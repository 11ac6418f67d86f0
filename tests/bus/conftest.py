"""Fixtures for the event-log tests: every backend behind one ``bus`` fixture."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from pressbox.bus import EventBus, from_url
from pressbox.bus.memory import MemoryBus
from pressbox.bus.redis import RedisBus
from tests.conftest import service_url


class ManualClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


async def _drop_prefix(url: str, prefix: str) -> None:
    client = aioredis.Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def bus(request: pytest.FixtureRequest, clock: ManualClock) -> AsyncIterator[EventBus]:
    """Each backend in turn, empty, with a manual clock for timestamps; cleaned up after."""
    if request.param == "memory":
        async with from_url("memory://", backend=MemoryBus(max_len=5000, clock=clock)) as bus:
            yield bus
        return
    url = service_url("REDIS")
    prefix = f"pressbox-test:{uuid.uuid4().hex}:"
    try:
        async with RedisBus(url, prefix=prefix, max_len=5000, clock=clock) as bus:
            yield bus
    finally:
        await _drop_prefix(url, prefix)
