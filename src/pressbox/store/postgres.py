"""``postgresql://``: the archive in PostgreSQL, for many processes and many machines.

An asyncpg pool; each batch is a single ``INSERT ... SELECT FROM unnest($1, $2, ...)
ON CONFLICT DO NOTHING`` (one statement and one round trip per batch, whatever its size;
as fast as COPY into a temporary table for our batch sizes, without the extra table).
Payloads are JSONB, so the archive can be queried with PostgreSQL's JSON operators.
Migrations run under a transaction-scoped advisory lock, so processes that start
together apply each one once. asyncpg and socket errors become
:class:`~pressbox.errors.BackendUnavailable` (cannot connect, timed out, connection lost)
or :class:`~pressbox.errors.BackendError`.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from types import TracebackType
from typing import Any, Self

import asyncpg
import msgspec

from pressbox.engine.events import GameInfo, GamePrior, PlayEvent, Update, encode
from pressbox.errors import BackendError, BackendUnavailable, UnknownGame
from pressbox.store._schema import MIGRATIONS, SCHEMA_VERSION_POSTGRES, check_version
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

_UPSERT_GAME_FROM_EVENTS = """
INSERT INTO games AS g (game_id, sport, status, info, home, away, date, home_score,
                        away_score, last_seq, updated_at)
VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (game_id) DO UPDATE SET
    info = coalesce(excluded.info, g.info),
    home = coalesce(excluded.home, g.home),
    away = coalesce(excluded.away, g.away),
    date = coalesce(excluded.date, g.date),
    status = CASE WHEN g.status = 'final' OR excluded.status = 'final'
                  THEN 'final' ELSE 'live' END,
    home_score = CASE WHEN excluded.status = 'final'
                        OR (g.status <> 'final' AND excluded.last_seq >= g.last_seq)
                      THEN excluded.home_score ELSE g.home_score END,
    away_score = CASE WHEN excluded.status = 'final'
                        OR (g.status <> 'final' AND excluded.last_seq >= g.last_seq)
                      THEN excluded.away_score ELSE g.away_score END,
    last_seq = greatest(g.last_seq, excluded.last_seq),
    updated_at = excluded.updated_at
"""

_PUT_GAME = """
INSERT INTO games (game_id, sport, status, info, home, away, date, home_score, away_score,
                   last_seq, updated_at)
VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (game_id) DO UPDATE SET
    sport = excluded.sport, status = excluded.status, info = excluded.info,
    home = excluded.home, away = excluded.away, date = excluded.date,
    home_score = excluded.home_score, away_score = excluded.away_score,
    last_seq = excluded.last_seq, updated_at = excluded.updated_at
