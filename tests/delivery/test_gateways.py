"""Two gateway processes over Redis: one is killed mid-game, its clients finish on the other."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from pressbox.bus import from_url, update_stream
from pressbox.engine.events import decode_update
from tests.conftest import service_url
from tests.delivery.games import payload, real_game_updates
from tests.delivery.sseclient import events

pytestmark = [pytest.mark.anyio, pytest.mark.redis]

ROOT = Path(__file__).resolve().parent.parent.parent


def _gateway(bus_url: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.delivery.gateway", "--bus", bus_url],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + str(ROOT)},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("PORT "), line
    return proc, int(line.split()[1])


async def _ready(port: int) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            try:
                if (await client.get(f"http://127.0.0.1:{port}/stats")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"gateway on {port} never answered")


async def test_clients_of_a_killed_gateway_finish_the_game_on_the_other_exactly_once():
    """Kill one of two gateways mid-game: every client still sees every update exactly once."""
    prefix = f"test-delivery-{uuid.uuid4().hex[:8]}:"
    bus_url = f"{service_url('REDIS')}?prefix={prefix}"
    updates = real_game_updates()
    game = updates[0].game_id
    total = len(updates)
    async with from_url(bus_url) as bus:
        await bus.append(update_stream(game), payload(updates[0]), key=updates[0].event_id)
        (a, port_a), (b, port_b) = _gateway(bus_url), _gateway(bus_url)
        try:
            await asyncio.gather(_ready(port_a), _ready(port_b))
            halfway = asyncio.Event()

            async def produce() -> None:
                for update in updates[1:]:
                    await bus.append(update_stream(game), payload(update), key=update.event_id)
                    if update.seq == total // 2:
                        halfway.set()
                    await asyncio.sleep(0.01)

            async def kill_a() -> None:
                await halfway.wait()
                a.send_signal(signal.SIGKILL)

            async def sse_client(first_port: int) -> list[int]:
                seen: list[int] = []
                last_id = f"{game}:0"
                ports = [first_port, port_b]
                async with httpx.AsyncClient(timeout=10) as client:
                    while not seen or seen[-1] < total:
                        url = f"http://127.0.0.1:{ports[0]}/v1/stream/games/{game}"
                        try:
                            async with client.stream(
                                "GET", url, headers={"Last-Event-ID": last_id}
                            ) as response:
                                async for event in events(response):
                                    update = decode_update(event.data)
                                    assert update == updates[update.seq - 1]
                                    seen.append(update.seq)
                                    last_id = event.id or last_id
                                    if update.seq == total:
                                        break
                        except httpx.TransportError:
                            pass
                        if len(ports) > 1 and a.poll() is not None:
                            ports.pop(0)  # its gateway died: reconnect to the other
                return seen

            async def ws_client(first_port: int) -> list[int]:
                from websockets.asyncio.client import connect
                from websockets.exceptions import WebSocketException

                seen: list[int] = []
                ports = [first_port, port_b]
                while not seen or seen[-1] < total:
                    since = seen[-1] if seen else 0
                    try:
                        uri = f"ws://127.0.0.1:{ports[0]}/v1/ws"
                        async with connect(uri, max_queue=None) as ws:
                            subscribe = {"type": "subscribe", "game": game, "since": since}
                            await ws.send(json.dumps(subscribe))
                            while not seen or seen[-1] < total:
                                message = json.loads(await ws.recv())
                                if message["type"] == "update":
                                    seen.append(message["seq"])
                    except (OSError, WebSocketException):
                        pass
                    if len(ports) > 1 and a.poll() is not None:
                        ports.pop(0)
                return seen

            clients = [sse_client(port_a), sse_client(port_b), sse_client(port_a)]
            clients += [ws_client(port_a), ws_client(port_b)]
            results = await asyncio.wait_for(
                asyncio.gather(produce(), kill_a(), *clients), timeout=60
            )
            for seen in results[2:]:
                assert seen == list(range(1, total + 1))

            # SIGTERM stops the surviving gateway although a stream is open on it.
            async with httpx.AsyncClient(timeout=10) as client:
                url = f"http://127.0.0.1:{port_b}/v1/stream/games/{game}"
                async with client.stream("GET", url) as response:
                    stream = events(response)
                    assert (await anext(stream)).event == "snapshot"
                    b.send_signal(signal.SIGTERM)
                    assert [e async for e in stream] == []
            assert b.wait(timeout=15) in (0, -signal.SIGTERM)
        finally:
            for proc in (a, b):
                if proc.poll() is None:
                    proc.kill()
                proc.wait(timeout=15)
                if proc.stdout is not None:
                    proc.stdout.close()
            await bus.delete(update_stream(game))
