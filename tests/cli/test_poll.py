"""``pressbox poll`` and ``pressbox prefetch`` against ``pressbox upstream`` on loopback."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import orjson
import pytest
import typer
from typer.testing import CliRunner

from pressbox.cli import _register, app
from pressbox.cli.poll import event_line
from pressbox.engine.events import PlayEvent
from pressbox.feeds import gumbo
from pressbox.feeds.upstream import gumbo as upstream_gumbo
from pressbox.feeds.upstream.data import load_data
from tests.conftest import SAMPLE_RETROSHEET

ANA_PK = 13798201504100


@pytest.fixture(scope="module")
def cli() -> typer.Typer:
    _register()
    return app


@pytest.fixture(scope="module")
def upstream_url() -> Iterator[str]:
    """`pressbox upstream` replaying 2015-04-10 with every play already out."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pressbox", "upstream", "--port", "0", "--speed", "0",
         "--date", "2015-04-10", "--data", str(SAMPLE_RETROSHEET)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        yield url
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


@pytest.fixture(scope="module")
def expected() -> list[PlayEvent]:
    """The events of the game's final document."""
    data = load_data([SAMPLE_RETROSHEET])
    mg = data.games[ANA_PK]
    doc = upstream_gumbo.feed_document(mg, data, upstream_gumbo.final_point(mg))
    return list(gumbo.read_document(doc).events)


def test_poll_prints_every_event_as_json_lines(
    cli: typer.Typer, upstream_url: str, expected: list[PlayEvent]
) -> None:
    """--jsonl --until-final prints each normalized event once, in order, then exits."""
    result = CliRunner().invoke(
        cli,
        ["poll", "--feed", "gumbo", "--base-url", upstream_url, "--game", str(ANA_PK),
         "--until-final", "--jsonl"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    events = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [e["event_id"] for e in events] == [e.event_id for e in expected]
    assert events[-1]["kind"] == "game_end"
    assert (events[-1]["away_score"], events[-1]["home_score"]) == (4, 2)


def test_poll_without_the_push_channel_prints_the_same(
    cli: typer.Typer, upstream_url: str, expected: list[PlayEvent]
) -> None:
    """--no-push polls alone (the default also subscribes to the push channel): the same
    events, once each, in order."""
    result = CliRunner().invoke(
        cli,
        ["poll", "--base-url", upstream_url, "--game", str(ANA_PK), "--until-final",
         "--jsonl", "--no-push"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    events = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [e["event_id"] for e in events] == [e.event_id for e in expected]


def test_poll_prints_readable_lines(
    cli: typer.Typer, upstream_url: str, expected: list[PlayEvent]
) -> None:
    """Without --jsonl each event is one readable line with its score and text."""
    result = CliRunner().invoke(
        cli, ["poll", "--base-url", upstream_url, "--game", str(ANA_PK), "--until-final"]
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines == [event_line(e) for e in expected]


def test_poll_refuses_an_unknown_feed(cli: typer.Typer) -> None:
    """Only the GUMBO feed is polled; another name exits 2 with the reason."""
    result = CliRunner().invoke(
        cli, ["poll", "--feed", "espn", "--base-url", "http://127.0.0.1:9", "--game", "1"]
    )
    assert result.exit_code == 2
    assert "unsupported feed" in result.output


def test_event_line_marks_corrections(expected: list[PlayEvent]) -> None:
    """A correction's line names the event it replaces."""
    play = expected[3]
    fixed = PlayEvent(
        sport="mlb", game_id=play.game_id, seq=99, event_id="x~1", corrects=play.event_id
    )
    assert f"[corrects {play.event_id}]" in event_line(fixed)


def test_prefetch_prints_a_table(cli: typer.Typer, upstream_url: str) -> None:
    """The table lists every item with its status; missing ones give their reason."""
    result = CliRunner().invoke(
        cli, ["prefetch", "--base-url", upstream_url, "--game", str(ANA_PK)]
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    for name in ("schedule", "roster:home", "matchups:away", "weather", "umpire", "odds"):
        assert any(line.startswith(name) and " ok " in line for line in out.splitlines()), name
    park = next(line for line in out.splitlines() if line.startswith("park"))
    assert "missing" in park
    assert "404" in park
    assert "13 of 14 items available" in out


def test_prefetch_json(cli: typer.Typer, upstream_url: str) -> None:
    """--json prints the report: each item available or {"available": false, "reason"}."""
    result = CliRunner().invoke(
        cli, ["prefetch", "--base-url", upstream_url, "--game", str(ANA_PK), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert report["gamePk"] == ANA_PK
    items = {item["name"]: item for item in report["items"]}
    assert items["odds"]["available"] is True
    assert items["park"]["available"] is False
    assert items["park"]["reason"]


def test_prefetch_with_nothing_answering_reports_every_item_missing(cli: typer.Typer) -> None:
    """No upstream: every item is missing with a reason, and the command still exits 0."""
    result = CliRunner().invoke(
        cli, ["prefetch", "--base-url", "http://127.0.0.1:9", "--game", str(ANA_PK), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert all(not item["available"] and item["reason"] for item in report["items"])
