"""Prometheus metric families of the resilience layer, created once per registry.

Several caches, breakers and budgets share one registry (usually the default one), and
prometheus-client refuses to register the same metric name twice. So each family is
created once per registry and every instance writes to its own label values (its name):
tests that pass their own :class:`~prometheus_client.CollectorRegistry` never collide.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge

from pressbox.metrics import per_registry


@dataclass(frozen=True, slots=True)
class Metrics:
    """Every metric family the resilience layer writes, bound to one registry."""

    cache_requests: Counter
    cache_stale_served: Counter
    cache_fetch_errors: Counter
    breaker_state: Gauge
    breaker_transitions: Counter
    breaker_rejected: Counter
    breaker_failures: Counter
    budget_used: Gauge
    budget_warnings: Counter
    budget_rejected: Counter
    limiter_rejected: Counter


def _create(reg: CollectorRegistry) -> Metrics:
    return Metrics(
        cache_requests=Counter(
            "pressbox_cache_requests",
            "Cache lookups by outcome (hit, miss, stale).",
            ["cache", "outcome"],
            registry=reg,
        ),
        cache_stale_served=Counter(
            "pressbox_cache_stale_served",
            "Stale values served because a refresh failed.",
            ["cache"],
            registry=reg,
        ),
        cache_fetch_errors=Counter(
            "pressbox_cache_fetch_errors",
            "Refreshes that raised.",
            ["cache"],
            registry=reg,
        ),
        breaker_state=Gauge(
            "pressbox_breaker_state",
            "1 for the breaker's current state, 0 for the others.",
            ["breaker", "state"],
            registry=reg,
        ),
        breaker_transitions=Counter(
            "pressbox_breaker_transitions",
            "State changes of a breaker, by the state entered.",
            ["breaker", "state"],
            registry=reg,
        ),
        breaker_rejected=Counter(
            "pressbox_breaker_rejected",
            "Calls refused because the breaker was open.",
            ["breaker"],
            registry=reg,
        ),
        breaker_failures=Counter(
            "pressbox_breaker_failures",
            "Failures recorded by a breaker.",
            ["breaker"],
            registry=reg,
        ),
        budget_used=Gauge(
            "pressbox_budget_used",
            "Requests spent in the current window of a rate budget.",
            ["budget"],
            registry=reg,
        ),
        budget_warnings=Counter(
            "pressbox_budget_warnings",
            "Times a rate budget crossed its warning threshold.",
            ["budget"],
            registry=reg,
        ),
        budget_rejected=Counter(
            "pressbox_budget_rejected",
            "Requests refused by an exhausted rate budget.",
            ["budget"],
            registry=reg,
        ),
        limiter_rejected=Counter(
            "pressbox_limiter_rejected",
            "Requests refused by a token bucket.",
            ["limiter"],
            registry=reg,
        ),
    )


metrics_for = per_registry(_create)
"""The metric families of a registry (``None``: prometheus-client's default), created on
first use and shared by every instance that uses the same registry."""
