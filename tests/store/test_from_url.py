"""Choosing the archive by URL, and failing clearly when it cannot be opened."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest

from pressbox.errors import BackendError, BackendUnavailable, UnsupportedBackend
from pressbox.store import SUPPORTED, from_url
from pressbox.store._schema import LATEST
from pressbox.store.postgres import PostgresArchive
from pressbox.store.sqlite import SqliteArchive, path_from_url
from tests.store.conftest import event, opened_together

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite://", ":memory:"),
        ("sqlite:///:memory:", ":memory:"),
        ("sqlite:///pressbox.db", "pressbox.db"),
        ("sqlite:///./data/pressbox.db", "./data/pressbox.db"),
        ("sqlite:////var/lib/pressbox.db", "/var/lib/pressbox.db"),
    ],
)
def test_sqlite_paths(url: str, path: str) -> None:
    """sqlite:// is in memory; three slashes start a relative path, four an absolute one."""
    assert path_from_url(url) == path
    assert isinstance(from_url(url), SqliteArchive)


@pytest.mark.parametrize("url", ["postgres://u@h/db", "postgresql://u@h:5433/db?schema=s1"])
def test_postgres_urls_build_without_connecting(url: str) -> None:
    """postgres:// and postgresql:// give the PostgreSQL archive, connecting lazily."""
    assert isinstance(from_url(url), PostgresArchive)


def test_bad_schema_name_is_refused() -> None:
    """A schema name that is not a plain identifier is refused before any SQL."""
    with pytest.raises(ValueError, match="schema"):
        from_url('postgresql://u@h/db?schema=x";drop')


@pytest.mark.parametrize("url", ["mysql://db/x", "redis://h", "", "sqlite"])
def test_unknown_scheme_names_the_supported_ones(url: str) -> None:
    """An unknown scheme raises UnsupportedBackend listing what is served."""
    with pytest.raises(UnsupportedBackend) as info:
        from_url(url)
    assert info.value.supported == SUPPORTED
    assert "postgresql://" in str(info.value)


def test_backend_injection() -> None:
    """backend= returns the given instance whatever the URL."""
    mine = SqliteArchive()
    assert from_url("mysql://ignored", backend=mine) is mine


async def test_sqlite_file_in_a_missing_directory_is_unavailable(tmp_path: Path) -> None:
    """A database that cannot be opened fails as BackendUnavailable, saying why."""
    archive = from_url(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    with pytest.raises(BackendUnavailable, match="unable to open"):
        await archive.games()
    assert await archive.ping() is False
    await archive.aclose()


async def test_unreachable_postgres_is_unavailable() -> None:
    """A PostgreSQL that cannot be reached fails as BackendUnavailable; ping says False."""
    archive = from_url("postgresql://postgres@127.0.0.1:1/test", connect_timeout=0.5)
    with pytest.raises(BackendUnavailable):
        await archive.games()
    assert await archive.ping() is False
    await archive.aclose()


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    """A database migrated by a newer pressbox is not touched."""
    path = tmp_path / "newer.db"
    async with SqliteArchive(str(path)) as archive:
        assert await archive.schema_version() == LATEST
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_version VALUES (999, 'future', 0)")
    with pytest.raises(BackendError, match="newer"):
        async with SqliteArchive(str(path)):
            pass


async def test_sqlite_file_uses_wal(tmp_path: Path) -> None:
    """A file database runs in WAL mode so readers do not block the writer."""
    path = tmp_path / "wal.db"
    async with SqliteArchive(str(path)):
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_archives_opening_a_new_file_together_all_open(tmp_path: Path) -> None:
    """Four archives opening the same new file at once, 25 times: every one opens, on the
    latest schema. Switching the file to WAL raced ("database is locked" at once, without
    SQLite's busy handler: 5 of 100 such rounds failed); the switch is now retried."""
    for round_ in range(25):
        url = f"sqlite:///{tmp_path / f'race{round_}.db'}"
        async with opened_together(url, 4) as archives:
            for archive in archives:
                assert await archive.schema_version() == LATEST


async def test_wal_is_checkpointed_off_the_writer(tmp_path: Path) -> None:
    """The writer leaves checkpoints to a thread of their own (it would only checkpoint
    past 64 Ki pages); that thread copies the WAL back while the archive is open, and stops
    with it."""
    path = tmp_path / "ckpt.db"
    archive = SqliteArchive(str(path))
    async with archive:
        await archive.put_events([event("G1", seq) for seq in range(1, 201)])
        checkpointer = archive._checkpointer
        assert checkpointer is not None
        assert checkpointer.is_alive()
        writer_pages = await archive._call(
            lambda conn: conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        )
        assert writer_pages == 65536
        # Two checkpoints that began after the write: the second began after it surely.
        wanted = checkpointer.checkpoints + 2
        with anyio.fail_after(10):
            while checkpointer.checkpoints < wanted:  # noqa: ASYNC110 (a thread's counter)
                await anyio.sleep(0.05)
        # The database file alone, without its WAL, holds the rows: they were copied back.
        alone = tmp_path / "alone.db"
        alone.write_bytes(path.read_bytes())
        with sqlite3.connect(alone) as conn:
            assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 200
    assert not checkpointer.is_alive()


async def test_an_unreadable_stored_event_is_a_backend_error(tmp_path: Path) -> None:
    """A stored document that no longer decodes is reported as BackendError."""
    path = tmp_path / "bad.db"
    async with SqliteArchive(str(path)) as archive:
        await archive.put_events([event("G", 1, kind="game_start")])
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE events SET payload = '{\"v\": 1}'")
    async with SqliteArchive(str(path)) as archive:
        with pytest.raises(BackendError, match="unreadable event"):
            await archive.timeline("G")
