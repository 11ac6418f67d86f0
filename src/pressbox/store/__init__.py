"""The archive: every event, update, game and checkpoint, chosen by URL.

``from_url("sqlite:///pressbox.db")`` (the embedded default; ``sqlite://`` is in memory)
or ``from_url("postgresql://user@host/db")`` (also ``postgres://``; add ``?schema=name``
to keep the tables in their own schema). The concrete backends are imported inside their
branch, so asyncpg is only needed when PostgreSQL is chosen.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

from pressbox.errors import UnsupportedBackend
from pressbox.store.base import Archive, Checkpoint, GameRecord

__all__ = ["SUPPORTED", "Archive", "Checkpoint", "GameRecord", "from_url"]

SUPPORTED = ("sqlite://", "sqlite:///path.db", "postgres://", "postgresql://")


def from_url(
    url: str,
    *,
    backend: Archive | None = None,
    connect_timeout: float = 2.0,
    read_timeout: float = 5.0,
) -> Archive:
    """Build the archive a URL names.

    Args:
        url: ``sqlite://`` (in memory), ``sqlite:///relative.db``, ``sqlite:////abs.db``,
            ``postgres://...`` or ``postgresql://...`` (optionally ``?schema=name``).
        backend: A ready instance to use instead; ``url`` is then ignored.
        connect_timeout: Seconds to open a database connection (PostgreSQL) or to wait
            for a lock (SQLite).
        read_timeout: Seconds a PostgreSQL statement may take.

    Returns:
        An unopened archive; it opens and migrates on ``async with`` or first use.

    Raises:
        UnsupportedBackend: The scheme is not one of :data:`SUPPORTED`.
    """
    if backend is not None:
        return backend
    if not isinstance(url, str):
        raise TypeError(f"url must be str, not {type(url).__name__}")
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        from pressbox.store.sqlite import SqliteArchive, path_from_url

        return SqliteArchive(path_from_url(url), timeout=connect_timeout)
    if parts.scheme in ("postgres", "postgresql"):
        from pressbox.store.postgres import PostgresArchive

        query = parse_qsl(parts.query)
        schema = next((v for k, v in query if k == "schema"), None)
        dsn = parts._replace(query=urlencode([(k, v) for k, v in query if k != "schema"]))
        return PostgresArchive(
            dsn.geturl(),
            schema=schema,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
    raise UnsupportedBackend(url, SUPPORTED)
