"""Load shedding: low priority before high, lower tiers before higher, under overload."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from pressbox.api.app import create_app
from pressbox.api.settings import ApiSettings
from pressbox.api.shedding import Priority, Shedder, priority_of, threshold
from pressbox.service import Service
from tests.api.helpers import (
    add_game,
    land_update,
    make_update,
    new_key,
    running,
    runtime,
    served,
)

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("path", "priority"),
    [
        ("/v1/predict/mlb/G1", Priority.HIGH),
        ("/v1/games", Priority.NORMAL),
        ("/v1/games/G1", Priority.NORMAL),
        ("/v1/games/G1/wp", Priority.NORMAL),
        ("/v1/wp/mlb", Priority.NORMAL),
        ("/v1/games/G1/plays", Priority.LOW),
        ("/v1/predictions/latest", Priority.LOW),
    ],
)
def test_priority_classes(path: str, priority: Priority) -> None:
    """Each endpoint has the priority class of the design table."""
    assert priority_of("GET", path) is priority


def test_refusal_order() -> None:
    """As pressure rises, every low-priority request goes before any high one, and within
    a class the lower tier goes first."""
    order = sorted(itertools.product(Priority, range(4)), key=lambda pr: threshold(pr[0], pr[1]))
    classes = [p for p, _ in order]
    assert classes == sorted(classes)
    for priority in Priority:
        ranks = [r for p, r in order if p is priority]
        assert ranks == [0, 1, 2, 3]


def test_pressure_from_inflight_and_lag() -> None:
    """Pressure is the larger of in-flight and lag fractions; lag decays after a spike."""
    shedder = Shedder(max_inflight=100, max_lag_s=0.1)
    shedder.inflight = 50
    assert shedder.pressure == pytest.approx(0.5, abs=1e-3)
    for _ in range(30):
        shedder.sample(0.09)
    assert shedder.pressure == pytest.approx(0.9, abs=1e-3)
    shedder.sample(0.0)
    assert shedder.pressure < 0.9
    for _ in range(40):
        shedder.sample(0.0)
    assert shedder.pressure == pytest.approx(0.5, abs=1e-3)
    assert not shedder.admit(Priority.LOW, 3)
    assert shedder.admit(Priority.NORMAL, 3)


def test_low_priority_work_is_capped_at_its_share_of_the_loop() -> None:
    """Past ``low_share`` of recent loop time, low priority is refused and the rest is not;
    the share decays, and low priority is admitted again."""
    now = [100.0]
    shedder = Shedder(low_share=0.25, clock=lambda: now[0])
    assert shedder.admit(Priority.LOW, 3)
    for _ in range(40):  # 40 answers of 0.7 ms within 10 ms: 28 ms of loop time
        shedder.record_low(0.0007)
        now[0] += 0.00025
    assert shedder.low_load > 0.25
    assert not shedder.admit(Priority.LOW, 3)
    assert shedder.admit(Priority.NORMAL, 0)
    assert shedder.admit(Priority.HIGH, 0)
    now[0] += 0.2  # two time constants later
    assert shedder.low_load < 0.25
    assert shedder.admit(Priority.LOW, 3)


def test_a_low_share_of_one_turns_the_rule_off() -> None:
    """``low_share=1`` admits low priority however busy it keeps the loop."""
    now = [0.0]
    shedder = Shedder(low_share=1.0, clock=lambda: now[0])
    for _ in range(1000):
        shedder.record_low(0.01)
    assert shedder.low_load > 1.0
    assert shedder.admit(Priority.LOW, 0)


def test_pressed_tells_an_overloaded_loop_from_a_spent_low_priority_budget() -> None:
    """``pressed`` is the pressure rule alone: past the low-priority threshold it is true
    for low priority and not for high; with the low-priority budget spent and no pressure,
    low priority is refused but not pressed."""
    now = [0.0]
    shedder = Shedder(max_inflight=100, max_lag_s=60.0, low_share=0.25, clock=lambda: now[0])
    shedder.inflight = 60
    assert shedder.pressed(Priority.LOW, 3)
    assert not shedder.pressed(Priority.HIGH, 3)
    shedder.inflight = 0
    shedder.record_low(1.0)  # ten times the budget's share of the last 0.1 s
    assert not shedder.admit(Priority.LOW, 3)
    assert not shedder.pressed(Priority.LOW, 3)


@pytest.mark.parametrize("share", [0.0, -0.1, 1.5])
def test_low_share_outside_its_range_is_refused(share: float) -> None:
    """A share of the loop must be in (0, 1]."""
    with pytest.raises(ValueError, match="low_share"):
        Shedder(low_share=share)


async def test_a_busy_turn_of_the_loop_counts_before_the_timer_fires() -> None:
    """While one turn of the loop runs past the monitor's timer, the time the timer is
    overdue counts as lag at once: low priority is refused within that turn, high is not."""
    now = [100.0]
    shedder = Shedder(max_inflight=100, max_lag_s=0.1, clock=lambda: now[0])
    monitor = asyncio.create_task(shedder.monitor(0.005))
    await asyncio.sleep(0)  # the monitor now waits for its timer
    assert shedder.admit(Priority.LOW, 3)
    now[0] += 0.005 + 0.06  # this turn has run 60 ms past the timer's time
    assert shedder.pressure == pytest.approx(0.6)
    assert not shedder.admit(Priority.LOW, 3)
    assert shedder.admit(Priority.HIGH, 3)
    monitor.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await monitor
    assert shedder.pressure == 0.0  # no timer waiting: only the (untouched) average counts


async def test_the_monitor_passes_each_lag_it_measures_on() -> None:
    """Every lag the monitor measures goes to ``observe``: a turn that holds the loop
    50 ms past the timer is seen as a lag of at least that."""
    seen: list[float] = []
    shedder = Shedder()
    monitor = asyncio.create_task(shedder.monitor(0.005, observe=seen.append))
    await asyncio.sleep(0.02)
    time.sleep(0.05)  # noqa: ASYNC251 - a turn that holds the loop
    await asyncio.sleep(0.02)
    monitor.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await monitor
    assert len(seen) >= 2
    assert all(lag >= 0.0 for lag in seen)
    assert max(seen) >= 0.045


async def test_the_app_exports_its_loop_lag(service: Service) -> None:
    """The app's monitor feeds ``pressbox_event_loop_lag_seconds``."""
    async with running(service) as (_, client):
        await asyncio.sleep(0.03)
        text = (await client.get("/metrics")).text
    count = next(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("pressbox_event_loop_lag_seconds_count")
    )
    assert count >= 1


