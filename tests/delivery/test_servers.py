"""Direct writes under every loop and HTTP parser uvicorn offers, and the hub's metrics."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time

import httpx
import msgspec
import pytest
from prometheus_client import CollectorRegistry
from websockets.asyncio.client import connect

from pressbox.bus import from_url, update_stream
from pressbox.delivery import Hub, Limits, Policy, Subscriber
from tests.delivery.games import payload, real_game_updates
from tests.delivery.gateway import build_app, serving
from tests.delivery.sseclient import events

pytestmark = pytest.mark.anyio

GAME = "ANA201504100"


@pytest.fixture(
    params=[
        pytest.param(("asyncio", {"use_uvloop": False}), id="asyncio"),
        pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"),
    ]
)
def anyio_backend(request):
    """Every test here runs on asyncio's own loop and on uvloop."""
    return request.param


class _Http10Events:
    """Reads SSE events from a raw HTTP/1.0 response (chunked only if the server chose to)."""

    def __init__(self, reader: asyncio.StreamReader, *, chunked: bool) -> None:
        self.reader = reader
        self.chunked = chunked
        self.buf = b""

    async def _more(self) -> bytes:
        if not self.chunked:
            return await asyncio.wait_for(self.reader.read(65536), 10)
        line = await asyncio.wait_for(self.reader.readline(), 10)
        if not line:
            return b""
        data = await self.reader.readexactly(int(line.strip(), 16) + 2)
        return data[:-2]

    async def next(self) -> tuple[str, str]:
        """The next data event's id and type."""
        while True:
            while b"\n\n" not in self.buf:
                data = await self._more()
                assert data, "stream ended"
                self.buf += data
            event, self.buf = self.buf.split(b"\n\n", 1)
            fields = dict(line.split(b": ", 1) for line in event.split(b"\n") if b": " in line)
            if b"id" in fields:
                return fields[b"id"].decode(), fields[b"event"].decode()

    async def rest(self) -> bytes:
        """What comes until the server ends the stream (heartbeats left out)."""
        out = self.buf
        while data := await self._more():
            out += data
        return out.replace(b": hb\n\n", b"")


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def _eventually(check, what: str) -> None:
    for _ in range(400):
        if check():
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"never happened: {what}")


