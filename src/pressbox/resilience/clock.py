"""Clocks for the resilience layer: the real monotonic one and a manual one for tests.

Both satisfy :class:`pressbox.types.Clock`. Every cache, breaker and rate limiter takes a
clock in its constructor so that tests move time forward by hand instead of sleeping.
"""

from __future__ import annotations

import time


class MonotonicClock:
    """The process's real clocks: :func:`time.monotonic` and :func:`time.time`."""

    def monotonic(self) -> float:
        """Seconds on the monotonic clock, for intervals and deadlines."""
        return time.monotonic()

    def time(self) -> float:
        """Seconds since the Unix epoch."""
        return time.time()


class ManualClock:
    """A clock that only moves when told to, so tests never sleep.

    Args:
        start: The initial monotonic reading, seconds (default ``0.0``).
        epoch: The wall-clock reading that goes with ``start``, seconds since the Unix
            epoch (default ``1_700_000_000.0``, a fixed instant so tests are repeatable).
    """

    def __init__(self, start: float = 0.0, epoch: float = 1_700_000_000.0) -> None:
        self._now = start
        self._epoch_offset = epoch - start

    def monotonic(self) -> float:
        """The current manual reading, seconds."""
        return self._now

    def time(self) -> float:
        """The wall-clock reading that moves together with :meth:`monotonic`."""
        return self._now + self._epoch_offset

    def advance(self, seconds: float) -> None:
        """Move both readings forward.

        Args:
            seconds: How far to move, seconds; never negative, since a monotonic clock
                cannot go back.

        Raises:
            ValueError: ``seconds`` is negative.
        """
        if seconds < 0:
            raise ValueError(f"a monotonic clock cannot go back ({seconds} s)")
        self._now += seconds
