"""Crash tests: separate processes over real Redis and PostgreSQL, killed mid-game.

A real game goes through ``pressbox ingest`` → Redis Streams → two ``pressbox process``
workers → PostgreSQL. One worker is SIGKILLed at random points and restarted; the other
ingest is restarted too. At the end the archive must hold every event and every update
exactly once, in order, equal to an uninterrupted in-process run of the same game.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import msgspec
import pytest

from pressbox import store as store_factory
from pressbox.config import Settings
from pressbox.engine.events import Update
from pressbox.feeds.retrosheet import iter_games
from pressbox.service import ProcessorPool, Service
from tests.conftest import ROOT, SAMPLE_RETROSHEET, service_url

pytestmark = [pytest.mark.anyio, pytest.mark.redis, pytest.mark.postgres]

GAME_FILE = SAMPLE_RETROSHEET / "2016" / "post" / "2016WS_.EVE"
GAME = next(iter(iter_games([GAME_FILE])))
REPLAY_SECONDS = 12.0
"""How long the paced replay of the game takes in these tests."""


def _comparable(update: Update) -> Update:
    """An update without its wall-clock stamps, which differ from run to run."""
    return msgspec.structs.replace(update, ts_emit=None, ts_ingest=None, ts_source=None)


async def _reference() -> list[Update]:
    settings = Settings(log_url="memory://", archive_url="sqlite://")
    async with Service(settings) as service:
        await service.replay([GAME_FILE], speed=0)
        await ProcessorPool(service, consumer="reference").run(until_idle=True)
        return [_comparable(u) for u in await service.archive.updates(GAME.game_id)]


@pytest.fixture
async def urls() -> AsyncIterator[tuple[str, str]]:
    """A Redis key prefix and a PostgreSQL schema of their own, removed afterwards."""
    redis_url = service_url("REDIS")
    postgres_url = service_url("POSTGRES")
    tag = uuid.uuid4().hex[:10]
    schema = f"crash_{tag}"
    separator = "&" if "?" in redis_url else "?"
    log_url = f"{redis_url}{separator}prefix=crash-{tag}:"
    archive_url = f"{postgres_url}{'&' if '?' in postgres_url else '?'}schema={schema}"
    yield log_url, archive_url
    import redis.asyncio as redis_asyncio

    client = redis_asyncio.Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"crash-{tag}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
    connection = await asyncpg.connect(postgres_url)
    try:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await connection.close()


def _spawn(args: list[str], log_url: str, archive_url: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(PRESSBOX_LOG_URL=log_url, PRESSBOX_ARCHIVE_URL=archive_url)
    return subprocess.Popen(
        [sys.executable, "-m", "pressbox", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _processor(name: str, log_url: str, archive_url: str) -> subprocess.Popen[bytes]:
    return _spawn(
        ["process", "--consumer", name, "--heartbeat", "0.2", "--takeover", "1.5"],
        log_url,
        archive_url,
    )


def _speed() -> float:
    minutes = int(GAME.records.get("timeofgame", "180"))
    return minutes * 60 / REPLAY_SECONDS


async def _wait_final(archive_url: str, limit_s: float = 90.0) -> list[Update]:
    deadline = time.monotonic() + limit_s
    async with store_factory.from_url(archive_url) as archive:
        while time.monotonic() < deadline:
            try:
                updates = await archive.updates(GAME.game_id)
            except Exception:
                updates = []
            if updates and updates[-1].state.status == "final":
                return updates
            await asyncio.sleep(0.2)
    pytest.fail(f"{GAME.game_id} did not reach final within {limit_s} s")


def _stop(*processes: subprocess.Popen[bytes]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)


async def _check_archive(archive_url: str, reference: list[Update]) -> None:
    async with store_factory.from_url(archive_url) as archive:
        timeline = await archive.timeline(GAME.game_id)
        assert [e.event_id for e in timeline] == [e.event_id for e in GAME.events]
        assert [e.seq for e in timeline] == list(range(1, len(GAME.events) + 1))
        updates = [_comparable(u) for u in await archive.updates(GAME.game_id)]
    assert [u.seq for u in updates] == list(range(1, len(reference) + 1))
    assert updates == reference


async def test_killed_processors_lose_and_duplicate_nothing(urls) -> None:
    """SIGKILLing a processor five times mid-game leaves the archive as a clean run would."""
    log_url, archive_url = urls
    reference = await _reference()
    rng = random.Random(20161102)
    ingest = _spawn(["ingest", str(GAME_FILE), "--speed", f"{_speed():.1f}"], log_url, archive_url)
    workers = {
        "p1": _processor("p1", log_url, archive_url),
        "p2": _processor("p2", log_url, archive_url),
    }
    kills = 0
    try:
        while ingest.poll() is None or kills < 5:
            await asyncio.sleep(rng.uniform(0.8, 2.0))
            victim = rng.choice(sorted(workers))
            workers[victim].send_signal(signal.SIGKILL)
            workers[victim].wait(timeout=10)
            kills += 1
            workers[victim] = _processor(victim, log_url, archive_url)
        assert ingest.returncode == 0
        await _wait_final(archive_url)
    finally:
        _stop(ingest, *workers.values())
    assert kills >= 5
    await _check_archive(archive_url, reference)


async def test_restarted_ingest_loses_and_duplicates_nothing(urls) -> None:
    """Killing the Redis-backed ingest mid-game and restarting it leaves a clean archive."""
    log_url, archive_url = urls
    reference = await _reference()
    worker = _processor("p1", log_url, archive_url)
    args = ["ingest", str(GAME_FILE), "--speed", f"{_speed():.1f}"]
    ingest = _spawn(args, log_url, archive_url)
    try:
        for _ in range(2):
            await asyncio.sleep(REPLAY_SECONDS / 3)
            ingest.send_signal(signal.SIGKILL)
            ingest.wait(timeout=10)
            ingest = _spawn(args, log_url, archive_url)
        assert ingest.wait(timeout=REPLAY_SECONDS * 3) == 0
        await _wait_final(archive_url)
    finally:
        _stop(ingest, worker)
    await _check_archive(archive_url, reference)


def test_game_file_is_the_bundled_world_series_game() -> None:
    """The crash tests replay a real game that the repo ships."""
    assert Path(GAME_FILE).exists()
    assert GAME.game_id == "CLE201611020"
