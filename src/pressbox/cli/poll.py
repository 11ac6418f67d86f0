"""``pressbox poll`` and ``pressbox prefetch``: follow a live game, warm a game's caches.

``pressbox poll --feed gumbo --base-url URL --game PK [--until-final] [--jsonl]`` polls one
game's GUMBO feed (:class:`~pressbox.feeds.poller.GamePoller`) and prints each new
normalized event as it arrives: one readable line (sequence, inning, score, text; a
correction says which event it replaces), or with ``--jsonl`` the event as one JSON line.
Without ``--until-final`` it keeps polling after the game ends, for late corrections,
until interrupted.

``pressbox prefetch --base-url URL --game PK [--json]`` fetches every booth source for a
game in parallel (:func:`~pressbox.feeds.prefetch.prefetch`) and prints a table of what it
could and could not get (or the report as JSON). Both exit 0 whatever the upstream does:
failures are logged to stderr and retried (poll) or reported (prefetch).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer

from pressbox.cli._common import configure_logging, write_json_line
from pressbox.engine.events import PlayEvent, to_dict
from pressbox.feeds.poller import GamePoller, PollPolicy, push_base_url, statsapi_client
from pressbox.feeds.prefetch import PrefetchReport, prefetch

FEEDS = ("gumbo",)


def event_line(event: PlayEvent) -> str:
    """One readable line for an event: sequence, inning, score (away-home), text."""
    where = event.clock or ""
    text = event.text or event.kind
    if event.corrects is not None:
        text = f"[corrects {event.corrects}] {text}"
    return f"{event.seq:>4}  {where:<4} {event.away_score:>2}-{event.home_score:<2}  {text}"


def report_table(report: PrefetchReport) -> str:
    """The prefetch report as a fixed-width table, one row per item."""
    rows = [("item", "status", "age", "got", "reason")]
    for item in report.items:
        if not item.available:
            status, age, got = "missing", "-", f"0/{item.wanted}"
        else:
            status = "stale" if item.stale else "ok"
            age = f"{item.age:.0f}s" if item.age is not None else "-"
            got = f"{item.fetched}/{item.wanted}"
        rows.append((item.name, status, age, got, item.reason or ""))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4]
        for row in rows
    ]
    had = len(report.available)
    lines.append(f"game {report.game_pk}: {had} of {len(report.items)} items available")
    return "\n".join(line.rstrip() for line in lines)


async def poll_game(
    base_url: str,
    game_pk: int,
    *,
    until_final: bool,
    jsonl: bool,
    secondary_url: str | None = None,
    policy: PollPolicy | None = None,
    push: bool = True,
) -> None:
    """Poll one game and print each new event as it arrives (see the module docstring);
    with ``push``, also on each notification of the game's Gameday push channel."""

    async def show(event: PlayEvent) -> None:
        if jsonl:
            write_json_line(to_dict(event))
        else:
            sys.stdout.write(event_line(event) + "\n")
            sys.stdout.flush()

    async with statsapi_client(base_url, secondary_url=secondary_url) as client:
        push_url = push_base_url(base_url) if push else None
        poller = GamePoller(client, game_pk, show, policy=policy, push_url=push_url)
        await poller.run(until_final=until_final)


async def prefetch_game(
    base_url: str, game_pk: int, *, secondary_url: str | None = None
) -> PrefetchReport:
    """The prefetch report of one game."""
    async with statsapi_client(base_url, secondary_url=secondary_url) as client:
        return await prefetch(client, game_pk)


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add the ``poll`` and ``prefetch`` commands."""

    @app.command("poll")
    def poll(
        base_url: Annotated[
            str, typer.Option(help="Base URL of the Stats API (or `pressbox upstream`).")
        ],
        game: Annotated[int, typer.Option(help="The game's gamePk.")],
        feed: Annotated[str, typer.Option(help="The feed's format: gumbo.")] = "gumbo",
        until_final: Annotated[
            bool, typer.Option(help="Stop once the game is final and its end is printed.")
        ] = False,
        jsonl: Annotated[bool, typer.Option(help="Print each event as a JSON line.")] = False,
        secondary_url: Annotated[
            str | None, typer.Option(help="A mirror tried while the primary fails.")
        ] = None,
        action: Annotated[
            float, typer.Option(min=0.01, help="Seconds between polls during play.")
        ] = 5.0,
        pause: Annotated[
            float, typer.Option(min=0.01, help="Seconds between polls in breaks.")
        ] = 30.0,
        ignore_wait: Annotated[bool, typer.Option(help="Ignore the feed's metaData.wait.")] = False,
        push: Annotated[
            bool,
            typer.Option(
                help="Subscribe to the game's Gameday push channel and poll on each "
                "notification (polling stays, less often, as the safety net)."
            ),
        ] = True,
        log_level: Annotated[str, typer.Option(help="Log level for stderr.")] = "WARNING",
    ) -> None:
        """Poll a live game and print each new normalized event as it arrives."""
        if feed not in FEEDS:
            typer.echo(f"unsupported feed {feed!r} (supported: {', '.join(FEEDS)})", err=True)
            raise typer.Exit(2)
        configure_logging(log_level)
        policy = PollPolicy(action=action, pause=pause, honour_wait=not ignore_wait)
        try:
            asyncio.run(
                poll_game(
                    base_url,
                    game,
                    until_final=until_final,
                    jsonl=jsonl,
                    secondary_url=secondary_url,
                    policy=policy,
                    push=push,
                )
            )
        except KeyboardInterrupt:
            raise typer.Exit(130) from None

    @app.command("prefetch")
    def prefetch_command(
        base_url: Annotated[
            str, typer.Option(help="Base URL of the Stats API (or `pressbox upstream`).")
        ],
        game: Annotated[int, typer.Option(help="The game's gamePk.")],
        secondary_url: Annotated[
            str | None, typer.Option(help="A mirror tried while the primary fails.")
        ] = None,
        json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
        log_level: Annotated[str, typer.Option(help="Log level for stderr.")] = "WARNING",
    ) -> None:
        """Warm every cache for a game in parallel and print what could and could not be had."""
        configure_logging(log_level)
        report = asyncio.run(prefetch_game(base_url, game, secondary_url=secondary_url))
        if json:
            write_json_line(report.to_json())
        else:
            typer.echo(report_table(report))
