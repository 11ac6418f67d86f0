"""Benchmark the MLB win-probability model: one evaluation, the batch command, a season.

Usage (from the repository root)::

    .venv/bin/python bench/wp_mlb.py [--season ../shared/data/retrosheet/2016] [--lines 1000000]

It prints one line per figure and a JSON summary:

- ``single_eval``: median time of one ``WpTable.home_wp`` call (state → probability) after
  the model is loaded, over random states; also ``MlbModel.home_wp``, which looks the
  default table up first, and ``MlbModel.win_probability`` from a ``GameState`` to a
  ``WinProbability`` struct.
- ``batch``: states per second through ``pressbox wp mlb --batch`` (a real subprocess,
  JSON lines in and out, process start-up included).
- ``season``: plays per second through WP + WPA + leverage (``score_game``) for every game
  of a Retrosheet season read beforehand, the engine's state machine
  (``engine.state.apply``) alone, and both. Best of 3, in CPU seconds (the development
  machine is shared, and wall time there measures the neighbours).

Everything runs pinned to one core.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from _batch import time_batch  # noqa: E402

from pressbox.engine.events import BaseballSituation, GameInfo, GameState  # noqa: E402
from pressbox.engine.models import mlb  # noqa: E402
from pressbox.engine.state import apply, initial_state  # noqa: E402
from pressbox.feeds.retrosheet import iter_games  # noqa: E402


def single_eval(model: mlb.MlbModel, calls: int = 200_000) -> dict[str, float]:
    """Median nanoseconds per call, timed in blocks of 100 calls."""
    rng = random.Random(1)
    states = [
        (
            rng.randint(1, 12),
            rng.random() < 0.5,
            rng.randint(0, 2),
            rng.randint(0, 7),
            rng.randint(-8, 8),
        )
        for _ in range(100)
    ]
    table = model.table()
    info = GameInfo(home="HOM", away="VIS", date="2016-04-04")
    game_states = [
        (
            GameState(
                sport="mlb",
                game_id="g",
                status="live",
                info=info,
                home_score=max(d, 0),
                away_score=max(-d, 0),
                situation=BaseballSituation(
                    inning=i,
                    half="bottom" if b else "top",
                    outs=o,
                    bases=tuple("r" if m >> k & 1 else None for k in range(3)),  # type: ignore[arg-type]
                ),
            ),
        )
        for i, b, o, m, d in states
    ]
    out: dict[str, float] = {}
    for name, fn, args in (
        ("table.home_wp", table.home_wp, states),
        ("model.home_wp", model.home_wp, states),
        ("model.win_probability(GameState)", model.win_probability, game_states),
    ):
        blocks = []
        for _ in range(calls // 100):
            t0 = time.perf_counter_ns()
            for a in args:
                fn(*a)
            blocks.append((time.perf_counter_ns() - t0) / 100)
        out[name] = statistics.median(blocks)
    return out


def batch(lines: int) -> dict[str, float]:
    """States per second through the ``wp mlb --batch`` command (wall and CPU time)."""
    rng = random.Random(2)
    payload = "".join(
        json.dumps(
            {
                "inning": rng.randint(1, 12),
                "half": rng.choice(("top", "bottom")),
                "outs": rng.randint(0, 2),
                "bases": "".join(rng.choice("01") for _ in range(3)),
                "home": rng.randint(0, 9),
                "away": rng.randint(0, 9),
            }
        )
        + "\n"
        for _ in range(lines)
    ).encode()
    return time_batch("mlb", payload, lines)


def season(folder: Path, model: mlb.MlbModel) -> dict[str, float]:
    """Plays per second over a season: scoring alone, and with the state machine."""
    games = [g.events for g in iter_games([folder])]
    events = sum(len(g) for g in games)
    plays = sum(1 for g in games for e in g if e.kind == "play")
    model.table()  # Build the table outside the timing, as a loaded service has it.
    # CPU time of this process: the figures should not depend on the neighbours. Wall time
    # is kept alongside.

    def scoring() -> None:
        for g in games:
            mlb.score_game(g, model)

    def state_only() -> None:
        for g in games:
            state = initial_state("mlb", g[0].game_id)
            for e in g:
                state = apply(state, e)

    def both() -> None:
        for g in games:
            state = initial_state("mlb", g[0].game_id)
            for e in g:
                state = apply(state, e)
            mlb.score_game(g, model)

    best: dict[str, tuple[float, float]] = {}
    for _ in range(3):
        for name, fn in (("score", scoring), ("state_only", state_only), ("state_and_score", both)):
            c0, w0 = time.process_time(), time.perf_counter()
            fn()
            cpu, wall = time.process_time() - c0, time.perf_counter() - w0
            old = best.get(name, (float("inf"), float("inf")))
            best[name] = (min(old[0], cpu), min(old[1], wall))
    rates = {f"{name}_plays_per_s": plays / cpu for name, (cpu, _) in best.items()}
    rates |= {f"{name}_plays_per_s_wall": plays / wall for name, (_, wall) in best.items()}
    return {
        "games": len(games),
        "events": events,
        "plays": plays,
    } | rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--season", type=Path, default=ROOT.parent / "shared" / "data" / "retrosheet" / "2016"
    )
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    # One core, as the figures promise; the batch child inherits the affinity.
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    t0 = time.perf_counter()
    model = mlb.load()
    model.table()
    load_s = time.perf_counter() - t0
    single = single_eval(model)
    for name, ns in single.items():
        print(f"single eval {name}: median {ns / 1000:.3f} µs")
    rate = batch(args.lines)
    print(
        f"batch: {rate['cpu_states_per_s']:,.0f} states/s CPU, "
        f"{rate['wall_states_per_s']:,.0f} wall ({args.lines:,} lines, start-up included)"
    )
    figures = season(args.season, model)
    print(
        f"season {args.season.name}: {figures['plays']:,} plays, "
        f"WP+WPA+LI {figures['score_plays_per_s']:,.0f} plays/s, "
        f"engine.state.apply alone {figures['state_only_plays_per_s']:,.0f} plays/s, "
        f"both {figures['state_and_score_plays_per_s']:,.0f} plays/s (CPU time)"
    )
    print(
        json.dumps(
            {
                "model_load_and_table_s": load_s,
                "single_eval_ns": single,
                "batch_states_per_s": rate,
                "season": figures,
            }
        )
    )


if __name__ == "__main__":
    main()
