"""Fixtures for the archive tests: every backend behind one ``archive`` fixture."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import asyncpg
import pytest

from pressbox.engine.events import (
    BaseballSituation,
    GameInfo,
    GameState,
    PlayEvent,
    Update,
    WinProbability,
)
from pressbox.store import Archive, from_url
from tests.conftest import service_url

MODEL = "mlb-test/1"


def event(game_id: str, seq: int, *, kind: str = "play", home: int = 0, away: int = 0) -> PlayEvent:
    """A small valid event of a baseball game."""
    return PlayEvent(
        sport="mlb",
        game_id=game_id,
        seq=seq,
        event_id=f"{game_id}:{seq}",
        kind=kind,  # type: ignore[arg-type]
        period=1,
        home_score=home,
        away_score=away,
        text=f"play {seq}",
        after=BaseballSituation(inning=1, half="top", outs=min(seq, 2)),
        info=GameInfo(home="NYA", away="BOS", date="2015-04-06") if kind == "game_start" else None,
        ts_ingest=1_700_000_000.0 + seq,
    )


def update(
    game_id: str, seq: int, *, wp: float | None = 0.5, wpa: float | None = 0.0, model: str = MODEL
) -> Update:
    """A small valid update of a baseball game."""
    return Update(
        sport="mlb",
        game_id=game_id,
        seq=seq,
        event_seq=seq,
        event_id=f"{game_id}:{seq}",
        state=GameState(sport="mlb", game_id=game_id, seq=seq, status="live"),
        wp=None if wp is None else WinProbability(home=wp, away=1 - wp, model=model),
        wpa=wpa,
        key_play=wpa is not None and abs(wpa) >= 0.1,
        ts_emit=1_700_000_100.0 + seq,
    )


async def _drop_schema(url: str, schema: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture(
    params=["sqlite-memory", "sqlite-file", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def archive_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A URL for a fresh, empty archive of each backend; a PostgreSQL schema is dropped after."""
    if request.param == "sqlite-memory":
        yield "sqlite://"
        return
    if request.param == "sqlite-file":
        yield f"sqlite:///{tmp_path / 'archive.db'}"
        return
    base = service_url("POSTGRES")
    schema = f"pressbox_test_{uuid.uuid4().hex[:12]}"
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}schema={schema}"
    finally:
        await _drop_schema(base, schema)


@pytest.fixture
async def archive(archive_url: str) -> AsyncIterator[Archive]:
    """Each backend in turn, opened and migrated."""
    async with from_url(archive_url) as archive:
        yield archive


@pytest.fixture
def reopen(archive_url: str) -> Callable[[], Archive]:
    """Open a second archive on the same database (not possible for sqlite://)."""
    if archive_url == "sqlite://":
        pytest.skip("an in-memory SQLite database cannot be reopened")
    return lambda: from_url(archive_url)


@asynccontextmanager
async def opened_together(url: str, count: int) -> AsyncIterator[list[Archive]]:
    """``count`` archives on ``url``, all opened at the same moment (as processes starting
    together would), closed at the end."""
    archives = [from_url(url) for _ in range(count)]
    try:
        async with anyio.create_task_group() as tg:
            for archive in archives:
                tg.start_soon(archive.__aenter__)
        yield archives
    finally:
        for archive in archives:
            await archive.aclose()
