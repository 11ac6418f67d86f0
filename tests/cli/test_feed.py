"""``pressbox feed normalize`` on the captured documents: events, summaries and errors."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from pressbox.cli.feed import register
from pressbox.engine.events import decode_event
from pressbox.engine.state import GameMachine

FEEDS = Path(__file__).resolve().parent.parent / "fixtures" / "feeds"
GUMBO = FEEDS / "mlb-gumbo"


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    feed = typer.Typer()
    app.add_typer(feed, name="feed")
    register(app, {"feed": feed})
    return app


def invoke(app: typer.Typer, *args: str | Path) -> Result:
    return CliRunner().invoke(app, ["feed", "normalize", *map(str, args)])


# (format, file, plays, away, home, final) as each captured document says.
DOCUMENTS = [
    ("gumbo", GUMBO / "feed_live_718594.json.gz", 71, 3, 9, True),
    ("gumbo", GUMBO / "feed_live_744914.json.gz", 68, 3, 1, True),
    ("gumbo", GUMBO / "feed_live_599359_inprogress_20191015_223732.json.gz", 51, 2, 0, False),
    ("gumbo", GUMBO / "feed_live_715720_trimmed.json.gz", 2, 1, 0, False),
    ("espn", FEEDS / "espn-cfb" / "espn_summary_sections_401403921.json.gz", 208, 49, 52, True),
    ("espn", FEEDS / "espn-cfb" / "espn_summary_sections_401403853.json.gz", 184, 63, 10, True),
    ("generic", FEEDS / "generic" / "generic_401403921.json", 208, 49, 52, True),
    ("generic", FEEDS / "generic" / "generic_401403853_halftime.json", 88, 21, 10, False),
]


@pytest.mark.parametrize(
    ("fmt", "path", "plays", "away", "home", "final"),
    DOCUMENTS,
    ids=[f"{d[0]}-{d[1].name.split('.')[0]}" for d in DOCUMENTS],
)
def test_normalize_prints_every_play_with_its_score(app, fmt, path, plays, away, home, final):
    """One JSON line per event, in order; the play count and final score are the document's."""
    result = invoke(app, "--format", fmt, path)
    assert result.exit_code == 0, result.stderr
    events = [decode_event(line) for line in result.stdout.splitlines()]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert len([e for e in events if e.kind == "play"]) == plays
    assert (events[-1].away_score, events[-1].home_score) == (away, home)
    assert (events[-1].kind == "game_end") is final
    machine = GameMachine(events[0].sport, events[0].game_id)
    for event in events:
        machine.apply(event)
    assert (machine.state.away_score, machine.state.home_score) == (away, home)


def test_summary_line(app):
    """--summary prints one line per game with its plays and final score."""
    result = invoke(app, "-f", "espn", "--summary", *sorted((FEEDS / "espn-cfb").iterdir()))
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(x["game_id"], x["plays"], x["away_score"], x["home_score"]) for x in lines] == [
        ("401403853", 184, 63, 10),
        ("401403921", 208, 49, 52),
    ]
    assert "warning: 401403853" in result.stderr


def test_diffpatch_capture_replays(app):
    """A capture of diffPatch polls, from its first full document on, gives every at-bat."""
    files = sorted((GUMBO / "diffpatch_sequence_622947").iterdir())[1:]
    result = invoke(app, "-f", "gumbo", "--summary", *files)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "game_id": "622947",
        "events": 60,
        "plays": 59,
        "home_score": 5,
        "away_score": 3,
        "final": False,
        "issues": [],
    }


def test_split_runner_events(app):
    """--split-runner-events adds the steals inside at-bats as plays."""
    result = invoke(app, "-f", "gumbo", "--split-runner-events", GUMBO / "feed_live_718594.json.gz")
    assert result.exit_code == 0, result.stderr
    ids = [json.loads(line)["event_id"] for line in result.stdout.splitlines()]
    assert "718594:24.3" in ids
    assert len(ids) == 75


def test_stale_patch_is_an_error_after_the_good_events(app):
    """A patch that cannot be applied is reported; the good document's events are printed."""
    result = invoke(
        app,
        "-f",
        "gumbo",
        GUMBO / "feed_live_599359_inprogress_20191015_223732.json.gz",
        GUMBO / "diffPatch_599359_20191015.json.gz",
    )
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 52
    assert "error: diffPatch_599359_20191015.json.gz: stale diffPatch" in result.stderr


@pytest.mark.parametrize(
    ("fmt", "content", "message"),
    [
        ("gumbo", b'{"gamePk": 1, "liveData": {', "malformed JSON"),
        ("espn", b'{"gamePk": 1, "liveData": {', "malformed JSON"),
        ("generic", b"", "empty document"),
        ("gumbo", b'{"gamePk": 1}', "missing field 'gameData'"),
        ("espn", b'{"header": {}}', "header: missing field 'id'"),
        (
            "generic",
            b'{"gameId": 1, "plays": [{"playId": 1}]}',
            "plays[0]: missing field 'quarter'",
        ),
        ("generic", gzip.compress(b'{"gameId": 1, "plays": 3}'), "plays: expected an array"),
        ("gumbo", b"\x1f\x8b\x08garbage", "bad gzip data"),
        ("gumbo", b'{"gamePk": "\xff\xfe"}', "not UTF-8 text"),
        ("espn", b'{"header": "\xff"}', "malformed JSON"),
    ],
    ids=[
        "gumbo-truncated",
        "espn-truncated",
        "empty",
        "gumbo-drift",
        "espn-drift",
        "generic-drift",
        "gzip-drift",
        "bad-gzip",
        "gumbo-latin1",
        "espn-latin1",
    ],
)
def test_unreadable_document_exits_non_zero(app, tmp_path, fmt, content, message):
    """A document that cannot be read exits 1 with the file and the reason on stderr."""
    path = tmp_path / "doc.json"
    path.write_bytes(content)
    result = invoke(app, "--format", fmt, path)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: doc.json")
    assert message in result.stderr


def test_bad_arguments(app, tmp_path):
    """An unknown format or a missing file is a usage error."""
    result = invoke(app, "--format", "xml", FEEDS / "generic" / "generic_401403921.json")
    assert result.exit_code == 2
    assert "unknown format 'xml'" in result.stderr
    result = invoke(app, "--format", "gumbo", tmp_path / "missing.json")
    assert result.exit_code == 2
    assert "no such file" in result.stderr


def test_registered_in_the_pressbox_app():
    """The command is reachable as ``pressbox feed normalize``."""
    from pressbox import cli

    cli._register()
    result = CliRunner().invoke(cli.app, ["feed", "normalize", "--help"])
    assert result.exit_code == 0
    assert "--format" in result.stdout


def test_play_by_play_needs_a_game_id(app):
    """A playByPlay response is read with --game-id and refused without it."""
    path = GUMBO / "playByPlay_pydantic_fixture.json.gz"
    result = invoke(app, "-f", "gumbo", "--summary", "--game-id", "1", path)
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["plays"], summary["away_score"], summary["home_score"]) == (62, 0, 2)
    result = invoke(app, "-f", "gumbo", path)
    assert result.exit_code == 1
    assert "needs --game-id" in result.stderr
