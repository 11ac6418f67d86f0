"""WebSocket /v1/ws served by uvicorn on loopback: subscriptions, errors, resume."""

from __future__ import annotations

import asyncio
import json
import random

import pytest
from websockets.asyncio.client import connect

from pressbox.bus import from_url, update_stream
from pressbox.engine.events import Update, decode_update
from tests.delivery.games import payload, real_game_updates
from tests.delivery.gateway import build_app, serving

pytestmark = pytest.mark.anyio


async def _append(bus, updates: list[Update]) -> None:
    for update in updates:
        await bus.append(update_stream(update.game_id), payload(update), key=update.event_id)


async def _next(ws, *types: str) -> dict:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if not types or message["type"] in types:
            return message


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "queued"])
async def test_many_games_on_one_connection_with_errors_that_disturb_nothing(direct):
    """Bad messages and unknown games get errors; the other subscriptions keep flowing."""
    a = real_game_updates(0, game_id="GA")
    b = real_game_updates(1, game_id="GB")
    async with from_url("memory://") as bus:
        await _append(bus, a[:3] + b[:4])
        async with (
            serving(build_app(bus, direct=direct)) as (_, port),
            connect(f"ws://127.0.0.1:{port}/v1/ws", max_queue=None) as ws,
        ):
            await ws.send(json.dumps({"type": "subscribe", "games": ["GA", "GB"]}))
            got = [await _next(ws) for _ in range(4)]
            assert [(m["type"], m["game"], m["seq"]) for m in got] == [
                ("snapshot", "GA", 3),
                ("subscribed", "GA", 3),
                ("snapshot", "GB", 4),
                ("subscribed", "GB", 4),
            ]
            assert decode_update(json.dumps(got[0]["data"])) == a[2]

            await ws.send("{not json")
            error = await _next(ws)
            assert error["type"] == "error"
            assert error["reason"].startswith("bad message: not JSON")

            await ws.send(json.dumps({"type": "subscribe", "game": "NOPE"}))
            error = await _next(ws)
            assert error == {
                "type": "error",
                "reason": "unknown game 'NOPE'",
                "game": "NOPE",
                "request": "subscribe",
            }
            await ws.send(json.dumps({"type": "subscribe", "game": "GA", "since": -1}))
            assert "since" in (await _next(ws))["reason"]

            await ws.send(json.dumps({"type": "ping", "id": 9}))
            assert await _next(ws) == {"type": "pong", "id": 9}

            await _append(bus, [a[3], b[4]])
            updates = [await _next(ws), await _next(ws)]
            assert [(m["type"], m["game"], m["seq"]) for m in updates] == [
                ("update", "GA", 4),
                ("update", "GB", 5),
            ]

            await ws.send(json.dumps({"type": "request_snapshot", "game": "GB"}))
            snap = await _next(ws)
            assert (snap["type"], snap["game"], snap["seq"]) == ("snapshot", "GB", 5)

            await ws.send(json.dumps({"type": "unsubscribe", "game": "GA"}))
            assert await _next(ws) == {"type": "unsubscribed", "game": "GA"}
            await _append(bus, [a[4], b[5]])
            after = await _next(ws)
            assert (after["type"], after["game"], after["seq"]) == ("update", "GB", 6)

            await ws.send(json.dumps({"type": "dance"}))
            assert (await _next(ws))["reason"] == "unknown message type 'dance'"


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "queued"])
async def test_random_disconnects_resume_with_since_to_the_full_sequence(direct):
    """Sockets that drop at random points and resubscribe with since see every update once."""
    updates = real_game_updates()
    game = updates[0].game_id
    rng = random.Random(11)
    async with from_url("memory://") as bus:
        await _append(bus, updates[:1])

        async def produce() -> None:
            for update in updates[1:]:
                await _append(bus, [update])
                await asyncio.sleep(rng.random() * 0.004)

        async def consume(port: int, seed: int) -> list[int]:
            crng = random.Random(seed)
            seen: list[int] = []
            since = 0
            while since < len(updates):
                async with connect(f"ws://127.0.0.1:{port}/v1/ws", max_queue=None) as ws:
                    await ws.send(json.dumps({"type": "subscribe", "game": game, "since": since}))
                    budget = crng.randint(1, 12)
                    while budget and since < len(updates):
                        message = await _next(ws, "update", "snapshot")
                        assert message["type"] == "update"
                        assert decode_update(json.dumps(message["data"])) == updates[since]
                        seen.append(message["seq"])
                        since = message["seq"]
                        budget -= 1
            return seen

        async with serving(build_app(bus, direct=direct)) as (_, port):
            results = await asyncio.gather(produce(), *(consume(port, s) for s in range(6)))
        for seen in results[1:]:
            assert seen == list(range(1, len(updates) + 1))
