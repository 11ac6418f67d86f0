"""Events per second through log -> processor -> archive (the processing loop of a game night).

Usage::

    .venv/bin/python bench/pipeline.py [--events 20000] [--repeat 3] [--model mlb|none]
        [--redis redis://127.0.0.1:6379/0] [--postgres postgresql://postgres@127.0.0.1/test]

The events are the real plays of the Retrosheet games bundled in ``data/retrosheet``,
copied under new game ids until ``--events`` are reached. They are appended to the log
first (not timed), then one processor pool takes every game and runs it to its end: each
game's processor reads its events in batches, folds them through the state machine and the
MLB model (WP, WPA, leverage), appends the updates to the game's update stream and
archives events, updates and its checkpoint. Each run is on a fresh log and archive:
``memory://`` + ``sqlite:///<tmp>`` always, ``redis://`` + ``postgresql://`` when their
URLs are given (under a unique key prefix and schema, removed afterwards).

Per run it prints events per second of wall time (the figure of the goals), events per
CPU-second of this process (all its threads: the event loop and SQLite's), the event
loop's CPU per event (``time.thread_time``; the part that cannot overlap) and the load
average when the run started. On a shared machine wall time mostly measures the
neighbours, the CPU figures much less; Redis and PostgreSQL work in their own processes
and are not in the CPU figures.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import msgspec
import redis.asyncio as aioredis
import structlog

from pressbox.config import Settings
from pressbox.engine.events import PlayEvent
from pressbox.engine.models import get_model
from pressbox.feeds.retrosheet import iter_games
from pressbox.service import ProcessorPool, Service

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "retrosheet"


def load(n_events: int) -> list[list[PlayEvent]]:
    """Real games, copied under new ids until there are ``n_events`` events."""
    originals = [g.events for g in iter_games([SAMPLE])]
    games: list[list[PlayEvent]] = []
    total = 0
    while total < n_events:
        for events in originals:
            game_id = f"{events[0].game_id}-{len(games)}"
            games.append(
                [
                    msgspec.structs.replace(e, game_id=game_id, event_id=f"{game_id}:{e.seq}")
                    for e in events
                ]
            )
            total += len(events)
    return games


async def run(
    log_url: str, archive_url: str, games: list[list[PlayEvent]], model: str
) -> tuple[float, float, float]:
    """One run on fresh backends.

    Returns:
        Events per wall second, events per CPU-second of the process, and the event
        loop's CPU microseconds per event.
    """
    settings = Settings(log_url=log_url, archive_url=archive_url)
    models = {} if model == "mlb" else {"mlb": None}
    async with Service(settings, models=models) as service:  # type: ignore[arg-type]
        if model == "mlb":
            service.model("mlb")
        for events in games:
            await service.announce("mlb", events[0].game_id)
            for event in events:
                await service.publish(event)
        n = sum(len(events) for events in games)
        cpu, loop_cpu, started = time.process_time(), time.thread_time(), time.perf_counter()
        await ProcessorPool(service, consumer="bench").run(until_idle=True)
        elapsed = time.perf_counter() - started
        cpu, loop_cpu = time.process_time() - cpu, time.thread_time() - loop_cpu
        return n / elapsed, n / cpu, loop_cpu / n * 1e6


def report(name: str, figures: tuple[float, float, float], uptime: float) -> None:
    """Print one run's figures."""
    wall, cpu, loop_us = figures
    print(
        f"{name:<26} {wall:9,.0f} events/s   {cpu:9,.0f} events/CPU-s"
        f"   loop {loop_us:5.1f} us/event   load {uptime:.2f}"
    )


async def run_remote(args: argparse.Namespace, games: list[list[PlayEvent]]) -> None:
    """One run on Redis + PostgreSQL under a unique prefix and schema, removed after."""
    tag = uuid.uuid4().hex[:8]
    sep = "&" if "?" in args.redis else "?"
    log_url = f"{args.redis}{sep}prefix=bench-{tag}:"
    schema = f"bench_{tag}"
    archive_url = f"{args.postgres}{'&' if '?' in args.postgres else '?'}schema={schema}"
    try:
        uptime = os.getloadavg()[0]
        figures = await run(log_url, archive_url, games, args.model)
        report("redis:// + postgresql://", figures, uptime)
    finally:
        client = aioredis.Redis.from_url(args.redis)
        keys = [k async for k in client.scan_iter(match=f"bench-{tag}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
        connection = await asyncpg.connect(args.postgres)
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await connection.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--model", choices=["mlb", "none"], default="mlb")
    parser.add_argument("--redis", default=os.environ.get("PRESSBOX_TEST_REDIS_URL"))
    parser.add_argument("--postgres", default=os.environ.get("PRESSBOX_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    # A line per finished game would be timed too.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if args.model == "mlb":
        get_model("mlb")
    games = load(args.events)
    n = sum(len(g) for g in games)
    print(f"# {platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"# {len(games)} games, {n} events, model={args.model}, {args.repeat} runs")
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            uptime = os.getloadavg()[0]
            figures = await run("memory://", f"sqlite:///{tmp}/bench.db", games, args.model)
            report("memory:// + sqlite:///", figures, uptime)
    if args.redis and args.postgres:
        for _ in range(args.repeat):
            await run_remote(args, games)


if __name__ == "__main__":
    asyncio.run(main())
