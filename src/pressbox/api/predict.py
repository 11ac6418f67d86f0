"""The hot route's data: predictions as pre-encoded JSON bytes in a two-layer cache.

A prediction is kept as the bytes of its JSON body up to the ``staleness_s`` value, plus
the time it is as of; answering a request is one dict lookup and one ``%`` format of the
staleness, with no model object, no validation and no JSON encoder on the way (the body
is checked against the OpenAPI schema by ``tests/api/test_predict.py``).

Layers, keyed by ``(sport, game_id)``:

1. In process: a :class:`~pressbox.resilience.TTLCache` (``cache_ttl_s``, 5 s), with
   single-flight: however many requests miss at once, one computation runs and every one
   of them gets its result. When the computation fails, the last value is served (stale)
   rather than an error.
2. Shared by the workers: Redis (``cache_url = redis://``), ``shared_ttl_s`` (5 s), so a
   game is computed about once per TTL across all workers.

Freshness: every worker's delivery hub follows every game and calls
:meth:`PredictionCache.on_update` with each new update, which replaces the in-process
entry at once; so a worker's answer is never older than the update stream it follows.
The shared layer's TTL is not longer than the in-process one, so when an in-process entry
expires, any shared entry written before the game's latest update has expired too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import structlog
from prometheus_client import CollectorRegistry

from pressbox.engine.events import Update
from pressbox.errors import BackendError, UnknownGame
from pressbox.resilience import TTLCache
from pressbox.resilience.clock import MonotonicClock
from pressbox.types import Clock

_log = structlog.get_logger("pressbox.api.predict")


@dataclass(frozen=True, slots=True)
class Prediction:
    """One game's prediction, ready to send.

    Args:
        status: The HTTP status (200, or 404 for a game no one knows).
        head: The JSON body up to the staleness value; the whole body when ``as_of`` is
            ``None``.
        as_of: Unix seconds of the update the prediction comes from, if known.
        seq: The update's sequence (0 when there is none).
    """

    status: int
    head: bytes
    as_of: float | None = None
    seq: int = 0

    def body(self, now: float) -> bytes:
        """The JSON body, with the staleness at ``now`` (Unix seconds)."""
        if self.as_of is None:
            return self.head
        return b"%s%.3f}" % (self.head, max(0.0, now - self.as_of))

    def dumps(self) -> bytes:
        """This prediction as bytes for the shared cache."""
        as_of = b"" if self.as_of is None else repr(self.as_of).encode()
        return b"%d\n%s\n%d\n%s" % (self.status, as_of, self.seq, self.head)

    @classmethod
    def loads(cls, data: bytes) -> Prediction:
        """Read :meth:`dumps` back.

        Raises:
            ValueError: The bytes are not a dumped prediction.
        """
        status, as_of, seq, head = data.split(b"\n", 3)
        return cls(int(status), head, float(as_of) if as_of else None, int(seq))


def unavailable(sport: str, game_id: str, reason: str) -> Prediction:
    """The 200 ``{"available": false}`` answer for a known game without a prediction."""
    body = {"available": False, "reason": reason, "sport": sport, "game_id": game_id}
    return Prediction(200, orjson.dumps(body))


def unknown(sport: str, game_id: str) -> Prediction:
    """The 404 answer for a game no one knows."""
    body = {"error": "unknown_game", "reason": f"no {sport} game {game_id!r}"}
    return Prediction(404, orjson.dumps(body))


def encode_prediction(update: Update) -> Prediction:
    """The prediction carried by an update (``available: false`` when it has no WP)."""
    state = update.state
    if update.wp is None:
        return unavailable(update.sport, update.game_id, "no win-probability model answer")
    as_of = update.ts_emit or update.ts_ingest
    body: dict[str, Any] = {
        "available": True,
        "sport": update.sport,
        "game_id": update.game_id,
        "status": state.status,
        "seq": update.seq,
        "home": update.wp.home,
        "away": update.wp.away,
        "tie": update.wp.tie,
        "model": update.wp.model,
        "home_score": state.home_score,
        "away_score": state.away_score,
        "period": state.period,
        "clock": state.clock,
        "wpa": update.wpa,
        "leverage": update.leverage,
        "as_of": as_of,
    }
    encoded = orjson.dumps(body)
    if as_of is None:
        return Prediction(200, encoded[:-1] + b',"staleness_s":null}', None, update.seq)
    return Prediction(200, encoded[:-1] + b',"staleness_s":', as_of, update.seq)


class SharedCache(Protocol):
    """The cache shared by workers; failures are the caller's to ignore."""

    async def get(self, key: str) -> bytes | None:
        """The bytes under ``key``, or ``None``."""
        ...

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store ``value`` for ``ttl`` seconds."""
        ...


class RedisSharedCache:
    """The shared layer in Redis (``SET key value PX ttl``).

    Args:
        client: An open ``redis.asyncio`` client.
        prefix: Key prefix.
    """

    def __init__(self, client: Any, *, prefix: str = "pressbox:prediction:") -> None:
        self._client = client
        self._prefix = prefix

    async def get(self, key: str) -> bytes | None:
        """The bytes under ``key``, or ``None``.

        Raises:
            BackendError: Redis failed.
        """
        try:
            value = await self._client.get(self._prefix + key)
        except Exception as exc:
            raise BackendError(f"shared cache: {exc}") from exc
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store ``value`` for ``ttl`` seconds.

        Raises:
            BackendError: Redis failed.
        """
        try:
            await self._client.set(self._prefix + key, value, px=max(1, int(ttl * 1000)))
        except Exception as exc:
            raise BackendError(f"shared cache: {exc}") from exc


