"""A game-night client process: many SSE or WebSocket connections read with one epoll loop.

``python -m pressbox.bench.run_clients --proto sse|ws --port P --games A,B --n N
--offset K --keys T1,T2`` opens ``N`` connections, connection ``i`` following
game ``games[(K + i) % len(games)]``, prints ``READY <n>`` once each has its first snapshot,
and then answers commands read from stdin, one per line:

- ``MEASURE <t> <file>``: load the upstream's publication table (``.publish`` file of
  :mod:`.run_upstream`); latency counts only plays published at or after ``t``;
- ``BEHIND {"game": seq, ...}``: print ``BEHIND <n> {"game": seq, ...}``: the updates the
  connections still lack to reach those positions, and the furthest position of each game
  among them (the orchestrator drains until no connection lacks anything);
- ``REPORT``: print one JSON line (below) and exit.

Every connection checks its own stream: after the first snapshot each update's ``seq``
must be the previous one plus one. A smaller or equal one is a **duplicate**; a larger
one, or a later snapshot that jumps ahead (a slow client re-snapshotted), counts the
skipped ``seq`` values as **lost**. A connection the server closes reconnects with its
last position (SSE ``Last-Event-ID``, WebSocket ``since``), so a resume that loses or
repeats an update is caught too. The report gives, per game, the last ``seq`` of every
connection, so that the orchestrator adds the updates still missing at the end.

Latency of an update is its receipt time minus the upstream's publication of its play
(the ``publish`` table of :mod:`.run_upstream`, looked up by the update's ``ts_source``),
and minus its ``ts_ingest`` (pressbox's own part); both in whole milliseconds, counted in
histograms, with a per-second histogram for the plot. Once per distinct update (not per
connection) it also counts the server's stages: poll (publication → ``ts_ingest``) and
process (``ts_ingest`` → ``ts_emit``). Each distinct update is decoded once
per process, so a process can follow thousands of connections.

Plain non-blocking sockets and ``select.epoll`` instead of asyncio: the clients share the
machine with what they measure and must cost it little. SSE is asked for over HTTP/1.0 so
that the body comes unchunked.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import errno
import json
import os
import re
import select
import socket
import struct
import sys
import time
from collections import defaultdict

RECV_BYTES = 65536
"""Most bytes one read takes from a connection."""

SO_TIMESTAMPNS = 35
"""Linux's option (and control message) for the kernel's receive time of a socket's data,
in nanoseconds; the same number on x86-64 and arm64, and not named by :mod:`socket`."""
_STAMP_SPACE = socket.CMSG_SPACE(16)
_TIMESPEC = struct.Struct("qq")

_TS_SOURCE = re.compile(rb'"ts_source":([-0-9.eE+]+|null)')
_TS_INGEST = re.compile(rb'"ts_ingest":([-0-9.eE+]+|null)')
_TS_EMIT = re.compile(rb'"ts_emit":([-0-9.eE+]+|null)')
_WS_HEAD = re.compile(rb'"type":"(\w+)","game":"([^"]+)","seq":(\d+)')


class Counters:
    """What the whole process measured."""

    def __init__(self) -> None:
        self.measure_from = float("inf")
        self.updates = 0
        self.snapshots = 0
        self.lost = 0
        self.resnapshot_lost = 0
        self.resnapshots = 0
        self.duplicates = 0
        self.reconnects = 0
        self.refused: dict[str, int] = defaultdict(int)
        self.unmapped = 0
        self.pub_ms: dict[int, int] = defaultdict(int)
        self.ingest_ms: dict[int, int] = defaultdict(int)
        self.emit_ms: dict[int, int] = defaultdict(int)
        # The same two measured at the kernel's receipt of the bytes instead of this
        # process's read of them: what the client host got when, without the wait of this
        # process (its read period, its turn on a shared core) to be scheduled and read.
        self.stamps = False
        self.pub_rx_ms: dict[int, int] = defaultdict(int)
        self.emit_rx_ms: dict[int, int] = defaultdict(int)
        self.poll_ms: dict[int, int] = defaultdict(int)
        self.process_ms: dict[int, int] = defaultdict(int)
        self.series: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        self.first: float | None = None
        self.last: float | None = None


C = Counters()
PUBLISH: dict[str, dict[int, float]] = {}
_decoded: dict[tuple[str, int], tuple[float | None, float | None, float | None]] = {}
FIRST_SEEN: dict[str, float] = {}
"""When this process first received each update (``game:seq``): events per second."""


def _number(pattern: re.Pattern[bytes], data: bytes) -> float | None:
    match = pattern.search(data)
    if match is None or match.group(1) == b"null":
        return None
    return float(match.group(1))


def decode(
    game: str, seq: int, data: bytes, now: float
) -> tuple[float | None, float | None, float | None]:
    """(upstream publication, ts_ingest, ts_emit) of an update, decoded once per process
    (the first time, received at ``now``)."""
    key = (game, seq)
    hit = _decoded.get(key)
    if hit is None:
        FIRST_SEEN[f"{game}:{seq}"] = now
        source = _number(_TS_SOURCE, data)
        ingest = _number(_TS_INGEST, data)
        emit = _number(_TS_EMIT, data)
        pub = None if source is None else PUBLISH.get(game, {}).get(int(source))
        hit = (pub, ingest, emit)
        _decoded[key] = hit
        # The server's stages of this update, once per update (not per connection).
        if pub is not None and ingest is not None and pub >= C.measure_from:
            C.poll_ms[int((ingest - pub) * 1000)] += 1
        if ingest is not None and emit is not None and C.measure_from < float("inf"):
            C.process_ms[int((emit - ingest) * 1000)] += 1
    return hit


class Conn:
    """One connection and the position of its stream."""

    __slots__ = ("arrived", "buf", "game", "head", "index", "last", "ready", "sock", "started")

    def __init__(self, index: int, game: str) -> None:
        self.index = index
        self.game = game
        self.sock: socket.socket | None = None
        self.buf = bytearray()
        self.head = False
        self.last: int | None = None
        self.ready = False
        self.started = 0.0
        self.arrived = 0.0
        """When the kernel received the last bytes of the read being handled."""

    def saw(self, kind: str, seq: int, data: bytes, now: float) -> None:
        """Check the order of one snapshot or update and time it."""
        last = self.last
        if kind == "snapshot":
            C.snapshots += 1
            if last is not None and seq > last + 1:
                # The gateway replaced a lagging client's backlog with a fresh snapshot.
                C.resnapshots += 1
                C.resnapshot_lost += seq - last - 1
            if last is None or seq > last:
                self.last = seq
            self.ready = True
            return
        if kind != "update":
            return
        C.updates += 1
        if last is None:
            self.last = seq
        elif seq <= last:
            C.duplicates += 1
            return
        else:
            if seq > last + 1:
                C.lost += seq - last - 1
            self.last = seq
        pub, ingest, emit = decode(self.game, seq, data, now)
        if C.first is None:
            C.first = now
        C.last = now
        if ingest is not None:
            C.ingest_ms[int((now - ingest) * 1000)] += 1
        if emit is not None:
            C.emit_ms[int((now - emit) * 1000)] += 1
            if C.stamps:
                C.emit_rx_ms[int((self.arrived - emit) * 1000)] += 1
        if pub is None:
            C.unmapped += 1
        elif pub >= C.measure_from:
            ms = int((now - pub) * 1000)
            C.pub_ms[ms] += 1
            if C.stamps:
                C.pub_rx_ms[int((self.arrived - pub) * 1000)] += 1
            C.series[int(now)][ms] += 1


def sse_request(conn: Conn, key: str) -> bytes:
    """The HTTP/1.0 request of an SSE stream, resuming after the last ``seq`` seen."""
    resume = f"Last-Event-ID: {conn.game}:{conn.last}\r\n" if conn.last is not None else ""
    return (
        f"GET /v1/stream/games/{conn.game}?api_key={key} HTTP/1.0\r\nHost: 127.0.0.1\r\n"
        f"Accept: text/event-stream\r\n{resume}\r\n"
    ).encode()


def ws_request(key: str) -> bytes:
    """The WebSocket upgrade request."""
    token = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET /v1/ws?api_key={key} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {token}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def ws_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame."""
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def split_ws_frames(buf: bytearray) -> tuple[list[tuple[int, bytes]], int]:
    """The complete server frames at the start of ``buf``, and how many bytes they take.

    Written by hand: a load generator holding thousands of raw sockets cannot afford a
    WebSocket library's per-connection objects and tasks.

    Returns:
        ``(opcode, payload)`` of each complete frame, and the bytes to drop from ``buf``.
    """
    frames: list[tuple[int, bytes]] = []
    pos, size = 0, len(buf)
    while size - pos >= 2:
        opcode = buf[pos] & 0x0F
        n = buf[pos + 1] & 0x7F
        head = 2
        if n == 126:
            if size - pos < 4:
                break
            n = int.from_bytes(buf[pos + 2 : pos + 4], "big")
            head = 4
        elif n == 127:
            if size - pos < 10:
                break
            n = int.from_bytes(buf[pos + 2 : pos + 10], "big")
            head = 10
        if size - pos < head + n:
            break
        frames.append((opcode, bytes(buf[pos + head : pos + head + n])))
        pos += head + n
    return frames, pos