@pytest.mark.parametrize("http", ["h11", "httptools"])
async def test_streams_are_written_directly_under_each_loop_and_parser(http):
    """SSE (HTTP/1.1 and 1.0) and WebSocket clients are written to their sockets directly
    and see every update; the metrics say so, and shutdown ends the streams."""
    updates = real_game_updates()
    registry = CollectorRegistry()
    state: dict = {}
    async with from_url("memory://") as bus:
        await bus.append(update_stream(GAME), payload(updates[0]), key=updates[0].event_id)
        app = build_app(bus, registry=registry, state=state)
        client = httpx.AsyncClient(timeout=10)
        async with client, serving(app, http=http) as (server, port):
            url = f"http://127.0.0.1:{port}/v1/stream/games/{GAME}"
            ws_url = f"ws://127.0.0.1:{port}/v1/ws"
            async with client.stream("GET", url) as response, connect(ws_url) as ws:
                stream = events(response)
                assert (await anext(stream)).event == "snapshot"
                await ws.send(json.dumps({"type": "subscribe", "game": GAME}))
                assert json.loads(await ws.recv())["type"] == "snapshot"
                assert json.loads(await ws.recv())["type"] == "subscribed"
                # An HTTP/1.0 client (no chunked encoding from h11) is written directly too.
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(f"GET /v1/stream/games/{GAME} HTTP/1.0\r\n\r\n".encode())
                head = await reader.readuntil(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 200")
                old = _Http10Events(reader, chunked=b"transfer-encoding: chunked" in head.lower())
                assert await old.next() == (f"{GAME}:1", "snapshot")
                sse = {"transport": "sse", "write": "direct"}
                assert _value(registry, "pressbox_delivery_connections", **sse) == 2
                ws_direct = {"transport": "ws", "write": "direct"}
                assert _value(registry, "pressbox_delivery_connections", **ws_direct) == 1
                # The WebSocket connection was handed over to the hub (no uvicorn protocol).
                hub = state["hub"]
                assert [s.keepalive is not None for s in hub._subs].count(True) == 1
                for update in updates[1:6]:
                    # Stamped now: the deliver stage runs from the emit to the writes.
                    update = msgspec.structs.replace(update, ts_emit=time.time())
                    await bus.append(update_stream(GAME), payload(update), key=update.event_id)
                    event = await anext(stream)
                    assert event.id == f"{GAME}:{update.seq}"
                    message = json.loads(await ws.recv())
                    assert (message["type"], message["seq"]) == ("update", update.seq)
                    assert await old.next() == (f"{GAME}:{update.seq}", "update")
                # Three snapshots, then five updates to each of three clients.
                assert _value(registry, "pressbox_delivery_messages_total") == 18
                deliver = {"stage": "deliver"}
                assert _value(registry, "pressbox_stage_seconds_count", **deliver) == 5
                text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
                assert 'pressbox_stage_seconds_bucket{le="0.05",stage="deliver"}' in text
                server.should_exit = True
                assert [e async for e in stream] == []
                assert await old.rest() == b""
                writer.close()
        for transport in ("sse", "ws"):
            labels = {"transport": transport, "write": "direct"}
            assert _value(registry, "pressbox_delivery_connections", **labels) == 0


async def test_refusals_are_counted_by_status():
    """A connection over the process's limit is refused with 503 and counted."""
    updates = real_game_updates()
    registry = CollectorRegistry()
    async with from_url("memory://") as bus:
        await bus.append(update_stream(GAME), payload(updates[0]), key=updates[0].event_id)
        app = build_app(bus, registry=registry, limits=Limits(max_connections=1))
        async with serving(app) as (_, port), httpx.AsyncClient(timeout=10) as client:
            url = f"http://127.0.0.1:{port}/v1/stream/games/{GAME}"
            async with client.stream("GET", url) as response:
                assert (await anext(events(response))).event == "snapshot"
                assert (await client.get(url)).status_code == 503
            assert _value(registry, "pressbox_delivery_refused_total", status="503") == 1
            assert _value(registry, "pressbox_delivery_refused_total", status="429") == 0


async def test_a_connection_closed_under_the_hub_is_reaped_and_counted():
    """A socket whose peer vanished (reset) is freed by the hub's next heartbeat pass."""
    updates = real_game_updates()
    registry = CollectorRegistry()
    policy = Policy(heartbeat_s=0.05, tick_s=0.02)
    accepted: asyncio.Queue[asyncio.Transport] = asyncio.Queue()

    class _Server(asyncio.Protocol):
        def connection_made(self, transport):  # type: ignore[no-untyped-def]
            accepted.put_nowait(transport)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Server, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with from_url("memory://") as bus:
        await bus.append(update_stream(GAME), payload(updates[0]), key=updates[0].event_id)
        async with Hub(bus, policy=policy, registry=registry) as hub:
            peer = socket.create_connection(("127.0.0.1", port))
            transport = await asyncio.wait_for(accepted.get(), 10)
            sub = Subscriber("sse", transport=transport)
            hub.admit(None)
            hub.register(sub)
            await hub.subscribe(sub, GAME)
            assert _value(
                registry, "pressbox_delivery_connections", transport="sse", write="direct"
            )
            # The peer vanishes with a reset: the server's socket closes under the hub.
            peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            peer.close()
            await _eventually(lambda: hub.stats.reaped == 1, "dead connection reaped")
            assert sub.dead
            assert _value(registry, "pressbox_delivery_dead_reaped_total") == 1
            await bus.append(update_stream(GAME), payload(updates[1]), key=updates[1].event_id)
            await _eventually(lambda: hub.stats.updates == 1, "update followed")
            assert hub.stats.messages == 1  # the snapshot only: nothing written to the dead
            hub.release(sub)
            assert hub.stats.connections == 0
            assert (
                _value(registry, "pressbox_delivery_connections", transport="sse", write="direct")
                == 0
            )
    server.close()
    await server.wait_closed()


async def test_lagging_clients_move_the_resnapshot_and_slow_disconnect_counters():
    """A client behind its buffer is re-snapshotted; one stuck in send is cut; both counted."""
    updates = real_game_updates()
    registry = CollectorRegistry()
    policy = Policy(high_water=4000, low_water=1000, stall_s=0.3, tick_s=0.02)
    async with from_url("memory://") as bus:
        await bus.append(update_stream(GAME), payload(updates[0]), key=updates[0].event_id)
        async with Hub(bus, policy=policy, registry=registry) as hub:
            behind, stuck = Subscriber("sse"), Subscriber("ws")
            for sub in (behind, stuck):
                hub.admit(None)
                hub.register(sub)
                await hub.subscribe(sub, GAME)
            labels = {"transport": "sse", "write": "queued"}
            assert _value(registry, "pressbox_delivery_connections", **labels) == 1
            stuck.send_since = time.monotonic()  # as the handler does before a send that hangs
            for update in updates[1:20]:
                await bus.append(update_stream(GAME), payload(update), key=update.event_id)
            await _eventually(lambda: hub.stats.updates == 19, "updates followed")
            await _eventually(lambda: behind.lag_since is None, "caught up")
            await _eventually(lambda: stuck.closed, "stuck client cut")
            assert _value(registry, "pressbox_delivery_resnapshots_total") == hub.stats.resnapshots
            assert hub.stats.resnapshots >= 1
            assert _value(registry, "pressbox_delivery_slow_disconnects_total") == 1


class _CountingTransport:
    """A real transport whose writes are counted."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        self._transport.write(data)

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._transport, name)


async def test_updates_read_together_go_to_each_socket_in_one_write():
    """A batch read from the log at once (a burst) costs each socket one write, in order."""
    updates = real_game_updates()
    accepted: asyncio.Queue[asyncio.Transport] = asyncio.Queue()

    class _Server(asyncio.Protocol):
        def connection_made(self, transport):  # type: ignore[no-untyped-def]
            accepted.put_nowait(transport)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Server, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with from_url("memory://") as bus:
        await bus.append(update_stream(GAME), payload(updates[0]), key=updates[0].event_id)
        async with Hub(bus, registry=CollectorRegistry()) as hub:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            transport = _CountingTransport(await asyncio.wait_for(accepted.get(), 10))
            sub = Subscriber("sse", transport=transport)  # type: ignore[arg-type]
            hub.admit(None)
            hub.register(sub)
            await hub.subscribe(sub, GAME)
            assert transport.writes == 1  # the snapshot
            burst = updates[1:41]
            await bus.append_many(update_stream(GAME), [(u.event_id, payload(u)) for u in burst])
            await _eventually(lambda: hub.stats.updates == 40, "burst followed")
            await _eventually(lambda: transport.writes == 2, "burst written")
            await asyncio.sleep(0.05)
            assert transport.writes == 2
            assert hub.stats.messages == 41
            body = b""
            while body.count(b"event: update") < 40:
                body += await asyncio.wait_for(reader.read(65536), 10)
            ids = [line for line in body.split(b"\n") if line.startswith(b"id: ")]
            assert ids[1:] == [f"id: {GAME}:{u.seq}".encode() for u in burst]
            hub.release(sub)
            writer.close()
    server.close()
    await server.wait_closed()
