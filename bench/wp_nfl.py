"""Benchmark the NFL win-probability model: one evaluation, leverage, fourth down, batch.

Usage (from the repository root)::

    .venv/bin/python bench/wp_nfl.py [--lines 200000]

It prints one line per figure and a JSON summary:

- ``single_eval``: median time of one ``NflModel.home_wp`` call after the model is loaded,
  over real situations (every play of the bundled sample games, snaps, kickoffs and tries
  alike), timed in blocks of 100 calls; also ``win_probability`` from a ``GameState``,
  ``leverage`` and ``fourth_down``.
- ``batch``: situations per second through ``pressbox wp nfl --batch`` (a real subprocess,
  JSON lines in and out, process start-up included).

Everything runs pinned to one core; times are wall-clock nanoseconds from
``time.perf_counter_ns`` and CPU nanoseconds of the thread from ``time.thread_time_ns``
(the figure to read on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from _batch import time_batch  # noqa: E402

from pressbox.engine.events import FootballSituation, GameState  # noqa: E402
from pressbox.engine.models import nfl, priors  # noqa: E402
from pressbox.feeds import nflgc  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "nfl"


def _situations() -> list[tuple[GameState, FootballSituation]]:
    out = []
    for path in sorted(FIXTURES.glob("*.json.gz")):
        events = nflgc.read_game(path)
        info = events[0].info
        home = away = 0
        for e in events:
            if e.kind == "play" and isinstance(e.before, FootballSituation):
                state = GameState(
                    sport="nfl",
                    game_id=e.game_id,
                    status="live",
                    info=info,
                    home_score=home,
                    away_score=away,
                    situation=e.before,
                )
                out.append((state, e.before))
            home, away = e.home_score, e.away_score
    return out


def _median_ns(
    fn: Callable[..., object], args: Sequence[tuple[Any, ...]], blocks: int
) -> tuple[float, float]:
    """Median wall-clock and CPU (this thread's) nanoseconds per call over the blocks.

    The CPU figure leaves out the time the thread waited for a busy core.
    """
    wall, cpu = [], []
    for _ in range(blocks):
        t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        for a in args:
            fn(*a)
        cpu.append((time.thread_time_ns() - c0) / len(args))
        wall.append((time.perf_counter_ns() - t0) / len(args))
    return statistics.median(wall), statistics.median(cpu)


def single_eval(model: nfl.NflModel, blocks: int = 2000) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) nanoseconds per call, in blocks of 100 real situations."""
    rng = random.Random(1)
    pool = _situations()
    sample = [pool[rng.randrange(len(pool))] for _ in range(100)]
    home_wp_args = [
        (
            s.quarter,
            s.clock_seconds,
            s.possession,
            s.down,
            s.distance,
            s.yard_line,
            st.home_score,
            st.away_score,
        )
        for st, s in sample
    ]
    states = [(st,) for st, _ in sample]
    fourth = [(float(rng.randint(0, 3600)), rng.randint(-14, 14), rng.randint(1, 10),
               rng.randint(20, 95)) for _ in range(100)]  # fmt: skip
    # The same situations with a rating book's strength and home edge for the game.
    book = priors.RatingBook.for_sport("nfl")
    with_book = [
        {"elo_diff": float(rng.randint(-150, 150)), "home_edge": book.home_advantage()}
        for _ in sample
    ]
    return {
        "home_wp": _median_ns(model.home_wp, home_wp_args, blocks),
        "home_wp(elo_diff, home_edge)": _median_ns(
            lambda a, kw: model.home_wp(*a, **kw),
            list(zip(home_wp_args, with_book, strict=True)),
            blocks,
        ),
        "win_probability(GameState)": _median_ns(model.win_probability, states, blocks // 4),
        "leverage(GameState)": _median_ns(model.leverage, states, blocks // 10),
        "fourth_down": _median_ns(
            lambda t, sd, d, y: model.fourth_down(t, sd, d, y, home=True),
            fourth,
            blocks // 10,
        ),
    }


def batch(lines: int) -> dict[str, float]:
    """Situations per second through the ``wp nfl --batch`` command."""
    rng = random.Random(2)
    payload = "".join(
        json.dumps(
            {
                "quarter": rng.randint(1, 4),
                "clock": f"{rng.randint(0, 14)}:{rng.randint(0, 59):02d}",
                "possession": rng.choice(("home", "away")),
                "down": rng.randint(1, 4),
                "distance": rng.randint(1, 15),
                "yardline": rng.randint(1, 99),
                "home": rng.randint(0, 35),
                "away": rng.randint(0, 35),
            }
        )
        + "\n"
        for _ in range(lines)
    ).encode()
    return time_batch("nfl", payload, lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    t0 = time.perf_counter()
    model = nfl.load()
    load_ms = (time.perf_counter() - t0) * 1000
    print(f"model load: {load_ms:.1f} ms")
    single = single_eval(model)
    for name, (wall, cpu) in single.items():
        print(f"single eval {name}: median {wall / 1000:.3f} µs wall, {cpu / 1000:.3f} µs CPU")
    rate = batch(args.lines)
    print(
        f"batch: {rate['cpu_states_per_s']:,.0f} situations/s CPU, "
        f"{rate['wall_states_per_s']:,.0f} wall ({args.lines:,} lines, start-up included)"
    )
    print(
        json.dumps(
            {
                "load_ms": load_ms,
                "single_eval_ns": {k: v[0] for k, v in single.items()},
                "single_eval_cpu_ns": {k: v[1] for k, v in single.items()},
                "batch": rate,
            },
            indent=2,
            sort_keys=True,
        )
    )


if __name__ == "__main__":
    main()
