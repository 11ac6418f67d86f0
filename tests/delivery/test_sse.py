"""SSE streams served by uvicorn on loopback: snapshot, updates, resume, limits, shutdown."""

from __future__ import annotations

import asyncio
import gc
import json
import random
import weakref

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from pressbox.bus import from_url, update_stream
from pressbox.delivery import Limits, expose_transport
from pressbox.delivery.sse import _EXTENSION
from pressbox.engine.events import decode_update
from tests.delivery.games import payload, real_game_updates
from tests.delivery.gateway import build_app, serving
from tests.delivery.sseclient import events

pytestmark = pytest.mark.anyio

GAME = "ANA201504100"


async def _append(bus, updates) -> None:
    for update in updates:
        await bus.append(update_stream(update.game_id), payload(update), key=update.event_id)


async def test_stream_starts_with_snapshot_then_updates_with_ids():
    """A new stream gets the latest update as a snapshot, then live updates with game:seq ids."""
    updates = real_game_updates()
    async with from_url("memory://") as bus:
        await _append(bus, updates[:3])
        async with serving(build_app(bus)) as (_, port), httpx.AsyncClient() as client:
            url = f"http://127.0.0.1:{port}/v1/stream/games/{GAME}"
            async with client.stream("GET", url) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                assert response.headers["x-accel-buffering"] == "no"
                assert "no-cache" in response.headers["cache-control"]
                stream = events(response)
                first = await anext(stream)
                assert (first.event, first.id) == ("snapshot", f"{GAME}:3")
                assert decode_update(first.data) == updates[2]
                await _append(bus, updates[3:5])
                got = [await anext(stream), await anext(stream)]
                assert [(e.event, e.id) for e in got] == [
                    ("update", f"{GAME}:4"),
                    ("update", f"{GAME}:5"),
                ]
                assert [decode_update(e.data) for e in got] == updates[3:5]


async def test_unknown_game_is_404_with_reason():
    """A stream of a game without updates is refused with 404 and the reason."""
    async with (
        from_url("memory://") as bus,
        serving(build_app(bus)) as (_, port),
        httpx.AsyncClient() as client,
    ):
        response = await client.get(f"http://127.0.0.1:{port}/v1/stream/games/NOPE")
        assert response.status_code == 404
        assert response.json()["reason"] == "unknown game 'NOPE'"


PATHS = pytest.mark.parametrize(
    ("direct", "writers"), [(True, 0), (False, 0), (True, 1)], ids=["direct", "queued", "writer"]
)


@PATHS
async def test_random_disconnects_resume_to_the_full_sequence(direct, writers):
    """Clients that drop at random points and resume with Last-Event-ID see every update once."""
    updates = real_game_updates()
    rng = random.Random(7)
    async with from_url("memory://") as bus:
        await _append(bus, updates[:1])

        async def produce() -> None:
            for update in updates[1:]:
                await _append(bus, [update])
                await asyncio.sleep(rng.random() * 0.004)

        async def consume(port: int, seed: int) -> list[int]:
            crng = random.Random(seed)
            seen: list[int] = []
            last_id = f"{GAME}:0"  # from the start of the game, whenever it joins
            async with httpx.AsyncClient(timeout=10) as client:
                url = f"http://127.0.0.1:{port}/v1/stream/games/{GAME}"
                while not seen or seen[-1] < len(updates):
                    headers = {"Last-Event-ID": last_id} if last_id else {}
                    budget = crng.randint(1, 12)
                    async with client.stream("GET", url, headers=headers) as response:
                        async for event in events(response):
                            update = decode_update(event.data)
                            assert update == updates[update.seq - 1]
                            assert event.id == f"{GAME}:{update.seq}"
                            seen.append(update.seq)
                            last_id = event.id
                            budget -= 1
                            if budget == 0 or update.seq == len(updates):
                                break
            return seen

        state: dict = {}
        app = build_app(bus, direct=direct, writers=writers, state=state)
        async with serving(app) as (_, port):
            results = await asyncio.gather(produce(), *(consume(port, s) for s in range(8)))
        if writers:
            assert state["hub"].stats.handed_off >= 8
        for seen in results[1:]:
            assert seen == list(range(1, len(updates) + 1))


async def test_resume_behind_the_trimmed_log_gets_a_snapshot():
    """A resume from a seq that was trimmed away gets a snapshot, not a silent gap."""
    updates = real_game_updates()
    async with from_url("memory://") as bus:
        await _append(bus, updates[:40])
        await bus.trim(update_stream(GAME), max_len=5, exact=True)
        async with serving(build_app(bus)) as (_, port), httpx.AsyncClient() as client:
            url = f"http://127.0.0.1:{port}/v1/stream/games/{GAME}"
            headers = {"Last-Event-ID": f"{GAME}:3"}
            async with client.stream("GET", url, headers=headers) as response:
                first = await anext(events(response))
        assert (first.event, first.id) == ("snapshot", f"{GAME}:40")


