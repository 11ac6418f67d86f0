"""The archive's schema as an ordered list of migrations, one logical schema for both engines.

A database records the migrations applied to it in ``schema_version``; opening an
archive applies the missing ones in order, each in its own transaction together with its
``schema_version`` row, so a crash half-way leaves a consistent version. Never edit a
released migration: append a new one. The two dialects differ only in column types
(SQLite's dynamic ``INTEGER``/``REAL``/``TEXT`` against ``BIGINT``/``DOUBLE
PRECISION``/``JSONB``).
"""

from __future__ import annotations

from dataclasses import dataclass

from pressbox.errors import BackendError


@dataclass(frozen=True, slots=True)
class Migration:
    """One step of the schema.

    Args:
        version: Its number, 1, 2, 3... in the order they apply.
        description: What it does, stored in ``schema_version``.
        sqlite: The statements for SQLite.
        postgres: The statements for PostgreSQL.
    """

    version: int
    description: str
    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]


SCHEMA_VERSION_SQLITE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied_at REAL NOT NULL
)"""

SCHEMA_VERSION_POSTGRES = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied_at DOUBLE PRECISION NOT NULL
)"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "games, events, updates and checkpoints",
        sqlite=(
            """CREATE TABLE games (
                game_id TEXT PRIMARY KEY,
                sport TEXT NOT NULL,
                status TEXT NOT NULL,
                info TEXT,
                home TEXT,
                away TEXT,
                date TEXT,
                home_score INTEGER NOT NULL DEFAULT 0,
                away_score INTEGER NOT NULL DEFAULT 0,
                last_seq INTEGER NOT NULL DEFAULT 0,
                updated_at REAL NOT NULL
            )""",
            """CREATE TABLE events (
                game_id TEXT NOT NULL,
                event_id TEXT NOT NULL,
                seq INTEGER NOT NULL,
                kind TEXT NOT NULL,
                ts_ingest REAL,
                payload TEXT NOT NULL,
                PRIMARY KEY (game_id, event_id)
            )""",
            "CREATE INDEX events_by_seq ON events (game_id, seq)",
            """CREATE TABLE updates (
                game_id TEXT NOT NULL,
                model TEXT NOT NULL,
                seq INTEGER NOT NULL,
                event_seq INTEGER NOT NULL,
                event_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                home_wp REAL,
                wpa REAL,
                leverage REAL,
                key_play INTEGER NOT NULL,
                ts_emit REAL,
                payload TEXT NOT NULL,
                PRIMARY KEY (game_id, model, seq)
            )""",
            """CREATE TABLE checkpoints (
                consumer TEXT NOT NULL,
                stream TEXT NOT NULL,
                seq INTEGER NOT NULL,
                updated_at REAL NOT NULL,
                PRIMARY KEY (consumer, stream)
            )""",
        ),
        postgres=(
            """CREATE TABLE games (
                game_id TEXT PRIMARY KEY,
                sport TEXT NOT NULL,
                status TEXT NOT NULL,
                info JSONB,
                home TEXT,
                away TEXT,
                date TEXT,
                home_score INTEGER NOT NULL DEFAULT 0,
                away_score INTEGER NOT NULL DEFAULT 0,
                last_seq BIGINT NOT NULL DEFAULT 0,
                updated_at DOUBLE PRECISION NOT NULL
            )""",
            """CREATE TABLE events (
                game_id TEXT NOT NULL,
                event_id TEXT NOT NULL,
                seq BIGINT NOT NULL,
                kind TEXT NOT NULL,
                ts_ingest DOUBLE PRECISION,
                payload JSONB NOT NULL,
                PRIMARY KEY (game_id, event_id)
            )""",
            "CREATE INDEX events_by_seq ON events (game_id, seq)",
            """CREATE TABLE updates (
                game_id TEXT NOT NULL,
                model TEXT NOT NULL,
                seq BIGINT NOT NULL,
                event_seq BIGINT NOT NULL,
                event_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                home_wp DOUBLE PRECISION,
                wpa DOUBLE PRECISION,
                leverage DOUBLE PRECISION,
                key_play BOOLEAN NOT NULL,
                ts_emit DOUBLE PRECISION,
                payload JSONB NOT NULL,
                PRIMARY KEY (game_id, model, seq)
            )""",
            """CREATE TABLE checkpoints (
                consumer TEXT NOT NULL,
                stream TEXT NOT NULL,
                seq BIGINT NOT NULL,
                updated_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (consumer, stream)
            )""",
        ),
    ),
    Migration(
        2,
        "index updates by |wpa| for key plays, games by date",
        sqlite=(
            "CREATE INDEX updates_by_swing ON updates (game_id, model, abs(wpa))",
            "CREATE INDEX games_by_date ON games (date, game_id)",
        ),
        postgres=(
            "CREATE INDEX updates_by_swing ON updates (game_id, model, (abs(wpa)))",
            "CREATE INDEX games_by_date ON games (date, game_id)",
        ),
    ),
    Migration(
        3,
        "each game's pregame prior, fixed once",
        sqlite=(
            """CREATE TABLE priors (
                game_id TEXT PRIMARY KEY,
                home REAL,
                source TEXT NOT NULL,
                fixed_at REAL NOT NULL
            )""",
        ),
        postgres=(
            """CREATE TABLE priors (
                game_id TEXT PRIMARY KEY,
                home DOUBLE PRECISION,
                source TEXT NOT NULL,
                fixed_at DOUBLE PRECISION NOT NULL
            )""",
        ),
    ),
)

LATEST = MIGRATIONS[-1].version


def check_version(where: str, current: int) -> None:
    """Refuse a database migrated by a newer pressbox than this one.

    Raises:
        BackendError: ``current`` is above :data:`LATEST`.
    """
    if current > LATEST:
        raise BackendError(
            f"{where}: schema version {current} is newer than this pressbox knows ({LATEST})"
        )
