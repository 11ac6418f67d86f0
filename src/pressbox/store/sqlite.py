"""``sqlite:///path.db``: the archive in one SQLite file (``sqlite://``: in memory).

One aiosqlite connection in WAL mode (readers in other processes do not block the
writer) with ``synchronous=NORMAL`` (a power cut may lose the last transactions, never
corrupt the file). Batches go through ``executemany`` inside one ``BEGIN IMMEDIATE``
transaction. The connection is shared by every task of the process, so an asyncio lock
serializes its use: two tasks must never interleave statements in one transaction.
sqlite3 errors become :class:`~pressbox.errors.BackendUnavailable` (cannot open, locked)
or :class:`~pressbox.errors.BackendError`.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from types import TracebackType
from typing import Any, Self

import aiosqlite
import msgspec

from pressbox.engine.events import GameInfo, PlayEvent, Update, encode
from pressbox.errors import BackendError, BackendUnavailable, UnknownGame
from pressbox.store._schema import MIGRATIONS, SCHEMA_VERSION_SQLITE, check_version
from pressbox.store.base import (
    Checkpoint,
    GameRecord,
    check_checkpoint,
    check_events,
    check_text,
    check_updates,
    game_changes,
    model_of,
    stored_event,
    stored_update,
)
from pressbox.types import GameStatus, Sport

_UPSERT_GAME_FROM_EVENTS = """
INSERT INTO games (game_id, sport, status, info, home, away, date, home_score, away_score,
                   last_seq, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (game_id) DO UPDATE SET
    info = coalesce(excluded.info, games.info),
    home = coalesce(excluded.home, games.home),
    away = coalesce(excluded.away, games.away),
    date = coalesce(excluded.date, games.date),
    status = CASE WHEN games.status = 'final' OR excluded.status = 'final'
                  THEN 'final' ELSE 'live' END,
    home_score = CASE WHEN excluded.status = 'final'
                        OR (games.status != 'final' AND excluded.last_seq >= games.last_seq)
                      THEN excluded.home_score ELSE games.home_score END,
    away_score = CASE WHEN excluded.status = 'final'
                        OR (games.status != 'final' AND excluded.last_seq >= games.last_seq)
                      THEN excluded.away_score ELSE games.away_score END,
    last_seq = max(games.last_seq, excluded.last_seq),
    updated_at = excluded.updated_at
"""

_PUT_GAME = """
INSERT INTO games (game_id, sport, status, info, home, away, date, home_score, away_score,
                   last_seq, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (game_id) DO UPDATE SET
    sport = excluded.sport, status = excluded.status, info = excluded.info,
    home = excluded.home, away = excluded.away, date = excluded.date,
    home_score = excluded.home_score, away_score = excluded.away_score,
    last_seq = excluded.last_seq, updated_at = excluded.updated_at
"""

_ENSURE_GAME = (
    "INSERT OR IGNORE INTO games (game_id, sport, status, updated_at) VALUES (?, ?, 'live', ?)"
)

_INSERT_EVENT = (
    "INSERT OR IGNORE INTO events (game_id, event_id, seq, kind, ts_ingest, payload)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)

_INSERT_UPDATE = (
    "INSERT OR IGNORE INTO updates (game_id, model, seq, event_seq, event_id, kind, home_wp,"
    " wpa, leverage, key_play, ts_emit, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

_PUT_CHECKPOINT = """
INSERT INTO checkpoints (consumer, stream, seq, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (consumer, stream) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at
"""

_GAME_COLUMNS = "SELECT game_id, sport, status, info, home_score, away_score, last_seq FROM games"
_SELECT_GAMES = (
    _GAME_COLUMNS + " WHERE (? IS NULL OR sport = ?) AND (? IS NULL OR status = ?)"
    " ORDER BY coalesce(date, ''), game_id"
)
_SELECT_GAME = _GAME_COLUMNS + " WHERE game_id = ?"

_info_decoder = msgspec.json.Decoder(GameInfo)


def _info_json(info: GameInfo | None) -> str | None:
    return None if info is None else msgspec.json.encode(info).decode()


def _game_record(row: Sequence[Any]) -> GameRecord:
    game_id, sport, status, info, home_score, away_score, last_seq = row
    return GameRecord(
        game_id=game_id,
        sport=sport,
        status=status,
        info=None if info is None else _info_decoder.decode(info),
        home_score=home_score,
        away_score=away_score,
        last_seq=last_seq,
    )


def path_from_url(url: str) -> str:
    """The database path of a ``sqlite://`` URL: ``sqlite://`` is ``:memory:``.

    ``sqlite:///pressbox.db`` is relative to the working directory and
    ``sqlite:////var/lib/pressbox.db`` is absolute (the SQLAlchemy convention).

    Raises:
        ValueError: The URL is not a ``sqlite://`` URL.
    """
    if url in ("sqlite://", "sqlite:///:memory:"):
        return ":memory:"
    if not url.startswith("sqlite:///"):
        raise ValueError(f"not a sqlite URL: {url!r}")
    return url.removeprefix("sqlite:///").split("?", 1)[0]


class SqliteArchive:
    """An :class:`~pressbox.store.base.Archive` in one SQLite database.

    Args:
        path: The database file, or ``":memory:"`` (default) for a private in-memory one.
        timeout: Seconds to wait for a lock held by another process (busy timeout).
        clock: Unix time for ``updated_at`` columns (default ``time.time``).

    The database is opened and migrated on first use (or on ``async with``).
    """

    def __init__(
        self,
        path: str = ":memory:",
        *,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._path = path
        self._timeout = timeout
        self._clock = clock
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    @contextmanager
    def _translate(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as exc:
            message = str(exc)
            if "unable to open" in message or "locked" in message or "busy" in message:
                raise BackendUnavailable(f"sqlite {self._path}: {message}") from exc
            raise BackendError(f"sqlite {self._path}: {message}") from exc
        except sqlite3.Error as exc:
            raise BackendError(f"sqlite {self._path}: {exc}") from exc

    async def _open(self) -> aiosqlite.Connection:
        if self._closed:
            raise BackendUnavailable(f"sqlite archive {self._path} is closed")
        if self._conn is not None:
            return self._conn
        folder = os.path.dirname(self._path) or "."
        if self._path != ":memory:" and not await asyncio.to_thread(os.path.isdir, folder):
            # Checked here because aiosqlite, when the connect itself fails, leaves its worker
            # thread to report back to the event loop later, possibly after it has closed.
            raise BackendUnavailable(
                f"sqlite {self._path}: unable to open database file (no such directory)"
            )
        try:
            conn = await aiosqlite.connect(self._path, timeout=self._timeout, isolation_level=None)
        except sqlite3.Error:
            await asyncio.sleep(0.05)  # Let the worker thread stop while the loop still runs.
            raise
        try:
            if self._path != ":memory:":
                await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA synchronous=NORMAL")
            await self._migrate(conn)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        return conn

    async def _migrate(self, conn: aiosqlite.Connection) -> None:
        await conn.execute(SCHEMA_VERSION_SQLITE)
        # BEGIN IMMEDIATE takes the write lock first, so two processes opening the same
        # new file cannot both apply a migration.
        await conn.execute("BEGIN IMMEDIATE")
        try:
            async with conn.execute("SELECT coalesce(max(version), 0) FROM schema_version") as cur:
                row = await cur.fetchone()
            current = int(row[0]) if row else 0
            check_version(f"sqlite {self._path}", current)
            for migration in MIGRATIONS:
                if migration.version <= current:
                    continue
                for statement in migration.sqlite:
                    await conn.execute(statement)
                await conn.execute(
                    "INSERT INTO schema_version (version, description, applied_at)"
                    " VALUES (?, ?, ?)",
                    (migration.version, migration.description, self._clock()),
                )
            await conn.execute("COMMIT")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            with self._translate():
                conn = await self._open()
                await conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    await conn.execute("ROLLBACK")
                    raise
                await conn.execute("COMMIT")

    async def _fetch(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        async with self._lock:
            with self._translate():
                conn = await self._open()
                async with conn.execute(sql, tuple(params)) as cur:
                    return list(await cur.fetchall())

    async def _require_game(self, game_id: object) -> str:
        game_id = check_text("game_id", game_id)
        if not await self._fetch("SELECT 1 FROM games WHERE game_id = ?", (game_id,)):
            raise UnknownGame(game_id)
        return game_id

    async def schema_version(self) -> int:
        """The highest migration applied to the database."""
        rows = await self._fetch("SELECT coalesce(max(version), 0) FROM schema_version")
        return int(rows[0][0])

    def _event_rows(self, batch: list[PlayEvent], now: float) -> tuple[list[Any], list[Any]]:
        rows = [
            (e.game_id, e.event_id, e.seq, e.kind, e.ts_ingest, encode(e).decode()) for e in batch
        ]
        games = [
            (
                c.game_id,
                c.sport,
                "final" if c.final else "live",
                _info_json(c.info),
                c.info.home if c.info else None,
                c.info.away if c.info else None,
                c.info.date if c.info else None,
                c.home_score,
                c.away_score,
                c.last_seq,
                now,
            )
            for c in game_changes(batch)
        ]
        return rows, games

    def _update_rows(
        self, batch: list[Update], model: str | None, now: float
    ) -> tuple[list[Any], list[Any]]:
        rows = [
            (
                u.game_id,
                model_of(u, model),
                u.seq,
                u.event_seq,
                u.event_id,
                u.kind,
                u.wp.home if u.wp is not None else None,
                u.wpa,
                u.leverage,
                int(u.key_play),
                u.ts_emit,
                encode(u).decode(),
            )
            for u in batch
        ]
        games = list({u.game_id: (u.game_id, u.sport, now) for u in batch}.values())
        return rows, games

    @staticmethod
    async def _write_events(conn: aiosqlite.Connection, rows: list[Any], games: list[Any]) -> int:
        before = conn.total_changes
        await conn.executemany(_INSERT_EVENT, rows)
        added = conn.total_changes - before
        await conn.executemany(_UPSERT_GAME_FROM_EVENTS, games)
        return added

    @staticmethod
    async def _write_updates(conn: aiosqlite.Connection, rows: list[Any], games: list[Any]) -> int:
        await conn.executemany(_ENSURE_GAME, games)
        before = conn.total_changes
        await conn.executemany(_INSERT_UPDATE, rows)
        return conn.total_changes - before

    async def put_events(
        self, events: Sequence[PlayEvent], *, checkpoint: Checkpoint | None = None
    ) -> int:
        """Store events and the game rows they imply; returns how many were new."""
        added, _ = await self.put_batch(events, (), checkpoint=checkpoint)
        return added

    async def put_updates(
        self,
        updates: Sequence[Update],
        *,
        model: str | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> int:
        """Store updates and, in the same transaction, the checkpoint; returns how many new."""
        _, added = await self.put_batch((), updates, model=model, checkpoint=checkpoint)
        return added

    async def put_batch(
        self,
        events: Sequence[PlayEvent],
        updates: Sequence[Update],
        *,
        model: str | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> tuple[int, int]:
        """Store events, updates and the checkpoint in one transaction; returns the new counts."""
        event_batch = check_events(events)
        update_batch = check_updates(updates, model)
        mark = check_checkpoint(checkpoint)
        if not event_batch and not update_batch and mark is None:
            return 0, 0
        now = self._clock()
        event_rows = self._event_rows(event_batch, now) if event_batch else None
        update_rows = self._update_rows(update_batch, model, now) if update_batch else None
        added_events = added_updates = 0
        async with self._transaction() as conn:
            if event_rows is not None:
                added_events = await self._write_events(conn, *event_rows)
            if update_rows is not None:
                added_updates = await self._write_updates(conn, *update_rows)
            if mark is not None:
                await conn.execute(_PUT_CHECKPOINT, (*mark, now))
        return added_events, added_updates

    async def put_game(self, game: GameRecord) -> None:
        """Create or replace a game's row."""
        if not isinstance(game, GameRecord):
            raise TypeError(f"expected GameRecord, not {type(game).__name__}")
        check_text("game_id", game.game_id)
        info = game.info
        async with self._transaction() as conn:
            await conn.execute(
                _PUT_GAME,
                (
                    game.game_id,
                    game.sport,
                    game.status,
                    _info_json(info),
                    info.home if info else None,
                    info.away if info else None,
                    info.date if info else None,
                    game.home_score,
                    game.away_score,
                    game.last_seq,
                    self._clock(),
                ),
            )

    async def put_result(self, game_id: str, *, home_score: int, away_score: int) -> None:
        """Record a final score; raises UnknownGame for a game not in the archive."""
        check_text("game_id", game_id)
        for name, value in (("home_score", home_score), ("away_score", away_score)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be int, not {type(value).__name__}")
        async with self._transaction() as conn:
            cur = await conn.execute(
                "UPDATE games SET status = 'final', home_score = ?, away_score = ?,"
                " updated_at = ? WHERE game_id = ?",
                (home_score, away_score, self._clock(), game_id),
            )
            if cur.rowcount == 0:
                raise UnknownGame(game_id)

    async def games(
        self, *, sport: Sport | None = None, status: GameStatus | None = None
    ) -> list[GameRecord]:
        """The games, by date then id, optionally of one sport or status."""
        rows = await self._fetch(
            _SELECT_GAMES,
            (sport, sport, status, status),
        )
        return [_game_record(row) for row in rows]

    async def game(self, game_id: str) -> GameRecord:
        """One game's row; raises UnknownGame."""
        check_text("game_id", game_id)
        rows = await self._fetch(_SELECT_GAME, (game_id,))
        if not rows:
            raise UnknownGame(game_id)
        return _game_record(rows[0])

    async def timeline(self, game_id: str) -> list[PlayEvent]:
        """A game's events in sequence order; raises UnknownGame."""
        await self._require_game(game_id)
        rows = await self._fetch(
            "SELECT payload FROM events WHERE game_id = ? ORDER BY seq, event_id", (game_id,)
        )
        return [stored_event(row[0]) for row in rows]

    async def updates(self, game_id: str, model: str | None = None) -> list[Update]:
        """A game's updates by model then seq; raises UnknownGame."""
        await self._require_game(game_id)
        if model is not None:
            check_updates([], model)
        rows = await self._fetch(
            "SELECT payload FROM updates WHERE game_id = ? AND (? IS NULL OR model = ?)"
            " ORDER BY model, seq",
            (game_id, model, model),
        )
        return [stored_update(row[0]) for row in rows]

    async def models(self, game_id: str) -> list[str]:
        """The models a game has updates from; raises UnknownGame."""
        await self._require_game(game_id)
        rows = await self._fetch(
            "SELECT DISTINCT model FROM updates WHERE game_id = ? ORDER BY model", (game_id,)
        )
        return [row[0] for row in rows]

    async def wp_series(self, game_id: str, model: str) -> list[tuple[int, float]]:
        """``(seq, home WP)`` of a model's updates that have a WP; raises UnknownGame."""
        await self._require_game(game_id)
        check_updates([], model)
        rows = await self._fetch(
            "SELECT seq, home_wp FROM updates WHERE game_id = ? AND model = ?"
            " AND home_wp IS NOT NULL ORDER BY seq",
            (game_id, model),
        )
        return [(int(seq), float(wp)) for seq, wp in rows]

    async def key_plays(self, game_id: str, model: str, n: int = 5) -> list[Update]:
        """The ``n`` updates with the largest ``|wpa|``; raises UnknownGame."""
        await self._require_game(game_id)
        check_updates([], model)
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"n must be an int >= 0, not {n!r}")
        rows = await self._fetch(
            "SELECT payload FROM updates WHERE game_id = ? AND model = ? AND wpa IS NOT NULL"
            " ORDER BY abs(wpa) DESC, seq LIMIT ?",
            (game_id, model, n),
        )
        return [stored_update(row[0]) for row in rows]

    async def checkpoint(self, consumer: str, stream: str) -> int:
        """The last seq ``consumer`` recorded for ``stream``; 0 if none."""
        check_text("consumer", consumer)
        check_text("stream", stream)
        rows = await self._fetch(
            "SELECT seq FROM checkpoints WHERE consumer = ? AND stream = ?", (consumer, stream)
        )
        return int(rows[0][0]) if rows else 0

    async def ping(self) -> bool:
        """Whether the database answers ``SELECT 1``; never raises."""
        try:
            return bool(await self._fetch("SELECT 1"))
        except BackendError:
            return False

    async def aclose(self) -> None:
        """Close the connection."""
        self._closed = True
        async with self._lock:
            if self._conn is not None:
                conn, self._conn = self._conn, None
                await conn.close()

    async def __aenter__(self) -> Self:
        async with self._lock:
            with self._translate():
                await self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
