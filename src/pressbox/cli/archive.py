"""``pressbox archive games|export|replay``: read the archive and re-run its games.

The archive is the one named by ``PRESSBOX_ARCHIVE_URL`` (default
``sqlite:///./pressbox.db``) unless ``--archive`` names another. ``games`` lists the
archived games, one per line (``--json`` for JSON lines). ``export`` writes a game's
events and then its updates as JSON lines, each document exactly as the engine encodes it
(an update is told from an event by its ``state`` field). An unknown game or an archive
that cannot be opened ends with a message on stderr and exit status 1. ``replay`` re-runs
a game's archived events through a model (after a model change, say) and stores the new
model's updates beside the old ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

from pressbox.cli._common import write_json_line
from pressbox.config import Settings
from pressbox.engine.events import to_dict
from pressbox.engine.models import get_model
from pressbox.errors import BackendError, UnknownGame
from pressbox.processor import rescore
from pressbox.store import Archive, GameRecord, from_url

_T = TypeVar("_T")

ArchiveOption = Annotated[
    str | None,
    typer.Option(
        "--archive",
        help="Archive URL (default: PRESSBOX_ARCHIVE_URL, else sqlite:///./pressbox.db).",
        show_default=False,
    ),
]


def _run(url: str | None, work: Callable[[Archive], Awaitable[_T]]) -> _T:
    """Open the archive, run ``work`` on it, and turn known failures into exit status 1."""
    settings = Settings()
    target = url or settings.archive_url

    async def main() -> _T:
        async with from_url(
            target, connect_timeout=settings.connect_timeout, read_timeout=settings.read_timeout
        ) as archive:
            return await work(archive)

    try:
        return asyncio.run(main())
    except UnknownGame as exc:
        typer.echo(f"pressbox archive: {exc} in {target}", err=True)
        raise typer.Exit(1) from None
    except (BackendError, ValueError) as exc:
        typer.echo(f"pressbox archive: cannot read {target}: {exc}", err=True)
        raise typer.Exit(1) from None


def _game_line(game: GameRecord) -> str:
    info = game.info
    teams = f"{info.away}@{info.home}" if info else "-"
    date = info.date if info else "-"
    score = f"{game.away_score}-{game.home_score}"
    return (
        f"{game.game_id:<16} {game.sport:<5} {date:<10} {teams:<9} {score:>7} "
        f"{game.status:<9} {game.last_seq:>5}"
    )


def _game_json(game: GameRecord) -> dict[str, object]:
    info = game.info
    return {
        "game_id": game.game_id,
        "sport": game.sport,
        "status": game.status,
        "date": info.date if info else None,
        "home": info.home if info else None,
        "away": info.away if info else None,
        "home_score": game.home_score,
        "away_score": game.away_score,
        "last_seq": game.last_seq,
    }


def games_command(
    archive: ArchiveOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List the archived games: id, sport, date, away@home, score, status, last event seq."""
    games = _run(archive, lambda a: a.games())
    if as_json:
        for game in games:
            write_json_line(_game_json(game))
        return
    if not games:
        typer.echo("no games in the archive", err=True)
        return
    typer.echo(f"{'game':<16} {'sport':<5} {'date':<10} {'teams':<9} {'score':>7} status    events")
    for game in games:
        typer.echo(_game_line(game))


def export_command(
    game: Annotated[str, typer.Argument(help="The game's id, as `archive games` lists it.")],
    archive: ArchiveOption = None,
    events: Annotated[bool, typer.Option("--events/--no-events", help="Write events.")] = True,
    updates: Annotated[bool, typer.Option("--updates/--no-updates", help="Write updates.")] = True,
    model: Annotated[
        str | None, typer.Option("--model", help="Only the updates of this model.")
    ] = None,
) -> None:
    """Write a game's events, then its updates, as JSON lines on stdout."""

    async def read(a: Archive) -> list[dict[str, object]]:
        await a.game(game)
        docs = [to_dict(e) for e in await a.timeline(game)] if events else []
        if updates:
            docs += [to_dict(u) for u in await a.updates(game, model)]
        return docs

    for doc in _run(archive, read):
        write_json_line(doc)


def replay_command(
    game: Annotated[str, typer.Argument(help="The game's id, as `archive games` lists it.")],
    model: Annotated[
        str | None,
        typer.Option(
            "--model", help="A fitted model file for the game's sport (default: the shipped one)."
        ),
    ] = None,
    archive: ArchiveOption = None,
) -> None:
    """Re-run an archived game through a model; store its updates beside the others."""
    try:

        async def rerun(a: Archive) -> tuple[str, int, list[str]]:
            record = await a.game(game)
            wp_model = get_model(record.sport, model)
            # The game's stored pregame prior, so that the re-run starts where it did live.
            prior = await a.prior(game)
            updates = rescore(record.sport, game, await a.timeline(game), wp_model, prior)
            label = updates[0].wp.model if updates and updates[0].wp else wp_model.name
            stored = await a.put_updates(updates, model=label)
            return label, stored, await a.models(game)

        label, stored, models = _run(archive, rerun)
    except (OSError, ModuleNotFoundError) as exc:
        typer.echo(f"pressbox archive: cannot load model {model!r}: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{game}: {stored} new updates of {label}; models now: {', '.join(models)}")


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add ``archive games``, ``archive export`` and ``archive replay`` to the CLI."""
    groups["archive"].command("games")(games_command)
    groups["archive"].command("export")(export_command)
    groups["archive"].command("replay")(replay_command)
