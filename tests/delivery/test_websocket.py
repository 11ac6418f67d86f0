"""WebSocket /v1/ws served by uvicorn on loopback: subscriptions, errors, resume."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from pressbox.bench.run_clients import ws_frame
from pressbox.bus import from_url, update_stream
from pressbox.delivery import Policy
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


async def _raw_ws(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket opened by hand (no library answering pings), past its handshake."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n".encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert head.startswith(b"HTTP/1.1 101")
    # The hub's connections do not take permessage-deflate: frames stay uncompressed.
    assert b"permessage-deflate" not in head.lower()
    return reader, writer


async def _frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await asyncio.wait_for(reader.readexactly(2), 10)
    n = head[1] & 0x7F
    if n == 126:
        n = int.from_bytes(await reader.readexactly(2), "big")
    elif n == 127:
        n = int.from_bytes(await reader.readexactly(8), "big")
    return head[0] & 0x0F, await reader.readexactly(n)


async def _frames_until(reader, opcode: int) -> bytes:
    while True:
        op, payload = await _frame(reader)
        if op == opcode:
            return payload


async def test_control_frames_fragments_and_the_close_handshake():
    """Pings get pongs, fragmented and oversized messages are served, a close is echoed,
    and a client's protocol error closes only its own connection with 1002."""
    updates = real_game_updates()
    game = updates[0].game_id
    async with from_url("memory://") as bus:
        await _append(bus, updates[:2])
        async with serving(build_app(bus)) as (_, port):
            async with connect(f"ws://127.0.0.1:{port}/v1/ws") as ws:
                await asyncio.wait_for(await ws.ping(b"abc"), 10)
                await ws.send([json.dumps({"type": "subscribe", "game": game})[:10], '"game"'])
                error = await _next(ws)  # fragments joined: '{"type": "s"game"' is not JSON
                assert error["reason"].startswith("bad message: not JSON")
                message = json.dumps({"type": "subscribe", "game": game})
                await ws.send([message[:12], message[12:]])
                assert (await _next(ws))["type"] == "snapshot"
                await ws.send("x" * 20_000)
                assert (await _next(ws, "error"))["reason"] == "message over 16384 bytes"
                await _append(bus, updates[2:3])
                assert (await _next(ws, "update"))["seq"] == 3
                await ws.close(code=1000)
                assert ws.protocol.close_rcvd is not None
                assert ws.protocol.close_rcvd.code == 1000

            reader, writer = await _raw_ws(port)
            writer.write(ws_frame(0x9, b"ping!"))
            assert await _frames_until(reader, 0xA) == b"ping!"
            writer.write(b"\x81\x02hi")  # an unmasked client frame: a protocol error
            payload = await _frames_until(reader, 0x8)
            assert int.from_bytes(payload[:2], "big") == 1002
            assert await asyncio.wait_for(reader.read(), 10) == b""
            writer.close()


async def test_a_peer_that_never_answers_pings_is_reaped():
    """The hub pings the connections it owns; one silent for a whole period is dropped."""
    updates = real_game_updates()
    game = updates[0].game_id
    state: dict = {}
    policy = Policy(heartbeat_s=0.2, tick_s=0.05)
    async with from_url("memory://") as bus:
        await _append(bus, updates[:1])
        async with serving(build_app(bus, policy=policy, state=state)) as (_, port):
            hub = state["hub"]
            reader, writer = await _raw_ws(port)
            writer.write(ws_frame(0x1, json.dumps({"type": "subscribe", "game": game}).encode()))
            assert json.loads((await _frames_until(reader, 0x1)).decode())["type"] == "snapshot"
            # A live peer answers: it stays.
            for _ in range(3):
                writer.write(ws_frame(0xA, await _frames_until(reader, 0x9)))
            assert hub.stats.reaped == 0
            # Then it falls silent: dropped within two periods, and counted.
            await asyncio.wait_for(reader.read(), 10)
            for _ in range(100):
                if hub.stats.connections == 0:
                    break
                await asyncio.sleep(0.05)
            assert hub.stats.reaped == 1
            assert hub.stats.connections == 0
            writer.close()


async def test_shutdown_closes_owned_connections_with_1001():
    """Stopping uvicorn ends the connections the hub owns with a going-away close."""
    updates = real_game_updates()
    async with from_url("memory://") as bus:
        await _append(bus, updates[:1])
        async with (
            serving(build_app(bus)) as (server, port),
            connect(f"ws://127.0.0.1:{port}/v1/ws") as ws,
        ):
            await ws.send(json.dumps({"type": "subscribe", "game": updates[0].game_id}))
            assert (await _next(ws))["type"] == "snapshot"
            server.should_exit = True
            with pytest.raises(ConnectionClosed):
                await _next(ws, "never sent")
            assert ws.protocol.close_rcvd is not None
            assert ws.protocol.close_rcvd.code == 1001