SseEvent = tuple[str | None, int | None, bytes | None]
"""``(event, seq, data)`` of one SSE event; ``None`` where the field is absent."""

_PARSED: dict[bytes, list[SseEvent]] = {}
"""Parsed blocks of events, by their bytes: every connection of a game receives the same
bytes for an update, so each block is parsed once per process, not once per connection."""

PARSED_MAX = 4096
"""Blocks kept in :data:`_PARSED` before it is emptied (a few seconds of a slate)."""


def parse_sse(block: bytes) -> list[SseEvent]:
    """The events of a block of complete SSE events (comments and ``retry`` skipped)."""
    events: list[SseEvent] = []
    for event in block.split(b"\n\n"):
        if not event or event.startswith((b":", b"retry")):
            continue
        kind = seq = data = None
        for line in event.split(b"\n"):
            if line.startswith(b"id: "):
                seq = int(line.rsplit(b":", 1)[1])
            elif line.startswith(b"event: "):
                kind = line[7:].decode()
            elif line.startswith(b"data: "):
                data = line[6:]
        events.append((kind, seq, data))
    return events


def read_sse(conn: Conn, now: float) -> None:
    """Handle every complete event in the buffer."""
    buf = conn.buf
    end = buf.rfind(b"\n\n")
    if end < 0:
        return
    block = bytes(buf[: end + 2])
    del buf[: end + 2]
    sse_block(conn, block, now)


