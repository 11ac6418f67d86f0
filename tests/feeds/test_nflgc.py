"""Tests for the NFL GameCenter parser (pressbox.feeds.nflgc)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from pressbox.engine.events import (
    FootballPlay,
    FootballSituation,
    PlayEvent,
    decode_event,
    encode,
)
from pressbox.engine.state import GameMachine, Outcome
from pressbox.errors import FeedParseError
from pressbox.feeds import nflgc
from tests.conftest import shared_data

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "nfl"
SCHEDULE = nflgc.read_schedule(FIXTURES / "schedule.json")
GAMES = sorted(FIXTURES.glob("*.json.gz"))


def _eid(path: Path) -> str:
    return path.name.split(".")[0]


def _before(event: PlayEvent) -> FootballSituation:
    assert isinstance(event.before, FootballSituation)
    return event.before


def _after(event: PlayEvent) -> FootballSituation:
    assert isinstance(event.after, FootballSituation)
    return event.after


@pytest.mark.parametrize("path", GAMES, ids=_eid)
def test_parsed_final_score_equals_the_files(path: Path) -> None:
    """The score rebuilt from scoring plays equals the final score the file states."""
    doc = nflgc.load_document(path)
    events = nflgc.parse_game(doc, season_type=SCHEDULE[_eid(path)])
    final = nflgc.final_score(doc)
    assert (events[-1].home_score, events[-1].away_score) == (final.home, final.away)


@pytest.mark.parametrize("path", GAMES, ids=_eid)
def test_events_are_ordered_and_well_formed(path: Path) -> None:
    """Events run game_start, plays, game_end with gapless seq and unique ids."""
    events = nflgc.read_game(path, season_type=SCHEDULE[_eid(path)])
    eid = _eid(path)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].kind == "game_start"
    assert events[0].info is not None
    assert events[0].info.innings == 4
    assert events[-1].kind == "game_end"
    assert len({e.event_id for e in events}) == len(events)
    plays = events[1:-1]
    assert all(e.kind == "play" and e.event_id.startswith(f"{eid}:") for e in plays)
    for event in plays:
        assert isinstance(event.before, FootballSituation)
        assert isinstance(event.detail, FootballPlay)
        assert event.period == event.before.quarter
        if event.before.yard_line is not None:
            assert 0 <= event.before.yard_line <= 100
        assert 0 <= (event.before.home_timeouts or 0) <= 3


@pytest.mark.parametrize("path", GAMES, ids=_eid)
def test_events_go_through_the_state_machine(path: Path) -> None:
    """The engine's state machine takes every parsed event and ends on the final score."""
    events = nflgc.read_game(path, season_type=SCHEDULE[_eid(path)])
    machine = GameMachine("nfl", _eid(path))
    for event in events:
        assert machine.apply(event) is Outcome.APPLIED
    final = machine.state
    assert final.status == "final"
    assert (final.home_score, final.away_score) == (events[-1].home_score, events[-1].away_score)


def test_scores_never_fall() -> None:
    """Each team's score only grows through a game."""
    for path in GAMES:
        events = nflgc.read_game(path, season_type=SCHEDULE[_eid(path)])
        homes = [e.home_score for e in events]
        aways = [e.away_score for e in events]
        assert homes == sorted(homes)
        assert aways == sorted(aways)


def test_yard_line_is_from_the_possessing_teams_goal() -> None:
    """``"GB 13"`` for GB is 13, and ``"SEA 35"`` for GB is 65."""
    events = nflgc.read_game(FIXTURES / "2014090400.json.gz")
    first_snap = _before(next(e for e in events if e.before and _before(e).down == 1))
    assert first_snap.possession == "away"  # GB at SEA
    assert first_snap.yard_line == 13
    assert nflgc._yard_line("SEA 35", "GB") == 65
    assert nflgc._yard_line("50", "GB") == 50