async def test_resume_within_the_log_replays_exactly_the_missed_updates():
    """A resume from an old seq replays exactly the updates after it, from the log."""
    updates = real_game_updates()
    async with from_url("memory://") as bus:
        await _append(bus, updates[:60])
        async with serving(build_app(bus)) as (_, port), httpx.AsyncClient() as client:
            url = f"http://127.0.0.1:{port}/v1/stream/games/{GAME}"
            async with client.stream("GET", url, headers={"Last-Event-ID": f"{GAME}:10"}) as r:
                stream = events(r)
                got = [await anext(stream) for _ in range(50)]
        assert [e.event for e in got] == ["update"] * 50
        assert [e.id for e in got] == [f"{GAME}:{s}" for s in range(11, 61)]


async def test_multi_game_stream_ids_list_every_position_and_resume_each_game():
    """A stream of two games carries both positions in its ids and resumes both exactly."""
    a = real_game_updates(0, game_id="GA")
    b = real_game_updates(1, game_id="GB")
    async with from_url("memory://") as bus:
        await _append(bus, a[:5] + b[:7])
        async with serving(build_app(bus)) as (_, port), httpx.AsyncClient() as client:
            url = f"http://127.0.0.1:{port}/v1/stream?games=GA,GB"
            async with client.stream("GET", url) as response:
                stream = events(response)
                snaps = [await anext(stream), await anext(stream)]
                await _append(bus, [a[5]])
                update = await anext(stream)
            assert [e.id for e in snaps] == ["GA:5", "GA:5,GB:7"]
            assert update.id == "GA:6,GB:7"
            await _append(bus, [b[7], a[6]])
            async with client.stream("GET", url, headers={"Last-Event-ID": update.id}) as r:
                stream = events(r)
                got = [await anext(stream), await anext(stream)]
        assert sorted((json.loads(e.data)["game_id"], json.loads(e.data)["seq"]) for e in got) == [
            ("GA", 7),
            ("GB", 8),
        ]


async def test_connection_limits_answer_429_and_503_with_a_reason():
    """Past a key's limit the answer is 429, past the process's 503, each with a reason."""
    updates = real_game_updates()
    limits = Limits(max_connections=3, max_per_key=2)
    async with from_url("memory://") as bus:
        await _append(bus, updates[:2])
        app = build_app(bus, limits=limits)
        async with serving(app) as (_, port), httpx.AsyncClient() as client:
            url = f"http://127.0.0.1:{port}/v1/stream/games/{GAME}"
            async with (
                client.stream("GET", url, headers={"x-api-key": "k1"}) as r1,
                client.stream("GET", url, headers={"x-api-key": "k1"}) as r2,
            ):
                assert (r1.status_code, r2.status_code) == (200, 200)
                third = await client.get(url, headers={"x-api-key": "k1"})
                assert third.status_code == 429
                assert "maximum of 2" in third.json()["reason"]
                async with client.stream("GET", url, headers={"x-api-key": "k2"}) as r3:
                    assert r3.status_code == 200
                    full = await client.get(url, headers={"x-api-key": "k3"})
                    assert full.status_code == 503
                    assert "maximum of 3" in full.json()["reason"]
                    assert full.headers["retry-after"] == "5"


@PATHS
async def test_server_shutdown_ends_open_streams(direct, writers):
    """Stopping uvicorn ends open streams instead of waiting for them forever."""
    updates = real_game_updates()
    async with from_url("memory://") as bus:
        await _append(bus, updates[:2])
        async with httpx.AsyncClient() as client:
            state: dict = {}
            app = build_app(bus, direct=direct, writers=writers, state=state)
            async with serving(app) as (server, port):
                url = f"http://127.0.0.1:{port}/v1/stream/games/{GAME}"
                async with client.stream("GET", url) as response:
                    stream = events(response)
                    await anext(stream)
                    assert state["hub"].stats.handed_off == writers
                    server.should_exit = True
                    # A clean end of the body: a stream ended through its writer gets the
                    # last chunk too (httpx raises on a chunked body cut short).
                    rest = [e async for e in stream]
            # serving() returned: uvicorn stopped with the stream open until then.
            assert rest == []


class _Cycle:
    """Stands in for uvicorn's request cycle: it holds the scope, ``send`` is its method."""

    def __init__(self) -> None:
        self.scope: dict[str, object] = {"type": "http", "method": "GET", "path": "/"}

    async def send(self, message: object) -> None:
        return None


async def _receive() -> dict[str, object]:
    return {"type": "http.disconnect"}


async def test_expose_transport_leaves_no_reference_cycle_behind() -> None:
    """The app finds the request cycle in the scope while it runs; once the request is
    over the reference is gone, so the cycle and its scope are freed by reference
    counting alone (with the collector off), not left to the cyclic collector."""
    seen: list[object] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["extensions"][_EXTENSION])

    wrapped = expose_transport(app)
    cycle = _Cycle()
    ref = weakref.ref(cycle)
    gc.disable()
    try:
        await wrapped(cycle.scope, _receive, cycle.send)
        assert seen == [cycle]
        assert _EXTENSION not in cycle.scope["extensions"]  # type: ignore[operator]
        seen.clear()
        del cycle
        assert ref() is None
    finally:
        gc.enable()


async def test_expose_transport_clears_the_reference_when_the_app_fails() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("the app failed")

    cycle = _Cycle()
    with pytest.raises(RuntimeError, match="the app failed"):
        await expose_transport(app)(cycle.scope, _receive, cycle.send)
    assert _EXTENSION not in cycle.scope["extensions"]  # type: ignore[operator]