"""

_ENSURE_GAMES = """
INSERT INTO games (game_id, sport, status, updated_at)
SELECT g, s, 'live', $3 FROM unnest($1::text[], $2::text[]) AS u(g, s)
ON CONFLICT (game_id) DO NOTHING
"""

_INSERT_EVENTS = """
WITH ins AS (
    INSERT INTO events (game_id, event_id, seq, kind, ts_ingest, payload)
    SELECT g, e, s, k, t, p::jsonb
    FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::float8[], $6::text[])
        AS u(g, e, s, k, t, p)
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT count(*) FROM ins
"""

_INSERT_UPDATES = """
WITH ins AS (
    INSERT INTO updates (game_id, model, seq, event_seq, event_id, kind, home_wp, wpa,
                         leverage, key_play, ts_emit, payload)
    SELECT g, m, s, es, e, k, hw, w, l, kp, te, p::jsonb
    FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::text[],
                $7::float8[], $8::float8[], $9::float8[], $10::bool[], $11::float8[],
                $12::text[])
        AS u(g, m, s, es, e, k, hw, w, l, kp, te, p)
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT count(*) FROM ins
"""

_PUT_CHECKPOINT = """
INSERT INTO checkpoints (consumer, stream, seq, updated_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (consumer, stream) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at
"""

# The CTE's insert is not visible to the SELECT of the same statement, so exactly one of
# the two branches gives a row: the new prior, or the one fixed before.
_FIX_PRIOR = """
WITH ins AS (
    INSERT INTO priors (game_id, home, source, fixed_at) VALUES ($1, $2, $3, $4)
    ON CONFLICT (game_id) DO NOTHING
    RETURNING home, source
)
SELECT home, source FROM ins
UNION ALL
SELECT home, source FROM priors WHERE game_id = $1
"""
_SELECT_PRIOR = "SELECT home, source FROM priors WHERE game_id = $1"

_GAME_COLUMNS = (
    "SELECT game_id, sport, status, info::text, home_score, away_score, last_seq FROM games"
)
_SELECT_GAMES = (
    _GAME_COLUMNS + " WHERE ($1::text IS NULL OR sport = $1)"
    " AND ($2::text IS NULL OR status = $2) ORDER BY coalesce(date, ''), game_id"
)
_SELECT_GAME = _GAME_COLUMNS + " WHERE game_id = $1"

_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

_info_decoder = msgspec.json.Decoder(GameInfo)

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InterfaceError,
)


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


class PostgresArchive:
    """An :class:`~pressbox.store.base.Archive` in PostgreSQL (asyncpg).

    Args:
        dsn: ``postgresql://user:password@host:port/database`` (or ``postgres://``).
        schema: Keep the tables in this schema (created if missing) instead of the
            default search path; lets several deployments or test runs share a database.
        connect_timeout: Seconds to open a connection.
        read_timeout: Seconds one statement may take.
        pool_timeout: Seconds to wait for a free connection while this process's own
            tasks hold them all (many games archiving at once queue here; that is load,
            not a server down, so it has a bound of its own, apart from the operation's).
        min_size: Connections the pool keeps open.
        max_size: Connections the pool may open.
        clock: Unix time for ``updated_at`` columns (default ``time.time``).

    The pool is created and the schema migrated on first use (or on ``async with``).
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str | None = None,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        pool_timeout: float = 30.0,
        min_size: int = 1,
        max_size: int = 10,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if schema is not None and not _SCHEMA_NAME.match(schema):
            raise ValueError(f"schema must be a plain identifier, not {schema!r}")
        self._dsn = dsn
        self._schema = schema
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._pool_timeout = pool_timeout
        self._min_size = min_size
        self._max_size = max_size
        self._clock = clock
        self._pool: Any = None
        self._open_lock = asyncio.Lock()
        self._closed = False

    @property
    def _where(self) -> str:
        host = self._dsn.rsplit("@", 1)[-1]
        return f"postgresql {host}" + (f" (schema {self._schema})" if self._schema else "")

    @contextmanager
    def _translate(self) -> Iterator[None]:
        try:
            yield
        except _UNAVAILABLE as exc:
            raise BackendUnavailable(f"{self._where}: {exc or type(exc).__name__}") from exc
        except asyncpg.PostgresError as exc:
            raise BackendError(f"{self._where}: {exc}") from exc

    @property
    def _op_timeout(self) -> float:
        return self._connect_timeout + self._read_timeout

    async def _get_pool(self) -> Any:
        if self._closed:
            raise BackendUnavailable(f"{self._where}: archive is closed")
        if self._pool is not None:
            return self._pool
        async with self._open_lock:
            if self._pool is None:
                with self._translate():
                    async with asyncio.timeout(self._op_timeout * 2):
                        self._pool = await self._create_pool()
        return self._pool

    async def _create_pool(self) -> Any:
        settings = {"search_path": self._schema} if self._schema else None
        pool = await asyncpg.create_pool(
            self._dsn,
            min_size=self._min_size,
            max_size=self._max_size,
            timeout=self._connect_timeout,
            command_timeout=self._read_timeout,
            server_settings=settings,
        )
        try:
            async with pool.acquire() as conn:
                await self._migrate(conn)
        except BaseException:
            pool.terminate()
            raise
        return pool

    async def _migrate(self, conn: Any) -> None:
        async with conn.transaction():
            if self._schema:
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext('pressbox.schema'))")
                await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"')
            # One lock per schema: processes starting together apply each migration once.
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext('pressbox.migrate:' || current_schema()))"
            )
            await conn.execute(SCHEMA_VERSION_POSTGRES)
            current = int(
                await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
            )
            check_version(self._where, current)
            for migration in MIGRATIONS:
                if migration.version <= current:
                    continue
                for statement in migration.postgres:
                    await conn.execute(statement)
                await conn.execute(
                    "INSERT INTO schema_version (version, description, applied_at)"
                    " VALUES ($1, $2, $3)",
                    migration.version,
                    migration.description,
                    self._clock(),
                )

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Any]:
        pool = await self._get_pool()
        with self._translate():
            async with (
                pool.acquire(timeout=self._pool_timeout) as conn,
                asyncio.timeout(self._op_timeout),
                conn.transaction(),
            ):
                yield conn

    async def _fetch(self, sql: str, *params: Any) -> list[Any]:
        pool = await self._get_pool()
        with self._translate():
            async with pool.acquire(timeout=self._pool_timeout) as conn:
                async with asyncio.timeout(self._op_timeout):
                    return list(await conn.fetch(sql, *params))

    async def _require_game(self, game_id: object) -> str:
        game_id = check_text("game_id", game_id)
        if not await self._fetch("SELECT 1 FROM games WHERE game_id = $1", game_id):
            raise UnknownGame(game_id)
        return game_id

    async def schema_version(self) -> int:
        """The highest migration applied to the database."""
        rows = await self._fetch("SELECT coalesce(max(version), 0) FROM schema_version")
        return int(rows[0][0])

    def _event_columns(
        self, batch: list[PlayEvent], docs: list[str] | None
    ) -> tuple[list[Any], ...]:
        if docs is None:
            docs = [encode(e).decode() for e in batch]
        columns = (
            [e.game_id for e in batch],
            [e.event_id for e in batch],
            [e.seq for e in batch],
            [e.kind for e in batch],
            [e.ts_ingest for e in batch],
            docs,
        )
        return columns

    @staticmethod
    def _update_columns(
        batch: list[Update], docs: list[str] | None, model: str | None
    ) -> tuple[tuple[list[Any], ...], dict[str, str]]:
        if docs is None:
            docs = [encode(u).decode() for u in batch]
        columns = (
            [u.game_id for u in batch],
            [model_of(u, model) for u in batch],
            [u.seq for u in batch],
            [u.event_seq for u in batch],
            [u.event_id for u in batch],
            [u.kind for u in batch],
            [u.wp.home if u.wp is not None else None for u in batch],
            [u.wpa for u in batch],
            [u.leverage for u in batch],
            [u.key_play for u in batch],
            [u.ts_emit for u in batch],
            docs,
        )
        return columns, {u.game_id: u.sport for u in batch}

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
        # Built before a connection is taken from the pool, so it is held only for the I/O.
        columns = self._event_columns(batch.events, batch.event_docs)
        games = game_change_rows(batch.events, now)
        update_columns, sports = self._update_columns(batch.updates, batch.update_docs, model)
        added_events = added_updates = 0
        async with self._transaction() as conn:
            if batch.events:
                added_events = int(await conn.fetchval(_INSERT_EVENTS, *columns))
                if games:
                    await conn.executemany(_UPSERT_GAME_FROM_EVENTS, games)
            if batch.updates:
                await conn.execute(_ENSURE_GAMES, list(sports), list(sports.values()), now)
                added_updates = int(await conn.fetchval(_INSERT_UPDATES, *update_columns))
            if batch.checkpoint is not None:
                await conn.execute(_PUT_CHECKPOINT, *batch.checkpoint, now)
        return added_events, added_updates

    async def put_game(self, game: GameRecord) -> None:
        """Create or replace a game's row."""
        row = record_row(game, self._clock())
        async with self._transaction() as conn:
            await conn.execute(_PUT_GAME, *row)

    async def put_result(self, game_id: str, *, home_score: int, away_score: int) -> None:
        """Record a final score; raises UnknownGame for a game not in the archive."""
        check_text("game_id", game_id)
        for name, value in (("home_score", home_score), ("away_score", away_score)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be int, not {type(value).__name__}")
        async with self._transaction() as conn:
            status = await conn.execute(
                "UPDATE games SET status = 'final', home_score = $1, away_score = $2,"
                " updated_at = $3 WHERE game_id = $4",
                home_score,
                away_score,
                self._clock(),
                game_id,
            )
            if status == "UPDATE 0":
                raise UnknownGame(game_id)

    async def games(
        self, *, sport: Sport | None = None, status: GameStatus | None = None
    ) -> list[GameRecord]:
        """The games, by date then id, optionally of one sport or status."""
        rows = await self._fetch(
            _SELECT_GAMES,
            sport,
            status,
        )
        return [_game_record(row) for row in rows]

    async def game(self, game_id: str) -> GameRecord:
        """One game's row; raises UnknownGame."""
        check_text("game_id", game_id)
        rows = await self._fetch(_SELECT_GAME, game_id)
        if not rows:
            raise UnknownGame(game_id)
        return _game_record(rows[0])

    async def timeline(self, game_id: str) -> list[PlayEvent]:
        """A game's events in sequence order; raises UnknownGame."""
        await self._require_game(game_id)
        rows = await self._fetch(
            "SELECT payload::text FROM events WHERE game_id = $1 ORDER BY seq, event_id", game_id
        )
        return [stored_event(row[0]) for row in rows]

    async def updates(self, game_id: str, model: str | None = None) -> list[Update]:
        """A game's updates by model then seq; raises UnknownGame."""
        await self._require_game(game_id)
        if model is not None:
            check_updates([], model)
        rows = await self._fetch(
            "SELECT payload::text FROM updates WHERE game_id = $1"
            " AND ($2::text IS NULL OR model = $2) ORDER BY model, seq",
            game_id,
            model,
        )
        return [stored_update(row[0]) for row in rows]

    async def models(self, game_id: str) -> list[str]:
        """The models a game has updates from; raises UnknownGame."""
        await self._require_game(game_id)
        rows = await self._fetch(
            "SELECT DISTINCT model FROM updates WHERE game_id = $1 ORDER BY model", game_id
        )
        return [row[0] for row in rows]

    async def wp_series(self, game_id: str, model: str) -> list[tuple[int, float]]:
        """``(seq, home WP)`` of a model's updates that have a WP; raises UnknownGame."""
        await self._require_game(game_id)
        check_updates([], model)
        rows = await self._fetch(
            "SELECT seq, home_wp FROM updates WHERE game_id = $1 AND model = $2"
            " AND home_wp IS NOT NULL ORDER BY seq",
            game_id,
            model,
        )
        return [(int(seq), float(wp)) for seq, wp in rows]

    async def key_plays(self, game_id: str, model: str, n: int = 5) -> list[Update]:
        """The ``n`` updates with the largest ``|wpa|``; raises UnknownGame."""
        await self._require_game(game_id)
        check_updates([], model)
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"n must be an int >= 0, not {n!r}")
        rows = await self._fetch(
            "SELECT payload::text FROM updates WHERE game_id = $1 AND model = $2"
            " AND wpa IS NOT NULL ORDER BY abs(wpa) DESC, seq LIMIT $3",
            game_id,
            model,
            n,
        )
        return [stored_update(row[0]) for row in rows]

    async def checkpoint(self, consumer: str, stream: str) -> int:
        """The last seq ``consumer`` recorded for ``stream``; 0 if none."""
        check_text("consumer", consumer)
        check_text("stream", stream)
        rows = await self._fetch(
            "SELECT seq FROM checkpoints WHERE consumer = $1 AND stream = $2", consumer, stream
        )
        return int(rows[0][0]) if rows else 0

    async def fix_prior(self, game_id: str, prior: GamePrior) -> GamePrior:
        """Store a game's prior unless it has one; returns the one stored."""
        check_text("game_id", game_id)
        home = check_prior(prior).home
        async with self._transaction() as conn:
            row = await conn.fetchrow(_FIX_PRIOR, game_id, home, prior.source, self._clock())
        if row is None:
            # Another transaction fixed it after this statement's snapshot was taken (its
            # insert made ours do nothing): it has committed, so it can be read now.
            row = (await self._fetch(_SELECT_PRIOR, game_id))[0]
        return GamePrior(home=row[0], source=row[1])

    async def prior(self, game_id: str) -> GamePrior | None:
        """A game's prior, ``None`` if none was fixed."""
        check_text("game_id", game_id)
        rows = await self._fetch(_SELECT_PRIOR, game_id)
        return GamePrior(home=rows[0][0], source=rows[0][1]) if rows else None

    async def ping(self) -> bool:
        """Whether the database answers ``SELECT 1``; never raises."""
        try:
            return bool(await self._fetch("SELECT 1"))
        except BackendError:
            return False

    async def aclose(self) -> None:
        """Close the pool, waiting up to the read timeout for queries in flight."""
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            async with asyncio.timeout(self._read_timeout):
                await pool.close()
        except TimeoutError:
            pool.terminate()

    async def __aenter__(self) -> Self:
        await self._get_pool()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
