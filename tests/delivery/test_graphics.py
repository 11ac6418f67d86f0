"""Graphics commands, the sink against a loopback box that is slow, failing or down, the feed."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pressbox.bus import from_url, update_stream
from pressbox.delivery import GraphicsBoard, GraphicsSink, Hub, graphics_commands
from pressbox.resilience import BreakerState, CircuitBreaker
from tests.delivery.games import payload, real_game_updates
from tests.delivery.gateway import build_app, listening_socket, serving

pytestmark = pytest.mark.anyio

GAME = "ANA201504100"


def test_commands_carry_percentages_with_one_decimal_and_key_plays_past_the_threshold():
    """WP goes out as home/away % with one decimal; a key play only when |WPA| reaches it."""
    updates = real_game_updates()
    key = next(u for u in updates if u.wpa is not None and abs(u.wpa) >= 0.1)
    commands = graphics_commands(key, key_play_wpa=0.1, key_play_duration_s=6.0)
    assert [c["command"] for c in commands] == [
        "UPDATE_WIN_PROBABILITY",
        "SHOW_KEY_PLAY",
        "UPDATE_SITUATION",
    ]
    wp, show, situation = commands
    assert wp["home_pct"] == round(key.wp.home * 100, 1)
    assert wp["away_pct"] == round(key.wp.away * 100, 1)
    assert show["wpa_pct"] == round(key.wpa * 100, 1)
    assert show["duration_s"] == 6.0
    assert show["description"] == key.text
    assert situation["inning"] == key.state.situation.inning
    assert situation["bases"] == key.state.situation.bases_code
    quiet = next(u for u in updates if u.wpa is not None and abs(u.wpa) < 0.01)
    assert "SHOW_KEY_PLAY" not in [c["command"] for c in graphics_commands(quiet)]


class Box:
    """A loopback graphics box whose behaviour the test switches."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.received: list[dict] = []
        self.release = asyncio.Event()

    async def handle(self, request: Request) -> Response:
        body = json.loads(await request.body())
        if self.mode == "slow":
            await self.release.wait()
        if self.mode == "failing":
            return Response("broken", status_code=500)
        self.received.append(body)
        return Response(status_code=204)


async def _until(check) -> None:
    for _ in range(400):
        if check():
            return
        await asyncio.sleep(0.025)
    raise AssertionError("never happened")


async def test_sink_delivers_then_survives_a_slow_a_failing_and_a_dead_box():
    """Commands reach a healthy box; slow, failing and dead boxes open the breaker, never block."""
    updates = real_game_updates()
    box = Box()
    app = Starlette(routes=[Route("/cmd", box.handle, methods=["POST"])])
    async with serving(app) as (_server, port):
        breaker = CircuitBreaker("graphics-test", failure_threshold=2, reset_timeout=3600)
        url = f"http://127.0.0.1:{port}/cmd"
        async with GraphicsSink(url, timeout=0.2, retries=1, breaker=breaker) as sink:
            sink(updates[10])
            await _until(lambda: sink.pending() == 0 and len(box.received) == 2)
            assert [c["command"] for c in box.received] == [
                "UPDATE_WIN_PROBABILITY",
                "UPDATE_SITUATION",
            ]
            box.mode = "slow"
            for update in updates[11:70]:
                sink(update)  # returns at once whatever the box does
            assert sink.pending() <= sink.max_pending
            await _until(lambda: breaker.state is BreakerState.OPEN)
            await _until(lambda: sink.pending() == 0)
            assert sink.stats.refused_open > 0
            # Newer WP and situation commands replaced older ones waiting in the queue.
            assert sink.stats.failed == 2
        box.release.set()  # lets the box's stuck handlers finish so that it can stop
    assert sink.stats.sent == 2

    async with serving(app) as (_server, port):
        box.mode = "failing"
        breaker = CircuitBreaker("graphics-test-2", failure_threshold=3, reset_timeout=3600)
        url = f"http://127.0.0.1:{port}/cmd"
        async with GraphicsSink(url, timeout=0.5, retries=2, breaker=breaker) as sink:
            sink(updates[5])
            await _until(lambda: breaker.state is BreakerState.OPEN)
            assert sink.stats.retried == 2

    dead = listening_socket()
    dead_port = dead.getsockname()[1]
    dead.close()
    breaker = CircuitBreaker("graphics-test-3", failure_threshold=2, reset_timeout=3600)
    url = f"http://127.0.0.1:{dead_port}/cmd"
    async with GraphicsSink(url, timeout=0.5, retries=0, breaker=breaker) as sink:
        for update in updates[1:30]:
            sink(update)
        await _until(lambda: sink.pending() == 0)
        assert breaker.state is BreakerState.OPEN
        assert sink.stats.failed == 2
        assert sink.stats.refused_open > 0


