"""``pressbox serve`` (every role in one process), ``pressbox api`` and ``pressbox gateway``.

Each runs uvicorn with :func:`pressbox.api.app.create_app` and the process's roles:

- ``serve``: ingest (replaying real games), process, delivery and the REST API in one
  process on the embedded defaults; the booth dashboard is at ``/``.
- ``api``: the REST API only (``--workers N`` runs N processes; give them
  ``PRESSBOX_CACHE_URL=redis://...`` so that they share rate limits and the cache).
- ``gateway``: delivery only (SSE, WebSocket, graphics).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict

import typer
import uvicorn

from pressbox.api.app import Roles, create_app
from pressbox.api.settings import ApiSettings
from pressbox.cli._common import configure_logging
from pressbox.config import Settings
from pressbox.delivery import expose_transport
from pressbox.listen import listening_sockets

HostOpt = Annotated[str | None, typer.Option(help="Address to listen on (default: settings).")]
PortOpt = Annotated[
    int | None, typer.Option(help="Port to listen on (default: settings).", min=0, max=65535)
]


SERVE_MAX_LAG_S = 0.25
"""Loop lag at full pressure for ``serve``, where every role shares one event loop."""

HttpImpl = Literal["auto", "httptools", "h11"]
LoopImpl = Literal["auto", "uvloop", "asyncio"]

HttpOpt = Annotated[
    HttpImpl,
    typer.Option(
        help="HTTP/1.1 parser: httptools (C; with uvloop about 3x the requests per CPU "
        "second of h11 with asyncio), h11, or auto (httptools when installed)."
    ),
]
LoopOpt = Annotated[
    LoopImpl,
    typer.Option(help="Event loop: uvloop, asyncio, or auto (uvloop when installed)."),
]

WS_IMPL = "websockets-sansio"
"""uvicorn's WebSocket protocol: delivery writes frames straight to its transport."""


class ServerOptions(TypedDict):
    """The uvicorn arguments that choose the server's implementation."""

    http: str
    loop: str
    ws: str


def server_options(http: HttpImpl = "auto", loop: LoopImpl = "auto") -> ServerOptions:
    """The uvicorn keyword arguments choosing the HTTP parser, event loop and WebSocket.

    Args:
        http: ``"httptools"``, ``"h11"`` or ``"auto"``: httptools when it can be imported.
        loop: ``"uvloop"``, ``"asyncio"`` or ``"auto"``: uvloop when it can be imported.

    Returns:
        ``{"http": ..., "loop": ..., "ws": "websockets-sansio"}``, every choice explicit.

    Raises:
        typer.Exit: (code 2) ``httptools`` or ``uvloop`` was asked for and is not installed.
    """
    if http == "auto":
        http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    if loop == "auto":
        loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    for chosen in (http, loop):
        if chosen in ("httptools", "uvloop") and importlib.util.find_spec(chosen) is None:
            typer.echo(f"pressbox: {chosen} is not installed (pip install {chosen})", err=True)
            raise typer.Exit(2)
    return ServerOptions(http=http, loop=loop, ws=WS_IMPL)


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValueError as exc:
        typer.echo(f"pressbox: bad settings: {exc}", err=True)
        raise typer.Exit(2) from exc


def _api_settings(**overrides: Any) -> ApiSettings:
    try:
        return ApiSettings(**overrides)
    except ValueError as exc:
        typer.echo(f"pressbox: bad API settings: {exc}", err=True)
        raise typer.Exit(2) from exc


def run_server(target: Any, *, host: str, port: int, **options: Any) -> None:
    """``uvicorn.run(target, host=..., port=..., **options)``, listening on a group of
    sockets (:mod:`pressbox.listen`: a busy loop accepts one connection per socket per turn).

    Raises:
        typer.Exit: (code 1) the address cannot be listened on, with the reason.
    """
    config = uvicorn.Config(target, host=host, port=port, **options)
    try:
        sockets = listening_sockets(host, port, backlog=config.backlog)
    except OSError as exc:
        typer.echo(f"pressbox: cannot listen on {host}:{port}: {exc}", err=True)
        raise typer.Exit(1) from exc
    uvicorn.Server(config).run(sockets=sockets)


def _run(app: Any, settings: Settings, banner: str, server: ServerOptions) -> None:
    typer.echo(f"{banner}: http://{settings.host}:{settings.port}/", err=True)
    try:
        run_server(
            expose_transport(app),
            host=settings.host,
            port=settings.port,
            log_level="warning",
            lifespan="on",
            **server,
        )
    except KeyboardInterrupt:  # pragma: no cover - interactive stop
        sys.exit(130)


