"""Tests for the token bucket RateLimiter and the windowed RateBudget."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from pressbox.errors import RateLimited
from pressbox.resilience import ManualClock, RateBudget, RateLimiter, parse_rate


def limiter(clock: ManualClock, **kwargs: Any) -> RateLimiter:
    return RateLimiter("lim", clock=clock, registry=CollectorRegistry(), **kwargs)


def budget(
    clock: ManualClock, registry: CollectorRegistry | None = None, **kwargs: Any
) -> RateBudget:
    return RateBudget("up", clock=clock, registry=registry or CollectorRegistry(), **kwargs)


def test_bucket_allows_a_burst_then_refills_at_its_rate():
    """A full bucket admits capacity at once, then rate per second."""
    clock = ManualClock()
    bucket = limiter(clock, rate=2.0, capacity=3.0)
    assert [bucket.try_acquire() for _ in range(4)] == [True, True, True, False]
    assert bucket.retry_after() == pytest.approx(0.5)
    clock.advance(0.5)
    assert bucket.tokens == pytest.approx(1.0)
    assert bucket.try_acquire()
    clock.advance(100)
    assert bucket.tokens == 3.0


def test_acquire_raises_rate_limited_with_the_wait():
    """acquire() refuses with RateLimited naming the limiter and the wait."""
    clock = ManualClock()
    bucket = limiter(clock, rate=1.0, capacity=1.0)
    bucket.acquire()
    with pytest.raises(RateLimited) as info:
        bucket.acquire()
    assert (info.value.limit, info.value.retry_after) == ("lim", 1.0)
    assert bucket.retry_after(0.5) == 0.5


@pytest.mark.parametrize("tokens", [0, -1, 5])
def test_bucket_refuses_impossible_requests(tokens):
    """Asking for no tokens or more than the capacity is a ValueError."""
    with pytest.raises(ValueError, match="tokens"):
        limiter(ManualClock(), capacity=4.0).try_acquire(tokens)


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"rate": 0}, "rate"), ({"capacity": 0}, "capacity")]
)
def test_bucket_bounds_are_validated(kwargs, message):
    """A non-positive rate or capacity is a ValueError."""
    with pytest.raises(ValueError, match=message):
        limiter(ManualClock(), **kwargs)


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(min_value=0.1, max_value=50),
    capacity=st.floats(min_value=1, max_value=50),
    steps=st.lists(
        st.tuples(st.floats(min_value=0, max_value=2), st.floats(min_value=0.1, max_value=1)),
        max_size=200,
    ),
)
def test_bucket_never_admits_more_than_capacity_plus_rate_times_t(rate, capacity, steps):
    """Over t seconds the bucket admits at most capacity + rate * t tokens."""
    clock = ManualClock()
    bucket = limiter(clock, rate=rate, capacity=capacity)
    admitted = 0.0
    for wait, tokens in steps:
        clock.advance(wait)
        if bucket.try_acquire(min(tokens, capacity)):
            admitted += min(tokens, capacity)
        assert admitted <= capacity + rate * clock.monotonic() + 1e-6


def test_budget_warns_before_the_limit_and_refuses_at_it():
    """budget.warning fires at 80% of the limit; the request past the limit is refused."""
    clock = ManualClock()
    registry = CollectorRegistry()
    b = budget(clock, registry, limit=10, window=60.0)
    with capture_logs() as logs:
        for _ in range(7):
            b.acquire()
        assert logs == []
        b.acquire()
        assert [e["event"] for e in logs] == ["budget.warning"]
        assert (logs[0]["used"], logs[0]["limit"]) == (8, 10)
        b.acquire()
        b.acquire()
        with pytest.raises(RateLimited) as info:
            b.acquire()
    assert [e["event"] for e in logs] == ["budget.warning", "budget.exhausted"]
    assert info.value.retry_after == 60.0
    assert b.remaining == 0
    assert registry.get_sample_value("pressbox_budget_used", {"budget": "up"}) == 10
    assert registry.get_sample_value("pressbox_budget_warnings_total", {"budget": "up"}) == 1


def test_budget_window_slides_and_the_warning_rearms():
    """Requests leave the window after it passes; the warning fires again next time."""
    clock = ManualClock()
    b = budget(clock, limit=5, window=10.0, warn_at=0.6)
    for _ in range(5):
        b.acquire()
        clock.advance(1.0)
    assert b.retry_after() == pytest.approx(5.0)
    clock.advance(5.0)
    assert b.used == 4
    clock.advance(10.0)
    assert (b.used, b.remaining) == (0, 5)
    with capture_logs() as logs:
        for _ in range(3):
            b.acquire()
    assert [e["event"] for e in logs] == ["budget.warning"]


def test_pause_refuses_until_it_ends_and_never_shortens():
    """pause() blocks every request for its length; a shorter pause keeps the longer one."""
    clock = ManualClock()
    b = budget(clock)
    with capture_logs() as logs:
        b.pause(30.0)
        b.pause(5.0)
    assert [e["event"] for e in logs] == ["budget.paused"]
    with pytest.raises(RateLimited) as info:
        b.acquire()
    assert info.value.retry_after == 30.0
    clock.advance(30.0)
    b.acquire()
    assert b.used == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit": 0}, "limit"),
        ({"window": 0}, "window"),
        ({"warn_at": 0}, "warn_at"),
        ({"warn_at": 1.5}, "warn_at"),
    ],
)
def test_budget_bounds_are_validated(kwargs, message):
    """Impossible limits, windows and thresholds are ValueErrors."""
    with pytest.raises(ValueError, match=message):
        budget(ManualClock(), **kwargs)


@settings(max_examples=200, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=20),
    waits=st.lists(st.floats(min_value=0, max_value=3), max_size=150),
)
def test_budget_never_spends_more_than_its_limit_in_any_window(limit, waits):
    """No sliding window ever holds more than limit admitted requests."""
    clock = ManualClock()
    window = 10.0
    b = budget(clock, limit=limit, window=window)
    admitted: list[float] = []
    for wait in waits:
        clock.advance(wait)
        if b.retry_after() > 0:
            with pytest.raises(RateLimited):
                b.acquire()
        else:
            b.acquire()
            admitted.append(clock.monotonic())
    for start in admitted:
        assert sum(1 for t in admitted if start <= t < start + window) <= limit


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("100/60s", (100, 60.0)),
        ("100/60", (100, 60.0)),
        (" 100 / m ", (100, 60.0)),
        ("5/s", (5, 1.0)),
        ("1000/1.5h", (1000, 5400.0)),
    ],
)
def test_parse_rate_reads_configured_rates(spec, expected):
    """Rates are written '<requests>/<window>' with an optional s, m or h unit."""
    assert parse_rate(spec) == expected


@pytest.mark.parametrize("spec", ["", "100", "100/", "abc/60s", "100/60d", "0/60s", "10/0s"])
def test_parse_rate_refuses_malformed_rates(spec):
    """Anything else, or a zero limit or window, is a ValueError."""
    with pytest.raises(ValueError, match="rate"):
        parse_rate(spec)