async def test_synthetic_overload_over_http(service: Service) -> None:
    """Under a synthetic overload the latest-predictions and plays endpoints are refused
    with 503 and Retry-After while predictions are still served, and Community is refused
    before Enterprise; a request a cache holds the answer to is answered from it."""
    await add_game(service, "G1")
    await add_game(service, "G2")
    async with running(service, public=False, max_inflight=100, max_lag_s=10.0) as (app, client):
        rt = runtime(app)
        ent = {"X-API-Key": await new_key(app, "enterprise")}
        com = {"X-API-Key": await new_key(app, "community")}
        # Warm the prediction cache before the overload.
        assert (await client.get("/v1/predict/mlb/G1", headers=ent)).status_code == 200

        # In-flight requests are only moved by requests (the lag by a timer): 60 of 100.
        rt.shedder.inflight = 60
        latest = await client.get("/v1/predictions/latest", headers=ent)
        plays = await client.get("/v1/games/G1/plays", headers=ent)
        games = await client.get("/v1/games", headers=ent)
        predict = await client.get("/v1/predict/mlb/G1", headers=ent)
        assert (latest.status_code, plays.status_code) == (503, 503)
        assert latest.headers["retry-after"] == "1"
        assert latest.json()["error"] == "overloaded"
        assert (games.status_code, predict.status_code) == (200, 200)

        rt.shedder.inflight = 97
        # G2's prediction is not kept yet: Community is refused, Enterprise still served.
        assert (await client.get("/v1/predict/mlb/G2", headers=com)).status_code == 503
        assert (await client.get("/v1/predict/mlb/G2", headers=ent)).status_code == 200
        # Kept now (and current until G2's next update): Community gets it too.
        assert (await client.get("/v1/predict/mlb/G2", headers=com)).status_code == 200
        assert (await client.get("/v1/games/G1/wp", headers=ent)).status_code == 503
        # A read answered before is given again from the read cache instead of a refusal.
        again = await client.get("/v1/games", headers=ent)
        assert (again.status_code, again.content) == (200, games.content)

        rt.shedder.inflight = 0
        assert (await client.get("/v1/predictions/latest", headers=com)).status_code == 200


