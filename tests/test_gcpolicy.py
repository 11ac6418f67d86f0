"""The collector policy: long-lived objects frozen, pauses observed, everything released."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import weakref
from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry

from pressbox.gcpolicy import CollectorPolicy

pytestmark = pytest.mark.anyio


class _Cycle:
    """An object in a reference cycle with itself: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def _sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


@contextlib.asynccontextmanager
async def _running(policy: CollectorPolicy) -> AsyncIterator[None]:
    """The policy applied for the block, then stopped (cancelled, as the app stops it)."""
    task = asyncio.create_task(policy.run())
    try:
        await _until(lambda: policy.freezes >= 1)
        yield
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def _until(condition: object, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_objects_are_frozen_while_it_runs_and_released_when_it_stops() -> None:
    registry = CollectorRegistry()
    policy = CollectorPolicy(freeze_every_s=0.05, full_every_s=0, registry=registry)
    async with _running(policy):
        await _until(lambda: policy.freezes >= 2)
        assert gc.get_freeze_count() > 0
        assert _sample(registry, "pressbox_gc_frozen_objects") > 0
    assert gc.get_freeze_count() == 0
    assert _sample(registry, "pressbox_gc_frozen_objects") == 0
    assert policy._on_collection not in gc.callbacks


async def test_a_full_collection_is_followed_by_a_freeze_and_its_pause_observed() -> None:
    registry = CollectorRegistry()
    policy = CollectorPolicy(freeze_every_s=0, full_every_s=0, registry=registry)
    async with _running(policy):
        before = policy.freezes
        gc.collect()
        await _until(lambda: policy.freezes > before)
        count = _sample(registry, "pressbox_gc_pause_seconds_count", generation="2")
        assert count >= 1


async def test_cyclic_garbage_frozen_with_the_rest_is_freed_by_the_complete_collection() -> None:
    policy = CollectorPolicy(freeze_every_s=0, full_every_s=0.2, registry=CollectorRegistry())
    async with _running(policy):
        cycle = _Cycle()
        ref = weakref.ref(cycle)
        policy.freeze()  # the cycle is frozen while alive...
        del cycle  # ...and becomes garbage, which no collection reclaims while frozen
        gc.collect()
        assert ref() is not None
        await _until(lambda: policy.full_collections >= 1)
        assert ref() is None


@pytest.mark.parametrize(("freeze", "full"), [(-1.0, 900.0), (10.0, -0.5)])
def test_negative_intervals_are_refused(freeze: float, full: float) -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        CollectorPolicy(freeze_every_s=freeze, full_every_s=full, registry=CollectorRegistry())


def test_the_complete_collection_counts_the_garbage_it_found() -> None:
    """``collect_everything`` frees a cycle that became garbage while frozen and says how
    many unreachable objects it found."""
    policy = CollectorPolicy(freeze_every_s=0, full_every_s=0, registry=CollectorRegistry())
    cycle = _Cycle()
    ref = weakref.ref(cycle)
    gc.freeze()
    del cycle
    try:
        found = policy.collect_everything()
    finally:
        gc.unfreeze()
    assert ref() is None
    assert found >= 1
