"""The two-layer prediction cache: single-flight, shared layer, refresh on update."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis

from pressbox.api.predict import (
    Prediction,
    PredictionCache,
    RedisSharedCache,
    encode_prediction,
    unavailable,
)
from pressbox.resilience import ManualClock
from pressbox.service import Service
from tests.api.helpers import add_game, make_update, running, runtime
from tests.conftest import service_url

pytestmark = pytest.mark.anyio


async def test_single_flight_over_http(service: Service) -> None:
    """1,000 concurrent requests for one cold game run one computation; all get it."""
    await add_game(service, "COLD1")
    release = asyncio.Event()
    # Deadlines and shedding out of the way: this test is about the cache alone.
    async with running(service, max_inflight=100_000, max_lag_s=60.0, cached_deadline_s=60.0) as (
        app,
        client,
    ):
        cache = runtime(app).predictions
        assert cache is not None
        real = cache._load
        calls = 0

        async def slow(sport: str, game_id: str) -> Prediction:
            nonlocal calls
            calls += 1
            await release.wait()
            return await real(sport, game_id)

        cache._load = slow
        rt = runtime(app)
        # The booth bucket must admit the whole burst.
        rt.tiers["booth"] = rt.tiers["booth"].model_copy(update={"rate": 1e6, "burst": 10**6})
        rt.booth.clear()
        tasks = [asyncio.create_task(client.get("/v1/predict/mlb/COLD1")) for _ in range(1000)]
        for _ in range(3000):  # until every request waits on the one computation
            if cache.local._inflight and rt.shedder.inflight == 1000:
                break
            await asyncio.sleep(0.01)
        release.set()
        responses = await asyncio.gather(*tasks)
    assert calls == 1
    assert cache.computations == 1
    assert {r.status_code for r in responses} == {200}
    assert {r.json()["seq"] for r in responses} == {3}


class DictShared:
    """A shared layer in a dict (two caches over it act like two workers)."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    async def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        self.data[key] = value


async def test_second_worker_reads_the_shared_layer() -> None:
    """A game computed by one worker is read from the shared layer by the next."""
    shared = DictShared()
    update = make_update("G1", 5)

    async def load(sport: str, game_id: str) -> Prediction:
        return encode_prediction(update)

    first = PredictionCache(load, shared=shared, clock=ManualClock())
    second = PredictionCache(load, shared=shared, clock=ManualClock())
    a = await first.get("mlb", "G1")
    b = await second.get("mlb", "G1")
    assert a == b
    assert (first.computations, second.computations) == (1, 0)


async def test_ttl_and_refresh() -> None:
    """An entry expires after its TTL; an update replaces it at once, never an older one."""
    clock = ManualClock()
    count = 0

    async def load(sport: str, game_id: str) -> Prediction:
        nonlocal count
        count += 1
        return encode_prediction(make_update(game_id, count))

    cache = PredictionCache(load, ttl=5.0, clock=clock)
    assert (await cache.get("mlb", "G1")).seq == 1
    clock.advance(4.9)
    assert cache.peek("mlb", "G1") is not None
    clock.advance(0.2)
    assert cache.peek("mlb", "G1") is None
    assert (await cache.get("mlb", "G1")).seq == 2
    cache.on_update(make_update("G1", 9))
    cache.on_update(make_update("G1", 3))
    peeked = cache.peek("mlb", "G1")
    assert peeked is not None
    assert peeked.seq == 9


def test_staleness_is_computed_per_answer() -> None:
    """The pre-encoded body carries the staleness at the time of the answer."""
    update = make_update("G1", 1)
    prediction = encode_prediction(update)
    assert prediction.as_of is not None
    assert prediction.as_of == update.ts_emit
    assert prediction.body(prediction.as_of + 2.5).endswith(b'"staleness_s":2.500}')
    gone = unavailable("mlb", "G1", "no update")
    assert gone.body(0.0) == gone.head
    assert Prediction.loads(prediction.dumps()) == prediction
    assert Prediction.loads(gone.dumps()) == gone


async def test_redis_shared_layer() -> None:
    """The Redis layer stores and returns predictions with a TTL."""
    client = aioredis.from_url(service_url("REDIS"))
    try:
        shared = RedisSharedCache(client, prefix=f"test:{uuid.uuid4().hex}:")
        prediction = encode_prediction(make_update("G1", 2))
        await shared.set("mlb:G1", prediction.dumps(), 5.0)
        raw = await shared.get("mlb:G1")
        assert raw is not None
        assert Prediction.loads(raw) == prediction
        assert await shared.get("mlb:G2") is None
    finally:
        await client.aclose()
