"""A circuit breaker per upstream: closed, open after N consecutive failures, half-open probe.

States and transitions (time from the injected clock)::

    CLOSED ──(failure_threshold consecutive failures)──► OPEN
    OPEN ──(reset_timeout elapsed, next allow())──► HALF_OPEN (admits exactly one probe)
    HALF_OPEN ──(probe succeeds)──► CLOSED
    HALF_OPEN ──(probe fails)──► OPEN (a new cool-down starts)

Every transition is logged as a structured event (``breaker.opened``,
``breaker.half_open``, ``breaker.closed``) and shown in the ``pressbox_breaker_state``
gauge (one series per state, 1 for the current one). The breaker knows nothing about
what it guards.

Kept by hand rather than taken from purgatory: purgatory times its cool-down with
``time.time()`` (the wall clock, which can jump, and which tests cannot move without
sleeping), and its half-open state lets every concurrent call through instead of one
probe. This state machine is small and is property-tested against a model.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from prometheus_client import CollectorRegistry

from pressbox.errors import CircuitOpen
from pressbox.resilience._metrics import metrics_for
from pressbox.resilience.clock import MonotonicClock
from pressbox.types import Clock

T = TypeVar("T")

_log = structlog.get_logger("pressbox.resilience.breaker")


class BreakerState(enum.Enum):
    """The three states of a :class:`CircuitBreaker`."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Stops calling an upstream that keeps failing, and probes it once after a cool-down.

    Use :meth:`call` to guard a coroutine, or the three low-level steps: :meth:`allow`
    before the call, then :meth:`record_success`, :meth:`record_failure` or, when the call
    ended without telling anything about the upstream (cancelled, refused locally),
    :meth:`release`.

    Args:
        name: The breaker's name (usually the upstream's), for logs, metrics and
            :class:`~pressbox.errors.CircuitOpen`.
        failure_threshold: Consecutive failures that open the breaker (default ``5``).
        reset_timeout: Cool-down before a probe is allowed, seconds (default ``30.0``).
        clock: Source of time; :class:`MonotonicClock` when ``None``.
        registry: Prometheus registry for the metrics; the default registry when ``None``.

    Raises:
        ValueError: ``failure_threshold`` is below 1 or ``reset_timeout`` is not positive.
    """

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        clock: Clock | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be at least 1, got {failure_threshold}")
        if reset_timeout <= 0:
            raise ValueError(f"reset_timeout must be positive, got {reset_timeout}")
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        m = metrics_for(registry)
        self._gauge = {s: m.breaker_state.labels(breaker=name, state=s.value) for s in BreakerState}
        self._transitions = m.breaker_transitions
        self._rejected = m.breaker_rejected.labels(breaker=name)
        self._failed = m.breaker_failures.labels(breaker=name)
        self._show(BreakerState.CLOSED)

    @property
    def state(self) -> BreakerState:
        """The current state. An open breaker turns half-open only on the next :meth:`allow`."""
        return self._state

    @property
    def failures(self) -> int:
        """Consecutive failures counted since the last success."""
        return self._failures

    @property
    def retry_at(self) -> float | None:
        """Monotonic time (seconds) from which a probe is allowed, while open; else ``None``."""
        if self._state is BreakerState.OPEN:
            return self._opened_at + self.reset_timeout
        return None

    def _show(self, state: BreakerState) -> None:
        for s, gauge in self._gauge.items():
            gauge.set(1 if s is state else 0)

    def _enter(self, state: BreakerState) -> None:
        self._state = state
        self._show(state)
        self._transitions.labels(breaker=self.name, state=state.value).inc()

    def allow(self) -> None:
        """Admit a call, or refuse it.

        Raises:
            CircuitOpen: The breaker is open and the cool-down has not passed, or it is
                half-open and its one probe is already out. ``retry_at`` says when to
                come back (monotonic seconds).
        """
        now = self._clock.monotonic()
        if self._state is BreakerState.OPEN:
            retry_at = self._opened_at + self.reset_timeout
            if now < retry_at:
                self._rejected.inc()
                raise CircuitOpen(self.name, retry_at)
            self._enter(BreakerState.HALF_OPEN)
            _log.info("breaker.half_open", breaker=self.name)
        if self._state is BreakerState.HALF_OPEN:
            if self._probing:
                self._rejected.inc()
                # The probe's outcome is unknown, so the earliest useful retry is now.
                raise CircuitOpen(self.name, now)
            self._probing = True

    def record_success(self) -> None:
        """Count a success: resets the failures and closes a half-open breaker."""
        self._failures = 0
        if self._state is BreakerState.HALF_OPEN:
            self._probing = False
            self._enter(BreakerState.CLOSED)
            _log.info("breaker.closed", breaker=self.name)

    def record_failure(self) -> None:
        """Count a failure: opens the breaker at the threshold or when a probe fails."""
        self._failed.inc()
        self._failures += 1
        if self._state is BreakerState.HALF_OPEN:
            self._probing = False
            self._open(reason="probe_failed")
        elif self._state is BreakerState.CLOSED and self._failures >= self.failure_threshold:
            self._open(reason="threshold")

    def release(self) -> None:
        """End an admitted call that says nothing about the upstream (frees the probe slot)."""
        self._probing = False

    def _open(self, *, reason: str) -> None:
        self._opened_at = self._clock.monotonic()
        self._enter(BreakerState.OPEN)
        _log.warning(
            "breaker.opened",
            breaker=self.name,
            reason=reason,
            failures=self._failures,
            retry_at=self._opened_at + self.reset_timeout,
        )

    async def call(
        self,
        fn: Callable[[], Awaitable[T]],
        *,
        is_failure: Callable[[Exception], bool] = lambda exc: True,
    ) -> T:
        """Run ``fn`` under the breaker.

        Args:
            fn: The guarded coroutine function, called with no arguments.
            is_failure: Whether an exception ``fn`` raised counts against the upstream
                (default: every exception). One that does not releases the call.

        Returns:
            What ``fn`` returned.

        Raises:
            CircuitOpen: The breaker refused the call; ``fn`` was not called.
            Exception: Whatever ``fn`` raised.
        """
        self.allow()
        try:
            result = await fn()
        except Exception as exc:
            if is_failure(exc):
                self.record_failure()
            else:
                self.release()
            raise
        except BaseException:
            # Cancelled: nothing was learnt about the upstream.
            self.release()
            raise
        self.record_success()
        return result
