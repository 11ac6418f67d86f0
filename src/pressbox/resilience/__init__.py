"""The resilience layer: clocks, a TTL cache with serve-stale, a breaker, rate limits.

Every piece takes an injectable :class:`~pressbox.types.Clock`, has bounded defaults that
are documented in its signature, logs its state changes as structured events and counts
them in Prometheus metrics. None of it knows about feeds or HTTP.
"""

from __future__ import annotations

from pressbox.resilience.breaker import BreakerState, CircuitBreaker
from pressbox.resilience.cache import Cached, TTLCache
from pressbox.resilience.clock import ManualClock, MonotonicClock
from pressbox.resilience.ratelimit import RateBudget, RateLimiter, parse_rate

__all__ = [
    "BreakerState",
    "Cached",
    "CircuitBreaker",
    "ManualClock",
    "MonotonicClock",
    "RateBudget",
    "RateLimiter",
    "TTLCache",
    "parse_rate",
]
