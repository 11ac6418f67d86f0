"""The busiest stretch of a run's samples."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pressbox.bench.rates import busiest


def test_the_stretch_with_the_most_per_second_is_found_with_its_cpu() -> None:
    # 100/s for two seconds, then 400/s for two seconds at half a core, then 50/s.
    samples = [(0.0, 0.0, 0), (1.0, 0.1, 100), (2.0, 0.2, 200), (3.0, 0.7, 600),
               (4.0, 1.2, 1000), (5.0, 1.3, 1050)]  # fmt: skip
    stretch = busiest(samples, 2.0)
    assert stretch is not None
    assert stretch.from_s == 2.0
    assert stretch.seconds == 2.0
    assert stretch.per_s == 400.0
    assert stretch.cpu_core_share == pytest.approx(0.5)


def test_a_stretch_spans_at_least_the_window_between_uneven_samples() -> None:
    samples = [(0.0, 0.0, 0), (0.4, 0.0, 40), (1.3, 0.0, 50), (2.1, 0.0, 500)]
    stretch = busiest(samples, 1.0)
    assert stretch is not None
    # 1.3 → 2.1 is 450 in 0.8 s but shorter than the window; 0.4 → 2.1 is 460 in 1.7 s,
    # 1.1 → 2.1 does not exist, 0.0 → 2.1 is 500 in 2.1 s.
    assert (stretch.from_s, stretch.seconds) == (pytest.approx(0.4), pytest.approx(1.7))
    assert stretch.per_s == pytest.approx(460 / 1.7)


def test_samples_shorter_than_the_window_have_no_stretch() -> None:
    assert busiest([(0.0, 0.0, 0), (0.5, 0.1, 10)], 1.0) is None
    assert busiest([], 1.0) is None


@pytest.mark.parametrize("window", [0.0, -1.0])
def test_a_window_not_above_zero_is_refused(window: float) -> None:
    with pytest.raises(ValueError, match="above 0"):
        busiest([(0.0, 0.0, 0), (1.0, 0.0, 1)], window)


@given(
    steps=st.lists(st.tuples(st.floats(0.1, 2.0), st.integers(0, 1000)), min_size=1, max_size=30),
    window=st.floats(0.1, 5.0),
)
def test_the_busiest_rate_is_at_least_the_whole_runs(
    steps: list[tuple[float, int]], window: float
) -> None:
    samples = [(0.0, 0.0, 0)]
    for dt, n in steps:
        wall, _, count = samples[-1]
        samples.append((wall + dt, 0.0, count + n))
    stretch = busiest(samples, window)
    total_wall, _, total = samples[-1]
    if total_wall < window:
        assert stretch is None
        return
    assert stretch is not None
    assert stretch.seconds >= window - 1e-9
    # The whole run is one of the stretches: the busiest is at least as busy.
    assert stretch.per_s >= total / total_wall - 1e-9
    # And no stretch of at least the window is busier (brute force over the pairs).
    rates = [
        (c1 - c0) / (w1 - w0)
        for i, (w0, _, c0) in enumerate(samples)
        for w1, _, c1 in samples[i + 1 :]
        if w1 - w0 >= window
    ]
    assert stretch.per_s == max(rates)
