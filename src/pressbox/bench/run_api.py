"""A game-night API load process: REST requests on a fixed schedule, by endpoint and tier.

``python -m pressbox.bench.run_api --port P --rps R --games A,B --keys TIER:TOKEN,...
--workers W --max-conns M`` sends request ``i`` at ``t0 + i / R`` whatever became of the
earlier ones (an **open loop**: a slow server does not lower the rate sent, as it would
with connections that each wait for their answer). Each request takes an idle keep-alive
HTTP/1.1 connection, or opens a new one (``W`` are opened up front); with ``M`` connections
busy, the request is not sent and is counted as ``unsent`` (the load generator's own
limit, reported apart from the server's answers). Latency runs from the request's
scheduled time, so time spent waiting for a connection counts (no coordinated omission);
``send_lag_ms`` is how late the generator itself sent each request (its own lag: when it
grows the generator, not the server, is the bottleneck).
Request ``i`` goes to an endpoint and a tier drawn from a fixed mix (:data:`ENDPOINTS`,
:data:`TIER_SHARE`) with a key of that tier. It prints ``READY`` once connected and, on
``REPORT`` (stdin), one JSON line: per endpoint and tier, the status counts (and how many
of the 200s were older answers given under overload) and a latency
histogram (whole ms), and the counts of requests scheduled, sent, answered and unsent.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import cast

from pressbox.bench import loops
from pressbox.bench.loops import LOOPS

ENDPOINTS: tuple[tuple[str, str, int], ...] = (
    ("predict", "/v1/predict/mlb/{game}", 50),
    ("game", "/v1/games/{game}", 25),
    ("plays", "/v1/games/{game}/plays?since=0&limit=20", 15),
    ("latest", "/v1/predictions/latest", 10),
)
"""Name, path and weight of each endpoint in the mix: the hot prediction route first."""

TIER_SHARE: dict[str, float] = {"enterprise": 0.6, "pro": 0.3, "starter": 0.08, "community": 0.02}
"""Share of the requests sent with each tier's keys."""

KEEP_ALIVE_S = 4.0
"""Longest a connection is kept idle for reuse: under uvicorn's 5 s keep-alive timeout."""

ANSWER_TIMEOUT = 10.0
"""Seconds a request may wait for its answer before it counts as a client error."""


class Recorder:
    """Status counts and latency histograms by (endpoint, tier), and the schedule's fate."""

    def __init__(self) -> None:
        self.measuring = False
        self.status: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.stale: dict[str, int] = defaultdict(int)
        self.slowest: dict[int, int] = {}
        """The slowest answer's latency (ms) by the wall-clock second it came in."""
        self.ms: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        self.send_lag_ms: dict[int, int] = defaultdict(int)
        self.errors: dict[str, int] = defaultdict(int)
        self.scheduled = 0
        self.sent = 0
        self.answered = 0
        self.unsent = 0
        self.most_connections = 0
        self.first: float | None = None
        self.last: float | None = None

    def record(
        self, label: str, status: str, seconds: float, now: float, *, stale: bool = False
    ) -> None:
        """Count one answer (only while measuring)."""
        if not self.measuring:
            return
        self.answered += 1
        if self.first is None:
            self.first = now
        self.last = now
        self.status[label][status] += 1
        if stale:
            self.stale[label] += 1
        ms = int(seconds * 1000)
        second = int(now)
        if ms > self.slowest.get(second, -1):
            self.slowest[second] = ms
        self.ms[label][ms] += 1


R = Recorder()


