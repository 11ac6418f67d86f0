"""What the app's handlers and its edge share while it runs (built in the lifespan)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

from pressbox.api.keys import Authenticator, KeyStore, Principal
from pressbox.api.limits import KeyLimiter
from pressbox.api.metrics import ApiMetrics
from pressbox.api.predict import PredictionCache
from pressbox.api.reads import ReadCache
from pressbox.api.settings import ApiSettings, TierSpec
from pressbox.api.shedding import Shedder
from pressbox.delivery import Hub
from pressbox.service import Service


@dataclass(slots=True)
class Runtime:
    """The running app's parts.

    Args:
        service: The backends (log, archive, models).
        api: The API settings.
        tiers: The tiers by name (``booth`` included).
        hub: The delivery hub (follows every game; refreshes predictions).
        shedder: Load shedding state.
        metrics: The API's metric families.
        registry: The Prometheus registry ``/metrics`` shows (default: the global one).
    """

    service: Service
    api: ApiSettings
    tiers: dict[str, TierSpec]
    hub: Hub
    shedder: Shedder
    metrics: ApiMetrics
    registry: CollectorRegistry | None = None
    keys: KeyStore | None = None
    auth: Authenticator | None = None
    limiter: KeyLimiter | None = None
    predictions: PredictionCache | None = None
    reads: ReadCache | None = None
    redis: Any = None
    ready: bool = False
    booth: dict[str, Principal] = field(default_factory=dict)

    def booth_principal(self, address: str) -> Principal:
        """The keyless principal of a client address (public mode)."""
        found = self.booth.get(address)
        if found is None:
            if len(self.booth) > 100_000:
                self.booth.clear()
            found = self.booth[address] = Principal(
                f"booth:{address}", "booth", "booth", self.tiers["booth"]
            )
        return found

    async def ping(self) -> dict[str, bool]:
        """Whether each backend answers (readiness)."""
        checks = await self.service.ping()
        if self.keys is not None:
            checks["keys"] = await self.keys.ping()
        if self.redis is not None:
            try:
                checks["cache"] = bool(await self.redis.ping())
            except Exception:
                checks["cache"] = False
        return checks
