"""Rate limiting: a token bucket for our own callers and a windowed budget per upstream.

:class:`RateLimiter` is a token bucket (``capacity`` tokens, refilled at ``rate`` per
second): over any interval of ``t`` seconds it admits at most ``capacity + rate * t``.
:class:`RateBudget` spends at most ``limit`` requests in any sliding ``window``, the way
an upstream states its quota ("100 requests per 60 s"); it logs ``budget.warning`` when
use crosses ``warn_at`` of the limit, so the warning comes before the upstream's own
limit, and refuses with :class:`~pressbox.errors.RateLimited` at the limit, which is the
caller's cue to back off or fail over. Both take an injectable clock.

Kept by hand rather than taken from aiolimiter or throttled-py: aiolimiter's leaky bucket
reads the event loop's clock and can wait or say whether there is capacity, not when
there will be; throttled-py refuses with a ``retry_after`` and has a sliding window (and a
Redis store), but it reads its own clock, so tests would sleep through windows, and it
has no early-warning threshold or "pause for Retry-After". Both structures here are a
few lines and are property-tested.
"""

from __future__ import annotations

import re
from collections import deque

import structlog
from prometheus_client import CollectorRegistry

from pressbox.errors import RateLimited
from pressbox.resilience._metrics import metrics_for
from pressbox.resilience.clock import MonotonicClock
from pressbox.types import Clock

_log = structlog.get_logger("pressbox.resilience.ratelimit")

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*(s|m|h)?\s*$")
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_rate(spec: str) -> tuple[int, float]:
    """Read a rate as configured, ``"<requests>/<window>"``.

    The window is a number with an optional unit ``s`` (the default), ``m`` or ``h``; a
    bare unit means one of it: ``"100/60s"``, ``"100/60"`` and ``"100/m"`` are all
    100 requests per 60 seconds.

    Args:
        spec: The rate, as written in configuration.

    Returns:
        ``(limit, window_seconds)``, ready for :class:`RateBudget`.

    Raises:
        ValueError: ``spec`` does not have that form, or its limit or window is zero.
    """
    match = _RATE.match(spec)
    if match is None:
        raise ValueError(f"rate {spec!r} is not of the form '<requests>/<window>[s|m|h]'")
    count, amount, unit = match.groups()
    if amount is None and unit is None:
        raise ValueError(f"rate {spec!r} has no window")
    window = float(amount if amount is not None else 1) * _UNIT_SECONDS[unit]
    if int(count) < 1 or window <= 0:
        raise ValueError(f"rate {spec!r} must allow at least one request in a positive window")
    return int(count), window


