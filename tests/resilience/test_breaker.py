"""Tests for CircuitBreaker: opening, refusing, the half-open probe, metrics and logs."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from pressbox.errors import CircuitOpen
from pressbox.resilience import BreakerState, CircuitBreaker, ManualClock

pytestmark = pytest.mark.anyio


def make(
    clock: ManualClock, registry: CollectorRegistry | None = None, **kwargs: Any
) -> CircuitBreaker:
    kwargs.setdefault("failure_threshold", 3)
    kwargs.setdefault("reset_timeout", 10.0)
    return CircuitBreaker("up", clock=clock, registry=registry or CollectorRegistry(), **kwargs)


def state_of(breaker: CircuitBreaker) -> BreakerState:
    return breaker.state


def gauge(registry: CollectorRegistry, state: str) -> float | None:
    return registry.get_sample_value("pressbox_breaker_state", {"breaker": "up", "state": state})


async def test_opens_after_threshold_stops_calling_probes_once_and_closes():
    """The breaker opens after N failures, refuses, admits one probe after the cool-down,
    and closes when it succeeds."""
    clock = ManualClock()
    registry = CollectorRegistry()
    breaker = make(clock, registry)
    calls = 0

    async def failing() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError("down")

    with capture_logs() as logs:
        for _ in range(3):
            with pytest.raises(ConnectionError):
                await breaker.call(failing)
    assert breaker.state is BreakerState.OPEN
    assert [e["event"] for e in logs] == ["breaker.opened"]
    assert logs[0]["failures"] == 3
    assert gauge(registry, "open") == 1
    assert gauge(registry, "closed") == 0

    with pytest.raises(CircuitOpen) as info:
        await breaker.call(failing)
    assert calls == 3
    assert info.value.retry_at == 10.0
    assert breaker.retry_at == 10.0

    clock.advance(10.0)
    gate = asyncio.Event()

    async def probe() -> str:
        await gate.wait()
        return "ok"

    with capture_logs() as logs:
        probing = asyncio.create_task(breaker.call(probe))
        await asyncio.sleep(0)
        assert state_of(breaker) is BreakerState.HALF_OPEN
        with pytest.raises(CircuitOpen):
            await breaker.call(probe)
        gate.set()
        assert await probing == "ok"
    assert [e["event"] for e in logs] == ["breaker.half_open", "breaker.closed"]
    assert state_of(breaker) is BreakerState.CLOSED
    assert [breaker.retry_at] == [None]
    assert gauge(registry, "closed") == 1
    assert registry.get_sample_value("pressbox_breaker_rejected_total", {"breaker": "up"}) == 2


async def test_failed_probe_reopens_for_a_new_cool_down():
    """A probe that fails opens the breaker again from that moment."""
    clock = ManualClock()
    breaker = make(clock)
    for _ in range(3):
        breaker.allow()
        breaker.record_failure()
    clock.advance(10.0)
    breaker.allow()
    with capture_logs() as logs:
        breaker.record_failure()
    assert logs[0]["reason"] == "probe_failed"
    assert breaker.state is BreakerState.OPEN
    assert breaker.retry_at == 20.0


async def test_success_resets_the_consecutive_count():
    """Failures must be consecutive to open the breaker."""
    breaker = make(ManualClock())
    for _ in range(2):
        breaker.record_failure()
    breaker.record_success()
    assert breaker.failures == 0
    for _ in range(2):
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED


async def test_errors_that_do_not_count_release_the_probe():
    """An exception is_failure rejects neither counts nor keeps the probe slot."""
    clock = ManualClock()
    breaker = make(clock, failure_threshold=1)
    breaker.record_failure()
    clock.advance(10.0)

    async def not_found() -> None:
        raise LookupError("404")

    with pytest.raises(LookupError):
        await breaker.call(not_found, is_failure=lambda exc: not isinstance(exc, LookupError))
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.allow()


async def test_cancelled_call_releases_the_probe():
    """A cancelled probe frees the half-open slot without a verdict."""
    clock = ManualClock()
    breaker = make(clock, failure_threshold=1)
    breaker.record_failure()
    clock.advance(10.0)
    task = asyncio.create_task(breaker.call(asyncio.Event().wait))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.allow()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"failure_threshold": 0}, "failure_threshold"), ({"reset_timeout": 0}, "reset_timeout")],
)
def test_bounds_are_validated(kwargs, message):
    """A threshold below 1 or a non-positive cool-down is a ValueError."""
    with pytest.raises(ValueError, match=message):
        make(ManualClock(), **kwargs)


def test_default_registry_is_shared_by_label():
    """Two breakers on the default registry coexist under different labels."""
    a = CircuitBreaker("default-a")
    b = CircuitBreaker("default-b")
    assert a.state is b.state is BreakerState.CLOSED


class BreakerMachine(RuleBasedStateMachine):
    """The breaker against a reference model of its transitions."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.threshold = 3
        self.cooldown = 5.0
        self.breaker = make(self.clock, failure_threshold=self.threshold, reset_timeout=5.0)
        self.state = "closed"
        self.failures = 0
        self.opened_at = 0.0
        self.probe_out = False
        self.admitted = False

    @rule(seconds=st.floats(min_value=0, max_value=8, allow_nan=False))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule()
    def allow(self) -> None:
        now = self.clock.monotonic()
        expect_ok = True
        if self.state == "open":
            if now < self.opened_at + self.cooldown:
                expect_ok = False
            else:
                self.state = "half_open"
        if self.state == "half_open":
            if self.probe_out:
                expect_ok = False
            else:
                self.probe_out = True
        try:
            self.breaker.allow()
        except CircuitOpen:
            assert not expect_ok
        else:
            assert expect_ok
            self.admitted = True

    @rule()
    def succeed(self) -> None:
        self.breaker.record_success()
        self.failures = 0
        if self.state == "half_open":
            self.probe_out = False
            self.state = "closed"

    @rule()
    def fail(self) -> None:
        self.breaker.record_failure()
        self.failures += 1
        if self.state == "half_open":
            self.probe_out = False
            self.state = "open"
            self.opened_at = self.clock.monotonic()
        elif self.state == "closed" and self.failures >= self.threshold:
            self.state = "open"
            self.opened_at = self.clock.monotonic()

    @rule()
    def release(self) -> None:
        self.breaker.release()
        self.probe_out = False

    @invariant()
    def matches_the_model(self) -> None:
        assert self.breaker.state.value == self.state
        assert self.breaker.failures == self.failures

    @invariant()
    def open_means_a_future_retry_time(self) -> None:
        if self.state == "open":
            assert self.breaker.retry_at == self.opened_at + self.cooldown


TestBreakerMachine = BreakerMachine.TestCase
TestBreakerMachine.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)
