"""Event log and archive throughput: append -> read -> archive, in events per second.

Usage::

    .venv/bin/python bench/bus_store.py [--events 100000] [--batch 500] [--concurrency 8]
        [--redis redis://127.0.0.1:6379/0] [--postgres postgresql://postgres@127.0.0.1/test]
        [--repeat 3]

The events are the real plays of the Retrosheet games bundled in ``data/retrosheet``,
copied under new game ids until ``--events`` are reached (a copy per game stream). For each
pair of backends (``memory://`` + ``sqlite:///<tmp>``, and ``redis://`` + ``postgresql://``
when their URLs are given) it measures, best of ``--repeat``:

* end to end: ``--concurrency`` workers each take a game and, batch by batch, encode its
  events and ``append_many`` them to the game's stream, ``read`` them back, decode them
  and ``put_batch`` them into the archive with the bytes the log holds (as a processor
  does);
* each stage alone, over all games, with the same concurrency: append (encode
  included), read (decode included), archive.

Redis keys go under a unique prefix and PostgreSQL tables into a unique schema; both are
removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import asyncpg
import msgspec
import redis.asyncio as aioredis

from pressbox.bus import EventBus, event_stream
from pressbox.bus import from_url as bus_from_url
from pressbox.engine.events import PlayEvent, decode_event, encode
from pressbox.feeds.retrosheet import iter_games
from pressbox.store import Archive
from pressbox.store import from_url as store_from_url

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "retrosheet"

Games = list[tuple[str, list[PlayEvent]]]


def load(n_events: int) -> Games:
    """Real games, copied under new ids until there are ``n_events`` events."""
    originals = [g.events for g in iter_games([SAMPLE])]
    games: Games = []
    total = 0
    copy = 0
    while total < n_events:
        for events in originals:
            game_id = f"B{copy:05d}{events[0].game_id}"
            renamed = [
                msgspec.structs.replace(e, game_id=game_id, event_id=f"{game_id}:{e.seq}")
                for e in events
            ]
            games.append((game_id, renamed))
            total += len(renamed)
            if total >= n_events:
                break
        copy += 1
    return games


def _batches(items: Sequence[PlayEvent], size: int) -> list[Sequence[PlayEvent]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def _each_game(
    games: Games, concurrency: int, work: Callable[[str, list[PlayEvent]], Awaitable[None]]
) -> None:
    pending = list(reversed(games))

    async def worker() -> None:
        while pending:
            game_id, events = pending.pop()
            await work(game_id, events)

    async with asyncio.TaskGroup() as tg:
        for _ in range(concurrency):
            tg.create_task(worker())


async def _append(bus: EventBus, game_id: str, events: Sequence[PlayEvent]) -> None:
    await bus.append_many(event_stream(game_id), [(e.event_id, encode(e)) for e in events])


async def _read(
    bus: EventBus, game_id: str, start: int, limit: int
) -> tuple[list[PlayEvent], list[bytes]]:
    """Events read back and decoded, with the bytes the log holds (archived as they are)."""
    entries = await bus.read(event_stream(game_id), start, limit=limit)
    return [decode_event(entry.payload) for entry in entries], [e.payload for e in entries]


async def end_to_end(
    bus: EventBus, archive: Archive, games: Games, batch: int, concurrency: int
) -> float:
    """Seconds to append, read back and archive every event, game by game."""

    async def work(game_id: str, events: list[PlayEvent]) -> None:
        start = 1
        for chunk in _batches(events, batch):
            await _append(bus, game_id, chunk)
            read, docs = await _read(bus, game_id, start, len(chunk))
            await archive.put_batch(read, (), event_docs=docs)
            start += len(chunk)

    began = time.perf_counter()
    await _each_game(games, concurrency, work)
    return time.perf_counter() - began


async def stages(
    bus: EventBus, archive: Archive, games: Games, batch: int, concurrency: int
) -> tuple[float, float, float]:
    """Seconds for each stage alone over every game: append, read, archive."""

    async def append(game_id: str, events: list[PlayEvent]) -> None:
        for chunk in _batches(events, batch):
            await _append(bus, game_id, chunk)

    decoded: dict[str, tuple[list[PlayEvent], list[bytes]]] = {}

    async def read(game_id: str, events: list[PlayEvent]) -> None:
        out: list[PlayEvent] = []
        docs: list[bytes] = []
        while len(out) < len(events):
            more, raw = await _read(bus, game_id, len(out) + 1, batch)
            out += more
            docs += raw
        decoded[game_id] = (out, docs)

    async def store(game_id: str, events: list[PlayEvent]) -> None:
        out, docs = decoded[game_id]
        for start in range(0, len(out), batch):
            end = start + batch
            await archive.put_batch(out[start:end], (), event_docs=docs[start:end])

    times = []
    for stage in (append, read, store):
        began = time.perf_counter()
        await _each_game(games, concurrency, stage)
        times.append(time.perf_counter() - began)
    return times[0], times[1], times[2]


async def run_pair(
    name: str,
    make: Callable[[], Awaitable[tuple[EventBus, Archive, Callable[[], Awaitable[None]]]]],
    games: Games,
    args: argparse.Namespace,
) -> None:
    n = sum(len(events) for _, events in games)
    best_e2e = float("inf")
    best_stages = [float("inf")] * 3
    for _ in range(args.repeat):
        for measure in ("e2e", "stages"):
            bus, archive, cleanup = await make()
            try:
                async with bus, archive:
                    if measure == "e2e":
                        best_e2e = min(
                            best_e2e,
                            await end_to_end(bus, archive, games, args.batch, args.concurrency),
                        )
                        stored = sum(g.last_seq for g in await archive.games())
                        assert stored == n, (stored, n)
                    else:
                        got = await stages(bus, archive, games, args.batch, args.concurrency)
                        best_stages = [min(a, b) for a, b in zip(best_stages, got, strict=True)]
            finally:
                await cleanup()
    append, read, store = best_stages
    print(
        f"{name:<20} {n:>8,} events  end-to-end {best_e2e:6.2f} s = {n / best_e2e:>8,.0f} ev/s"
        f" | append {n / append:>8,.0f}  read {n / read:>8,.0f}  archive {n / store:>8,.0f} ev/s",
        flush=True,
    )


async def main(args: argparse.Namespace) -> None:
    games = load(args.events)
    n = sum(len(events) for _, events in games)
    print(
        f"# {n:,} events in {len(games)} games, batch {args.batch}, concurrency "
        f"{args.concurrency}, best of {args.repeat}; Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:

        async def embedded() -> tuple[EventBus, Archive, Callable[[], Awaitable[None]]]:
            path = Path(tmp) / f"{uuid.uuid4().hex}.db"

            async def cleanup() -> None:
                # The files are small next to the run; removing them inline is fine here.
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)  # noqa: ASYNC240

            return (
                bus_from_url("memory://?max_len=100000"),
                store_from_url(f"sqlite:///{path}"),
                cleanup,
            )

        await run_pair("memory + sqlite", embedded, games, args)

    if args.redis and args.postgres:

        async def services() -> tuple[EventBus, Archive, Callable[[], Awaitable[None]]]:
            prefix = f"pressbox-bench:{uuid.uuid4().hex}:"
            schema = f"pressbox_bench_{uuid.uuid4().hex[:12]}"

            async def cleanup() -> None:
                client = aioredis.Redis.from_url(args.redis)
                keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
                if keys:
                    await client.delete(*keys)
                await client.aclose()
                conn = await asyncpg.connect(args.postgres)
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                await conn.close()

            bus = bus_from_url(f"{args.redis}?prefix={prefix}&max_len=100000")
            archive = store_from_url(f"{args.postgres}?schema={schema}")
            return bus, archive, cleanup

        await run_pair("redis + postgresql", services, games, args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--redis", default=os.environ.get("PRESSBOX_TEST_REDIS_URL"))
    parser.add_argument("--postgres", default=os.environ.get("PRESSBOX_TEST_POSTGRES_URL"))
    asyncio.run(main(parser.parse_args()))
