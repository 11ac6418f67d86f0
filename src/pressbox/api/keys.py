"""API keys: how they are made, stored (hashed) and checked on each request.

A key is ``pbx_<id>_<secret>``: ``id`` is 12 hex digits, public, shown by
``pressbox keys list`` and used to find the key's row in O(1); ``secret`` is 32 random
bytes (``secrets.token_urlsafe``). Only the SHA-256 of the whole token is stored, and it is
compared in constant time. A slow password hash (argon2, bcrypt) is not needed: it exists
to make guessing *low-entropy* passwords expensive, while a 256-bit random secret cannot
be guessed and its SHA-256 cannot be inverted; a slow hash would only cost milliseconds of
CPU on every request. Tokens are never logged: logs carry the key id only.

Stores, chosen by URL like the other backends: ``memory://`` (tests), ``sqlite:///path``
(its own ``api_keys`` table, in the archive's file by default), ``postgresql://`` (the same
table beside the archive's) and ``redis://`` (hashes ``pressbox:apikey:<id>``).
:class:`Authenticator` keeps checked keys in process for ``cache_s`` seconds, so the hot
path does not touch the store, and a revoked key stops working within that time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self

import structlog

from pressbox.api.settings import TierSpec
from pressbox.errors import BackendUnavailable, PressboxError, UnsupportedBackend
from pressbox.resilience.clock import MonotonicClock
from pressbox.types import Clock

_log = structlog.get_logger("pressbox.api.keys")

_TOKEN = re.compile(r"^pbx_([0-9a-f]{12})_[A-Za-z0-9_-]{20,64}$")


class Unauthorized(PressboxError):
    """A request has no usable API key.

    Args:
        reason: Why, for the 401 body (``missing API key``, ``unknown API key``...).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A stored key, without its secret.

    Args:
        key_id: The public id (12 hex digits).
        name: Whose key it is (``ACME``).
        tier: The tier's name.
        digest: SHA-256 of the token, hex.
        created: Unix seconds.
        revoked: Unix seconds of the revocation, or ``None`` while it is valid.
    """

    key_id: str
    name: str
    tier: str
    digest: str
    created: float
    revoked: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The listing shape (no digest)."""
        return {
            "id": self.key_id,
            "name": self.name,
            "tier": self.tier,
            "created": self.created,
            "revoked": self.revoked,
        }


def digest(token: str) -> str:
    """The SHA-256 of a token, hex (what is stored)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh ``(key_id, token)``."""
    key_id = secrets.token_hex(6)
    return key_id, f"pbx_{key_id}_{secrets.token_urlsafe(32)}"


def key_id_of(token: str) -> str | None:
    """The id inside a well-formed token, else ``None``."""
    match = _TOKEN.match(token)
    return match.group(1) if match else None


class KeyStore(Protocol):
    """Where key records live. Methods raise :class:`BackendUnavailable` when it fails."""

    async def put(self, record: KeyRecord) -> None:
        """Store a new key."""
        ...

    async def get(self, key_id: str) -> KeyRecord | None:
        """One key by id, or ``None``."""
        ...

    async def list(self) -> list[KeyRecord]:
        """Every key, oldest first."""
        ...

    async def revoke(self, key_id: str, when: float) -> bool:
        """Mark a key revoked; ``False`` when there is no such key."""
        ...

    async def ping(self) -> bool:
        """Whether the store answers; never raises."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class MemoryKeyStore:
    """Keys in a dict (tests, and the in-memory archive)."""

    def __init__(self) -> None:
        self._records: dict[str, KeyRecord] = {}

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def put(self, record: KeyRecord) -> None:
        """Store a new key."""
        self._records[record.key_id] = record

    async def get(self, key_id: str) -> KeyRecord | None:
        """One key by id, or ``None``."""
        return self._records.get(key_id)

    async def list(self) -> list[KeyRecord]:
        """Every key, oldest first."""
        return sorted(self._records.values(), key=lambda r: r.created)

    async def revoke(self, key_id: str, when: float) -> bool:
        """Mark a key revoked; ``False`` when there is no such key."""
        record = self._records.get(key_id)
        if record is None:
            return False
        if record.revoked is None:
            self._records[key_id] = KeyRecord(
                record.key_id, record.name, record.tier, record.digest, record.created, when
            )
        return True

    async def ping(self) -> bool:
        """Always ``True``."""
        return True


_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    tier TEXT NOT NULL,
    digest TEXT NOT NULL,
    created REAL NOT NULL,
    revoked REAL
)
"""