def sse_block(conn: Conn, block: bytes, now: float) -> None:
    """Handle a block of complete events."""
    events = _PARSED.get(block)
    if events is None:
        events = parse_sse(block)
        if len(_PARSED) >= PARSED_MAX:
            _PARSED.clear()
        _PARSED[block] = events
    for kind, seq, data in events:
        if kind is not None and seq is not None and data is not None:
            conn.saw(kind, seq, data, now)
        elif kind == "snapshot":
            conn.ready = True  # a game with no update yet: seq 0, no id


def read_ws(conn: Conn, now: float) -> None:
    """Handle every complete frame in the buffer (pings answered)."""
    sock = conn.sock
    if sock is None:
        return
    frames, used = split_ws_frames(conn.buf)
    for opcode, payload in frames:
        if opcode == 0x9:
            sock.send(ws_frame(0xA, payload))
        elif opcode == 0x1:
            match = _WS_HEAD.search(payload, 0, 200)
            if match is not None:
                conn.saw(match.group(1).decode(), int(match.group(3)), payload, now)
            elif b'"type":"snapshot"' in payload[:40]:
                conn.ready = True  # a game with no update yet
    del conn.buf[:used]


class Loop:
    """The epoll loop over every connection."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.keys = args.keys.split(",")
        games = args.games.split(",")
        self.conns = [Conn(i, games[(args.offset + i) % len(games)]) for i in range(args.n)]
        self.by_fd: dict[int, Conn] = {}
        self.ep = select.epoll()
        self.pending: list[tuple[float, Conn]] = []
        self.sse = args.proto == "sse"
        C.stamps = args.stamps

    def open(self, conn: Conn) -> None:
        """Connect (non-blocking) and send the request."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Not on Linux: no stamps, and the receipt is the read (``readable``).
        if self.args.stamps:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setblocking(False)
        err = sock.connect_ex(("127.0.0.1", self.args.port))
        if err not in (0, errno.EINPROGRESS):
            sock.close()
            C.refused[errno.errorcode.get(err, str(err))] += 1
            self.pending.append((time.time() + 1.0, conn))
            return
        conn.sock, conn.buf, conn.head = sock, bytearray(), False
        conn.started = time.time()
        self.by_fd[sock.fileno()] = conn
        self.ep.register(sock.fileno(), select.EPOLLOUT)

    def close(self, conn: Conn, retry_in: float) -> None:
        """Drop the socket and reconnect later."""
        if conn.sock is not None:
            fd = conn.sock.fileno()
            self.ep.unregister(fd)
            del self.by_fd[fd]
            conn.sock.close()
            conn.sock = None
        self.pending.append((time.time() + retry_in, conn))

    def writable(self, conn: Conn) -> None:
        """The connection is up: send the request."""
        sock = conn.sock
        if sock is None:
            return
        key = self.keys[conn.index % len(self.keys)]
        request = sse_request(conn, key) if self.sse else ws_request(key)
        try:
            sock.send(request)
        except OSError as exc:
            C.refused[type(exc).__name__] += 1
            self.close(conn, 1.0)
            return
        self.ep.modify(sock.fileno(), select.EPOLLIN)

    def readable(self, conn: Conn, now: float) -> None:
        """Read what came and handle it."""
        sock = conn.sock
        if sock is None:
            return
        try:
            # 64 KiB, not more: recv(n) allocates n bytes and shrinks them to what came; at
            # 256 KiB that cost about 20 µs per read, most of these processes' CPU.
            if self.args.stamps:
                data, stamps, _, _ = sock.recvmsg(RECV_BYTES, _STAMP_SPACE)
            else:
                data, stamps = sock.recv(RECV_BYTES), []
        except BlockingIOError:
            return
        except OSError:
            data, stamps = b"", []
        # TCP stamps a read with the receipt of its newest bytes: for the earlier messages
        # of the same read, a receipt no earlier than the true one.
        conn.arrived = now
        for level, kind, raw in stamps:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(raw) >= 16:
                sec, ns = _TIMESPEC.unpack_from(raw)
                conn.arrived = sec + ns * 1e-9
        if not data:
            C.reconnects += 1
            self.close(conn, 0.2)
            return
        if conn.head and not conn.buf and self.sse and data.endswith(b"\n\n"):
            # The usual read: whole events and nothing left over; no copy through the buffer.
            sse_block(conn, data, now)
            return
        conn.buf += data
        if not conn.head:
            end = conn.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = conn.buf[9:12].decode()
            if status not in ("200", "101"):
                C.refused[status] += 1
                self.close(conn, 1.0)
                return
            del conn.buf[: end + 4]
            conn.head = True
            if not self.sse:
                since = "" if conn.last is None else f',"since":{conn.last}'
                msg = f'{{"type":"subscribe","game":"{conn.game}"{since}}}'.encode()
                sock.send(ws_frame(0x1, msg))
        if self.sse:
            read_sse(conn, now)
        else:
            read_ws(conn, now)

    def sweep(self, now: float) -> None:
        """Retry connections with no first snapshot after ``--timeout`` seconds (a request
        dropped by an overloaded server would otherwise hold its place forever)."""
        for conn in list(self.by_fd.values()):
            if not conn.ready and now - conn.started > self.args.timeout:
                C.refused["timeout"] += 1
                self.close(conn, 0.0)

    def command(self, line: str) -> bool:
        """Handle a stdin command; ``False`` to stop."""
        words = line.split()
        if not words:
            return True
        if words[0] == "MEASURE":
            with open(words[2]) as f:
                table = json.load(f)["publish"]
            PUBLISH.update({g: {int(k): v for k, v in t.items()} for g, t in table.items()})
            _decoded.clear()
            FIRST_SEEN.clear()
            C.measure_from = float(words[1])
        elif words[0] == "BEHIND":
            # How many updates the connections lack, given each game's last seq.
            final = json.loads(line.split(" ", 1)[1])
            behind = sum(max(0, final.get(c.game, 0) - (c.last or 0)) for c in self.conns)
            most: dict[str, int] = {}
            for c in self.conns:
                most[c.game] = max(most.get(c.game, 0), c.last or 0)
            print(f"BEHIND {behind} {json.dumps(most)}", flush=True)
        elif words[0] == "REPORT":
            print(json.dumps(report(self.conns)), flush=True)
            return False
        return True

    def run(self) -> None:
        """Connect in waves, announce readiness, serve until ``REPORT``."""
        stdin = sys.stdin.fileno()
        os.set_blocking(stdin, False)
        self.ep.register(stdin, select.EPOLLIN)
        todo = list(self.conns)
        announced = False
        swept = time.time()
        polled = swept
        line = b""
        while True:
            now = time.time()
            # Open at most a wave at a time so the server's accept queue keeps up (counted
            # only while some are left to open: not a walk over every connection per turn).
            if todo:
                opening = sum(1 for c in self.by_fd.values() if not c.ready)
                while todo and opening < self.args.wave:
                    self.open(todo.pop(0))
                    opening += 1
            if self.pending and self.pending[0][0] <= now:
                due = [c for t, c in self.pending if t <= now]
                self.pending = [(t, c) for t, c in self.pending if t > now]
                for conn in due:
                    self.open(conn)
            if now - swept > 1.0:
                swept = now
                self.sweep(now)
            if not announced and not todo and all(c.ready for c in self.conns):
                print(f"READY {len(self.conns)}", flush=True)
                announced = True
            if self.args.read_every > 0 and announced:
                # Look at the sockets at most this often: what came meanwhile waits in
                # the kernel and is read in one pass (see main()).
                pause = polled + self.args.read_every - time.time()
                if pause > 0:
                    time.sleep(pause)
                polled = time.time()
            for fd, mask in self.ep.poll(0.05):
                if fd == stdin:
                    chunk = os.read(stdin, 4096)
                    if not chunk:
                        return
                    line += chunk
                    while b"\n" in line:
                        one, line = line.split(b"\n", 1)
                        if not self.command(one.decode()):
                            return
                    continue
                ready = self.by_fd.get(fd)
                if ready is None:
                    continue
                conn = ready
                if mask & select.EPOLLOUT:
                    self.writable(conn)
                elif mask & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR):
                    self.readable(conn, time.time())


