"""A game-night pipeline process: some or all of ingest, process, gateway and API.

``python -m pressbox.bench.run_pipeline --roles ingest,process,gateway,api --upstream URL
[--upstream-secondary URL] --games PK,PK --poll S --port P --ready FILE`` runs the chosen
roles of pressbox (fetching from the upstream, and from its mirror when the first refuses)
on the backends named by ``PRESSBOX_LOG_URL`` / ``PRESSBOX_ARCHIVE_URL`` / ``PRESSBOX_CACHE_URL``
(the same settings as ``pressbox serve`` and the role commands), with structured JSON logs
on stderr (every line of a game carries its ``game_id``). The embedded run gives it every
role; the Redis + PostgreSQL run starts one process per role group.

What differs from ``pressbox serve --upstream``: the games to follow are given (the slate
the upstream process chose), and the poll interval is the benchmark's (``--poll``), with
the live document's cache lifetime under it, since at high replay speeds the default
5-second interval would measure the poll interval rather than the pipeline.
The poller subscribes to each game's push channel and fetches at once on a notification,
polling every ``--push-poll`` seconds as the safety net (every ``--poll`` seconds while a
channel is down; ``--push-poll 0`` polls alone). ``--publish`` names the upstream's
publication table, which times the poll stage (``pressbox_stage_seconds{stage="poll"}``)
from each play's publication.
``FILE`` is written once the HTTP server listens (or at once without one); ``FILE.wp.json``
holds, every second, how long this process's win-probability calls took
(:mod:`.timing`); a process without an HTTP server (a split ingest or process role, which
serves no ``/metrics``) also writes its Prometheus metrics to ``FILE.prom`` every second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

import httpx
import structlog
import uvicorn
from prometheus_client import CollectorRegistry, generate_latest

from pressbox.api.app import Roles, create_app
from pressbox.bench import loops
from pressbox.bench.timing import TimedModel, write_stats
from pressbox.config import Settings
from pressbox.delivery import expose_transport
from pressbox.engine.events import PlayEvent
from pressbox.engine.models import get_model
from pressbox.feeds.http import RetryPolicy
from pressbox.feeds.poller import PollPolicy, ingest_from_upstream, statsapi_client
from pressbox.gcpolicy import CollectorPolicy
from pressbox.listen import listening_sockets
from pressbox.service import ProcessorPool, Service


def configure_json_logs(level: str) -> None:
    """Structured JSON lines on stderr, with the bound context (``game_id``, ``sport``)."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )


class PublishTable:
    """When the upstream published each point, by game time (the ``.publish`` file of
    :mod:`.run_upstream`), read once the replay has started (the file appears then)."""

    def __init__(self, path: str) -> None:
        self._path = Path(path) if path else None
        self._table: dict[int, float] | None = None

    def __call__(self, event: PlayEvent) -> float | None:
        """The wall-clock second the upstream published the event's play, if known."""
        if event.ts_source is None:
            return None
        if self._table is None:
            if self._path is None or not self._path.exists():
                return None
            table = json.loads(self._path.read_text())["publish"]
            self._table = {int(k): v for games in table.values() for k, v in games.items()}
        return self._table.get(int(event.ts_source))


async def _ingest(
    service: Service,
    url: str,
    secondary: str | None,
    games: list[str],
    poll: float,
    push_poll: float | None,
    publish_table: str,
) -> None:
    # With the push channel, polling is the safety net every ``push_poll`` seconds.
    factor = max(1.0, push_poll / poll) if push_poll else 1.0
    policy = PollPolicy(
        action=poll,
        pause=poll,
        honour_wait=False,
        retry=poll,
        max_backoff=2.0,
        after_final=5.0,
        push_factor=factor,
        # At 500x a game publishes a pitch every ~90 ms; pitches carry no play.
        push_pitches=False,
        push_retry=0.05,
        push_max_backoff=1.0,
    )
    client = statsapi_client(
        url,
        secondary_url=secondary,
        live_ttl=poll / 2,
        budget_limit=100_000,
        timeout=httpx.Timeout(2.5, connect=1.0),
        # Short waits between attempts: a fault costs a retry, not a poll interval. The
        # attempt deadline stays above a busy loop's stalls, which are not the upstream's;
        # a request still unanswered after 0.1 s (a poll takes 5 ms here) is hedged, so an
        # upstream that hangs costs that, not the deadline.
        retry=RetryPolicy(
            attempts=4,
            timeout=6.0,
            wait_initial=0.02,
            wait_max=0.2,
            wait_jitter=0.02,
            attempt_timeout=2.5,
            hedge_after=0.1,
        ),
    )
    async with client:
        await ingest_from_upstream(
            service.publish,
            service.announce,
            url,
            games=games,
            policy=policy,
            client=client,
            push=push_poll is not None,
            published_at=PublishTable(publish_table),
        )


