"""Prometheus families created once per registry, and those the pipeline's stages share.

:func:`per_registry` is how every part of pressbox declares its metric families:
prometheus-client refuses a second registration of the same name, and many instances (and
tests with their own :class:`~prometheus_client.CollectorRegistry`) share registries, so a
family set is created once per registry and each instance writes its own label values.

``pressbox_stage_seconds{stage}`` is the latency of each stage a play goes through:
``poll`` (the upstream's publication of the play to its append to the log) is observed by
the poller, ``process`` (ingest to the processor's emit) by the processor, ``publish``
(the processor's emit to its arrival at a gateway's hub) and ``deliver`` (the update's
emit to its bytes handed to every subscriber's socket) by the gateway. The processors
also expose:

- ``pressbox_processor_events_total{outcome}``: events taken, by outcome;
- ``pressbox_processor_backlog_events``: events in the log that the running processors
  of this process have not processed yet (each processor's log length at its last look
  minus its position; it grows when processing falls behind ingest);
- ``pressbox_processor_batch_events``: events per batch read from the log (batches fill
  up when a processor catches up a backlog, and hold one event when it keeps up);
- ``pressbox_archive_write_seconds``: one batch's archive transaction (events, updates
  and checkpoint).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

_F = TypeVar("_F")


def per_registry(
    create: Callable[[CollectorRegistry], _F],
) -> Callable[[CollectorRegistry | None], _F]:
    """Wrap a factory of metric families so it runs once per registry.

    Args:
        create: Builds the families, registering them on the registry it is given.

    Returns:
        A function of a registry (``None``: prometheus-client's default) that returns the
        families of that registry, created on first use.
    """
    made: weakref.WeakKeyDictionary[CollectorRegistry, _F] = weakref.WeakKeyDictionary()
    lock = threading.Lock()

    def families(registry: CollectorRegistry | None = None) -> _F:
        reg = REGISTRY if registry is None else registry
        with lock:
            found = made.get(reg)
            if found is None:
                found = made[reg] = create(reg)
            return found

    return families


STAGE_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
"""Seconds: from half a millisecond (a lookup) to ten seconds (a feed that lags)."""

BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)
"""Events per batch: one (keeping up with a live game) to a whole catch-up batch."""


@dataclass(frozen=True, slots=True)
class PipelineMetrics:
    """The pipeline's shared metric families, bound to one registry."""

    stage_seconds: Histogram
    processor_events: Counter
    processor_backlog: Gauge
    processor_batch: Histogram
    archive_seconds: Histogram


def _create(reg: CollectorRegistry) -> PipelineMetrics:
    return PipelineMetrics(
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
        processor_backlog=Gauge(
            "pressbox_processor_backlog_events",
            "Events in the log the running processors have not processed yet.",
            registry=reg,
        ),
        processor_batch=Histogram(
            "pressbox_processor_batch_events",
            "Events per batch a processor read from the log.",
            buckets=BATCH_BUCKETS,
            registry=reg,
        ),
        archive_seconds=Histogram(
            "pressbox_archive_write_seconds",
            "Seconds of one processor batch's archive transaction.",
            buckets=STAGE_BUCKETS,
            registry=reg,
        ),
    )


pipeline_metrics = per_registry(_create)
"""The pipeline's families of a registry (the default one when ``None``)."""