def report(conns: list[Conn]) -> dict[str, object]:
    """The process's counters as JSON."""
    last: dict[str, list[int]] = defaultdict(list)
    for conn in conns:
        last[conn.game].append(-1 if conn.last is None else conn.last)
    return {
        "connections": len(conns),
        "connected": sum(1 for c in conns if c.sock is not None),
        "updates": C.updates,
        "snapshots": C.snapshots,
        "lost": C.lost,
        "resnapshot_lost": C.resnapshot_lost,
        "resnapshots": C.resnapshots,
        "duplicates": C.duplicates,
        "reconnects": C.reconnects,
        "refused": dict(C.refused),
        "unmapped": C.unmapped,
        "first": C.first,
        "last": C.last,
        "last_seq": last,
        "pub_ms": C.pub_ms,
        "ingest_ms": C.ingest_ms,
        "emit_ms": C.emit_ms,
        "pub_rx_ms": C.pub_rx_ms,
        "emit_rx_ms": C.emit_rx_ms,
        "poll_ms": C.poll_ms,
        "process_ms": C.process_ms,
        "series": C.series,
        "first_seen": FIRST_SEEN,
    }


def main() -> None:
    """Parse the arguments and run the loop."""
    parser = argparse.ArgumentParser(prog="python -m pressbox.bench.run_clients")
    parser.add_argument("--proto", choices=("sse", "ws"), default="sse")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--games", required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--keys", required=True)
    parser.add_argument("--wave", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=15.0)
    # Reading as soon as a message comes puts each client process to sleep and wakes it
    # again for nearly every message: the sending side then pays the wake-up in its
    # send, and both pay the switches, on the cores the benchmark shares with what it
    # measures. Reading every few milliseconds takes the wake-ups away; each message's
    # latency then includes up to that much of waiting to be read (charged to pressbox).
    parser.add_argument("--read-every", type=float, default=0.0)
    # The kernel's receipt time of each read too (``pub_rx_ms``, ``emit_rx_ms``): about a
    # microsecond more per read, and every packet on the machine gets stamped meanwhile.
    parser.add_argument("--stamps", action="store_true")
    args = parser.parse_args()
    Loop(args).run()


if __name__ == "__main__":
    main()
