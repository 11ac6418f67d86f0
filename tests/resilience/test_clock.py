"""Tests for the real and the manual clock."""

from __future__ import annotations

import time

import pytest

from pressbox.resilience import ManualClock, MonotonicClock
from pressbox.types import Clock


def test_monotonic_clock_reads_the_process_clocks():
    """The real clock returns time.monotonic and time.time readings."""
    clock: Clock = MonotonicClock()
    before = time.monotonic()
    assert before <= clock.monotonic() <= time.monotonic()
    assert abs(clock.time() - time.time()) < 60


def test_manual_clock_moves_only_when_advanced():
    """Both readings stay put until advance() and then move together."""
    clock: Clock = ManualClock(start=5.0, epoch=1000.0)
    assert (clock.monotonic(), clock.time()) == (5.0, 1000.0)
    assert isinstance(clock, ManualClock)
    clock.advance(2.5)
    assert (clock.monotonic(), clock.time()) == (7.5, 1002.5)


def test_manual_clock_refuses_to_go_back():
    """A negative advance is a ValueError."""
    with pytest.raises(ValueError, match="cannot go back"):
        ManualClock().advance(-1)
