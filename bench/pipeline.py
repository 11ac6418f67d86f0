"""Events per second through log -> processor -> archive (the processing loop of a game night).

Usage::

    .venv/bin/python bench/pipeline.py [--events 50000] [--model mlb|none]
        [--redis redis://127.0.0.1:6379/0] [--postgres postgresql://postgres@127.0.0.1/test]

The events are the real plays of the Retrosheet games bundled in ``data/retrosheet``,
copied under new game ids until ``--events`` are reached. They are appended to the log
first (not timed), then one processor pool takes every game and runs it to its end: each
game's processor reads its events in batches, folds them through the state machine and the
MLB model (WP, WPA, leverage), appends the updates to the game's update stream and
archives events, updates and its checkpoint. The figure is events processed per second of
wall time, on one process (one core) for each pair of backends: ``memory://`` +
``sqlite:///<tmp>`` always, ``redis://`` + ``postgresql://`` when their URLs are given
(under a unique key prefix and schema, removed afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import msgspec
import redis.asyncio as aioredis

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


async def run(log_url: str, archive_url: str, games: list[list[PlayEvent]], model: str) -> float:
    settings = Settings(log_url=log_url, archive_url=archive_url)
    models = {} if model == "mlb" else {"mlb": None}
    async with Service(settings, models=models) as service:  # type: ignore[arg-type]
        if model == "mlb":
            service.model("mlb")
        for events in games:
            await service.announce("mlb", events[0].game_id)
            for start in range(0, len(events), 500):
                for event in events[start : start + 500]:
                    await service.publish(event)
        n = sum(len(events) for events in games)
        started = time.perf_counter()
        await ProcessorPool(service, consumer="bench").run(until_idle=True)
        elapsed = time.perf_counter() - started
        return n / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--model", choices=["mlb", "none"], default="mlb")
    parser.add_argument("--redis", default=os.environ.get("PRESSBOX_TEST_REDIS_URL"))
    parser.add_argument("--postgres", default=os.environ.get("PRESSBOX_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    if args.model == "mlb":
        get_model("mlb")
    games = load(args.events)
    n = sum(len(g) for g in games)
    print(f"# {platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"# {len(games)} games, {n} events, model={args.model}")
    with tempfile.TemporaryDirectory() as tmp:
        rate = await run("memory://", f"sqlite:///{tmp}/bench.db", games, args.model)
        print(f"memory:// + sqlite:///      {rate:10,.0f} events/s")
    if args.redis and args.postgres:
        tag = uuid.uuid4().hex[:8]
        sep = "&" if "?" in args.redis else "?"
        log_url = f"{args.redis}{sep}prefix=bench-{tag}:"
        schema = f"bench_{tag}"
        archive_url = f"{args.postgres}{'&' if '?' in args.postgres else '?'}schema={schema}"
        try:
            rate = await run(log_url, archive_url, games, args.model)
            print(f"redis:// + postgresql://    {rate:10,.0f} events/s")
        finally:
            client = aioredis.Redis.from_url(args.redis)
            keys = [k async for k in client.scan_iter(match=f"bench-{tag}:*")]
            if keys:
                await client.delete(*keys)
            await client.aclose()
            connection = await asyncpg.connect(args.postgres)
            await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            await connection.close()


if __name__ == "__main__":
    asyncio.run(main())
