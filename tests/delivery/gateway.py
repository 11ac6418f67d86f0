"""A tiny gateway that serves the delivery routes over a bus URL (tests and benchmarks).

Run as ``python -m tests.delivery.gateway --bus redis://...``: it prints ``PORT <n>``
once it listens on 127.0.0.1, and serves until SIGTERM/SIGINT. Tests in the same process
use :func:`build_app` and :func:`serving`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import socket
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from prometheus_client import CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pressbox.bus import EventBus, from_url
from pressbox.delivery import (
    GraphicsBoard,
    Hub,
    Limits,
    Policy,
    SSEStream,
    delivery_routes,
    expose_transport,
    with_streams,
)


class GCPauses:
    """Times every collection of the cyclic garbage collector, per generation (bench)."""

    def __init__(self) -> None:
        self.reset()
        self._started = 0.0

    def reset(self) -> None:
        """Start counting anew."""
        self.count = [0, 0, 0]
        self.total_s = [0.0, 0.0, 0.0]
        self.max_s = [0.0, 0.0, 0.0]

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause = time.perf_counter() - self._started
        gen = info["generation"]
        self.count[gen] += 1
        self.total_s[gen] += pause
        self.max_s[gen] = max(self.max_s[gen], pause)

    def report(self) -> dict[str, list[float]]:
        """Collections, total and longest pause (ms) per generation since the last reset."""
        return {
            "count": list(self.count),
            "total_ms": [round(t * 1000, 2) for t in self.total_s],
            "max_ms": [round(t * 1000, 2) for t in self.max_s],
        }


def build_app(
    bus: EventBus,
    *,
    policy: Policy | None = None,
    limits: Limits | None = None,
    own_bus: bool = False,
    state: dict[str, Any] | None = None,
    gate: bool = True,
    direct: bool = True,
    gc_freeze_s: float = 0.0,
    registry: CollectorRegistry | None = None,
    gc_pauses: GCPauses | None = None,
    writers: int = 0,
) -> Any:
    """A Starlette app serving the delivery routes; the hub runs in its lifespan.

    Args:
        bus: The event log (opened by the lifespan when ``own_bus``).
        policy: The hub's slow-client policy.
        limits: The hub's connection limits.
        own_bus: Open and close ``bus`` in the lifespan.
        state: Receives the hub under ``"hub"``.
        gate: Serve SSE in front of the app (:func:`with_streams`), else only as routes.
        direct: Let the hub write to uvicorn's transports (else queue per connection).
        gc_freeze_s: Every this many seconds move every object alive to the collector's
            permanent generation (``gc.freeze``), so that full collections do not walk
            the thousands of idle connections again and again (0: never).
        registry: The hub's Prometheus registry, served at ``/metrics`` (a fresh one
            when ``None``).
        gc_pauses: Reported under ``"gc"`` by ``/stats`` (``?reset=1`` starts anew).
        writers: The hub's writer processes (:mod:`pressbox.delivery.writers`).
    """
    state = {} if state is None else state
    registry = CollectorRegistry() if registry is None else registry
    hub = Hub(bus, policy=policy, limits=limits, registry=registry, writers=writers)
    board = GraphicsBoard(hub)
    state["hub"] = hub

    async def stats(request: Request) -> JSONResponse:
        s = hub.stats
        gc_report = gc_pauses.report() if gc_pauses is not None else None
        if gc_pauses is not None and request.query_params.get("reset"):
            gc_pauses.reset()
        return JSONResponse(
            {
                "gc": gc_report,
                "connections": s.connections,
                "updates": s.updates,
                "messages": s.messages,
                "resnapshots": s.resnapshots,
                "slow_disconnects": s.slow_disconnects,
                "refused": s.refused,
                "lagging": s.lagging,
                "reaped": s.reaped,
            }
        )

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if own_bus:
                await stack.enter_async_context(bus)
            await stack.enter_async_context(hub)
            async with asyncio.TaskGroup() as tg:
                freezer = tg.create_task(_freeze(gc_freeze_s)) if gc_freeze_s > 0 else None
                yield
                if freezer is not None:
                    freezer.cancel()

    routes = [
        Route("/stats", stats),
        Route("/metrics", metrics),
        *delivery_routes(hub, board=board, direct=direct),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    if gate:
        return with_streams(app, SSEStream(hub, direct=direct))
    return expose_transport(app)


async def _freeze(every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        gc.freeze()


def listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(4096)
    return sock


@contextlib.asynccontextmanager
async def serving(app: Any, **config: Any) -> AsyncIterator[tuple[uvicorn.Server, int]]:
    """Run uvicorn on a loopback port in this event loop; yields the server and port."""
    sock = listening_socket()
    port = sock.getsockname()[1]
    cfg = uvicorn.Config(app, log_level="warning", lifespan="on", ws="websockets-sansio", **config)
    server = uvicorn.Server(cfg)
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield server, port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)
        sock.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bus", required=True)
    parser.add_argument("--max-connections", type=int, default=18_000)
    parser.add_argument("--http", default="h11", help="uvicorn's HTTP: h11 or httptools")
    parser.add_argument("--loop", default="auto", help="uvicorn's loop: auto, asyncio or uvloop")
    parser.add_argument("--profile", help="write a cProfile of the run to this file")
    parser.add_argument("--gc-freeze-s", type=float, default=0.0)
    parser.add_argument(
        "--gc-threshold", help="gc.set_threshold, e.g. 700,10,100 (default: Python's)"
    )
    args = parser.parse_args()
    if args.gc_threshold:
        gc.set_threshold(*(int(x) for x in args.gc_threshold.split(",")))
    pauses = GCPauses()
    gc.callbacks.append(pauses)
    sock = listening_socket()
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    app = build_app(
        from_url(args.bus),
        own_bus=True,
        gc_freeze_s=args.gc_freeze_s,
        gc_pauses=pauses,
        limits=Limits(max_connections=args.max_connections, max_per_key=100_000),
    )
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="on",
        http=args.http,
        loop=args.loop,
        ws="websockets-sansio",
        ws_ping_interval=10.0,
        ws_ping_timeout=10.0,
        backlog=4096,
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    if args.profile:
        import cProfile
        import signal

        def stop(signum: int, frame: Any) -> None:
            raise SystemExit(0)

        # uvicorn re-raises the signal it stopped on: end with SystemExit, then dump.
        signal.signal(signal.SIGTERM, stop)
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            server.run(sockets=[sock])
        finally:
            profiler.disable()
            profiler.dump_stats(args.profile)
    else:
        server.run(sockets=[sock])
    sys.exit(0)


if __name__ == "__main__":
    main()
