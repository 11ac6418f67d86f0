"""Settings of the HTTP API, read once from ``PRESSBOX_API_*`` environment variables.

They sit beside the core :class:`pressbox.config.Settings` (backends, host, port), which
the API reads through :class:`CoreSettings`, the few fields it needs. Tiers are
configured as JSON, for example
``PRESSBOX_API_TIERS='{"pro": {"rate": 200, "burst": 500, "rank": 2}}'``; a tier given
there replaces the default of the same name and the other defaults stay.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class CoreSettings(Protocol):
    """What the API reads from the core settings (``PRESSBOX_*``)."""

    @property
    def log_url(self) -> str: ...
    @property
    def archive_url(self) -> str: ...
    @property
    def cache_url(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...


class TierSpec(BaseModel):
    """One tier of the API: a token bucket per key, and a rank for shedding.

    Args:
        rate: Requests per second refilled into the key's bucket.
        burst: The bucket's size, the largest burst.
        rank: Higher ranks are shed later under overload (0 is shed first).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rate: float = Field(gt=0)
    burst: int = Field(ge=1)
    rank: int = Field(default=0, ge=0, le=3)


DEFAULT_TIERS: dict[str, TierSpec] = {
    "community": TierSpec(rate=1, burst=5, rank=0),
    "starter": TierSpec(rate=10, burst=30, rank=1),
    "pro": TierSpec(rate=100, burst=250, rank=2),
    "enterprise": TierSpec(rate=1000, burst=3000, rank=3),
}
"""The tiers of the issue; ``booth`` (keyless reads in public mode) is added to them."""

BOOTH_TIER = TierSpec(rate=20, burst=60, rank=0)
"""Keyless reads when ``public`` is on: per client address, shed first."""


class ApiSettings(BaseSettings):
    """Every setting of the HTTP API, with its environment variable ``PRESSBOX_API_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="PRESSBOX_API_", frozen=True, extra="ignore")

    public: bool = True
    """Keyless requests are served as the ``booth`` tier, one bucket per client address
    (the embedded demo and the same-origin booth dashboard). Turn off in production:
    ``PRESSBOX_API_PUBLIC=0`` makes every ``/v1/`` data endpoint need a key."""
    tiers: dict[str, TierSpec] = Field(default_factory=dict)
    """Tiers to add or replace (JSON); merged over :data:`DEFAULT_TIERS`."""
    booth: TierSpec = BOOTH_TIER
    ratelimit: bool = True
    """Per-key token buckets on (off only for benchmarks and trusted deployments)."""
    keys_url: str | None = None
    """Where keys are stored: ``memory://``, ``sqlite:///path.db``, ``postgresql://...`` or
    ``redis://...``. Default: the cache's Redis when ``cache_url`` is ``redis://``, else the
    archive's database (its own ``api_keys`` table)."""
    key_cache_s: float = Field(default=5.0, ge=0)
    """Seconds a checked key is remembered in process: a revoked key stops working
    within this time in every worker."""
    cache_ttl_s: float = Field(default=5.0, gt=0)
    """Time-to-live of a prediction in the in-process cache (it is also replaced on
    every update of the game)."""
    shared_cache_ttl_s: float = Field(default=5.0, gt=0)
    """Time-to-live of a prediction in the shared (Redis) cache."""
    read_cache_s: float = Field(default=1.0, ge=0)
    """Longest a game read (``/v1/games/{id}``, ``/plays``, ``/wp``, ``/key-plays``,
    ``/v1/games``, ``/v1/predictions/latest``) is answered from the edge's read cache; an
    update to the game ends it sooner (:mod:`pressbox.api.reads`). 0: no read cache."""
    read_stale_s: float = Field(default=10.0, ge=0)
    """Under overload, a game read that would be shed is answered instead with the last
    answer kept for it if that was built within this many seconds, marked stale (``Age``,
    ``Cache-Status``); only a read with no such answer gets 503. 0: only a current kept
    answer stands in for a refusal."""
    lease_s: float = Field(default=0.05, gt=0, le=1.0)
    """Seconds of a tier's rate a worker leases from the shared bucket at once; a lease
    not used within ``lease_ttl_s`` is dropped."""
    lease_max: int = Field(default=64, ge=1)
    """The most tokens leased at once (the per-worker tolerance of the shared bucket)."""
    lease_ttl_s: float = Field(default=1.0, gt=0)
    cached_deadline_s: float = Field(default=1.0, gt=0)
    """Deadline of a request that is served from a cache (predictions)."""
    deadline_s: float = Field(default=3.0, gt=0)
    """Deadline of every other request."""
    max_inflight: int = Field(default=256, ge=1)
    """In-flight requests at which the process counts as fully loaded."""
    max_lag_s: float = Field(default=0.05, gt=0)
    """Event-loop lag (queueing delay) at which the process counts as fully loaded."""
    low_share: float = Field(default=0.25, gt=0, le=1)
    """Share of the event loop's time that low-priority requests may take (admission to
    answer, decaying over about 0.1 s); past it they are shed (1: no such limit)."""
    gc_freeze_s: float = Field(default=10.0, ge=0)
    """Seconds between two freezes of the process's long-lived objects, out of the cyclic
    collector's reach (:mod:`pressbox.gcpolicy`); 0: only after full collections."""
    gc_full_s: float = Field(default=900.0, ge=0)
    """Seconds between two complete collections of everything, frozen objects included
    (the bound on what an unreclaimed cycle holds); 0: never."""
    gc_policy: bool = True
    """Apply :mod:`pressbox.gcpolicy` while the app runs (off: the interpreter's defaults)."""
    max_body_bytes: int = Field(default=16_384, ge=1)
    max_header_bytes: int = Field(default=8_192, ge=256)
    retry_after_s: int = Field(default=1, ge=1)
    """``Retry-After`` of a shed or timed-out request, seconds."""
    stream_writers: int = Field(default=0, ge=0, le=32)
    """Writer processes that make the SSE streams' socket writes
    (:mod:`pressbox.delivery.writers`), so that the fan-out runs on other cores than the
    gateway's loop; 0: the gateway writes them itself."""
    shed_pause_s: float = Field(default=0.25, ge=0, le=5.0)
    """Seconds a connection is not read after a request on it was shed (0: read at once).
    A refusal still costs the server a parse and an answer; a client told to come back
    later that sends at once is held back in its own socket buffer instead."""

    @field_validator("tiers")
    @classmethod
    def _names(cls, value: dict[str, TierSpec]) -> dict[str, TierSpec]:
        for name in value:
            if not name.isidentifier() or name == "booth":
                raise ValueError(f"bad tier name {name!r}")
        return value

    def all_tiers(self) -> dict[str, TierSpec]:
        """The configured tiers over the defaults, plus ``booth``."""
        return {**DEFAULT_TIERS, **self.tiers, "booth": self.booth}

    def resolved_keys_url(self, core: CoreSettings) -> str:
        """The key store's URL (see :attr:`keys_url`)."""
        if self.keys_url:
            return self.keys_url
        if core.cache_url.startswith(("redis://", "rediss://")):
            return core.cache_url
        if core.archive_url.startswith("sqlite:///"):
            return core.archive_url
        if core.archive_url == "sqlite://":
            return "memory://"
        if core.archive_url.startswith(("postgresql://", "postgres://")):
            return core.archive_url
        return "sqlite:///./pressbox-keys.db"
