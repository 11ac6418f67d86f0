"""``pressbox bench gamenight``: the whole system under a game-night load, measured.

Starts the simulated upstream, the pipeline and the load generators in separate
processes on loopback (:mod:`pressbox.bench.gamenight`), measures for ``--duration``
seconds, writes the report as JSON (and a latency plot), prints a summary, and exits 1
when an update was lost or duplicated or an answer was a 5xx. See ``docs/gamenight.md``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from pressbox.bench.gamenight import GamenightConfig, plot, run_gamenight
from pressbox.bench.loops import LOOPS
from pressbox.cli._common import configure_logging
from pressbox.service import BUNDLED_DATA


def gamenight(
    data: Annotated[
        list[Path] | None,
        typer.Option(help="Retrosheet season folders or files (default: the bundled games)."),
    ] = None,
    games: Annotated[int, typer.Option(help="Games of the slate.", min=1)] = 15,
    date: Annotated[
        str | None, typer.Option(help="The day (YYYY-MM-DD; default: the tightest slate).")
    ] = None,
    speed: Annotated[
        float, typer.Option(help="Upstream game seconds per second.", min=0.001)
    ] = 500,
    sse_clients: Annotated[int, typer.Option(help="SSE connections.", min=0)] = 10_000,
    ws_clients: Annotated[int, typer.Option(help="WebSocket connections.", min=0)] = 1_000,
    api_rps: Annotated[float, typer.Option(help="REST requests per second.", min=0)] = 1000,
    duration: Annotated[float, typer.Option(help="Seconds measured.", min=0.001)] = 30,
    poll: Annotated[
        float,
        typer.Option(
            help="Poll interval of each game while its push channel is down, s.", min=0.001
        ),
    ] = 0.1,
    push_poll: Annotated[
        float,
        typer.Option(
            help="Safety-net poll interval while the Gameday push channel is up, s "
            "(0: no push channel, poll alone).",
            min=0,
        ),
    ] = 1.0,
    client_procs: Annotated[
        int | None, typer.Option(help="SSE client processes (default: one per core).", min=1)
    ] = None,
    loop: Annotated[
        str,
        typer.Option(
            help="Event loop of the upstream, the pipeline and the API load: auto, uvloop, asyncio."
        ),
    ] = "auto",
    api_max_lag: Annotated[
        float,
        typer.Option(
            help="The API's shedding threshold, s of loop lag (as pressbox serve).", min=0
        ),
    ] = 0.25,
    faults: Annotated[str, typer.Option(help="Upstream fault spec (docs/upstream.md).")] = "",
    mirror: Annotated[
        bool,
        typer.Option(
            help="Give the pipeline the upstream's mirror (the same replay on a second port) "
            "as its secondary source."
        ),
    ] = True,
    harness_nice: Annotated[
        int,
        typer.Option(
            help="Niceness of the upstream, client and API-load processes (0: none).",
            min=0,
            max=19,
        ),
    ] = 3,
    seed: Annotated[int, typer.Option(help="Fault seed.")] = 0,
    log_url: Annotated[str, typer.Option(help="Event log URL.")] = "memory://",
    archive_url: Annotated[
        str | None, typer.Option(help="Archive URL (default: SQLite in the work folder).")
    ] = None,
    cache_url: Annotated[
        str | None, typer.Option(help="API cache URL (default: the log's Redis, or memory).")
    ] = None,
    split_gateway: Annotated[
        bool, typer.Option(help="With a redis:// log: gateway and API in separate processes.")
    ] = False,
    stream_writers: Annotated[
        int,
        typer.Option(
            help="Writer processes making the gateway's SSE writes (0: the gateway itself).",
            min=0,
            max=32,
        ),
    ] = 2,
    client_read_every: Annotated[
        float,
        typer.Option(
            help="Seconds between two reads of a client process's sockets (0: at once); "
            "the wait counts in the latency.",
            min=0,
            max=0.1,
        ),
    ] = 0.005,
    receipt_stamps: Annotated[
        bool,
        typer.Option(
            help="Also time each update at the kernel's receipt at the client (Linux "
            "SO_TIMESTAMPNS; costs the clients some CPU).",
        ),
    ] = False,
    api_pace: Annotated[
        float,
        typer.Option(
            help="Seconds the API load sleeps between two looks at its sockets (0: woken by "
            "each answer); the wait counts in the API latency.",
            min=0,
            max=0.1,
        ),
    ] = 0.001,
    reset: Annotated[
        bool, typer.Option(help="Empty the (dedicated) Redis database and PostgreSQL schema.")
    ] = False,
    workdir: Annotated[
        Path | None, typer.Option(help="Keep the processes' files and logs here.")
    ] = None,
    json_out: Annotated[Path, typer.Option("--json", help="Write the report here.")] = Path(
        "gamenight.json"
    ),
    plot_out: Annotated[
        Path | None, typer.Option("--plot", help="Draw latency over time into this PNG.")
    ] = None,
) -> None:
    """Run game night: upstream, pipeline and load in separate processes, measured."""
    configure_logging("WARNING")
    if loop not in LOOPS:
        raise typer.BadParameter(f"one of {', '.join(LOOPS)}, not {loop!r}", param_hint="--loop")
    if cache_url is None:
        cache_url = log_url if log_url.startswith("redis://") else "memory://"
    cfg = GamenightConfig(
        data=tuple(str(p) for p in data or [BUNDLED_DATA]),
        games=games,
        date=date,
        speed=speed,
        sse_clients=sse_clients,
        ws_clients=ws_clients,
        api_rps=api_rps,
        duration=duration,
        poll=poll,
        push_poll=push_poll,
        client_procs=client_procs,
        loop=loop,
        api_max_lag=api_max_lag,
        faults=faults,
        mirror=mirror,
        harness_nice=harness_nice,
        seed=seed,
        log_url=log_url,
        archive_url=archive_url,
        cache_url=cache_url,
        split_gateway=split_gateway,
        stream_writers=stream_writers,
        client_read_every=client_read_every,
        receipt_stamps=receipt_stamps,
        api_pace=api_pace,
        reset=reset,
        workdir=str(workdir) if workdir else None,
    )
    report = run_gamenight(cfg, progress=lambda line: typer.echo(line, err=True))
    json_out.write_text(json.dumps(report, indent=1))
    if plot_out is not None:
        plot(report, plot_out)
    lat = report["play_to_display_ms"]
    stages = report["stages_ms"]
    typer.echo(
        "stages p50/p99 ms: "
        + ", ".join(f"{k} {v['p50']}/{v['p99']}" for k, v in stages.items())
        + f" | API sent {report['api']['sent_rps']} of {report['api']['offered_rps']} req/s"
        f" (unsent {report['api']['unsent']})",
        err=True,
    )
    serving = report.get("event_loop")
    if serving and serving["lag_ms"]["samples"]:
        lag, full = serving["lag_ms"], serving["gc_pauses"]["2"]
        typer.echo(
            f"serving loop: lag p99 <= {lag['p99_at_most']} ms, p99.9 <= {lag['p999_at_most']}"
            f" ms, {lag['over_25ms']:.0f} of {lag['samples']:.0f} samples over 25 ms"
            f" | full GC pauses {full['count']:.0f} ({full['total_ms']} ms)",
            err=True,
        )
    typer.echo(
        f"play-to-display p50 {lat['p50']} p95 {lat['p95']} p99 {lat['p99']} max {lat['max']} ms"
        f" | events/s {report['events_per_s']} | delivered/s {report['delivered_per_s']}"
        f" | API {report['api']['rps']} req/s {report['api']['status_counts']}"
        f" ({report['api']['stale_answers']} stale)"
        f" | lost {report['lost_updates']} duplicated {report['duplicate_updates']}"
        f" | 5xx {report['status_5xx']}"
    )
    if report["lost_updates"] or report["duplicate_updates"] or report["status_5xx"]:
        raise typer.Exit(1)


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add ``bench gamenight``."""
    del app
    groups["bench"].command("gamenight")(gamenight)
