"""Prometheus metric families of the API, created once per registry (like the resilience ones)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from pressbox.metrics import per_registry


@dataclass(frozen=True, slots=True)
class ApiMetrics:
    """The API's metric families, bound to one registry."""

    requests: Counter
    latency: Histogram
    refused: Counter
    inflight: Gauge
    computations: Counter
    loop_lag: Histogram


def _create(reg: CollectorRegistry) -> ApiMetrics:
    return ApiMetrics(
        requests=Counter(
            "pressbox_api_requests",
            "API requests by route class and status.",
            ["route", "status"],
            registry=reg,
        ),
        latency=Histogram(
            "pressbox_api_request_seconds",
            "Time to answer an API request, by route class.",
            ["route"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 3),
            registry=reg,
        ),
        refused=Counter(
            "pressbox_api_refused",
            "Requests refused before the handler, by reason and tier.",
            ["reason", "tier"],
            registry=reg,
        ),
        inflight=Gauge("pressbox_api_inflight", "API requests in flight.", registry=reg),
        computations=Counter(
            "pressbox_api_prediction_computations",
            "Predictions computed on a cache miss (not from the stream).",
            registry=reg,
        ),
        loop_lag=Histogram(
            "pressbox_event_loop_lag_seconds",
            "How late the load shedder's 5 ms timer fired: how long a ready task waited for"
            " the event loop (every task of the process shares it).",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=reg,
        ),
    )


api_metrics = per_registry(_create)
"""The API's families of a registry (the default one when ``None``), created on first use."""
