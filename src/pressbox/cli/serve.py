"""The roles as commands: ``serve`` (everything in one process), ``ingest`` and ``process``.

Each reads its backends from the settings (``PRESSBOX_LOG_URL``, ``PRESSBOX_ARCHIVE_URL``,
``PRESSBOX_CACHE_URL``), so the same code runs embedded or spread over machines.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from pressbox.cli._common import configure_logging
from pressbox.config import Settings
from pressbox.service import ProcessorPool, Service

PathsArg = Annotated[
    list[Path] | None,
    typer.Argument(help="Retrosheet event files or folders (default: the bundled games)."),
]
SpeedOpt = Annotated[
    float | None,
    typer.Option(help="Divide real between-play gaps by this; 0 = as fast as possible.", min=0),
]
GamesOpt = Annotated[int | None, typer.Option(help="Replay at most this many games.", min=1)]


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:
        typer.echo(f"pressbox: bad settings: {exc}", err=True)
        raise typer.Exit(2) from exc


UpstreamOpt = Annotated[
    str | None,
    typer.Option(
        help="Poll every game of the day from this MLB Stats API base URL (or `pressbox "
        "upstream`) instead of replaying files."
    ),
]


def ingest(
    paths: PathsArg = None,
    speed: SpeedOpt = None,
    games: GamesOpt = None,
    upstream: UpstreamOpt = None,
) -> None:
    """Put games into the event log (the ingest role): replayed files or a polled upstream."""
    configure_logging()
    settings = _settings()

    async def main() -> str:
        async with Service(settings) as service:
            if upstream:
                report = await service.ingest_upstream(upstream)
                return f"{len(report.games)} games followed ({report.stats})"
            appended = await service.replay(paths, speed=speed, games=games)
            return f"{appended} events appended"

    outcome = asyncio.run(main())
    typer.echo(f"ingest: {outcome} to {settings.log_url}", err=True)


def process(
    until_idle: Annotated[
        bool, typer.Option(help="Stop once every game taken is final and none is new.")
    ] = False,
    consumer: Annotated[
        str | None, typer.Option(help="This processor's name in the group (default host-pid).")
    ] = None,
    heartbeat: Annotated[
        float, typer.Option(help="Seconds between claim heartbeats.", min=0.05)
    ] = 1.0,
    takeover: Annotated[
        float, typer.Option(help="Idle seconds after which another processor's game is taken.")
    ] = 5.0,
) -> None:
    """Process games from the event log into updates and the archive (the process role)."""
    configure_logging()
    settings = _settings()

    async def main() -> None:
        async with Service(settings) as service:
            pool = ProcessorPool(
                service, consumer=consumer, heartbeat_s=heartbeat, takeover_s=takeover
            )
            await pool.run(until_idle=until_idle)

    try:
        asyncio.run(main())
    except KeyboardInterrupt:  # pragma: no cover - interactive stop
        sys.exit(130)


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add the role commands."""
    del groups
    app.command("ingest")(ingest)
    app.command("process")(process)