def api_app() -> Any:
    """The REST API app from the environment (the uvicorn factory of ``api --workers``)."""
    configure_logging()
    return expose_transport(create_app(Settings(), roles=Roles(api=True)))


def api(
    host: HostOpt = None,
    port: PortOpt = None,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1, max=64)] = 1,
    http: HttpOpt = "auto",
    loop: LoopOpt = "auto",
) -> None:
    """Serve the REST API (the api role)."""
    configure_logging()
    settings = _settings(host=host, port=port)
    server = server_options(http, loop)
    if workers == 1:
        _run(create_app(settings, roles=Roles(api=True)), settings, "api", server)
        return
    if not settings.cache_url.startswith(("redis://", "rediss://")):
        typer.echo(
            "pressbox api: several workers need PRESSBOX_CACHE_URL=redis://... to share "
            "rate limits and the cache",
            err=True,
        )
        raise typer.Exit(2)
    typer.echo(f"api: http://{settings.host}:{settings.port}/ ({workers} workers)", err=True)
    uvicorn.run(
        "pressbox.cli.api:api_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level="warning",
        **server,
    )


def gateway(
    host: HostOpt = None, port: PortOpt = None, http: HttpOpt = "auto", loop: LoopOpt = "auto"
) -> None:
    """Serve live delivery: SSE, WebSocket and graphics (the gateway role)."""
    configure_logging()
    settings = _settings(host=host, port=port)
    app = create_app(settings, roles=Roles(api=False, gateway=True))
    _run(app, settings, "gateway", server_options(http, loop))


def serve(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Retrosheet event files or folders (default: the bundled games)."),
    ] = None,
    demo: Annotated[
        bool, typer.Option(help="Keyless reads for the booth page (public mode) on.")
    ] = False,
    host: HostOpt = None,
    port: PortOpt = None,
    speed: Annotated[
        float | None,
        typer.Option(help="Divide real between-play gaps by this; 0 = as fast as possible.", min=0),
    ] = None,
    upstream: Annotated[
        str | None,
        typer.Option(
            help="Poll every game of the day from this MLB Stats API base URL instead of "
            "replaying files."
        ),
    ] = None,
    via_upstream: Annotated[
        bool,
        typer.Option(
            "--via-upstream/--direct",
            help="With --demo: serve the games from the simulated upstream in this process "
            "and poll them over HTTP, the path live data takes (default); --direct replays "
            "the files straight into the log.",
        ),
    ] = True,
    http: HttpOpt = "auto",
    loop: LoopOpt = "auto",
) -> None:
    """Run everything in one process: ingest, processing, delivery and the API."""
    configure_logging()
    settings = _settings(host=host, port=port)
    api_settings = _api_settings(public=True) if demo else _api_settings()
    if "max_lag_s" not in api_settings.model_fields_set:
        # Replay and processing share this process's loop: only a lasting lag sheds.
        api_settings = api_settings.model_copy(update={"max_lag_s": SERVE_MAX_LAG_S})
    files = [str(p) for p in paths or []]
    server = server_options(http, loop)
    if demo and via_upstream and upstream is None:
        pace = settings.replay_speed if speed is None else speed
        with simulated_upstream(files, pace) as url:
            typer.echo(f"upstream: {url}", err=True)
            roles = Roles.everything(files, speed, upstream_url=url, poll_interval=1.0)
            _run(
                create_app(settings, roles=roles, api_settings=api_settings),
                settings,
                "dashboard",
                server,
            )
        return
    roles = Roles.everything(files, speed, upstream_url=upstream)
    app = create_app(settings, roles=roles, api_settings=api_settings)
    _run(app, settings, "dashboard", server)


@contextlib.contextmanager
def simulated_upstream(paths: list[str], speed: float) -> Iterator[str]:
    """Serve the bundled (or given) games as a Stats API on loopback, from a thread.

    The upstream gets its own thread and event loop so that the pipeline's load never
    slows the feed it polls, as with a real upstream.
    """
    from pressbox.feeds.upstream import run_upstream
    from pressbox.service import BUNDLED_DATA

    ready = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        stop = asyncio.Event()
        async with run_upstream(paths or [str(BUNDLED_DATA)], speed=speed, port=0) as url:
            box.update(url=url, stop=stop, loop=asyncio.get_running_loop())
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    if not ready.wait(60):
        typer.echo("pressbox: the simulated upstream did not start", err=True)
        raise typer.Exit(1)
    try:
        yield str(box["url"])
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(5)


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add ``serve``, ``api`` and ``gateway``."""
    del groups
    app.command("serve")(serve)
    app.command("api")(api)
    app.command("gateway")(gateway)