async def test_a_shed_read_gets_the_last_answer_kept_marked_stale(service: Service) -> None:
    """Under overload a game read the read cache holds an answer for is answered with it,
    marked stale with its age and how far behind it is; a read with none is still 503,
    and so is a read whose kept answer is behind when ``read_stale_s`` is 0."""
    await add_game(service, "G1")
    # low_share 1: only the in-flight count set below decides (a slow test machine's first
    # low-priority answers would otherwise spend the low-priority budget). A read cache
    # time of 60 s: no rebuild falls due during the test however slow the machine.
    async with running(
        service, public=False, max_inflight=100, low_share=1.0, read_cache_s=60.0
    ) as (app, client):
        rt = runtime(app)
        ent = {"X-API-Key": await new_key(app, "enterprise")}
        plays = await client.get("/v1/games/G1/plays?since=0", headers=ent)
        latest = await client.get("/v1/predictions/latest", headers=ent)
        assert (plays.status_code, latest.status_code) == (200, 200)
        await land_update(service, app, "G1", 4)

        rt.shedder.inflight = 60  # low priority refused, normal admitted
        again = await client.get("/v1/games/G1/plays?since=0", headers=ent)
        assert again.status_code == 200
        assert again.content == plays.content
        assert again.headers["age"] == "0"
        status = again.headers["cache-status"]
        assert status.startswith("pressbox; hit; detail=")
        assert "1 updates behind" in status
        assert "ratelimit-remaining" in again.headers  # the bucket was charged
        latest_again = await client.get("/v1/predictions/latest", headers=ent)
        assert (latest_again.status_code, latest_again.content) == (200, latest.content)
        # Never asked before: nothing kept to give, refused as before.
        other = await client.get("/v1/games/G1/plays?since=2", headers=ent)
        assert other.status_code == 503
        assert other.json()["error"] == "overloaded"

        registry = rt.registry
        assert registry is not None
        stale = registry.get_sample_value("pressbox_api_read_cache_total", {"outcome": "stale"})
        assert stale == 2

        rt.shedder.inflight = 0  # admitted again: built afresh from the new update
        fresh = await client.get("/v1/games/G1/plays?since=0", headers=ent)
        assert fresh.status_code == 200
        assert "cache-status" not in fresh.headers
        assert fresh.json() != plays.json()

    async with running(
        service, public=False, max_inflight=100, low_share=1.0, read_stale_s=0.0
    ) as (
        app,
        client,
    ):
        rt = runtime(app)
        ent = {"X-API-Key": await new_key(app, "enterprise")}
        assert (await client.get("/v1/games/G1/plays", headers=ent)).status_code == 200
        assert rt.reads is not None
        rt.reads.on_update(make_update("G1", 5))
        rt.shedder.inflight = 60
        assert (await client.get("/v1/games/G1/plays", headers=ent)).status_code == 503


async def test_under_a_lasting_overload_a_kept_read_is_still_rebuilt(service: Service) -> None:
    """Once its read cache time has passed, a read that is behind is built afresh for one
    refused request, so a lasting overload does not leave the kept answers behind."""
    await add_game(service, "G1")
    async with running(
        service, public=False, max_inflight=100, low_share=1.0, read_cache_s=0.05
    ) as (app, client):
        rt = runtime(app)
        ent = {"X-API-Key": await new_key(app, "enterprise")}
        before = await client.get("/v1/games/G1/plays", headers=ent)
        await land_update(service, app, "G1", 4)
        rt.shedder.inflight = 60
        await asyncio.sleep(0.1)
        rebuilt = await client.get("/v1/games/G1/plays", headers=ent)
        assert rebuilt.status_code == 200
        assert "cache-status" not in rebuilt.headers
        assert rebuilt.json() != before.json()
        again = await client.get("/v1/games/G1/plays", headers=ent)
        assert (again.status_code, again.content) == (200, rebuilt.content)


async def test_a_shed_read_whose_kept_answer_is_current_is_a_plain_hit(service: Service) -> None:
    await add_game(service, "G1")
    async with running(service, public=False, max_inflight=100, low_share=1.0) as (app, client):
        rt = runtime(app)
        ent = {"X-API-Key": await new_key(app, "enterprise")}
        first = await client.get("/v1/games/G1/plays", headers=ent)
        rt.shedder.inflight = 60
        second = await client.get("/v1/games/G1/plays", headers=ent)
        assert (second.status_code, second.content) == (200, first.content)
        assert "cache-status" not in second.headers
        assert "age" not in second.headers


