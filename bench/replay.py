"""Replay throughput and Retrosheet parse speed over full seasons, on one core.

Usage::

    .venv/bin/python bench/replay.py [SEASON_DIR ...] [--repeat 3]

SEASON_DIR defaults to ``../shared/data/retrosheet/2015`` next to the repository. For each
season it measures (best of ``--repeat`` runs):

* parse: ``iter_games(season)`` in this process, streamed, and kept whole in a list
  (games, plays, seconds, plays/s);
* replay: ``pressbox replay SEASON --speed 0`` as a child process pinned to one core,
  its JSON lines read through a pipe (wall seconds, plays/s, events/s, bytes);
* summary: the same with ``--summary``.
"""

from __future__ import annotations

import argparse
import os
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
    """Read a season, streaming the games or holding them all in a list."""
    best = float("inf")
    games = plays = 0
    for _ in range(repeat):
        errors: list[FeedParseError] = []
        start = time.perf_counter()
        if hold:
            read = list(iter_games([season], errors))
            games, plays = len(read), sum(g.plays for g in read)
        else:
            games = plays = 0
            for game in iter_games([season], errors):
                games += 1
                plays += game.plays
        best = min(best, time.perf_counter() - start)
        if errors:
            sys.exit(f"{len(errors)} parse errors in {season}")
    return games, plays, best


def replay(season: Path, repeat: int, *extra: str) -> tuple[float, int]:
    command = [sys.executable, "-m", "pressbox", "replay", str(season), "--speed", "0", *extra]
    best = float("inf")
    size = 0
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.run(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, preexec_fn=_pin, check=True
        )
        best = min(best, time.perf_counter() - start)
        size = len(proc.stdout)
    return best, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("seasons", nargs="*", type=Path, default=[DEFAULT])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    _pin()
    print(f"python {sys.version.split()[0]}, one core, best of {args.repeat}")
    for season in args.seasons:
        games, plays, parse_s = parse(season, args.repeat, hold=False)
        _, _, hold_s = parse(season, args.repeat, hold=True)
        events = plays + 2 * games
        replay_s, size = replay(season, args.repeat)
        summary_s, _ = replay(season, args.repeat, "--summary")
        print(f"{season.name}: {games} games, {plays} plays (post/ included)")
        print(f"  parse   {parse_s:6.2f} s  {plays / parse_s:9,.0f} plays/s  (games streamed)")
        print(
            f"  parse   {hold_s:6.2f} s  {plays / hold_s:9,.0f} plays/s  (all games kept in a list)"
        )
        print(
            f"  replay  {replay_s:6.2f} s  {plays / replay_s:9,.0f} plays/s"
            f"  {events / replay_s:9,.0f} events/s  {size / 1e6:.0f} MB of JSON lines"
        )
        print(f"  summary {summary_s:6.2f} s  {plays / summary_s:9,.0f} plays/s")


if __name__ == "__main__":
    main()