def parse_response(buf: bytearray) -> tuple[str, bool, int] | None:
    """The first complete HTTP/1.1 response in ``buf``: its status code, whether it is an
    older answer given under overload (``Cache-Status`` with a ``detail``, docs/api.md), and
    how many bytes it takes; ``None`` while it is incomplete."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buf[:end])
    status = head[9:12].decode()
    length = 0
    chunked = False
    stale = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        lower = name.strip().lower()
        if lower == b"content-length":
            length = int(value)
        elif lower == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif lower == b"cache-status" and b"detail=" in value:
            stale = True
    pos = end + 4
    if not chunked:
        return (status, stale, pos + length) if len(buf) >= pos + length else None
    while True:
        line_end = buf.find(b"\r\n", pos)
        if line_end < 0:
            return None
        size = int(bytes(buf[pos:line_end]).split(b";")[0], 16)
        pos = line_end + 2 + size + 2
        if len(buf) < pos:
            return None
        if size == 0:
            return status, stale, pos


class Http(asyncio.Protocol):
    """One keep-alive connection: one request at a time, its answer parsed as it comes.

    A protocol, not asyncio streams and a task per request: the generator shares the
    machine with the server it loads, and a task, a timeout scope and the streams' reads
    per request cost it several times the CPU of these callbacks.
    """

    def __init__(self, load: Load) -> None:
        self.load = load
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.request: tuple[str, float, bool] | None = None
        """Label, scheduled time and whether measured, of the request awaiting its answer."""
        self.sent_at = 0.0
        self.dropped = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.request is None:
            return
        try:
            parsed = parse_response(self.buf)
        except ValueError:
            self.load.failed(self, "ValueError")
            return
        if parsed is not None:
            status, stale, used = parsed
            del self.buf[:used]
            self.load.answered(self, status, stale)

    def eof_received(self) -> bool | None:
        self.load.failed(self, "IncompleteReadError")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.load.failed(self, type(exc).__name__ if exc else "IncompleteReadError")


class Load:
    """The schedule, the connection pool and the requests in flight."""

    def __init__(self, args: argparse.Namespace, keys: dict[str, list[str]]) -> None:
        self.args = args
        self.keys = keys
        self.rng = random.Random(0)
        self.games = args.games.split(",")
        self.names = [e for e in ENDPOINTS for _ in range(e[2])]
        self.tiers = [t for t in TIER_SHARE if keys.get(t)]
        self.weights = [TIER_SHARE[t] for t in self.tiers]
        self.idle: deque[tuple[Http, float]] = deque()
        """Idle connections and when each became idle, the most recent last."""
        self.connections = 0
        self.tasks: set[asyncio.Task[None]] = set()
        """Connections being opened, each for the request that found none idle."""
        self.conns: set[Http] = set()

    async def connect(self) -> Http:
        """A new connection, counted against ``--max-conns``."""
        self.connections += 1
        R.most_connections = max(R.most_connections, self.connections)
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(lambda: Http(self), "127.0.0.1", self.args.port)
        except OSError:
            self.connections -= 1
            raise
        self.conns.add(conn)
        return conn

    async def warm(self) -> None:
        """Open ``--workers`` connections up front."""
        for conn in await asyncio.gather(*(self.connect() for _ in range(self.args.workers))):
            self.idle.append((conn, time.monotonic()))

    def next_request(self) -> tuple[str, bytes]:
        """The label and bytes of the next request of the mix."""
        name, path, _ = self.rng.choice(self.names)
        tier = self.rng.choices(self.tiers, self.weights)[0]
        key = self.rng.choice(self.keys[tier])
        target = path.format(game=self.rng.choice(self.games))
        request = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {key}\r\n\r\n"
        return f"{name}|{tier}", request.encode()

    def take_idle(self) -> Http | None:
        """The most recently used idle connection, if one was used within
        :data:`KEEP_ALIVE_S`; older ones are closed (the server may have closed them
        already: a real client would not send on them either)."""
        now = time.monotonic()
        while self.idle:
            conn, since = self.idle.pop()
            if conn.dropped:
                continue
            if now - since < KEEP_ALIVE_S:
                return conn
            self.drop(conn)
        return None

    def drop(self, conn: Http) -> None:
        """Close a connection (at once) and stop counting it."""
        if conn.dropped:
            return
        conn.dropped = True
        self.conns.discard(conn)
        self.connections -= 1
        if conn.transport is not None:
            conn.transport.abort()

    def send(self, conn: Http, label: str, request: bytes, due: float, measured: bool) -> None:
        """Send one request on a connection with none in flight."""
        now = time.monotonic()
        if measured:
            R.sent += 1
            R.send_lag_ms[int((now - due) * 1000)] += 1
        conn.request = (label, due, measured)
        conn.sent_at = now
        if conn.transport is not None:
            conn.transport.write(request)

    async def send_on_new(self, label: str, request: bytes, due: float, measured: bool) -> None:
        """Open a connection for a request that found none idle, and send it."""
        try:
            conn = await self.connect()
        except OSError as exc:
            if measured:
                R.errors[type(exc).__name__] += 1
            return
        self.send(conn, label, request, due, measured)

    def answered(self, conn: Http, status: str, stale: bool) -> None:
        """The answer to a connection's request came: record it, keep the connection."""
        request, conn.request = conn.request, None
        now = time.monotonic()
        self.idle.append((conn, now))
        if request is not None and request[2]:
            R.record(request[0], status, now - request[1], time.time(), stale=stale)

    def failed(self, conn: Http, error: str) -> None:
        """The connection broke (or sent what is not HTTP): count its request, drop it."""
        if conn.dropped:
            return
        if conn.request is not None and conn.request[2]:
            R.errors[error] += 1
        conn.request = None
        self.drop(conn)

    def expire(self, now: float) -> None:
        """Give up the requests that waited :data:`ANSWER_TIMEOUT` for their answer."""
        late = [c for c in self.conns if c.request is not None and now - c.sent_at > ANSWER_TIMEOUT]
        for conn in late:
            self.failed(conn, "TimeoutError")

    async def aclose(self) -> None:
        """Cancel the connections being opened and close every connection."""
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        # Abort, not close: a close waits to flush what an overloaded server is not reading.
        for conn in list(self.conns):
            self.drop(conn)

    async def run(self) -> None:
        """Send on the schedule until cancelled: each turn of the loop sends every request
        due by then (a paced loop turns about once a millisecond, whatever the rate)."""
        interval = 1.0 / self.args.rps
        due = time.monotonic()
        expired = due
        while True:
            # Behind schedule, still yield: the answers and the commands share this loop.
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            now = time.monotonic()
            while due <= now:
                self.one(due)
                due += interval
            if now - expired > 0.25:
                expired = now
                self.expire(now)

    def one(self, due: float) -> None:
        """Send the request due at ``due`` (or count it unsent)."""
        label, request = self.next_request()
        measured = R.measuring
        R.scheduled += measured
        conn = self.take_idle()
        if conn is not None:
            self.send(conn, label, request, due, measured)
        elif self.connections >= self.args.max_conns:
            R.unsent += measured
        else:
            task = asyncio.create_task(self.send_on_new(label, request, due, measured))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)


