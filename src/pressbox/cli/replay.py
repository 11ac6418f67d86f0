"""``pressbox replay``: stream the plays of real games from Retrosheet event files.

Events go to stdout as JSON lines (the normalized :class:`~pressbox.engine.events.PlayEvent`
of each play, between the game's ``game_start`` and ``game_end``), paced by each play's
realistic gap (:func:`~pressbox.feeds.retrosheet.play_gaps`) divided by ``--speed``. With
``--summary`` it prints one line per game instead. Games that cannot be read are skipped;
their errors are logged to stderr, followed by a final count.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import structlog
import typer

from pressbox.cli._common import configure_logging, write_json_line
from pressbox.engine.events import to_dict
from pressbox.errors import FeedParseError
from pressbox.feeds.retrosheet import iter_games, play_gaps

_log = structlog.get_logger("pressbox.replay")


def replay_games(
    paths: list[Path],
    *,
    speed: float = 1.0,
    games: int | None = None,
    game_ids: list[str] | None = None,
    summary: bool = False,
    sleep: Callable[[float], object] = time.sleep,
) -> list[FeedParseError]:
    """Write the games' events (or summaries) to stdout.

    Args:
        paths: Event files or folders (read recursively, so a season folder includes post/).
        speed: Divides the realistic gap before each event; 0 writes as fast as possible.
        games: Stop after this many games (``None``: all).
        game_ids: Only these games (``None``: all).
        summary: One summary line per game instead of the events.
        sleep: Called with the seconds to wait before each event (injected by tests).

    Returns:
        The parse errors met, one per skipped game.
    """
    errors: list[FeedParseError] = []
    wanted = set(game_ids) if game_ids else None
    done = 0
    reported = 0
    for game in iter_games(paths, errors):
        reported = _report(errors, reported)
        if wanted is not None and game.game_id not in wanted:
            continue
        if games is not None and done >= games:
            break
        if wanted is not None:
            wanted.discard(game.game_id)
        done += 1
        if summary:
            write_json_line(game.summary())
            continue
        gaps = play_gaps(game) if speed > 0 else None
        for i, event in enumerate(game.events):
            if gaps is not None and gaps[i] > 0:
                sleep(gaps[i] / speed)
            write_json_line(to_dict(event))
        if wanted is not None and not wanted:
            break
    _report(errors, reported)
    return errors


def _report(errors: list[FeedParseError], reported: int) -> int:
    for error in errors[reported:]:
        _log.warning(
            "replay.parse_error", source=error.source, line=error.line, reason=error.reason
        )
    return len(errors)


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add the ``replay`` command."""

    @app.command("replay")
    def replay(
        paths: Annotated[
            list[Path],
            typer.Argument(help="Retrosheet event files or folders (read recursively)."),
        ],
        speed: Annotated[
            float,
            typer.Option(
                min=0.0,
                help="Divide the realistic gap between plays by this; 0 = as fast as possible.",
            ),
        ] = 1.0,
        games: Annotated[
            int | None, typer.Option(min=1, help="Stop after this many games.")
        ] = None,
        game: Annotated[
            list[str] | None,
            typer.Option(help="Only this game id (ANA201504100); may be repeated."),
        ] = None,
        summary: Annotated[
            bool, typer.Option(help="One JSON line per game instead of its plays (not paced).")
        ] = False,
        log_level: Annotated[str, typer.Option(help="Log level for stderr.")] = "INFO",
    ) -> None:
        """Stream the plays of real games as JSON lines, in order."""
        configure_logging(log_level)
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise typer.BadParameter(f"no such file or folder: {', '.join(missing)}")
        try:
            errors = replay_games(paths, speed=speed, games=games, game_ids=game, summary=summary)
        except BrokenPipeError:
            # The reader went away (``| head``): stop quietly, as Unix tools do. Point
            # stdout at devnull so the interpreter's final flush does not fail again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return
        reasons: dict[str, int] = {}
        for error in errors:
            key = error.reason.split(": ", 1)[-1]
            reasons[key] = reasons.get(key, 0) + 1
        _log.info("replay.parse_errors", count=len(errors), reasons=reasons)