def _held_app(service: Service, pause: float, *, read_cache_s: float) -> FastAPI:
    """An app that holds a shed connection for ``pause`` seconds; shedding is decided by
    the in-flight count (and the low-priority budget), not by the test machine's lag."""
    api = ApiSettings(
        keys_url="memory://",
        public=False,
        max_inflight=100,
        max_lag_s=60.0,
        shed_pause_s=pause,
        read_cache_s=read_cache_s,
    )
    return create_app(
        service.settings, service=service, api_settings=api, registry=CollectorRegistry()
    )


async def _keep_a_read_behind(
    client: httpx.AsyncClient, app: FastAPI, headers: dict[str, str]
) -> None:
    """Have the read cache keep G1's plays, then land an update: the kept answer is one
    update behind, what a shed read of it is given."""
    assert (await client.get("/v1/games/G1/plays", headers=headers)).status_code == 200
    reads = runtime(app).reads
    assert reads is not None
    reads.on_update(make_update("G1", 4))


@pytest.mark.parametrize(
    ("http", "answer"), [("h11", "refused"), ("httptools", "refused"), ("httptools", "stale")]
)
async def test_a_shed_connection_is_not_read_for_a_while(
    service: Service, http: str, answer: str
) -> None:
    """After a request is shed (refused, or given an older answer), uvicorn does not read
    its connection for ``shed_pause_s``: the client's next request there waits that long,
    one on another connection does not."""
    await add_game(service, "G1")
    pause = 1.5
    # A read cache time of 60 s: no rebuild of the kept read falls due during the test.
    app = _held_app(service, pause, read_cache_s=60.0)
    async with served(app, http) as base:
        rt = runtime(app)
        headers = {"X-API-Key": await new_key(app)}
        one = httpx.Limits(max_connections=1)
        async with (
            httpx.AsyncClient(base_url=base, limits=one) as held,
            httpx.AsyncClient(base_url=base) as other,
        ):
            assert (await held.get("/v1/predict/mlb/G1", headers=headers)).status_code == 200
            if answer == "stale":
                await _keep_a_read_behind(held, app, headers)
            rt.shedder.inflight = 60
            shed = await held.get("/v1/games/G1/plays", headers=headers)
            assert shed.status_code == (200 if answer == "stale" else 503)
            assert ("cache-status" in shed.headers) is (answer == "stale")
            rt.shedder.inflight = 0
            began = time.monotonic()
            again = asyncio.create_task(held.get("/v1/predict/mlb/G1", headers=headers))
            meanwhile = await other.get("/v1/predict/mlb/G1", headers=headers)
            answered_meanwhile = time.monotonic()
            assert meanwhile.status_code == 200
            assert (await again).status_code == 200
            waited = time.monotonic() - began
        assert waited >= pause * 0.95  # the timer's resolution
        assert answered_meanwhile - began < waited


@pytest.mark.parametrize("answer", ["refused", "stale"])
async def test_a_read_shed_by_the_low_priority_budget_alone_is_not_held(
    service: Service, answer: str
) -> None:
    """A low-priority read refused only because the low-priority budget is spent (no
    pressure) is answered, stale or 503, and its connection is read on at once: the
    client's next request there, a prediction, does not wait ``shed_pause_s``."""
    await add_game(service, "G1")
    pause = 1.5
    app = _held_app(service, pause, read_cache_s=60.0 if answer == "stale" else 0.0)
    async with served(app, "httptools") as base:
        rt = runtime(app)
        now = [0.0]  # the shedder's clock, frozen: the budget stays spent
        rt.shedder = Shedder(max_inflight=100, max_lag_s=60.0, clock=lambda: now[0])
        headers = {"X-API-Key": await new_key(app)}
        one = httpx.Limits(max_connections=1)
        async with httpx.AsyncClient(base_url=base, limits=one) as client:
            assert (await client.get("/v1/predict/mlb/G1", headers=headers)).status_code == 200
            if answer == "stale":
                await _keep_a_read_behind(client, app, headers)
            rt.shedder.record_low(1.0)
            shed = await client.get("/v1/games/G1/plays", headers=headers)
            assert shed.status_code == (200 if answer == "stale" else 503)
            assert ("cache-status" in shed.headers) is (answer == "stale")
            began = time.monotonic()
            after = await client.get("/v1/predict/mlb/G1", headers=headers)
            waited = time.monotonic() - began
        assert after.status_code == 200
        assert rt.shedder.shed >= 1
        assert waited < pause / 2
