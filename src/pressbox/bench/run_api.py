"""A game-night API load process: REST requests at a target rate, by endpoint and tier.

``python -m pressbox.bench.run_api --port P --rps R --games A,B --keys TIER:TOKEN,...
--workers W`` keeps ``W`` keep-alive HTTP/1.1 connections, each sending on its own fixed
schedule (``R / W`` requests a second; a late answer makes the next request go at once).
A connection waits for each answer (HTTP/1.1 without pipelining), so answers slower than
``W / R`` seconds lower the rate actually sent: the report's answered rate says so.
Request ``i`` of a worker goes to an
endpoint and a tier drawn from a fixed mix (:data:`ENDPOINTS`, :data:`TIER_SHARE`) with a
key of that tier. It prints ``READY`` once connected and, on ``REPORT`` (stdin), one JSON
line: per endpoint and tier, the status counts and a latency histogram (whole ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections import defaultdict

ENDPOINTS: tuple[tuple[str, str, int], ...] = (
    ("predict", "/v1/predict/mlb/{game}", 50),
    ("game", "/v1/games/{game}", 25),
    ("plays", "/v1/games/{game}/plays?since=0&limit=20", 15),
    ("latest", "/v1/predictions/latest", 10),
)
"""Name, path and weight of each endpoint in the mix: the hot prediction route first."""

TIER_SHARE: dict[str, float] = {"enterprise": 0.6, "pro": 0.3, "starter": 0.08, "community": 0.02}
"""Share of the requests sent with each tier's keys."""


class Recorder:
    """Status counts and latency histograms by (endpoint, tier)."""

    def __init__(self) -> None:
        self.measuring = False
        self.status: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.ms: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        self.errors: dict[str, int] = defaultdict(int)
        self.sent = 0
        self.first: float | None = None
        self.last: float | None = None

    def record(self, label: str, status: str, seconds: float, now: float) -> None:
        """Count one answer (only while measuring)."""
        if not self.measuring:
            return
        self.sent += 1
        if self.first is None:
            self.first = now
        self.last = now
        self.status[label][status] += 1
        self.ms[label][int(seconds * 1000)] += 1


R = Recorder()


async def read_response(reader: asyncio.StreamReader) -> str:
    """Read one HTTP/1.1 response; its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = head[9:12].decode()
    length = 0
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        lower = name.strip().lower()
        if lower == b"content-length":
            length = int(value)
        elif lower == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


async def worker(
    index: int, args: argparse.Namespace, keys: dict[str, list[str]], ready: asyncio.Event
) -> None:
    """Send this worker's share of the requests on its schedule, reconnecting on errors."""
    rng = random.Random(index)
    games = args.games.split(",")
    names = [e for e in ENDPOINTS for _ in range(e[2])]
    tiers = [t for t in TIER_SHARE if keys.get(t)]
    weights = [TIER_SHARE[t] for t in tiers]
    interval = args.workers / args.rps
    reader, writer = await asyncio.open_connection("127.0.0.1", args.port)
    ready.set()
    next_at = time.monotonic() + rng.random() * interval
    while True:
        delay = next_at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        next_at += interval
        name, path, _ = rng.choice(names)
        tier = rng.choices(tiers, weights)[0]
        key = rng.choice(keys[tier])
        target = path.format(game=rng.choice(games))
        request = (f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {key}\r\n\r\n").encode()
        start = time.monotonic()
        try:
            writer.write(request)
            status = await asyncio.wait_for(read_response(reader), 10.0)
        except (
            OSError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            TimeoutError,
        ) as exc:
            R.errors[type(exc).__name__] += 1
            writer.close()
            await asyncio.sleep(0.1)
            reader, writer = await asyncio.open_connection("127.0.0.1", args.port)
            continue
        now = time.monotonic()
        R.record(f"{name}|{tier}", status, now - start, time.time())


def report() -> dict[str, object]:
    """The counters as JSON."""
    return {
        "sent": R.sent,
        "first": R.first,
        "last": R.last,
        "errors": dict(R.errors),
        "status": R.status,
        "ms": R.ms,
    }


async def run(args: argparse.Namespace) -> None:
    """Start the workers, then follow the stdin commands."""
    keys: dict[str, list[str]] = defaultdict(list)
    for item in args.keys.split(","):
        tier, _, token = item.partition(":")
        keys[tier].append(token)
    events = [asyncio.Event() for _ in range(args.workers)]
    tasks = [asyncio.create_task(worker(i, args, keys, e)) for i, e in enumerate(events)]
    await asyncio.gather(*(e.wait() for e in events))
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
    for task in tasks:
        task.cancel()
    print(json.dumps(report()), flush=True)


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(prog="python -m pressbox.bench.run_api")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rps", type=float, required=True)
    parser.add_argument("--games", required=True)
    parser.add_argument("--keys", required=True)
    parser.add_argument("--workers", type=int, default=16)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