class RateLimiter:
    """A token bucket: bursts up to ``capacity``, ``rate`` tokens per second after that.

    The bucket starts full.

    Args:
        name: The limiter's name, for metrics and :class:`~pressbox.errors.RateLimited`.
        rate: Tokens added per second (default ``10.0``).
        capacity: The most tokens the bucket holds, the largest burst (default ``20.0``).
        clock: Source of time; :class:`MonotonicClock` when ``None``.
        registry: Prometheus registry for the metrics; the default registry when ``None``.

    Raises:
        ValueError: ``rate`` or ``capacity`` is not positive.
    """

    def __init__(
        self,
        name: str = "limiter",
        *,
        rate: float = 10.0,
        capacity: float = 20.0,
        clock: Clock | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        if capacity <= 0:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self.name = name
        self.rate = rate
        self.capacity = capacity
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        self._tokens = capacity
        self._updated = self._clock.monotonic()
        self._rejected = metrics_for(registry).limiter_rejected.labels(limiter=name)

    def _refill(self) -> None:
        now = self._clock.monotonic()
        elapsed = now - self._updated
        if elapsed > 0:
            self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
            self._updated = now

    @property
    def tokens(self) -> float:
        """Tokens available now."""
        self._refill()
        return self._tokens

    def retry_after(self, tokens: float = 1.0) -> float:
        """Seconds until ``tokens`` would be admitted (``0.0`` when they would be now)."""
        self._refill()
        return max(0.0, (tokens - self._tokens) / self.rate)

    def try_acquire(self, tokens: float = 1.0) -> bool:
        """Take ``tokens`` if they are there.

        Args:
            tokens: How many to take (default ``1.0``).

        Returns:
            ``True`` when taken, ``False`` when the bucket is short (nothing is taken).

        Raises:
            ValueError: ``tokens`` is not positive or exceeds ``capacity`` (never admitted).
        """
        if tokens <= 0 or tokens > self.capacity:
            raise ValueError(f"tokens must be in (0, {self.capacity}], got {tokens}")
        self._refill()
        if self._tokens >= tokens:
            self._tokens -= tokens
            return True
        self._rejected.inc()
        return False

    def acquire(self, tokens: float = 1.0) -> None:
        """Take ``tokens`` or refuse.

        Args:
            tokens: How many to take (default ``1.0``).

        Raises:
            RateLimited: The bucket is short; ``retry_after`` says when it will not be.
            ValueError: ``tokens`` is not positive or exceeds ``capacity``.
        """
        if not self.try_acquire(tokens):
            raise RateLimited(self.name, self.retry_after(tokens))


class RateBudget:
    """At most ``limit`` requests in any sliding ``window``, with an early warning.

    Args:
        name: The budget's name (usually the upstream's), for logs, metrics and
            :class:`~pressbox.errors.RateLimited`.
        limit: Requests allowed per window (default ``100``).
        window: The window, seconds (default ``60.0``).
        warn_at: Fraction of ``limit`` at which ``budget.warning`` is logged once, until
            use falls back under it (default ``0.8``).
        clock: Source of time; :class:`MonotonicClock` when ``None``.
        registry: Prometheus registry for the metrics; the default registry when ``None``.

    Raises:
        ValueError: ``limit`` is below 1, ``window`` is not positive, or ``warn_at`` is
            not in ``(0, 1]``.
    """

    def __init__(
        self,
        name: str,
        *,
        limit: int = 100,
        window: float = 60.0,
        warn_at: float = 0.8,
        clock: Clock | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        if window <= 0:
            raise ValueError(f"window must be positive, got {window}")
        if not 0 < warn_at <= 1:
            raise ValueError(f"warn_at must be in (0, 1], got {warn_at}")
        self.name = name
        self.limit = limit
        self.window = window
        self.warn_at = warn_at
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        # One timestamp per request in the window; never longer than ``limit``.
        self._spent: deque[float] = deque()
        self._paused_until = 0.0
        self._warned = False
        m = metrics_for(registry)
        self._used_gauge = m.budget_used.labels(budget=name)
        self._warnings = m.budget_warnings.labels(budget=name)
        self._rejected = m.budget_rejected.labels(budget=name)

    def _expire(self, now: float) -> None:
        while self._spent and self._spent[0] <= now - self.window:
            self._spent.popleft()
        if self._warned and len(self._spent) < self.warn_at * self.limit:
            self._warned = False
        self._used_gauge.set(len(self._spent))

    @property
    def used(self) -> int:
        """Requests spent in the current window."""
        self._expire(self._clock.monotonic())
        return len(self._spent)

    @property
    def remaining(self) -> int:
        """Requests left in the current window (``0`` while paused)."""
        if self.retry_after() > 0:
            return 0
        return self.limit - self.used

    def retry_after(self) -> float:
        """Seconds until one more request would be admitted (``0.0`` when it would be now)."""
        now = self._clock.monotonic()
        self._expire(now)
        wait = max(0.0, self._paused_until - now)
        if len(self._spent) >= self.limit:
            wait = max(wait, self._spent[0] + self.window - now)
        return wait

    def pause(self, seconds: float) -> None:
        """Refuse every request for ``seconds``, as an upstream's 429 ``Retry-After`` asks.

        Args:
            seconds: How long, seconds; a shorter pause never shortens a longer one.
        """
        until = self._clock.monotonic() + seconds
        if until > self._paused_until:
            self._paused_until = until
            _log.warning("budget.paused", budget=self.name, seconds=seconds)

    def acquire(self) -> None:
        """Spend one request of the budget, or refuse.

        Raises:
            RateLimited: The window's limit is reached or the budget is paused;
                ``retry_after`` says when a request would be admitted.
        """
        wait = self.retry_after()
        if wait > 0:
            self._rejected.inc()
            _log.warning("budget.exhausted", budget=self.name, retry_after=round(wait, 3))
            raise RateLimited(self.name, wait)
        self._spent.append(self._clock.monotonic())
        used = len(self._spent)
        self._used_gauge.set(used)
        if not self._warned and used >= self.warn_at * self.limit:
            self._warned = True
            self._warnings.inc()
            _log.warning("budget.warning", budget=self.name, used=used, limit=self.limit)
