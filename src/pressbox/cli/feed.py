"""``pressbox feed normalize``: the normalized events of captured upstream documents.

Each event goes to stdout as one JSON line (:func:`~pressbox.engine.events.to_dict`), in
order, with the score after it; ``--summary`` prints one line per game instead (plays, final
score, issues). Files may be gzip-compressed.

For ``--format gumbo`` the files are responses of one game taken in order: full live-feed
documents, ``diffPatch`` arrays, or captures holding several responses back to back; each
is applied to the last good document. A ``playByPlay`` response (the plays without the
game's data) is read too, given ``--game-id``. For ``espn`` and ``generic`` each file is one game.

A document that cannot be read is reported on stderr with its file and reason; the command
then exits with status 1 (after printing whatever the other documents gave).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import typer

from pressbox.cli._common import write_json_line
from pressbox.engine.events import PlayEvent, to_dict
from pressbox.errors import FeedParseError
from pressbox.feeds.espn import read_summary
from pressbox.feeds.generic import read_generic
from pressbox.feeds.gumbo import GumboGame, is_play_by_play, live_feed_from_play_by_play
from pressbox.feeds.parse import decode_concatenated, decode_json
from pressbox.types import JSON

Format = Literal["gumbo", "espn", "generic"]


@dataclass(slots=True)
class GameResult:
    """What normalizing the documents of one game gave."""

    game_id: str
    events: list[PlayEvent]
    issues: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        """One line about the game: plays, last score, whether it ended, issues."""
        plays = [e for e in self.events if e.kind == "play"]
        last = self.events[-1] if self.events else None
        return {
            "game_id": self.game_id,
            "events": len(self.events),
            "plays": len(plays),
            "home_score": last.home_score if last else 0,
            "away_score": last.away_score if last else 0,
            "final": bool(self.events) and self.events[-1].kind == "game_end",
            "issues": self.issues,
        }


def normalize_files(
    fmt: Format,
    paths: list[Path],
    *,
    split_runner_events: bool = False,
    game_id: str | None = None,
) -> tuple[list[GameResult], list[FeedParseError]]:
    """Normalize captured documents.

    Args:
        fmt: The documents' format.
        paths: The files, in order (for ``gumbo``, successive responses of one game).
        split_runner_events: GUMBO only: runner events inside an at-bat as plays of their own.
        game_id: GUMBO only: the ``gamePk`` of ``playByPlay`` responses, which do not say it.

    Returns:
        One result per game read, and the errors of the documents that could not be read.
    """
    errors: list[FeedParseError] = []
    if fmt == "gumbo":
        return _gumbo(paths, split_runner_events, game_id, errors), errors
    results: list[GameResult] = []
    for path in paths:
        try:
            doc = decode_json(_read(path), path.name)
            normalized = (
                read_summary(doc, source=path.name)
                if fmt == "espn"
                else read_generic(doc, source=path.name)
            )
        except FeedParseError as exc:
            errors.append(exc)
            continue
        results.append(
            GameResult(normalized.game_id, list(normalized.events), list(normalized.issues))
        )
    return results, errors


def _gumbo(
    paths: list[Path],
    split_runner_events: bool,
    game_id: str | None,
    errors: list[FeedParseError],
) -> list[GameResult]:
    game: GumboGame | None = None
    events: list[PlayEvent] = []
    for path in paths:
        try:
            responses = decode_concatenated(_read(path), path.name)
        except FeedParseError as exc:
            errors.append(exc)
            continue
        if not responses:
            errors.append(FeedParseError(path.name, "empty document"))
        for number, response in enumerate(responses, 1):
            source = path.name if len(responses) == 1 else f"{path.name} (response {number})"
            if game is None:
                game = GumboGame(source=source, split_runner_events=split_runner_events)
            game.source = source
            try:
                events.extend(game.update(_as_live_feed(response, game_id, source)))
            except FeedParseError as exc:
                errors.append(exc)
    if game is None or game.game_id is None:
        return []
    return [GameResult(game.game_id, events, list(game.issues))]


def _as_live_feed(response: JSON, game_id: str | None, source: str) -> JSON:
    if not is_play_by_play(response):
        return response
    if game_id is None:
        raise FeedParseError(source, "a playByPlay response needs --game-id")
    return live_feed_from_play_by_play(response, game_id=game_id, source=source)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise FeedParseError(str(path), f"cannot read the file: {exc.strerror}") from exc


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add ``feed normalize``."""

    @groups["feed"].command("normalize")
    def normalize(
        files: Annotated[
            list[Path],
            typer.Argument(help="Captured documents (.json or .json.gz), in order."),
        ],
        fmt: Annotated[
            str,
            typer.Option(
                "--format",
                "-f",
                help="The documents' format: gumbo, espn or generic.",
            ),
        ],
        split_runner_events: Annotated[
            bool,
            typer.Option(help="GUMBO: steals, wild pitches... inside an at-bat as plays."),
        ] = False,
        summary: Annotated[
            bool, typer.Option(help="One JSON line per game instead of its events.")
        ] = False,
        game_id: Annotated[
            str | None,
            typer.Option(help="GUMBO: the gamePk of playByPlay responses (they do not say it)."),
        ] = None,
    ) -> None:
        """Print the normalized events of captured feed documents as JSON lines."""
        if fmt not in ("gumbo", "espn", "generic"):
            raise typer.BadParameter(
                f"unknown format {fmt!r} (gumbo, espn or generic)", param_hint="--format"
            )
        missing = [str(p) for p in files if not p.exists()]
        if missing:
            raise typer.BadParameter(f"no such file: {', '.join(missing)}")
        chosen: Format = "gumbo" if fmt == "gumbo" else "espn" if fmt == "espn" else "generic"
        results, errors = normalize_files(
            chosen, files, split_runner_events=split_runner_events, game_id=game_id
        )
        for result in results:
            if summary:
                write_json_line(result.summary())
            else:
                for event in result.events:
                    write_json_line(to_dict(event))
            for issue in result.issues:
                typer.echo(f"warning: {result.game_id}: {issue}", err=True)
        for error in errors:
            typer.echo(f"error: {error}", err=True)
        if errors or not results:
            if not errors:
                typer.echo("error: no game could be read", err=True)
            raise typer.Exit(code=1)
