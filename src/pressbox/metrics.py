"""Prometheus families that several stages of the pipeline write, created once per registry.

``pressbox_stage_seconds{stage}`` is the latency of each stage an update goes through:
``process`` (ingest to the processor's emit) is observed by the processor, ``publish``
(the processor's emit to its arrival at a gateway's hub) by the gateway. The processors'
outcomes are counted in ``pressbox_processor_events_total{outcome}``. Like the resilience
and API families, each family is created once per registry, so tests that pass their own
:class:`~prometheus_client.CollectorRegistry` never collide.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

STAGE_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
"""Seconds: from half a millisecond (a lookup) to ten seconds (a feed that lags)."""


@dataclass(frozen=True, slots=True)
class PipelineMetrics:
    """The pipeline's shared metric families, bound to one registry."""

    stage_seconds: Histogram
    processor_events: Counter


_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, PipelineMetrics] = (
    weakref.WeakKeyDictionary()
)
_LOCK = threading.Lock()


def pipeline_metrics(registry: CollectorRegistry | None = None) -> PipelineMetrics:
    """The families of ``registry`` (the default one when ``None``), created on first use."""
    reg = REGISTRY if registry is None else registry
    with _LOCK:
        found = _BY_REGISTRY.get(reg)
        if found is None:
            found = PipelineMetrics(
                stage_seconds=Histogram(
                    "pressbox_stage_seconds",
                    "Latency of each pipeline stage an update goes through, seconds.",
                    ["stage"],
                    buckets=STAGE_BUCKETS,
                    registry=reg,
                ),
                processor_events=Counter(
                    "pressbox_processor_events",
                    "Events the processors took, by outcome.",
                    ["outcome"],
                    registry=reg,
                ),
            )
            _BY_REGISTRY[reg] = found
        return found