async def _save_stats(timed: TimedModel, path: Path, metrics: Path | None) -> None:
    while True:
        await asyncio.sleep(1.0)
        write_stats(timed, path)
        if metrics is not None:
            # The process's metrics, for roles without /metrics (a split ingest process);
            # one with /metrics is read there (rendering them all here each second would
            # stall its loop for the time it takes, tens of milliseconds).
            tmp = metrics.with_name(metrics.name + ".tmp")
            tmp.write_bytes(generate_latest())
            tmp.replace(metrics)


async def run(args: argparse.Namespace) -> None:
    """Open the service, start the roles, serve until a signal."""
    roles = set(args.roles.split(","))
    settings = Settings(port=args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    timed = TimedModel(get_model("mlb"))
    async with Service(settings, models={"mlb": timed}) as service:
        tasks: list[asyncio.Task[None]] = [
            asyncio.create_task(
                _save_stats(
                    timed,
                    Path(args.ready + ".wp.json"),
                    None if roles & {"api", "gateway"} else Path(args.ready + ".prom"),
                )
            )
        ]
        if "ingest" in roles:
            games = [g for g in args.games.split(",") if g]
            push_poll = None if args.push_poll <= 0 else args.push_poll
            secondary = args.upstream_secondary or None
            ingest = _ingest(
                service, args.upstream, secondary, games, args.poll, push_poll, args.publish
            )
            tasks.append(asyncio.create_task(ingest))
        if "process" in roles:
            tasks.append(asyncio.create_task(ProcessorPool(service).run()))
        if not roles & {"api", "gateway"}:
            # The app applies the collector policy where it runs; a process without it too.
            policy = CollectorPolicy(registry=CollectorRegistry())
            tasks.append(asyncio.create_task(policy.run()))
        server: uvicorn.Server | None = None
        if roles & {"api", "gateway"}:
            app = create_app(
                settings,
                service=service,
                roles=Roles(api="api" in roles, gateway="gateway" in roles),
            )
            config = uvicorn.Config(
                expose_transport(app),
                host="127.0.0.1",
                port=args.port,
                log_level="warning",
                access_log=False,
                lifespan="on",
                backlog=4096,
                timeout_graceful_shutdown=2,
            )
            server = uvicorn.Server(config)
            server.config.setup_event_loop = lambda: None  # type: ignore[method-assign]
            sockets = listening_sockets("127.0.0.1", args.port, backlog=config.backlog)
            server_task = asyncio.create_task(server.serve(sockets=sockets))
            while not server.started:
                await asyncio.sleep(0.01)
                if server_task.done():
                    server_task.result()
                    return
        await asyncio.to_thread(Path(args.ready).write_text, "ready\n")
        await stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if server is not None:
            server.should_exit = True
            await server_task


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(prog="python -m pressbox.bench.run_pipeline")
    parser.add_argument("--roles", default="ingest,process,gateway,api")
    parser.add_argument("--upstream", default="")
    parser.add_argument("--upstream-secondary", default="")
    parser.add_argument("--games", default="")
    parser.add_argument("--poll", type=float, default=0.1)
    parser.add_argument("--push-poll", type=float, default=1.0)
    parser.add_argument("--publish", default="")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready", required=True)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--loop", choices=loops.LOOPS, default="auto")
    args = parser.parse_args()
    configure_json_logs(args.log_level)
    loops.run(run(args), args.loop)


if __name__ == "__main__":
    main()
