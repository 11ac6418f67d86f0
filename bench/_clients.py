"""A benchmark client process: many SSE or WebSocket connections read with one epoll loop.

Started by bench/fanout.py. Arguments: protocol (sse|ws), host, comma-separated ports,
comma-separated games, number of connections, offset (spreads connections over games and
ports). It prints ``READY <n>`` once connected, then serves commands read from stdin, one
per line: ``RESET`` (zero the counters), ``REPORT`` (one JSON line: messages, bytes,
first/last receipt times, latency histogram), ``QUIT``. Latency is receipt time minus the
update's ``ts_ingest`` (same machine clock).

Plain non-blocking sockets and ``select.epoll`` rather than asyncio protocols: a reader
costs a fraction of an asyncio callback per message, so that on a 2-core machine the
clients take as little as possible from the server they measure.
"""

from __future__ import annotations

import base64
import json
import os
import select
import socket
import sys
import time

from pressbox.bench.run_clients import split_ws_frames, ws_frame

BUCKET_S = 0.0002  # histogram resolution: 0.2 ms
TS = b'"ts_ingest":'


class Stats:
    def __init__(self) -> None:
        self.reset()
        self.closed = 0

    def reset(self) -> None:
        self.messages = 0
        self.bytes = 0
        self.first: float | None = None
        self.last: float | None = None
        self.hist: dict[int, int] = {}

    def saw(self, data: bytes, now: float) -> None:
        # Every update carries "ts_ingest":<seconds>; count and time each one.
        start = 0
        hist = self.hist
        while True:
            i = data.find(TS, start)
            if i < 0:
                return
            j = i + 12
            k = data.find(b",", j)
            start = k
            try:
                ts = float(data[j:k])
            except ValueError:
                continue
            self.messages += 1
            if self.first is None:
                self.first = now
            self.last = now
            bucket = int((now - ts) / BUCKET_S)
            hist[bucket] = hist.get(bucket, 0) + 1


STATS = Stats()


def _recv(sock: socket.socket) -> bytes | None:
    """What a ready socket has (``b""``: closed or broken; ``None``: nothing after all)."""
    try:
        return sock.recv(262144)
    except BlockingIOError:
        return None
    except OSError:
        return b""


def ws_request(host: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET /v1/ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


class Conn:
    __slots__ = ("buf", "game", "ready", "sock", "upgraded")

    def __init__(self, sock: socket.socket, game: str) -> None:
        self.sock = sock
        self.game = game
        self.buf = bytearray()
        self.upgraded = False
        self.ready = False


def read_sse(conn: Conn, data: bytes, now: float) -> None:
    # Events end with a blank line; updates are never split across reads when counted.
    buf = conn.buf
    buf += data
    end = buf.rfind(b"\n\n")
    if end >= 0:
        STATS.saw(bytes(buf[: end + 2]), now)
        del buf[: end + 2]


def read_ws(conn: Conn, data: bytes, now: float) -> None:
    buf = conn.buf
    buf += data
    if not conn.upgraded:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return
        del buf[: end + 4]
        conn.upgraded = True
        subscribe = json.dumps({"type": "subscribe", "game": conn.game}).encode()
        conn.sock.send(ws_frame(0x1, subscribe))
    frames, used = split_ws_frames(buf)
    texts = []
    for opcode, payload in frames:
        if opcode == 0x9:
            conn.sock.send(ws_frame(0xA, payload))
        elif opcode in (0x1, 0x0):
            texts.append(payload)
    del buf[:used]
    if texts:
        STATS.saw(b"\n".join(texts), now)


def main() -> None:
    protocol, host, ports_arg, games_arg, count_arg = sys.argv[1:6]
    offset = int(sys.argv[6]) if len(sys.argv) > 6 else 0
    ports = [int(p) for p in ports_arg.split(",")]
    games = games_arg.split(",")
    count = int(count_arg)
    read = read_sse if protocol == "sse" else read_ws
    ep = select.epoll()
    conns: dict[int, Conn] = {}
    lost: dict[bytes, int] = {}

    def settle(budget_s: float) -> None:
        # Read until every connection so far has its first snapshot (subscriptions live).
        deadline = time.monotonic() + budget_s
        while time.monotonic() < deadline and not all(c.ready for c in conns.values()):
            for fd, _ in ep.poll(0.5):
                conn = conns[fd]
                data = _recv(conn.sock)
                if data is None:
                    continue
                if not data:
                    ep.unregister(fd)
                    conn.sock.close()
                    del conns[fd]
                    if not conn.ready:
                        key = bytes(conn.buf[:60]) or b"(nothing)"
                        lost[key] = lost.get(key, 0) + 1
                    continue
                read(conn, data, time.time())
                if not conn.ready and b"snapshot" in data:
                    conn.ready = True

    # Connections open in batches, each settled before the next: a thundering herd of
    # thousands of connects in one second would measure the kernel's accept queue.
    for i in range(count):
        game = games[(i + offset) % len(games)]
        port = ports[(i + offset) % len(ports)]
        for attempt in range(5):
            sock = socket.socket()
            try:
                sock.connect((host, port))
            except OSError:
                sock.close()
                time.sleep(0.2 * (attempt + 1))
                continue
            if protocol == "sse":
                sock.sendall(
                    f"GET /v1/stream/games/{game} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
                )
            else:
                sock.sendall(ws_request(host))
            sock.setblocking(False)
            conns[sock.fileno()] = Conn(sock, game)
            ep.register(sock.fileno(), select.EPOLLIN)
            break
        if (i + 1) % 250 == 0:
            settle(30.0)
    settle(120.0)
    if lost:
        print(f"closed before their snapshot: {lost}", file=sys.stderr, flush=True)
    print(f"READY {sum(c.ready for c in conns.values())}", flush=True)
    stdin = sys.stdin.fileno()
    os.set_blocking(stdin, False)
    ep.register(stdin, select.EPOLLIN)
    pending = b""
    while True:
        for fd, _ in ep.poll(1.0):
            if fd == stdin:
                chunk = os.read(stdin, 4096)
                if not chunk:
                    return
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    command = line.decode().strip()
                    if command == "RESET":
                        STATS.reset()
                        print("OK", flush=True)
                    elif command == "REPORT":
                        report = {
                            "messages": STATS.messages,
                            "bytes": STATS.bytes,
                            "first": STATS.first,
                            "last": STATS.last,
                            "hist": STATS.hist,
                            "connected": len(conns),
                            "closed": STATS.closed,
                        }
                        print(json.dumps(report), flush=True)
                    elif command == "QUIT":
                        return
                continue
            conn = conns[fd]
            data = _recv(conn.sock)
            if data is None:
                continue
            if not data:
                ep.unregister(fd)
                conn.sock.close()
                del conns[fd]
                STATS.closed += 1
                continue
            STATS.bytes += len(data)
            read(conn, data, time.time())


if __name__ == "__main__":
    main()
