"""Replay throughput and Retrosheet parse speed over full seasons, on one core.

Usage::

    .venv/bin/python bench/replay.py [SEASON_DIR ...] [--repeat 3]

SEASON_DIR defaults to ``../shared/data/retrosheet/2015`` next to the repository. For each
season it measures CPU seconds (user + system, so that other load on a shared machine does
not count; wall seconds are printed alongside), best of ``--repeat`` runs:

* parse: ``iter_games(season)`` in this process, streamed, and kept whole in a list
  (games, plays, seconds, plays/s);
* replay: ``pressbox replay SEASON --speed 0`` as a child process pinned to one core,
  its JSON lines read through a pipe (wall seconds, plays/s, events/s, bytes);
* summary: the same with ``--summary``.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from pressbox.errors import FeedParseError
from pressbox.feeds.retrosheet import iter_games

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT.parent / "shared" / "data" / "retrosheet" / "2015"


def _pin() -> None:
    # One core: the replay is single-threaded, and pinning keeps runs comparable.
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def parse(season: Path, repeat: int, *, hold: bool) -> tuple[int, int, float]:
    """Read a season, streaming the games or holding them all in a list (best CPU seconds)."""
    best = float("inf")
    games = plays = 0
    for _ in range(repeat):
        errors: list[FeedParseError] = []
        start = time.process_time()
        if hold:
            read = list(iter_games([season], errors))
            games, plays = len(read), sum(g.plays for g in read)
        else:
            games = plays = 0
            for game in iter_games([season], errors):
                games += 1
                plays += game.plays
        best = min(best, time.process_time() - start)
        if errors:
            sys.exit(f"{len(errors)} parse errors in {season}")
    return games, plays, best


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def replay(season: Path, repeat: int, *extra: str) -> tuple[float, float, int]:
    """Best wall and CPU seconds of the replay command, and its output size in bytes.

    CPU seconds (user + system of the child) are the figure to quote on a shared machine:
    other processes stretch the wall time but not the CPU time.
    """
    command = [sys.executable, "-m", "pressbox", "replay", str(season), "--speed", "0", *extra]
    best_wall = best_cpu = float("inf")
    size = 0
    for _ in range(repeat):
        cpu = _child_cpu()
        start = time.perf_counter()
        proc = subprocess.run(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, preexec_fn=_pin, check=True
        )
        best_wall = min(best_wall, time.perf_counter() - start)
        best_cpu = min(best_cpu, _child_cpu() - cpu)
        size = len(proc.stdout)
    return best_wall, best_cpu, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("seasons", nargs="*", type=Path, default=[DEFAULT])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    _pin()
    print(f"python {sys.version.split()[0]}, one core, CPU seconds, best of {args.repeat}")
    for season in args.seasons:
        games, plays, parse_s = parse(season, args.repeat, hold=False)
        _, _, hold_s = parse(season, args.repeat, hold=True)
        events = plays + 2 * games
        replay_wall, replay_s, size = replay(season, args.repeat)
        summary_wall, summary_s, _ = replay(season, args.repeat, "--summary")
        print(f"{season.name}: {games} games, {plays} plays (post/ included)")
        print(f"  parse   {parse_s:6.2f} s  {plays / parse_s:9,.0f} plays/s  (games streamed)")
        print(
            f"  parse   {hold_s:6.2f} s  {plays / hold_s:9,.0f} plays/s  (all games kept in a list)"
        )
        print(
            f"  replay  {replay_s:6.2f} s  {plays / replay_s:9,.0f} plays/s"
            f"  {events / replay_s:9,.0f} events/s  {size / 1e6:.0f} MB of JSON lines"
            f"  (wall {replay_wall:.2f} s)"
        )
        print(
            f"  summary {summary_s:6.2f} s  {plays / summary_s:9,.0f} plays/s"
            f"  (wall {summary_wall:.2f} s)"
        )


if __name__ == "__main__":
    main()