def test_timeouts_are_counted_per_half() -> None:
    """A called timeout lowers that team's count until halftime resets it."""
    events = nflgc.read_game(FIXTURES / "2014090400.json.gz")
    timeouts = [
        e for e in events if isinstance(e.detail, FootballPlay) and e.detail.play_type == "timeout"
    ]
    assert timeouts
    first_before, first_after = _before(timeouts[0]), _after(timeouts[0])
    before = (first_before.home_timeouts or 0) + (first_before.away_timeouts or 0)
    after = (first_after.home_timeouts or 0) + (first_after.away_timeouts or 0)
    assert after == before - 1
    third = _before(next(e for e in events if e.before and _before(e).quarter == 3))
    assert (third.home_timeouts, third.away_timeouts) == (3, 3)


def test_rows_between_plays_keep_the_balls_position() -> None:
    """Timeouts and period ends carry the next snap's possession; period ends are at 0:00."""
    events = nflgc.read_game(FIXTURES / "2014090400.json.gz")
    between = [
        e
        for e in events
        if isinstance(e.detail, FootballPlay)
        and e.detail.play_type in ("timeout", "end_period", "two_minute_warning")
    ]
    assert between
    assert all(_before(e).possession is not None for e in between)
    ends = [
        e
        for e in between
        if isinstance(e.detail, FootballPlay) and e.detail.play_type == "end_period"
    ]
    assert ends
    assert all(_before(e).clock_seconds == 0 for e in ends)
    index = events.index(between[0])
    following = next(e for e in events[index + 1 :] if e.detail and _before(e).down)
    assert _before(between[0]).yard_line == _before(following).yard_line


def test_regular_season_overtime_gives_two_timeouts() -> None:
    """In regular-season overtime each team starts with two timeouts (2014-2016 rules)."""
    events = nflgc.read_game(FIXTURES / "2014101202.json.gz", season_type="REG")
    ot = _before(next(e for e in events if e.before and _before(e).quarter == 5))
    assert ot.home_timeouts == 2
    assert events[-1].home_score == events[-1].away_score == 37


def test_missing_touchdown_play_is_recovered_from_its_try() -> None:
    """An extra point without its touchdown play still counts the touchdown."""
    path = FIXTURES / "2014112307.json.gz"
    events = nflgc.read_game(path)
    assert (events[-1].home_score, events[-1].away_score) == (43, 24)


def test_events_round_trip_through_the_codec() -> None:
    """Parsed events encode and decode unchanged."""
    events = nflgc.read_game(FIXTURES / "2015120607.json.gz")
    for event in events:
        assert decode_event(encode(event)) == event


def test_not_a_gamecenter_document_raises() -> None:
    """A document without a game raises FeedParseError."""
    with pytest.raises(FeedParseError):
        nflgc.parse_game({"nextupdate": 1})
    with pytest.raises(FeedParseError):
        nflgc.final_score({"2014090400": {"home": {}, "drives": {}}})


def test_unreadable_file_raises(tmp_path: Path) -> None:
    """A corrupt gzip file raises FeedParseError naming the file."""
    bad = tmp_path / "2014090400.json.gz"
    bad.write_bytes(b"not gzip")
    with pytest.raises(FeedParseError, match="2014090400"):
        nflgc.load_document(bad)
    plain = tmp_path / "x.json"
    plain.write_text(json.dumps([1, 2]))
    with pytest.raises(FeedParseError):
        nflgc.load_document(plain)


def test_plain_json_documents_are_read(tmp_path: Path) -> None:
    """An uncompressed ``.json`` document is read as well."""
    raw = gzip.decompress((FIXTURES / "2014090400.json.gz").read_bytes())
    plain = tmp_path / "2014090400.json"
    plain.write_bytes(raw)
    assert nflgc.read_game(plain)[-1].home_score == 36


@pytest.mark.slow
@pytest.mark.parametrize("season", ["2014", "2015"])
def test_every_shared_game_parses_to_its_final_score(season: str) -> None:
    """Every game of a shared season parses to the final score its file states."""
    root = shared_data("nfl-gamecenter")
    schedule = nflgc.read_schedule(root / "schedule.json")
    paths = sorted((root / season).glob("*.json.gz"))
    assert len(paths) == 267
    wrong = []
    for path in paths:
        doc = nflgc.load_document(path)
        events = nflgc.parse_game(doc, season_type=schedule[_eid(path)])
        final = nflgc.final_score(doc)
        if (events[-1].home_score, events[-1].away_score) != (final.home, final.away):
            wrong.append(path.name)
    assert wrong == []
