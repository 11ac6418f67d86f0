"""CPU per request of httpx's connection pool against aiohttp's, by requests in flight.

Usage::

    .venv/bin/python bench/http_pool.py [--requests 3000] [--in-flight 1,4,16,64] [--json]

A loopback server in a child process (a bare asyncio protocol pinned to the second core,
so that its own work is not counted) answers every GET with the same gzipped JSON body: a
diffPatch answer (``[{"diff": [...]}...]``) adding the real plays of a live-feed document of
the repository's fixtures (``feed_live_744914.json.gz``) one by one until it passes 120 KB,
the size of a diffPatch answer of a game being caught up. This process, pinned to the
first core, sends ``--requests`` GETs from N workers (N in flight) through an
``httpx.AsyncClient`` with httpx's default transport (one pool of up to 100 connections)
and with :class:`pressbox.feeds.transport.AiohttpTransport` (the resilient client's
default: aiohttp's connections under httpx's API), reads each body
(gunzipped by httpx) and drops it. CPU is this process's user + system time
(``time.process_time``) over the requests, after 200 of warm-up; the young-generation
collections are counted over the same requests (``gc.get_stats``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import gzip
import os
import sys
import time
from pathlib import Path

import httpx
import orjson

from pressbox.feeds.transport import AiohttpTransport

ROOT = Path(__file__).resolve().parent.parent
BODY = ROOT / "tests" / "fixtures" / "feeds" / "mlb-gumbo" / "feed_live_744914.json.gz"


def _pin(core: int) -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})


def _body() -> bytes:
    """A diffPatch answer of real plays, just over 120 KB."""
    plays = orjson.loads(gzip.decompress(BODY.read_bytes()))["liveData"]["plays"]["allPlays"]
    steps: list[object] = []
    for index, play in enumerate(plays):
        steps.append(
            {"diff": [{"op": "add", "path": f"/liveData/plays/allPlays/{index}", "value": play}]}
        )
        body = orjson.dumps(steps)
        if len(body) > 120_000:
            return body
    return orjson.dumps(steps)


def _serve(port: int, core: int) -> None:
    """The child: answer every request on ``port`` with the gzipped body, until killed."""
    _pin(core)
    payload = gzip.compress(_body(), 6)
    answer = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\n"
        b"content-length: %d\r\n\r\n" % len(payload)
    ) + payload

    class Answer(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport
            self.buffer = b""

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            while b"\r\n\r\n" in self.buffer:
                _, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
                self.transport.write(answer)  # type: ignore[attr-defined]

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Answer, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


async def _measure(
    url: str, transport: httpx.AsyncBaseTransport | None, n: int, bound: int
) -> tuple[float, float]:
    """CPU milliseconds per request with ``bound`` in flight, and the young-generation
    collections the requests set off per thousand (each a pause of the event loop).

    ``bound`` workers send one request after another, as the pollers of ``bound`` games
    do (not a task per request waiting on a semaphore: thousands of waiting tasks change
    what the collector sees)."""
    async with httpx.AsyncClient(base_url=url, transport=transport) as client:

        async def worker(count: int) -> None:
            for i in range(count):
                response = await client.get(f"/feed?i={i}")
                response.raise_for_status()

        await asyncio.gather(*(worker(max(1, 200 // bound)) for _ in range(bound)))
        per_worker = max(1, n // bound)
        young = gc.get_stats()[0]["collections"]
        cpu = time.process_time()
        await asyncio.gather(*(worker(per_worker) for _ in range(bound)))
        sent = per_worker * bound
        spent = (time.process_time() - cpu) / sent * 1000
        return spent, (gc.get_stats()[0]["collections"] - young) / sent * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--in-flight", default="1,4,16,64")
    parser.add_argument("--port", type=int, default=18766)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    bounds = [int(b) for b in args.in_flight.split(",")]
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    child = os.fork()
    if child == 0:
        try:
            _serve(args.port, cores[-1])
        finally:
            os._exit(0)
    try:
        _pin(cores[0])
        url = f"http://127.0.0.1:{args.port}"
        for _ in range(50):
            try:
                httpx.get(url, timeout=1.0)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        rows = []
        for bound in bounds:
            plain, plain_gc = asyncio.run(_measure(url, None, args.requests, bound))
            aio, aio_gc = asyncio.run(_measure(url, AiohttpTransport(), args.requests, bound))
            rows.append(
                {
                    "in_flight": bound,
                    "httpx_ms": round(plain, 3),
                    "httpx_young_gc_per_1000": round(plain_gc, 1),
                    "aiohttp_ms": round(aio, 3),
                    "aiohttp_young_gc_per_1000": round(aio_gc, 1),
                }
            )
            print(
                f"{bound:>3} in flight: httpx pool {plain:.3f} ms CPU per request "
                f"({plain_gc:.0f} young collections per 1000), "
                f"aiohttp {aio:.3f} ms ({aio_gc:.0f})",
                file=sys.stderr,
            )
        if args.json:
            print(orjson.dumps({"requests": args.requests, "rows": rows}).decode())
    finally:
        os.kill(child, 9)
        os.waitpid(child, 0)


if __name__ == "__main__":
    main()