Loader = Callable[[str, str], Awaitable[Prediction]]
"""Computes one game's prediction from the log and archive: ``(sport, game_id)``."""


class PredictionCache:
    """The two-layer prediction cache (see the module docstring).

    Args:
        load: Computes a prediction on a miss of both layers.
        ttl: In-process time-to-live, seconds (default 5).
        shared: The shared layer, or ``None`` (one process).
        shared_ttl: Shared time-to-live, seconds (default 5; not above ``ttl``).
        clock: Source of time (monotonic for the TTLs, wall for staleness).
        registry: Prometheus registry of the cache's metrics.
    """

    def __init__(
        self,
        load: Loader,
        *,
        ttl: float = 5.0,
        shared: SharedCache | None = None,
        shared_ttl: float = 5.0,
        clock: Clock | None = None,
        registry: CollectorRegistry | None = None,
        max_entries: int = 10_000,
    ) -> None:
        self._load = load
        self._shared = shared
        self._shared_ttl = min(shared_ttl, ttl)
        self.clock: Clock = clock or MonotonicClock()
        self.local: TTLCache[tuple[str, str], Prediction] = TTLCache(
            "api-predictions",
            ttl=ttl,
            max_stale=60.0,
            max_entries=max_entries,
            clock=self.clock,
            registry=registry,
        )
        self._ttl = ttl
        # The hot path's view of fresh entries: one dict lookup and one clock reading.
        # Written whenever the TTL cache gets a fresh value; the TTL cache keeps doing
        # single-flight and serve-stale.
        self._hot: dict[tuple[str, str], tuple[Prediction, float]] = {}
        self._max_hot = max_entries
        self.computations = 0
        """Predictions computed by ``load`` (misses of both layers)."""
        self.refreshes = 0
        """Entries replaced by an update from the stream."""

    def peek(self, sport: str, game_id: str) -> Prediction | None:
        """A fresh in-process prediction, without waiting (the hot path)."""
        found = self._hot.get((sport, game_id))
        if found is None or found[1] <= self.clock.monotonic():
            return None
        return found[0]

    def _remember(self, key: tuple[str, str], value: Prediction, age: float) -> None:
        if len(self._hot) >= self._max_hot and key not in self._hot:
            now = self.clock.monotonic()
            self._hot = {k: v for k, v in self._hot.items() if v[1] > now}
            if len(self._hot) >= self._max_hot:
                self._hot.clear()
        self._hot[key] = (value, self.clock.monotonic() + self._ttl - age)

    async def get(self, sport: str, game_id: str) -> Prediction:
        """A prediction, computed at most once per TTL however many callers ask.

        Raises:
            BackendError: Nothing cached and the backends failed.
        """
        key = (sport, game_id)
        cached = await self.local.get_or_fetch(key, lambda: self._fetch(sport, game_id))
        if not cached.stale:
            self._remember(key, cached.value, cached.age)
        return cached.value

    async def _fetch(self, sport: str, game_id: str) -> Prediction:
        key = f"{sport}:{game_id}"
        if self._shared is not None:
            try:
                raw = await self._shared.get(key)
                if raw is not None:
                    return Prediction.loads(raw)
            except (BackendError, ValueError) as exc:
                _log.warning("api.shared_cache_failed", error=str(exc))
        self.computations += 1
        try:
            prediction = await self._load(sport, game_id)
        except UnknownGame:
            prediction = unknown(sport, game_id)
        if self._shared is not None:
            try:
                await self._shared.set(key, prediction.dumps(), self._shared_ttl)
            except BackendError as exc:
                _log.warning("api.shared_cache_failed", error=str(exc))
        return prediction

    def on_update(self, update: Update) -> None:
        """Replace the game's entry with the prediction of a new update (hub listener)."""
        key = (update.sport, update.game_id)
        current = self.local.get(key)
        if current is not None and current.value.seq > update.seq:
            return
        prediction = encode_prediction(update)
        self.local.set(key, prediction)
        self._remember(key, prediction, 0.0)
        self.refreshes += 1
