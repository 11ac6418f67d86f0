"""Keep the cyclic garbage collector's pauses short in a process that holds many objects.

A serving process holds hundreds of thousands of long-lived objects: one chain of
protocol, transport, subscriber and coroutine objects per open stream, the feed documents
the pollers keep, the models' tables. CPython's full (generation 2) collection walks every
one of them each time it runs; with ten thousand streams open that is a pause of hundreds
of milliseconds, in which no update is written and no request is answered.

:class:`CollectorPolicy` moves what has lived long enough out of the collector's reach
(``gc.freeze``, the standard library's tool for exactly this): after every full collection
(what survived one is long-lived) and every ``freeze_every_s`` seconds (after a young
collection, so that young garbage is not frozen). A full collection then walks only what
became long-lived since the last freeze. Frozen objects that become cyclic garbage are not
reclaimed while frozen, so every ``full_every_s`` seconds the policy unfreezes everything
and collects it all once: a pause as long as a full collection without the policy, once in
that interval instead of every few seconds, and a bound on what an unreclaimed cycle can
hold. No library does this; the standard library gives the parts (``gc.freeze``,
``gc.callbacks``), and this module only decides when to use them.

Each collection's pause is observed in ``pressbox_gc_pause_seconds{generation}``; the
objects frozen are in ``pressbox_gc_frozen_objects``.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Gauge, Histogram

from pressbox.metrics import per_registry

__all__ = ["CollectorPolicy"]

_log = structlog.get_logger(__name__)

_PAUSE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@per_registry
def _gc_metrics(registry: CollectorRegistry) -> tuple[Histogram, Gauge]:
    pause = Histogram(
        "pressbox_gc_pause_seconds",
        "Pauses of the cyclic garbage collector by generation (2: full collection).",
        ["generation"],
        buckets=_PAUSE_BUCKETS,
        registry=registry,
    )
    frozen = Gauge(
        "pressbox_gc_frozen_objects",
        "Objects moved out of the collector's reach (gc.freeze).",
        registry=registry,
    )
    return pause, frozen


class CollectorPolicy:
    """When to freeze long-lived objects and when to collect everything (module doc).

    Args:
        freeze_every_s: Seconds between two freezes of what the young collections left;
            ``0`` freezes only after full collections.
        full_every_s: Seconds between two complete collections (everything unfrozen and
            collected once); ``0`` never unfreezes.
        registry: Prometheus registry of the policy's metrics.
        clock: Monotonic seconds (tests pass a fake one).
    """

    def __init__(
        self,
        *,
        freeze_every_s: float = 10.0,
        full_every_s: float = 900.0,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if freeze_every_s < 0 or full_every_s < 0:
            raise ValueError("CollectorPolicy intervals must not be negative")
        self.freeze_every_s = freeze_every_s
        self.full_every_s = full_every_s
        self._clock = clock
        self._pause, frozen = _gc_metrics(registry)
        # Counted when scraped: gc.get_freeze_count() walks the whole frozen list (a
        # million objects, milliseconds), too dear for every freeze.
        frozen.set_function(gc.get_freeze_count)
        self._started_at = 0.0
        self._freeze_due = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self.freezes = 0
        """Freezes so far."""
        self.full_collections = 0
        """Complete collections (everything unfrozen) so far."""

    def _on_collection(self, phase: str, info: dict[str, Any]) -> None:
        # Runs inside the collector: time the pause, and ask for a freeze after a full one
        # (freezing from here, in the middle of a collection, is not allowed).
        if phase == "start":
            self._started_at = time.perf_counter()
            return
        generation = int(info.get("generation", 0))
        self._pause.labels(str(generation)).observe(time.perf_counter() - self._started_at)
        if generation == 2 and self._loop is not None and not self._freeze_due:
            self._freeze_due = True
            self._loop.call_soon_threadsafe(self.freeze)

    def freeze(self) -> None:
        """Collect the young generations, then freeze everything that is left."""
        self._freeze_due = False
        gc.collect(1)
        gc.freeze()
        self.freezes += 1

    def collect_everything(self) -> int:
        """Unfreeze, collect every generation, and freeze what survived; returns the
        unreachable objects found (cyclic garbage, most of it held while frozen)."""
        gc.unfreeze()
        found = gc.collect()
        self.full_collections += 1
        self.freeze()
        return found

    async def run(self) -> None:
        """Apply the policy until cancelled; then remove its hook and unfreeze everything."""
        self._loop = asyncio.get_running_loop()
        gc.callbacks.append(self._on_collection)
        try:
            self.freeze()
            last_full = self._clock()
            tick = min(t for t in (self.freeze_every_s, self.full_every_s, 60.0) if t > 0)
            last_freeze = self._clock()
            while True:
                await asyncio.sleep(tick)
                now = self._clock()
                if self.full_every_s and now - last_full >= self.full_every_s:
                    began = time.perf_counter()
                    found = self.collect_everything()
                    last_full = last_freeze = now
                    _log.info(
                        "gc.collected_everything",
                        seconds=time.perf_counter() - began,
                        unreachable=found,
                    )
                elif self.freeze_every_s and now - last_freeze >= self.freeze_every_s:
                    self.freeze()
                    last_freeze = now
        finally:
            # Stopped: everything is the collector's again.
            gc.callbacks.remove(self._on_collection)
            gc.unfreeze()
            self._loop = None
