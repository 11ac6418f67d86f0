"""The busiest stretch of a run, from samples of its wall clock, CPU and count.

A benchmark that counts what it did (events ingested, say) and the CPU it took samples the
three now and then; :func:`busiest` finds the stretch of at least ``window`` seconds with the
highest rate and the share of one core the process took over it. A run's mean rate mixes
the ramp-up and the tail with the peak; the busiest stretch says what the process did while
it was offered the most.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Stretch:
    """A stretch of a run: when it began, its rate and its CPU."""

    from_s: float
    """Wall seconds from the run's start to the stretch's start."""
    seconds: float
    """Its length in wall seconds (from one sample to another, at least the window)."""
    per_s: float
    """What was counted, per wall second."""
    cpu_core_share: float
    """CPU seconds per wall second over the stretch (1.0: a whole core)."""


def busiest(samples: Sequence[tuple[float, float, int]], window: float) -> Stretch | None:
    """The stretch of at least ``window`` seconds with the highest rate.

    Every pair of samples at least ``window`` apart is a candidate (a few hundred samples
    make tens of thousands of pairs: no cleverness needed); among equal rates the earliest
    and then the shortest wins.

    Args:
        samples: ``(wall, cpu, count)`` in wall order, each a running total from the run's
            start (wall and CPU in seconds).
        window: The shortest stretch to consider, in wall seconds (more than 0).

    Returns:
        The busiest stretch; ``None`` when the samples span less than the window.

    Raises:
        ValueError: A window not above 0.
    """
    if window <= 0:
        raise ValueError(f"window must be above 0 seconds, not {window}")
    best: Stretch | None = None
    for i, (wall0, cpu0, count0) in enumerate(samples):
        for wall1, cpu1, count1 in samples[i + 1 :]:
            span = wall1 - wall0
            if span < window:
                continue
            rate = (count1 - count0) / span
            if best is None or rate > best.per_s:
                best = Stretch(wall0, span, rate, (cpu1 - cpu0) / span)
    return best