def report() -> dict[str, object]:
    """The counters as JSON."""
    return {
        "scheduled": R.scheduled,
        "sent": R.sent,
        "answered": R.answered,
        "unsent": R.unsent,
        "most_connections": R.most_connections,
        "first": R.first,
        "last": R.last,
        "errors": dict(R.errors),
        "status": R.status,
        "stale": R.stale,
        "slowest_ms_by_second": R.slowest,
        "ms": R.ms,
        "send_lag_ms": R.send_lag_ms,
    }


def pace(loop: asyncio.AbstractEventLoop, every: float) -> Callable[[], None]:
    """Keep the loop from sleeping in ``epoll_wait``: each turn sleeps ``every`` seconds in
    ``time.sleep`` and then looks at its sockets without waiting.

    Asleep in ``epoll_wait``, the process would be woken by nearly every answer, and the
    server's send of that answer pays for the wake-up, on the cores the generator shares
    with the server (as the client processes' ``--read-every``). An answer then waits up to
    ``every`` to be read, and a request up to ``every`` to be sent: both are counted in its
    latency (it runs from the request's due time). Returns the function that stops it.
    """
    handle: list[asyncio.Handle] = []

    def turn() -> None:
        time.sleep(every)
        handle[0] = loop.call_soon(turn)

    handle.append(loop.call_soon(turn))
    return lambda: handle[0].cancel()


async def run(args: argparse.Namespace) -> None:
    """Open the first connections, send on the schedule, follow the stdin commands."""
    keys: dict[str, list[str]] = defaultdict(list)
    for item in args.keys.split(","):
        tier, _, token = item.partition(":")
        keys[tier].append(token)
    load = Load(args, keys)
    await load.warm()
    if args.pace > 0:
        pace(asyncio.get_running_loop(), args.pace)
    sender = asyncio.create_task(load.run())
    print("READY", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().strip()
        if not line or line == "REPORT":
            break
        if line.startswith("MEASURE"):
            R.measuring = True
    R.measuring = False
    sender.cancel()
    # The report first: tearing down a thousand connections must not hold it up.
    print(json.dumps(report()), flush=True)
    await asyncio.gather(sender, return_exceptions=True)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(5):
            await load.aclose()


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(prog="python -m pressbox.bench.run_api")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rps", type=float, required=True)
    parser.add_argument("--games", required=True)
    parser.add_argument("--keys", required=True)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--max-conns", type=int, default=1024)
    parser.add_argument("--loop", choices=LOOPS, default="auto")
    parser.add_argument("--pace", type=float, default=0.001)
    args = parser.parse_args()
    # uvloop by default: asyncio's own transports read with a 256 KiB recv() each time,
    # which allocates and frees that much per answer (about 20 µs of CPU on this machine).
    loops.run(run(args), args.loop)


if __name__ == "__main__":
    main()