async def test_feed_serves_last_good_values_and_marks_them_stale_when_data_stops():
    """The JSON feed has WP and situation; with no news past the limit it is marked stale."""
    updates = real_game_updates()
    async with from_url("memory://") as bus:
        for update in updates[:30]:
            await bus.append(update_stream(GAME), payload(update), key=update.event_id)
        async with Hub(bus) as hub:
            board = GraphicsBoard(hub, stale_after_s=3600)
            doc = await board.view(GAME)
            assert doc["available"] is True
            assert doc["stale"] is False
            assert doc["seq"] == 30
            assert doc["win_probability"]["home_pct"] == round(updates[29].wp.home * 100, 1)
            assert doc["situation"]["inning"] == updates[29].state.situation.inning
            board.stale_after_s = 0.0
            stale = await board.view(GAME)
            assert stale["stale"] is True
            assert stale["reason"].startswith("no update for")
            assert stale["win_probability"] == doc["win_probability"]


async def test_feed_endpoint_over_http():
    """GET /v1/graphics/{game} answers the feed as JSON, 404 with a reason for unknown games."""
    updates = real_game_updates()
    async with from_url("memory://") as bus:
        for update in updates[:12]:
            await bus.append(update_stream(GAME), payload(update), key=update.event_id)
        async with serving(build_app(bus)) as (_, port), httpx.AsyncClient() as client:
            ok = await client.get(f"http://127.0.0.1:{port}/v1/graphics/{GAME}")
            assert ok.status_code == 200
            assert ok.json()["seq"] == 12
            missing = await client.get(f"http://127.0.0.1:{port}/v1/graphics/NOPE")
            assert missing.status_code == 404
            assert missing.json() == {"available": False, "reason": "unknown game 'NOPE'"}


async def test_hub_following_every_game_feeds_the_sink():
    """A hub that follows every game hands each new update to the sink, which posts it."""
    updates = real_game_updates()
    box = Box()
    app = Starlette(routes=[Route("/cmd", box.handle, methods=["POST"])])
    async with serving(app) as (_server, port), from_url("memory://") as bus:
        await bus.append(update_stream(GAME), payload(updates[0]), key=updates[0].event_id)
        breaker = CircuitBreaker("graphics-test-4")
        sink = GraphicsSink(f"http://127.0.0.1:{port}/cmd", breaker=breaker)
        async with sink, Hub(bus, listeners=[sink], follow_all=True, discover_s=0.05) as hub:
            # Discovered and loaded (its snapshot is update 1): what comes next is news.
            await _until(lambda: hub.latest(GAME) is not None)
            assert hub.games() == [GAME]
            await bus.append(update_stream(GAME), payload(updates[1]), key=updates[1].event_id)
            await _until(lambda: len(box.received) == 2)
    assert [(c["command"], c["seq"]) for c in box.received] == [
        ("UPDATE_WIN_PROBABILITY", 2),
        ("UPDATE_SITUATION", 2),
    ]