class SqliteKeyStore:
    """Keys in an ``api_keys`` table of a SQLite file (aiosqlite).

    Args:
        path: The database file (created when missing).
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._db: Any = None

    async def __aenter__(self) -> Self:
        import aiosqlite

        try:
            self._db = await aiosqlite.connect(self._path, timeout=5.0)
            await self._db.execute(_SCHEMA)
            await self._db.commit()
        except Exception as exc:
            raise BackendUnavailable(f"key store {self._path}: {exc}") from exc
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    async def _run(self, sql: str, args: tuple[Any, ...] = (), *, write: bool = False) -> Any:
        if self._db is None:
            raise BackendUnavailable("key store is not open")
        try:
            cursor = await self._db.execute(sql, args)
            rows = await cursor.fetchall()
            if write:
                await self._db.commit()
        except Exception as exc:
            raise BackendUnavailable(f"key store: {exc}") from exc
        return rows, cursor.rowcount

    async def put(self, record: KeyRecord) -> None:
        """Store a new key."""
        await self._run(
            "INSERT INTO api_keys (id, name, tier, digest, created, revoked) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                record.key_id,
                record.name,
                record.tier,
                record.digest,
                record.created,
                record.revoked,
            ),
            write=True,
        )

    async def get(self, key_id: str) -> KeyRecord | None:
        """One key by id, or ``None``."""
        rows, _ = await self._run(
            "SELECT id, name, tier, digest, created, revoked FROM api_keys WHERE id = ?",
            (key_id,),
        )
        return KeyRecord(*rows[0]) if rows else None

    async def list(self) -> list[KeyRecord]:
        """Every key, oldest first."""
        rows, _ = await self._run(
            "SELECT id, name, tier, digest, created, revoked FROM api_keys ORDER BY created"
        )
        return [KeyRecord(*row) for row in rows]

    async def revoke(self, key_id: str, when: float) -> bool:
        """Mark a key revoked; ``False`` when there is no such key."""
        _, count = await self._run(
            "UPDATE api_keys SET revoked = COALESCE(revoked, ?) WHERE id = ?",
            (when, key_id),
            write=True,
        )
        return bool(count)

    async def ping(self) -> bool:
        """Whether the database answers."""
        try:
            await self._run("SELECT 1")
        except BackendUnavailable:
            return False
        return True


class PostgresKeyStore:
    """Keys in an ``api_keys`` table of PostgreSQL (asyncpg), beside the archive's tables.

    Args:
        url: The ``postgresql://`` URL.
    """

    def __init__(self, url: str) -> None:
        self._url = url
        self._pool: Any = None

    async def __aenter__(self) -> Self:
        import asyncpg

        try:
            self._pool = await asyncpg.create_pool(self._url, min_size=1, max_size=2, timeout=5.0)
            await self._pool.execute(_SCHEMA.replace("REAL", "DOUBLE PRECISION"))
        except Exception as exc:
            raise BackendUnavailable(f"key store: {exc}") from exc
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def _run(self, method: str, sql: str, *args: Any) -> Any:
        if self._pool is None:
            raise BackendUnavailable("key store is not open")
        try:
            return await getattr(self._pool, method)(sql, *args)
        except Exception as exc:
            raise BackendUnavailable(f"key store: {exc}") from exc

    async def put(self, record: KeyRecord) -> None:
        """Store a new key."""
        await self._run(
            "execute",
            "INSERT INTO api_keys (id, name, tier, digest, created, revoked) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            record.key_id,
            record.name,
            record.tier,
            record.digest,
            record.created,
            record.revoked,
        )

    async def get(self, key_id: str) -> KeyRecord | None:
        """One key by id, or ``None``."""
        row = await self._run(
            "fetchrow",
            "SELECT id, name, tier, digest, created, revoked FROM api_keys WHERE id = $1",
            key_id,
        )
        return KeyRecord(*row) if row is not None else None

    async def list(self) -> list[KeyRecord]:
        """Every key, oldest first."""
        rows = await self._run(
            "fetch",
            "SELECT id, name, tier, digest, created, revoked FROM api_keys ORDER BY created",
        )
        return [KeyRecord(*row) for row in rows]

    async def revoke(self, key_id: str, when: float) -> bool:
        """Mark a key revoked; ``False`` when there is no such key."""
        status = await self._run(
            "execute",
            "UPDATE api_keys SET revoked = COALESCE(revoked, $1) WHERE id = $2",
            when,
            key_id,
        )
        return str(status).split()[-1] != "0"

    async def ping(self) -> bool:
        """Whether the database answers."""
        try:
            await self._run("fetchval", "SELECT 1")
        except BackendUnavailable:
            return False
        return True


_PREFIX = "pressbox:apikey:"
_INDEX = "pressbox:apikeys"


class RedisKeyStore:
    """Keys as Redis hashes ``pressbox:apikey:<id>``, indexed by the set ``pressbox:apikeys``.

    Args:
        url: The Redis URL.
        client: A ready client instead (it is then not closed here).
    """

    def __init__(self, url: str, *, client: Any = None) -> None:
        self._url = url
        self._client = client
        self._owned = client is None

    async def __aenter__(self) -> Self:
        if self._client is None:
            import redis.asyncio as aioredis

            self._client = aioredis.from_url(self._url, socket_timeout=5.0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._owned and self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return await getattr(self._client, name)(*args, **kwargs)
        except Exception as exc:
            raise BackendUnavailable(f"key store: {exc}") from exc

    @staticmethod
    def _record(raw: Mapping[bytes, bytes]) -> KeyRecord | None:
        if not raw:
            return None
        revoked = raw.get(b"revoked", b"")
        return KeyRecord(
            raw[b"id"].decode(),
            raw[b"name"].decode(),
            raw[b"tier"].decode(),
            raw[b"digest"].decode(),
            float(raw[b"created"]),
            float(revoked) if revoked else None,
        )

    async def put(self, record: KeyRecord) -> None:
        """Store a new key."""
        mapping = {
            "id": record.key_id,
            "name": record.name,
            "tier": record.tier,
            "digest": record.digest,
            "created": repr(record.created),
            "revoked": "" if record.revoked is None else repr(record.revoked),
        }
        await self._call("hset", _PREFIX + record.key_id, mapping=mapping)
        await self._call("sadd", _INDEX, record.key_id)

    async def get(self, key_id: str) -> KeyRecord | None:
        """One key by id, or ``None``."""
        return self._record(await self._call("hgetall", _PREFIX + key_id))

    async def list(self) -> list[KeyRecord]:
        """Every key, oldest first."""
        ids = sorted(i.decode() for i in await self._call("smembers", _INDEX))
        records = [await self.get(i) for i in ids]
        return sorted((r for r in records if r is not None), key=lambda r: r.created)

    async def revoke(self, key_id: str, when: float) -> bool:
        """Mark a key revoked; ``False`` when there is no such key."""
        record = await self.get(key_id)
        if record is None:
            return False
        if record.revoked is None:
            await self._call("hset", _PREFIX + key_id, "revoked", repr(when))
        return True

    async def ping(self) -> bool:
        """Whether Redis answers."""
        try:
            return bool(await self._call("ping"))
        except BackendUnavailable:
            return False


def keystore_from_url(url: str, *, redis_client: Any = None) -> KeyStore:
    """Open a key store by URL (``memory://``, ``sqlite:///path``, ``redis://...``).

    Raises:
        UnsupportedBackend: Another scheme.
    """
    if url == "memory://":
        return MemoryKeyStore()
    if url.startswith("sqlite:///"):
        return SqliteKeyStore(url.removeprefix("sqlite:///") or ":memory:")
    if url.startswith(("redis://", "rediss://")):
        return RedisKeyStore(url, client=redis_client)
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresKeyStore(url)
    raise UnsupportedBackend(
        url, ("memory://", "sqlite:///", "redis://", "rediss://", "postgresql://")
    )


async def create_key(
    store: KeyStore, *, name: str, tier: str, tiers: Mapping[str, TierSpec]
) -> tuple[KeyRecord, str]:
    """Make and store a new key.

    Args:
        store: The open key store.
        name: Whose key it is.
        tier: A configured tier (not ``booth``).
        tiers: The configured tiers.

    Returns:
        The record and the token, which is shown once and never stored.

    Raises:
        ValueError: Unknown tier, or an empty name.
    """
    if tier not in tiers or tier == "booth":
        known = ", ".join(t for t in tiers if t != "booth")
        raise ValueError(f"unknown tier {tier!r} (known: {known})")
    if not name.strip():
        raise ValueError("a key needs a name")
    key_id, token = new_token()
    record = KeyRecord(key_id, name.strip(), tier, digest(token), time.time())
    await store.put(record)
    _log.info("apikey.created", key_id=key_id, name=record.name, tier=tier)
    return record, token


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request counts against.

    Args:
        key_id: The key's id (``booth:<address>`` for keyless reads in public mode).
        name: The key's owner.
        tier: The tier's name.
        spec: The tier's rate, burst and rank.
    """

    key_id: str
    name: str
    tier: str
    spec: TierSpec


class Authenticator:
    """Turns a token into a :class:`Principal`, remembering answers for ``cache_s``.

    Args:
        store: The open key store.
        tiers: The configured tiers, by name.
        cache_s: Seconds an answer (good or bad) is remembered in process (default 5).
        max_entries: The most tokens remembered; the memory is emptied when full.
        clock: Source of monotonic time.
    """

    def __init__(
        self,
        store: KeyStore,
        tiers: Mapping[str, TierSpec],
        *,
        cache_s: float = 5.0,
        max_entries: int = 100_000,
        clock: Clock | None = None,
    ) -> None:
        self.store = store
        self.tiers = dict(tiers)
        self._cache_s = cache_s
        self._max = max_entries
        self._clock: Clock = clock or MonotonicClock()
        self._known: dict[str, tuple[Principal | str, float]] = {}

    def cached(self, token: str) -> Principal | str | None:
        """The remembered answer: a principal, a refusal reason, or ``None`` (not known)."""
        found = self._known.get(token)
        if found is None or found[1] < self._clock.monotonic():
            return None
        return found[0]

    def forget(self) -> None:
        """Drop every remembered answer (after a revocation in this process)."""
        self._known.clear()

    async def authenticate(self, token: str) -> Principal:
        """The principal of a token.

        Raises:
            Unauthorized: The token is malformed, unknown, revoked or of an unknown tier.
            BackendUnavailable: The store could not be read.
        """
        found = self.cached(token)
        if found is None:
            found = await self._check(token)
            if len(self._known) >= self._max:
                self._known.clear()
            self._known[token] = (found, self._clock.monotonic() + self._cache_s)
        if isinstance(found, str):
            raise Unauthorized(found)
        return found

    async def _check(self, token: str) -> Principal | str:
        key_id = key_id_of(token)
        if key_id is None:
            return "malformed API key"
        record = await self.store.get(key_id)
        if record is None or not hmac.compare_digest(record.digest, digest(token)):
            return "unknown API key"
        if record.revoked is not None:
            return "revoked API key"
        spec = self.tiers.get(record.tier)
        if spec is None:
            _log.warning("apikey.unknown_tier", key_id=key_id, tier=record.tier)
            return f"the key's tier {record.tier!r} is not configured"
        return Principal(record.key_id, record.name, record.tier, spec)
