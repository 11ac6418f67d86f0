"""The bare-asyncio baseline: the least code that fans SSE out, for comparison only.

No framework, no HTTP parser beyond the request line, no limits, no slow-client policy,
no heartbeats, no resume: each connection is a Protocol that names its game and gets the
game's latest update as a snapshot; one follower per game tails the same Redis update
streams as the gateway and writes each pre-encoded chunk to every transport.
Prints ``PORT <n>``, serves until SIGTERM. Arguments: bus URL, comma-separated games, and
the event loop (``asyncio``, the default, or ``uvloop``).
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys

from pressbox.bus import from_url, update_stream


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
    b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
)

SUBS: dict[str, set[asyncio.Transport]] = {}
SNAPSHOT: dict[str, bytes] = {}


class Conn(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.game: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport: no isinstance check.
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.game is not None:
            return
        self.buf += data
        if b"\r\n\r\n" not in self.buf:
            return
        path = self.buf.split(b" ", 2)[1].decode()
        self.game = path.rsplit("/", 1)[-1]
        assert self.transport is not None
        self.transport.write(HEAD + SNAPSHOT.get(self.game, b""))
        SUBS.setdefault(self.game, set()).add(self.transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.game is not None and self.transport is not None:
            SUBS.get(self.game, set()).discard(self.transport)


async def follow(bus, game: str) -> None:  # type: ignore[no-untyped-def]
    stream = update_stream(game)
    last = await bus.last_seq(stream)
    async for env in bus.tail(stream, last):
        SNAPSHOT[game] = chunk(b"event: snapshot\ndata: %b\n\n" % env.payload)
        frame = chunk(
            b"id: %b:%d\nevent: update\ndata: %b\n\n" % (game.encode(), env.seq, env.payload)
        )
        for transport in SUBS.get(game, ()):
            transport.write(frame)


async def main() -> None:
    bus_url, games = sys.argv[1], sys.argv[2].split(",")
    async with from_url(bus_url) as bus:
        # Snapshots first, so that every client that can connect gets one.
        for game in games:
            for env in await bus.read(update_stream(game), await bus.last_seq(update_stream(game))):
                SNAPSHOT[game] = chunk(b"event: snapshot\ndata: %b\n\n" % env.payload)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(4096)
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Conn, sock=sock)
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(follow(bus, g)) for g in games]
            print(f"PORT {sock.getsockname()[1]}", flush=True)
            await stop.wait()
            server.close()
            for t in tasks:
                t.cancel()


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[3] == "uvloop":
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())
