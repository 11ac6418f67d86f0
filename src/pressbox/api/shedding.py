"""Load shedding and deadlines: what to refuse first when the process is overloaded.

Every request has a priority class and its key's tier rank. The process's *pressure* is
the larger of two fractions: requests in flight over ``max_inflight``, and the event
loop's lag (how late a timer fires, i.e. how long a ready request waits for the loop,
the queueing delay) over ``max_lag_s``. A request is admitted while the pressure is below
its threshold:

==========  =====================================================  =========
class       endpoints                                              threshold
==========  =====================================================  =========
``HIGH``    ``/v1/predict/…``                                      1.00
``NORMAL``  games, snapshots, WP series, key plays, ``POST /wp``   0.75
``LOW``     ``/v1/predictions/latest``, ``/v1/games/{id}/plays``   0.50
==========  =====================================================  =========

minus 0.05 for each tier rank below Enterprise (3), so at the same pressure Community is
refused before Starter, Starter before Pro, Pro before Enterprise, and every tier's
low-priority requests go before any high-priority one. A refused request gets 503 with
``Retry-After`` at once, which costs the loop almost nothing, so the requests that are
admitted keep their latency.

The lag has two readings. The monitor's timer gives a moving average, sampled each time
it fires; and while the loop is busy, the time by which that timer is *already* overdue
is a lower bound of the lag, read on every admission. The second matters under a burst:
every request that is ready in one turn of the loop would otherwise be admitted against
the pressure of the turn before (at 0.7 ms of CPU for a low-priority answer, a hundred
ready connections make a 70 ms turn), and the high-priority requests behind them would
wait that long. With it, a turn stops admitting low-priority work once it has run for
half of ``max_lag_s``.

A third rule bounds what low-priority work may cost even when each turn is short: the
loop time taken by low-priority requests (admission to answer) decays with a 0.1 s time
constant, and while it is above ``low_share`` of the loop (default 0.25) low-priority
requests are refused. Under a flood of cheap-to-ask, costly-to-answer reads (a
``/v1/predictions/latest`` costs about 0.7 ms), the lag rules admit a turn's worth before
the lag shows; this one caps their share before the high-priority requests feel it.

The time counted is wall time, waits included, on purpose: a read that waits for the loop
behind the live fan-out counts its wait, so the busier the loop, the sooner low-priority
reads yield to the pipeline. Counting only the time a request's own steps ran was tried
(docs/benchmarks.md, game night, "Fifth evening"): it answered twice as many reads fresh
instead of from the read cache, and play-to-display got worse in every alternated run.

Deadlines: a request served from a cache has ``cached_deadline_s`` (default 1 s), every
other ``deadline_s`` (default 3 s); past it the client gets 503 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import enum
import math
import time
from collections.abc import Callable

PRIORITY_THRESHOLDS: dict[int, float] = {2: 1.0, 1: 0.75, 0: 0.5}
TIER_STEP = 0.05
TOP_RANK = 3


class Priority(enum.IntEnum):
    """How long a class of requests is served under overload (higher = longer)."""

    LOW = 0
    NORMAL = 1
    HIGH = 2


def priority_of(method: str, path: str) -> Priority:
    """The priority class of a ``/v1/`` request."""
    if path.startswith("/v1/predict/"):
        return Priority.HIGH
    if path.startswith("/v1/predictions") or (
        path.startswith("/v1/games/") and path.endswith("/plays")
    ):
        return Priority.LOW
    return Priority.NORMAL


def threshold(priority: Priority, rank: int) -> float:
    """The pressure up to which a request of this class and tier rank is admitted."""
    return PRIORITY_THRESHOLDS[int(priority)] - (TOP_RANK - max(0, min(rank, TOP_RANK))) * TIER_STEP


class Shedder:
    """Tracks in-flight requests and loop lag, and decides who is refused.

    Args:
        max_inflight: In-flight requests that count as full pressure (default 256).
        max_lag_s: Loop lag that counts as full pressure, seconds (default 0.05).
        low_share: Share of the loop's time low-priority requests may take (default 0.25;
            1 turns the rule off).
        clock: Seconds, monotonic (default ``time.perf_counter``).
    """

    LOW_TAU_S = 0.1
    """Time constant of the low-priority busy time's decay, seconds."""

    def __init__(
        self,
        *,
        max_inflight: int = 256,
        max_lag_s: float = 0.05,
        low_share: float = 0.25,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if max_inflight < 1 or max_lag_s <= 0:
            raise ValueError("max_inflight and max_lag_s must be positive")
        if not 0 < low_share <= 1:
            raise ValueError("low_share must be in (0, 1]")
        self.low_share = low_share
        self._low_busy = 0.0
        self._low_at = clock()
        self.max_inflight = max_inflight
        self.max_lag_s = max_lag_s
        self.inflight = 0
        self.lag = 0.0
        """The loop lag, seconds: a moving average (0.3 of each new sample), so one slow
        step of the loop does not shed, a lasting queue does."""
        self.shed = 0
        self._clock = clock
        self._due = math.inf
        """When the monitor's timer should fire (``inf`` while it is not waiting)."""
        # Admission thresholds by (priority, rank): the table is read on every request.
        self._thresholds = {(p, r): threshold(p, r) for p in Priority for r in range(TOP_RANK + 1)}

    @property
    def pressure(self) -> float:
        """The load as a fraction of what the process takes (1.0 = full)."""
        lag = self.lag
        overdue = self._clock() - self._due
        if overdue > lag:
            lag = overdue
        return max(self.inflight / self.max_inflight, lag / self.max_lag_s)

    def admit(self, priority: Priority, rank: int) -> bool:
        """Whether a request of this class and tier rank is served now."""
        if not self.pressed(priority, rank) and (
            priority != Priority.LOW or self.low_share >= 1.0 or self.low_load < self.low_share
        ):
            return True
        self.shed += 1
        return False

    def pressed(self, priority: Priority, rank: int) -> bool:
        """Whether the pressure alone is past what a request of this class and tier rank
        is admitted at: the loop is overloaded for it (as opposed to a low-priority request
        refused because the low-priority budget is spent)."""
        limit = self._thresholds.get((priority, rank))
        if limit is None:
            limit = threshold(priority, rank)
        return self.pressure >= limit

    @property
    def low_load(self) -> float:
        """The recent share of the loop's time taken by low-priority requests."""
        elapsed = self._clock() - self._low_at
        return self._low_busy * math.exp(-elapsed / self.LOW_TAU_S) / self.LOW_TAU_S

    def record_low(self, busy: float) -> None:
        """Count ``busy`` seconds of the loop spent answering a low-priority request."""
        now = self._clock()
        self._low_busy = self._low_busy * math.exp(-(now - self._low_at) / self.LOW_TAU_S) + busy
        self._low_at = now

    def sample(self, lag: float) -> None:
        """Take one measurement of the loop lag, seconds."""
        self.lag = self.lag * 0.7 + lag * 0.3

    async def monitor(
        self, interval: float = 0.005, observe: Callable[[float], None] | None = None
    ) -> None:
        """Measure the loop lag every ``interval`` seconds, until cancelled; each
        measurement is also passed to ``observe`` (a histogram's), when given."""
        try:
            while True:
                due = self._due = self._clock() + interval
                await asyncio.sleep(interval)
                self._due = math.inf
                lag = max(0.0, self._clock() - due)
                self.sample(lag)
                if observe is not None:
                    observe(lag)
        finally:
            self._due = math.inf
