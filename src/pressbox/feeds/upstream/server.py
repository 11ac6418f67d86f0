"""Running the simulated upstream with uvicorn, in-process (tests, ``serve --demo``) or as a
command.

:func:`run_upstream` starts the server on loopback in the current event loop and yields
its base URL::

    async with run_upstream(["data/retrosheet"], speed=60, faults="error500=0.1", seed=7,
                            port=0) as base_url:
        ...  # poll f"{base_url}/api/v1/schedule?sportId=1"
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import uvicorn
from starlette.applications import Starlette

from pressbox.feeds.upstream.app import MAX_DIFFS, create_upstream_app
from pressbox.feeds.upstream.data import UpstreamData, load_data
from pressbox.feeds.upstream.faults import FaultSpec, parse_faults
from pressbox.types import Clock

_GRACE_SECONDS = 1.0
"""How long shutdown waits for requests in flight (a hanging one is then cancelled)."""


def build_app(
    data: UpstreamData | Sequence[str | Path],
    *,
    speed: float = 60.0,
    faults: FaultSpec | str = "",
    seed: int = 0,
    clock: Clock | None = None,
    date: str | None = None,
    max_diffs: int = MAX_DIFFS,
) -> Starlette:
    """Load the data when given paths, parse the fault spec, and build the app.

    Raises:
        ValueError: A bad fault spec, speed or date (the message says which).
    """
    spec = parse_faults(faults) if isinstance(faults, str) else faults
    loaded = data if isinstance(data, UpstreamData) else load_data(data)
    return create_upstream_app(
        loaded, speed=speed, faults=spec, seed=seed, clock=clock, date=date, max_diffs=max_diffs
    )


def make_server(app: Starlette, host: str = "127.0.0.1", port: int = 0) -> uvicorn.Server:
    """A uvicorn server for the app, quiet, without lifespan, with a short shutdown grace."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=logging.WARNING,
        lifespan="off",
        access_log=False,
        timeout_graceful_shutdown=math.ceil(_GRACE_SECONDS),
    )
    return uvicorn.Server(config)


def bound_port(server: uvicorn.Server) -> int:
    """The port the started server listens on (useful with ``port=0``)."""
    for srv in server.servers:
        for sock in srv.sockets:
            port: int = sock.getsockname()[1]
            return port
    raise RuntimeError("the server is not listening")


@asynccontextmanager
async def run_upstream(
    data: UpstreamData | Sequence[str | Path],
    speed: float = 60.0,
    faults: FaultSpec | str = "",
    seed: int = 0,
    *,
    clock: Clock | None = None,
    date: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
) -> AsyncIterator[str]:
    """Serve the simulated upstream while the block runs.

    Args:
        data: Loaded data, or Retrosheet / GameCenter paths to load.
        speed: Game seconds per real second (``0``: everything out at once).
        faults: A fault spec (string, TOML path or :class:`FaultSpec`).
        seed: Seed of the fault decisions.
        clock: Time source of the replay (a manual clock in tests).
        date: Replay this day; ``None`` replays every game from now.
        host: Interface to bind (loopback by default).
        port: Port, ``0`` for any free one.

    Yields:
        The base URL, ``http://127.0.0.1:PORT``.

    Raises:
        ValueError: A bad fault spec, speed or date.
    """
    app = build_app(data, speed=speed, faults=faults, seed=seed, clock=clock, date=date)
    server = make_server(app, host, port)
    server.config.setup_event_loop = lambda: None  # type: ignore[method-assign]
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        with anyio.fail_after(10):
            # uvicorn only exposes a flag for "listening"; poll it briefly.
            while not server.started:  # noqa: ASYNC110
                await anyio.sleep(0.01)
        try:
            yield f"http://{host}:{bound_port(server)}"
        finally:
            server.should_exit = True
