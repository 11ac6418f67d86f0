"""``pressbox replay``: events as JSON lines, summaries, pacing, and parse errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pressbox.cli.replay import replay_games
from pressbox.engine.events import decode_event
from pressbox.feeds.retrosheet import iter_games, play_gaps
from tests.conftest import ROOT, SAMPLE_RETROSHEET

SAMPLE = str(SAMPLE_RETROSHEET)


def replay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pressbox", "replay", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_summary_has_one_line_per_game() -> None:
    """--summary prints each game's ids, teams, score, innings and plays; no errors."""
    proc = replay(SAMPLE, "--speed", "0", "--summary")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(lines) == 7
    assert lines[0] == {
        "game_id": "ANA201504100",
        "date": "2015-04-10",
        "home": "ANA",
        "away": "KCA",
        "home_score": 2,
        "away_score": 4,
        "innings": 9,
        "plays": 78,
    }
    assert {line["game_id"]: line["innings"] for line in lines}["WAS201604240"] == 16
    assert "replay.parse_errors" in proc.stderr
    assert "count=0" in proc.stderr


def test_events_stream_in_order() -> None:
    """Each game is game_start, its plays in order, game_end, as decodable events."""
    proc = replay(SAMPLE, "--speed", "0", "--games", "2")
    assert proc.returncode == 0, proc.stderr
    events = [decode_event(line) for line in proc.stdout.splitlines()]
    ids = list(dict.fromkeys(e.game_id for e in events))
    assert ids == ["ANA201504100", "COL201505080"]
    for game_id in ids:
        mine = [e for e in events if e.game_id == game_id]
        assert [e.seq for e in mine] == list(range(1, len(mine) + 1))
        assert mine[0].kind == "game_start"
        assert mine[-1].kind == "game_end"
        assert {e.kind for e in mine[1:-1]} == {"play"}
    assert events[-1].text == "Final/6"


def test_game_option_selects_games() -> None:
    """--game keeps only the named games."""
    proc = replay(SAMPLE, "--speed", "0", "--summary", "--game", "CLE201611020")
    assert [json.loads(line)["game_id"] for line in proc.stdout.splitlines()] == ["CLE201611020"]


def test_parse_errors_are_reported_and_skipped(tmp_path: Path) -> None:
    """A game that cannot be read is named on stderr with its reason; the others play."""
    bad = tmp_path / "2015BAD.EVA"
    lines = (SAMPLE_RETROSHEET / "2015" / "2015ANA.EVA").read_text().splitlines()
    broken = [line.replace("S9/G.2-H", "S9/G.3-H") for line in lines]
    bad.write_text("\n".join(broken) + "\n")
    proc = replay(str(bad), str(SAMPLE_RETROSHEET / "2016" / "2016PIT.EVN"), "--speed", "0")
    assert proc.returncode == 0
    assert {decode_event(line).game_id for line in proc.stdout.splitlines()} == {"PIT201609290"}
    assert "no runner on base 3" in proc.stderr
    assert "2015BAD.EVA" in proc.stderr
    assert "count=1" in proc.stderr


def test_missing_path_is_refused() -> None:
    """A path that does not exist is a usage error, not a crash."""
    proc = replay("no/such/folder", "--speed", "0")
    assert proc.returncode == 2
    assert "no such file or folder" in proc.stderr


def test_pacing_divides_the_realistic_gaps(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    """--speed X waits each play's realistic gap divided by X; --speed 0 never waits."""
    waits: list[float] = []
    paths = [SAMPLE_RETROSHEET / "2016" / "2016PIT.EVN"]
    errors = replay_games(paths, speed=60.0, sleep=waits.append)
    assert errors == []
    [game] = iter_games(paths)
    expected = [gap / 60.0 for gap in play_gaps(game) if gap > 0]
    assert waits == pytest.approx(expected)
    assert sum(waits) == pytest.approx(int(game.records["timeofgame"]))
    out = capsysbinary.readouterr().out.splitlines()
    assert len(out) == len(game.events)

    waits.clear()
    replay_games(paths, speed=0, sleep=waits.append)
    assert waits == []


def test_a_reader_that_goes_away_ends_the_replay_quietly() -> None:
    """Closing the pipe after one line (``| head -1``) exits 0 without a traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pressbox", "replay", SAMPLE, "--speed", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    assert decode_event(proc.stdout.readline()).seq == 1
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 0
    assert "Traceback" not in stderr
