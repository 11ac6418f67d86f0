"""Encoded answers of the game reads, kept until the data behind them changes.

``GET /v1/games/{id}``, ``/plays``, ``/wp``, ``/key-plays``, ``/v1/games`` and
``/v1/predictions/latest`` are read by every booth and second-screen client many times
between two plays, and each answer costs the framework its validation and encoding (0.26 to
0.40 ms of CPU in process at rest, against 9 µs for a cached prediction). The
edge keeps each answer's bytes by path and query under the version of the data it was
built from: a game's reads under that game's count of updates seen by the hub, the
cross-game reads under the count of all updates. The version is taken *before* the
answer is built, so an update that lands while it is built makes the entry stale at once;
an entry also expires after ``ttl_s`` (what changes without an update, such as a game's row
in the archive, is at most that old). Only ``200`` answers are kept, at most
``max_entries`` of them (least recently used first out).

Under overload the edge would rather answer a read late than not at all: when the shedder
refuses a read, :meth:`ReadCache.fallback` gives the last answer kept for it if it was
built within ``stale_s``, however many updates have landed since, with its age and how far
behind it is (the edge marks it so in ``Age`` and ``Cache-Status``). So that a lasting
overload does not leave every kept answer further and further behind, once per ``ttl_s``
a read that has an answer kept gets a ticket instead: that one request is built afresh
(and kept) although the shedder refused it, the others get the older answer meanwhile
(stale-while-revalidate, one rebuild per read and ``ttl_s``). Only a read with no answer
kept, or one older than ``stale_s`` while its rebuild is not due, is refused.

A cache in front of the framework rather than a library's HTTP cache: the versions come
from the hub's updates, which no generic cache knows about.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter

from pressbox.engine.events import Update
from pressbox.metrics import per_registry

__all__ = ["ReadCache", "Stale", "Ticket"]

_GAME_READS = frozenset({"", "plays", "wp", "key-plays"})
"""``/v1/games/{id}[/…]`` reads that change only with the game's updates."""
_ALL_READS = frozenset({"/v1/games", "/v1/predictions/latest"})
"""Reads over every game: they change with any update."""


@dataclass(frozen=True, slots=True)
class Ticket:
    """Where an answer about to be built goes, and the version it is built from."""

    key: tuple[str, bytes]
    version: int


@dataclass(frozen=True, slots=True)
class Stale:
    """An answer kept, given for a refused read: current (``behind`` 0, within ``ttl_s``)
    or from before the data behind it last changed (or past its time)."""

    body: bytes
    media_type: bytes
    age_s: float
    """Seconds since it was built."""
    behind: int
    """Updates behind the data it would be built from now (0: only past its time)."""


@dataclass(slots=True)
class _Entry:
    body: bytes
    media_type: bytes
    version: int
    built: float
    expires: float
    rebuild_at: float
    """When a read refused under overload may next be built afresh (:meth:`fallback`)."""


@per_registry
def _metrics(registry: CollectorRegistry) -> Counter:
    return Counter(
        "pressbox_api_read_cache",
        "Game reads by outcome: hit (answered from the read cache), miss (built and kept), "
        "stale (an older answer kept, given instead of a refusal under overload).",
        ["outcome"],
        registry=registry,
    )


class ReadCache:
    """The read answers by path and query (module doc).

    Args:
        ttl_s: The longest an answer is served once built.
        stale_s: The longest an answer is kept to stand in for a refused read under
            overload (:meth:`fallback`); ``0``: never.
        max_entries: Answers kept at most.
        registry: Prometheus registry of ``pressbox_api_read_cache_total``.
        clock: Monotonic seconds (tests pass a fake one).
    """

    def __init__(
        self,
        *,
        ttl_s: float = 1.0,
        stale_s: float = 10.0,
        max_entries: int = 4096,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_s <= 0 or max_entries < 1:
            raise ValueError("ReadCache needs a positive ttl_s and max_entries")
        if stale_s < 0:
            raise ValueError("ReadCache's stale_s cannot be negative")
        self.ttl_s = ttl_s
        self.stale_s = stale_s
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[tuple[str, bytes], _Entry] = OrderedDict()
        self._games: dict[str, int] = {}
        self._all = 0
        counter = _metrics(registry)
        self._hits = counter.labels("hit")
        self._misses = counter.labels("miss")
        self._stale = counter.labels("stale")

    def __len__(self) -> int:
        return len(self._entries)

    def on_update(self, update: Update) -> None:
        """A hub listener: the game's reads, and the reads over every game, change."""
        self._games[update.game_id] = self._games.get(update.game_id, 0) + 1
        self._all += 1

    def version(self, path: str) -> int | None:
        """The version of the data behind a read, or ``None`` when ``path`` is not kept."""
        if path in _ALL_READS:
            return self._all
        if not path.startswith("/v1/games/"):
            return None
        game, _, rest = path[len("/v1/games/") :].partition("/")
        if not game or rest not in _GAME_READS:
            return None
        return self._games.get(game, 0)

    def lookup(self, path: str, query: bytes) -> tuple[bytes, bytes] | Ticket | None:
        """The kept answer (body, media type); else a ticket to keep the one about to be
        built; ``None`` when this read is not kept."""
        version = self.version(path)
        if version is None:
            return None
        key = (path, query)
        entry = self._entries.get(key)
        if entry is not None and entry.version == version and entry.expires > self._clock():
            self._entries.move_to_end(key)
            self._hits.inc()
            return entry.body, entry.media_type
        return Ticket(key, version)

    def keep(self, ticket: Ticket, body: bytes, media_type: bytes) -> None:
        """Keep an answer built from the ticket's version (a ``200``)."""
        self._misses.inc()
        now = self._clock()
        expires = now + self.ttl_s
        self._entries[ticket.key] = _Entry(body, media_type, ticket.version, now, expires, expires)
        self._entries.move_to_end(ticket.key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def fallback(self, path: str, query: bytes) -> Stale | Ticket | None:
        """For a read the edge would otherwise refuse (module doc): the answer kept for it
        when it is current (a hit, ``behind`` 0); else, with ``stale_s`` above 0, a ticket
        to build it afresh when its rebuild is due, or that answer if it was built within
        ``stale_s``; else ``None``."""
        version = self.version(path)
        if version is None:
            return None
        key = (path, query)
        entry = self._entries.get(key)
        if entry is None:
            return None
        now = self._clock()
        age = now - entry.built
        if entry.version == version and entry.expires > now:
            self._entries.move_to_end(key)
            self._hits.inc()
            return Stale(entry.body, entry.media_type, age, 0)
        if self.stale_s == 0:
            return None
        if entry.rebuild_at <= now:
            entry.rebuild_at = now + self.ttl_s
            return Ticket(key, version)
        if age > self.stale_s:
            return None
        self._stale.inc()
        return Stale(entry.body, entry.media_type, age, version - entry.version)
