"""``pressbox upstream``: serve real games over HTTP as a misbehaving upstream would.

Prints the base URL (``http://127.0.0.1:PORT``) on stdout once the server listens, then
serves until interrupted. Routes, the fault spec and the id maps are in ``docs/upstream.md``.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import anyio
import typer

from pressbox.cli._common import configure_logging

_REPO_SAMPLE = Path(__file__).resolve().parents[3] / "data" / "retrosheet"


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add the ``upstream`` command."""

    @app.command("upstream")
    def upstream(
        paths: list[Path] = typer.Argument(  # noqa: B008 - typer declares arguments this way
            None, help="More data paths (so that --data A B C works).", show_default=False
        ),
        port: int = typer.Option(8765, help="Port to listen on; 0 picks a free one."),
        host: str = typer.Option("127.0.0.1", help="Interface to bind."),
        data: list[Path] = typer.Option(  # noqa: B008 - typer declares options this way
            None,
            "--data",
            help="Retrosheet event files/folders and NFL GameCenter files/folders "
            "(repeat the option). Default: the bundled sample in data/retrosheet.",
        ),
        speed: float = typer.Option(
            60.0, help="Game seconds per real second; 0 publishes every event at once."
        ),
        faults: str = typer.Option(
            "", help="Fault spec 'kind=[duration:]probability,...' or a .toml file."
        ),
        seed: int = typer.Option(0, help="Seed of the fault decisions."),
        date: str | None = typer.Option(
            None, help="Replay this day (YYYY-MM-DD); default: every game from now."
        ),
        log_level: str = typer.Option("WARNING", help="Log level of the server."),
    ) -> None:
        """Serve real games over HTTP (MLB Stats API, ESPN, odds) with injected faults."""
        from pressbox.feeds.upstream.faults import parse_faults
        from pressbox.feeds.upstream.server import bound_port, build_app, make_server

        configure_logging(log_level)
        try:
            spec = parse_faults(faults)
        except ValueError as exc:
            typer.echo(f"pressbox upstream: bad --faults: {exc}", err=True)
            raise typer.Exit(2) from exc
        paths = [*(data or []), *(paths or [])] or [_REPO_SAMPLE]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            typer.echo(f"pressbox upstream: no such data path: {', '.join(missing)}", err=True)
            raise typer.Exit(2)
        try:
            app_ = build_app(paths, speed=speed, faults=spec, seed=seed, date=date)
        except ValueError as exc:
            typer.echo(f"pressbox upstream: {exc}", err=True)
            raise typer.Exit(2) from exc
        loaded = app_.state.upstream.data
        if not loaded.games and not loaded.nfl:
            typer.echo("pressbox upstream: no game could be read from the data", err=True)
            raise typer.Exit(2)
        server = make_server(app_, host, port)

        async def main() -> None:
            async with anyio.create_task_group() as tg:
                tg.start_soon(server.serve)
                with anyio.fail_after(30):
                    while not server.started:  # noqa: ASYNC110 - uvicorn only has a flag
                        await anyio.sleep(0.02)
                sys.stdout.write(f"http://{host}:{bound_port(server)}\n")
                sys.stdout.flush()

        # Ctrl-C is how this command is meant to stop.
        with contextlib.suppress(KeyboardInterrupt):
            anyio.run(main)
