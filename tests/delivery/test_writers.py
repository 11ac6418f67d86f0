"""Writer processes: the protocol on real sockets, and a gateway whose writer dies."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Iterator

import httpx
import pytest
from prometheus_client import CollectorRegistry

from pressbox.bus import from_url, update_stream
from pressbox.delivery.writers import serve
from pressbox.engine.events import decode_update
from tests.delivery.games import padded, payload, real_game_updates
from tests.delivery.gateway import build_app, serving
from tests.delivery.sseclient import events

GAME = "ANA201504100"
BEAT = b"<hb>"


class Gateway:
    """The gateway's end of a writer's channel, with the writer running in a thread."""

    def __init__(self, *, heartbeat_s: float = 60.0, stall_s: float = 0.3) -> None:
        self.sock, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        for end in (self.sock, child):  # as the pool sets them: messages up to 192 KiB
            end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
            end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.kept: list[socket.socket] = []
        self.thread = threading.Thread(
            target=serve,
            args=(child,),
            kwargs={"heartbeat": BEAT, "heartbeat_s": heartbeat_s, "stall_s": stall_s},
            daemon=True,
        )
        self.thread.start()
        self.sock.settimeout(5.0)

    def attach(self, handle: int, game: str, sock: socket.socket, *, keep: bool = False) -> None:
        """Hand a stream over; ``keep``: hold this side open as the gateway does (the
        client sees the end only when both sides let go)."""
        socket.send_fds(
            self.sock, [b"A" + struct.pack("!I", handle) + game.encode()], [sock.fileno()]
        )
        if keep:
            self.kept.append(sock)
        else:
            sock.close()

    def write(self, game: str, data: bytes) -> None:
        self.sock.send(b"W%c%b%b" % (len(game), game.encode(), data))

    def tell(self, kind: bytes, handle: int, data: bytes = b"") -> None:
        self.sock.send(kind + struct.pack("!I", handle) + data)

    def report(self) -> tuple[bytes, int]:
        data = self.sock.recv(64)
        return data[:1], struct.unpack_from("!I", data, 1)[0]

    def close(self) -> None:
        for sock in self.kept:
            sock.close()
        self.sock.close()
        self.thread.join(5.0)
        assert not self.thread.is_alive(), "the writer did not stop when its channel closed"


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    gw = Gateway()
    yield gw
    gw.close()


_CLIENTS: list[socket.socket] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _CLIENTS:
        _CLIENTS.pop().close()


def _stream(*, small: bool = False) -> tuple[socket.socket, socket.socket]:
    """A connected pair: the server's side (handed to the writer) and the client's."""
    server, client = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    _CLIENTS.append(client)
    server.setblocking(False)
    if small:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.settimeout(5.0)
    return server, client


def _read_until_eof(sock: socket.socket) -> bytes:
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def _fill(sock: socket.socket) -> int:
    """Send until the socket takes nothing more; the bytes sent."""
    sent = 0
    try:
        while True:
            sent += sock.send(b"f" * 4096)
    except BlockingIOError:
        return sent


def _drain(sock: socket.socket) -> bytes:
    """Everything waiting on a socket that stays open (no end of stream)."""
    sock.setblocking(False)
    out = b""
    try:
        while True:
            chunk = sock.recv(65536)
            assert chunk, "the stream ended: the gateway's side holds it open"
            out += chunk
    except BlockingIOError:
        return out


def _read(sock: socket.socket, size: int) -> bytes:
    out = b""
    while len(out) < size:
        chunk = sock.recv(size - len(out))
        assert chunk, f"closed after {out!r}"
        out += chunk
    return out


def test_each_stream_gets_its_games_messages_in_order_and_its_last_bytes(gateway):
    """Messages of a game reach every stream of it, in order; one stream's own bytes and
    its last bytes come after everything before them; a stream let go is closed."""
    (s1, c1), (s2, c2), (s3, c3) = _stream(), _stream(), _stream()
    gateway.attach(1, "g1", s1)
    gateway.attach(2, "g1", s2)
    gateway.attach(3, "g2", s3)
    gateway.write("g1", b"a;")
    gateway.write("g2", b"x;")
    gateway.tell(b"O", 2, b"only2;")
    gateway.write("g1", b"b;")
    gateway.tell(b"E", 1, b"end1")
    gateway.write("g1", b"c;")  # stream 1 has been let go: not for it
    gateway.tell(b"D", 3)
    gateway.tell(b"D", 2)
    assert _read_until_eof(c1) == b"a;b;end1"
    assert _read_until_eof(c2) == b"a;only2;b;c;"
    assert _read_until_eof(c3) == b"x;"


def test_a_stream_whose_socket_is_full_comes_back_at_once_with_nothing_written():
    """A send that takes nothing gives the stream back at a message boundary at once."""
    gw = Gateway()
    try:
        server, client = _stream(small=True)
        filler = _fill(server)
        gw.attach(7, "g", server, keep=True)
        gw.write("g", b"MSG")
        assert gw.report() == (b"L", 7)
        got = _drain(client)
        # Only the filler arrived: nothing of the message, not a part of it.
        assert got == b"f" * filler
    finally:
        gw.close()


def test_a_stream_cut_in_the_middle_of_a_message_comes_back_once_the_rest_is_out():
    """A send that takes part of a message: the rest goes out as the client reads, the
    later messages are dropped, and then the stream comes back, at a message boundary."""
    gw = Gateway(stall_s=30.0)
    try:
        server, client = _stream(small=True)
        gw.attach(8, "g", server, keep=True)
        big = b"<" + b"x" * 150_000 + b">"
        gw.write("g", big)
        gw.write("g", b"dropped")
        time.sleep(0.1)
        assert _read(client, len(big)) == big
        assert gw.report() == (b"L", 8)
        client.setblocking(False)
        with pytest.raises(BlockingIOError):
            client.recv(10)  # nothing after the whole message, and the socket is open
    finally:
        gw.close()


def test_a_stream_that_never_takes_the_rest_is_given_up_after_stall_s():
    gw = Gateway(stall_s=0.2)
    try:
        server, client = _stream(small=True)
        gw.attach(9, "g", server)
        gw.write("g", b"y" * 150_000)
        started = time.monotonic()
        assert gw.report() == (b"S", 9)
        assert time.monotonic() - started >= 0.15
        client.close()
    finally:
        gw.close()


def test_a_stream_whose_client_left_is_reported_gone(gateway):
    server, client = _stream()
    gateway.attach(4, "g", server)
    client.close()
    gateway.write("g", b"to nobody")
    assert gateway.report() == (b"G", 4)


def test_the_writer_writes_its_streams_heartbeats():
    gw = Gateway(heartbeat_s=0.2)
    try:
        server, client = _stream()
        gw.attach(5, "g", server)
        assert _read(client, len(BEAT)) == BEAT
    finally:
        gw.close()


def test_a_message_for_an_unknown_game_or_stream_is_ignored(gateway):
    server, client = _stream()
    gateway.attach(6, "g", server)
    gateway.write("other", b"not for g")
    gateway.tell(b"O", 999, b"no such stream")
    gateway.tell(b"E", 6, b"done")
    assert _read_until_eof(client) == b"done"


async def _follow(
    url: str, last: int, on_first: Callable[[], Awaitable[None]] | None = None
) -> tuple[list[int], int]:
    """Follow a stream to update ``last``, resuming with ``Last-Event-ID`` whenever it is
    cut off; the seqs seen (a snapshot starts them anew) and the connections made.
    ``on_first`` runs once, after the first event."""
    seen: list[int] = []
    last_id: str | None = None
    connects = 0
    async with httpx.AsyncClient(timeout=10) as client:
        while not seen or seen[-1] < last:
            headers = {"Last-Event-ID": last_id} if last_id else {}
            connects += 1
            try:
                async with client.stream("GET", url, headers=headers) as response:
                    async for event in events(response):
                        seq = decode_update(event.data).seq
                        seen = [*seen, seq] if event.event == "update" else [seq]
                        last_id = event.id
                        if on_first is not None:
                            hook, on_first = on_first, None
                            await hook()
                        if seq == last:
                            break
            except httpx.HTTPError:
                pass  # cut off: resume
    return seen, connects


@pytest.mark.anyio
async def test_streams_of_a_writer_that_dies_resume_without_a_gap_or_a_repeat():
    """The gateway aborts a dead writer's streams; clients resume with Last-Event-ID and
    get every update exactly once."""
    updates = real_game_updates()[:40]
    state: dict = {}
    registry = CollectorRegistry()
    async with from_url("memory://") as bus:
        for update in updates[:1]:
            await bus.append(update_stream(GAME), payload(update), key=update.event_id)
        app = build_app(bus, writers=1, state=state, registry=registry)
        async with serving(app) as (_, port):
            hub = state["hub"]
            url = f"http://127.0.0.1:{port}/v1/stream/games/{GAME}"
            tasks = [asyncio.create_task(_follow(url, len(updates))) for _ in range(4)]
            for _ in range(200):
                if hub.stats.handed_off >= 4:
                    break
                await asyncio.sleep(0.02)
            assert hub.stats.handed_off >= 4
            for update in updates[1:20]:
                await bus.append(update_stream(GAME), payload(update), key=update.event_id)
            await asyncio.sleep(0.2)
            channel = hub._writers._channels[0]
            channel.proc.kill()
            for update in updates[20:]:
                await bus.append(update_stream(GAME), payload(update), key=update.event_id)
                await asyncio.sleep(0.005)
            results = await asyncio.wait_for(asyncio.gather(*tasks), 30)
    for seen, connects in results:
        assert seen == list(range(1, len(updates) + 1))
        assert connects >= 2  # each was cut off when its writer died, and resumed
    assert hub.stats.given_back >= 4
    metric = "pressbox_delivery_given_back_total"
    assert registry.get_sample_value(metric, {"reason": "writer stopped"}) >= 4
    assert registry.get_sample_value("pressbox_delivery_handed_off_total") >= 4


def test_a_wrong_number_of_writers_is_refused_with_a_reason(monkeypatch):
    from pydantic import ValidationError

    from pressbox.api.settings import ApiSettings
    from pressbox.delivery import Hub
    from pressbox.delivery.writers import WriterPool

    monkeypatch.setenv("PRESSBOX_API_STREAM_WRITERS", "-1")
    with pytest.raises(ValidationError, match="stream_writers"):
        ApiSettings()
    monkeypatch.setenv("PRESSBOX_API_STREAM_WRITERS", "two")
    with pytest.raises(ValidationError, match="stream_writers"):
        ApiSettings()
    monkeypatch.setenv("PRESSBOX_API_STREAM_WRITERS", "2")
    assert ApiSettings().stream_writers == 2
    with pytest.raises(ValueError, match="writers must be 0"):
        Hub(None, writers=-1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one writer"):
        WriterPool(0, heartbeat_s=15, stall_s=20, returned=lambda sub, reason: None)


@pytest.mark.anyio
async def test_a_writer_that_stops_taking_messages_is_given_up_and_its_streams_resume(
    monkeypatch,
):
    """A stuck writer (stopped here with SIGSTOP): once the gateway has queued more than
    its bound for it, the writer is killed, its streams are cut, and a client resumes
    from the gateway with every update exactly once."""
    import os
    import signal

    from pressbox.delivery import writers

    monkeypatch.setattr(writers, "_CHANNEL_BUFFER", 64 * 1024)
    monkeypatch.setattr(writers, "_MAX_QUEUED", 256 * 1024)
    # Padded text: each update is about 20 KB, so the bound is passed within the run.
    updates = padded(real_game_updates()[:60], 20_000)
    state: dict = {}
    async with from_url("memory://") as bus:
        await bus.append(update_stream(GAME), payload(updates[0]), key=updates[0].event_id)
        async with serving(build_app(bus, writers=1, state=state)) as (_, port):
            hub = state["hub"]
            url = f"http://127.0.0.1:{port}/v1/stream/games/{GAME}"
            proc = hub._writers._channels[0].proc

            async def stop_the_writer_and_publish() -> None:
                for _ in range(200):
                    if hub.stats.handed_off:
                        break
                    await asyncio.sleep(0.01)
                os.kill(proc.pid, signal.SIGSTOP)
                for u in updates[1:]:
                    await bus.append(update_stream(GAME), payload(u), key=u.event_id)

            seen, connects = await _follow(url, len(updates), stop_the_writer_and_publish)
            assert proc.wait(timeout=5) == -signal.SIGKILL
    assert seen == list(range(1, len(updates) + 1))
    assert connects >= 2
    assert hub.stats.given_back >= 1


@pytest.mark.anyio
async def test_a_game_id_too_long_for_the_protocol_stays_with_the_gateway():
    from pressbox.delivery.writers import WriterPool

    pool = WriterPool(1, heartbeat_s=15, stall_s=20, returned=lambda sub, reason: None)
    pool.start()
    try:
        server, _ = _stream()
        assert pool.hand(object(), "g" * 256, server.fileno()) is None
        assert pool.hand(object(), "g" * 255, server.fileno()) is not None
        assert pool.streams == 1
        server.close()
    finally:
        await pool.close()
