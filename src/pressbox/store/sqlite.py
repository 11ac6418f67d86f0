"""``sqlite:///path.db``: the archive in one SQLite file (``sqlite://``: in memory).

One connection in WAL mode (readers in other processes do not block the writer) with
``synchronous=NORMAL``: a commit is durable against a crash of the process (it is in
the WAL file before ``COMMIT`` returns), while a power cut or an OS crash may lose the
last transactions since the WAL was last synced, never corrupt the file or split a
transaction (an in-memory database has no file and keeps SQLite's defaults).

WAL checkpoints (copying the WAL back into the database file, with the only fsyncs of
``synchronous=NORMAL``) run on a thread and connection of their own, ``PASSIVE`` every
0.25 s, so the writer never waits for a disk sync: with SQLite's default (the committing
connection checkpoints every 1,000 pages) the fsyncs held the writer up and capped the
processing loop at about 16,000 events/s on this project's development disk, against about
21,000 with them off its path. The writer still checkpoints by itself past 64 Ki pages of
WAL, should the background checkpoints ever fall that far behind.

The connection lives on one worker thread of its own, and every operation, a whole
transaction included, runs there as one call: ``BEGIN IMMEDIATE``, the batch's
``executemany`` statements, the checkpoint and ``COMMIT`` cost the event loop one
hand-off, and SQLite writes while the loop goes on folding other games. The thread also
serializes the operations, so two tasks never interleave statements in one transaction.
sqlite3 errors become :class:`~pressbox.errors.BackendUnavailable` (cannot open, locked)
or :class:`~pressbox.errors.BackendError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Self, TypeVar

import msgspec

from pressbox.engine.events import GameInfo, GamePrior, PlayEvent, Update, encode
from pressbox.errors import BackendError, BackendUnavailable, UnknownGame
from pressbox.store._schema import MIGRATIONS, SCHEMA_VERSION_SQLITE, check_version
from pressbox.store.base import (
    Checkpoint,
    GameRecord,
    check_batch,
    check_prior,
    check_text,
    check_updates,
    game_change_rows,
    model_of,
    record_row,
    stored_event,
    stored_update,
)
from pressbox.types import GameStatus, Sport

_T = TypeVar("_T")

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

_FIX_PRIOR = (
    "INSERT INTO priors (game_id, home, source, fixed_at) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (game_id) DO NOTHING"
)
_SELECT_PRIOR = "SELECT home, source FROM priors WHERE game_id = ?"

_GAME_COLUMNS = "SELECT game_id, sport, status, info, home_score, away_score, last_seq FROM games"
_SELECT_GAMES = (
    _GAME_COLUMNS + " WHERE (? IS NULL OR sport = ?) AND (? IS NULL OR status = ?)"
    " ORDER BY coalesce(date, ''), game_id"
)
_SELECT_GAME = _GAME_COLUMNS + " WHERE game_id = ?"

_info_decoder = msgspec.json.Decoder(GameInfo)


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
        self._conn: sqlite3.Connection | None = None
        # The stdlib driver on a thread of its own rather than aiosqlite: aiosqlite hands
        # each statement to its thread and waits for the event loop to hear back, so a
        # transaction of six statements waited six times for a loop busy folding games,
        # and SQLite sat idle in between. Here a transaction is one call on the thread.
        self._worker: ThreadPoolExecutor | None = None
        self._checkpointer: _Checkpointer | None = None
        self._open_lock = asyncio.Lock()
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

    async def _call(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``work(connection)`` on the connection's thread, opening it first if needed."""
        if self._conn is None or self._worker is None:
            await self._open()
        worker, conn = self._worker, self._conn
        if worker is None or conn is None:
            raise BackendUnavailable(f"sqlite archive {self._path} is closed")
        with self._translate():
            return await asyncio.get_running_loop().run_in_executor(worker, work, conn)

    async def _open(self) -> None:
        async with self._open_lock:
            if self._closed:
                raise BackendUnavailable(f"sqlite archive {self._path} is closed")
            if self._conn is not None:
                return
            worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pressbox-sqlite")
            loop = asyncio.get_running_loop()
            try:
                with self._translate():
                    self._conn = await loop.run_in_executor(worker, self._connect)
            except BaseException:
                worker.shutdown(wait=False)
                raise
            self._worker = worker
            if self._path != ":memory:":
                self._checkpointer = _Checkpointer(self._path, self._timeout)
                self._checkpointer.start()

    def _connect(self) -> sqlite3.Connection:
        """Open, tune and migrate the database (on the worker thread)."""
        conn = sqlite3.connect(self._path, timeout=self._timeout, isolation_level=None)
        try:
            if self._path != ":memory:":
                self._use_wal(conn)
                conn.execute(f"PRAGMA wal_autocheckpoint={_WRITER_CHECKPOINT_PAGES}")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        """Switch the file to write-ahead logging, retried while it is locked.

        Connections opening the same new file together (processes starting at once) race
        to switch it, and SQLite may answer "database is locked" at once, without waiting
        on its busy handler (seen: 5 of 100 rounds of four archives opened together). The
        switch is retried with backoff until the connection's timeout.
        """
        deadline = time.monotonic() + self._timeout
        delay = 0.002
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                    raise
            else:
                return
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute(SCHEMA_VERSION_SQLITE)
        # BEGIN IMMEDIATE takes the write lock first, so two processes opening the same
        # new file cannot both apply a migration.
        with _transaction(conn):
            row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
            current = int(row[0]) if row else 0
            check_version(f"sqlite {self._path}", current)
            for migration in MIGRATIONS:
                if migration.version <= current:
                    continue
                for statement in migration.sqlite:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version (version, description, applied_at)"
                    " VALUES (?, ?, ?)",
                    (migration.version, migration.description, self._clock()),
                )

    async def _fetch(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        args = tuple(params)
        return await self._call(lambda conn: conn.execute(sql, args).fetchall())

    async def _require_game(self, game_id: object) -> str:
        game_id = check_text("game_id", game_id)
        if not await self._fetch("SELECT 1 FROM games WHERE game_id = ?", (game_id,)):
            raise UnknownGame(game_id)
        return game_id

    async def schema_version(self) -> int:
        """The highest migration applied to the database."""
        rows = await self._fetch("SELECT coalesce(max(version), 0) FROM schema_version")
        return int(rows[0][0])

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
        event_docs: Sequence[bytes] | None = None,
        update_docs: Sequence[bytes] | None = None,
    ) -> tuple[int, int]:
        """Store events, updates and the checkpoint in one transaction; returns the new counts."""
        batch = check_batch(events, updates, model, checkpoint, event_docs, update_docs)
        if batch.empty:
            return 0, 0
        now = self._clock()
        event_rows = _event_rows(batch.events, batch.event_docs)
        game_rows = game_change_rows(batch.events, now)
        update_rows = _update_rows(batch.updates, batch.update_docs, model)
        ensure_rows = list({u.game_id: (u.game_id, u.sport, now) for u in batch.updates}.values())
        stamped = None if batch.checkpoint is None else (*batch.checkpoint, now)

        def write(conn: sqlite3.Connection) -> tuple[int, int]:
            added_events = added_updates = 0
            with _transaction(conn):
                if event_rows:
                    before = conn.total_changes
                    conn.executemany(_INSERT_EVENT, event_rows)
                    added_events = conn.total_changes - before
                    conn.executemany(_UPSERT_GAME_FROM_EVENTS, game_rows)
                if update_rows:
                    conn.executemany(_ENSURE_GAME, ensure_rows)
                    before = conn.total_changes
                    conn.executemany(_INSERT_UPDATE, update_rows)
                    added_updates = conn.total_changes - before
                if stamped is not None:
                    conn.execute(_PUT_CHECKPOINT, stamped)
            return added_events, added_updates

        return await self._call(write)

    async def put_game(self, game: GameRecord) -> None:
        """Create or replace a game's row."""
        row = record_row(game, self._clock())

        def write(conn: sqlite3.Connection) -> None:
            with _transaction(conn):
                conn.execute(_PUT_GAME, row)

        await self._call(write)

    async def put_result(self, game_id: str, *, home_score: int, away_score: int) -> None:
        """Record a final score; raises UnknownGame for a game not in the archive."""
        check_text("game_id", game_id)
        for name, value in (("home_score", home_score), ("away_score", away_score)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be int, not {type(value).__name__}")
        now = self._clock()

        def write(conn: sqlite3.Connection) -> int:
            with _transaction(conn):
                cur = conn.execute(
                    "UPDATE games SET status = 'final', home_score = ?, away_score = ?,"
                    " updated_at = ? WHERE game_id = ?",
                    (home_score, away_score, now, game_id),
                )
            return cur.rowcount

        if await self._call(write) == 0:
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

    async def fix_prior(self, game_id: str, prior: GamePrior) -> GamePrior:
        """Store a game's prior unless it has one; returns the one stored."""
        check_text("game_id", game_id)
        row = (game_id, check_prior(prior).home, prior.source, self._clock())

        def write(conn: sqlite3.Connection) -> Any:
            with _transaction(conn):
                conn.execute(_FIX_PRIOR, row)
                return conn.execute(_SELECT_PRIOR, (game_id,)).fetchone()

        home, source = await self._call(write)
        return GamePrior(home=home, source=source)

    async def prior(self, game_id: str) -> GamePrior | None:
        """A game's prior, ``None`` if none was fixed."""
        check_text("game_id", game_id)
        rows = await self._fetch(_SELECT_PRIOR, (game_id,))
        return GamePrior(home=rows[0][0], source=rows[0][1]) if rows else None

    async def ping(self) -> bool:
        """Whether the database answers ``SELECT 1``; never raises."""
        try:
            return bool(await self._fetch("SELECT 1"))
        except BackendError:
            return False

    async def aclose(self) -> None:
        """Close the connection and stop its thread."""
        async with self._open_lock:
            self._closed = True
            conn, self._conn = self._conn, None
            worker, self._worker = self._worker, None
            checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is not None:
            await asyncio.get_running_loop().run_in_executor(None, checkpointer.stop)
        if worker is None:
            return
        try:
            if conn is not None:
                # Queued behind whatever the thread still has to do, so nothing is cut off.
                await asyncio.get_running_loop().run_in_executor(worker, conn.close)
        finally:
            worker.shutdown(wait=False)

    async def __aenter__(self) -> Self:
        await self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


_WRITER_CHECKPOINT_PAGES = 65536
"""WAL pages past which the writer checkpoints by itself (the background thread's backstop)."""


class _Checkpointer(threading.Thread):
    """``PRAGMA wal_checkpoint(PASSIVE)`` every ``interval`` seconds on a connection of its
    own, until :meth:`stop`; a failed checkpoint is retried on the next turn (the writer's
    own checkpoints are the backstop)."""

    def __init__(self, path: str, timeout: float, interval: float = 0.25) -> None:
        super().__init__(name="pressbox-sqlite-checkpoint", daemon=True)
        self._path = path
        self._timeout = timeout
        self._interval = interval
        self._stopping = threading.Event()
        self.checkpoints = 0
        """Checkpoints run so far."""

    def run(self) -> None:
        try:
            conn = sqlite3.connect(self._path, timeout=self._timeout, isolation_level=None)
        except sqlite3.Error:
            return
        try:
            while not self._stopping.wait(self._interval):
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
        finally:
            conn.close()

    def stop(self) -> None:
        """Stop after the checkpoint under way (if any) and wait for the thread."""
        self._stopping.set()
        self.join()


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error (on the worker thread)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        # A failed COMMIT (busy) leaves the transaction open; some errors end it already.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _event_rows(batch: list[PlayEvent], docs: list[str] | None) -> list[tuple[Any, ...]]:
    if docs is None:
        docs = [encode(e).decode() for e in batch]
    return [
        (e.game_id, e.event_id, e.seq, e.kind, e.ts_ingest, doc)
        for e, doc in zip(batch, docs, strict=True)
    ]


def _update_rows(
    batch: list[Update], docs: list[str] | None, model: str | None
) -> list[tuple[Any, ...]]:
    if docs is None:
        docs = [encode(u).decode() for u in batch]
    return [
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
            doc,
        )
        for u, doc in zip(batch, docs, strict=True)
    ]
