"""The GUMBO adapter on real captured MLB live feeds, diffPatches and drifted documents."""

from __future__ import annotations

import copy
import gzip
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pressbox.engine.events import BaseballPlay, BaseballSituation, PlayEvent, RunnerMove
from pressbox.engine.state import GameMachine, Outcome
from pressbox.errors import FeedParseError
from pressbox.feeds.gumbo import GumboGame, is_play_by_play, read_document, read_play_by_play
from pressbox.feeds.parse import decode_concatenated
from tests.conftest import shared_data

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "feeds" / "mlb-gumbo"
SEQUENCE = FIXTURES / "diffpatch_sequence_622947"

# (file, gamePk, at-bats, away, home, final) as the documents themselves say.
DOCUMENTS = [
    ("feed_live_718594.json.gz", "718594", 71, 3, 9, True),
    ("feed_live_744914.json.gz", "744914", 68, 3, 1, True),
    ("feed_live_599359_inprogress_20191015_223732.json.gz", "599359", 51, 2, 0, False),
    ("feed_live_715720_trimmed.json.gz", "715720", 2, 1, 0, False),
]


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(gzip.decompress((FIXTURES / name).read_bytes()))
    return doc


def before(event: PlayEvent) -> BaseballSituation:
    assert isinstance(event.before, BaseballSituation)
    return event.before


def after(event: PlayEvent) -> BaseballSituation:
    assert isinstance(event.after, BaseballSituation)
    return event.after


def detail(event: PlayEvent) -> BaseballPlay:
    assert isinstance(event.detail, BaseballPlay)
    return event.detail


def run(events: list[PlayEvent], game_id: str) -> GameMachine:
    machine = GameMachine("mlb", game_id)
    for event in events:
        assert machine.apply(event) is Outcome.APPLIED
    return machine


def plays(events: Iterable[PlayEvent]) -> list[PlayEvent]:
    return [e for e in events if e.kind == "play"]


@pytest.mark.parametrize(("name", "game_id", "at_bats", "away", "home", "final"), DOCUMENTS)
@pytest.mark.parametrize("split", [False, True], ids=["folded", "split"])
def test_document_counts_and_scores(name, game_id, at_bats, away, home, final, split):
    """Every at-bat becomes one play, the last score is the document's, the engine agrees."""
    doc = load(name)
    all_plays = doc["liveData"]["plays"]["allPlays"]
    normalized = read_document(doc, source=name, split_runner_events=split)
    at_bat_events = [e for e in plays(normalized.events) if "." not in e.event_id]
    assert normalized.game_id == game_id
    assert normalized.at_bats == len(all_plays) == len(at_bat_events) == at_bats
    assert [e.event_id for e in at_bat_events] == [f"{game_id}:{i}" for i in range(at_bats)]
    last = at_bat_events[-1]
    assert (last.away_score, last.home_score) == (away, home)
    assert (last.away_score, last.home_score) == (
        all_plays[-1]["result"]["awayScore"],
        all_plays[-1]["result"]["homeScore"],
    )
    assert [e.seq for e in normalized.events] == list(range(1, len(normalized.events) + 1))
    assert normalized.events[0].kind == "game_start"
    assert normalized.final is final
    machine = run(list(normalized.events), game_id)
    assert (machine.state.away_score, machine.state.home_score) == (away, home)
    assert machine.state.status == ("final" if final else "live")
    if final:
        linescore = doc["liveData"]["linescore"]["teams"]
        end = normalized.events[-1]
        assert end.kind == "game_end"
        assert (end.away_score, end.home_score) == (
            linescore["away"]["runs"],
            linescore["home"]["runs"],
        )
    if not split:
        assert len(plays(normalized.events)) == at_bats


def test_trimmed_final_document_is_reported_not_ended():
    """A Final document whose plays stop short gets no game_end and says why."""
    normalized = read_document(load("feed_live_715720_trimmed.json.gz"))
    assert normalized.events[-1].kind == "play"
    assert any("trimmed" in issue for issue in normalized.issues)


def test_game_start_info():
    """game_start carries the teams, date and venue of the feed."""
    start = read_document(load("feed_live_718594.json.gz")).events[0]
    assert start.info is not None
    assert (start.info.away, start.info.home, start.info.date) == ("BOS", "TB", "2023-04-13")
    assert start.info.site == "Tropicana Field"
    assert start.info.extra_runner is True


def test_play_detail_follows_the_contract():
    """Moves come from runners[].movement, the batter from 0; the third out starts a new half."""
    events = read_document(load("feed_live_718594.json.gz")).events
    walk = next(e for e in events if e.event_id == "718594:24")
    assert isinstance(walk.detail, BaseballPlay)
    assert detail(walk).event_type == "walk"
    assert detail(walk).pa_end is True
    # Turner stole third during the at-bat; folded, his move runs from 2nd to 3rd.
    assert set(detail(walk).moves) == {
        RunnerMove("457759", 2, 3),
        RunnerMove("671213", 1, 2),
        RunnerMove("666915", 0, 1),
    }
    assert walk.before is not None
    assert before(walk).bases_code == "110"
    assert (before(walk).balls, before(walk).strikes) == (3, 0)
    assert walk.after is not None
    assert after(walk).bases_code == "111"
    third_outs = [e for e in plays(events) if before(e).outs + detail(e).outs_on_play == 3]
    assert third_outs
    for event in third_outs:
        assert after(event).outs == 0
        assert after(event).bases_code == "000"


def test_split_runner_events_are_their_own_plays():
    """Split, a steal inside an at-bat is a play of its own that does not end the at-bat."""
    events = read_document(load("feed_live_718594.json.gz"), split_runner_events=True).events
    steal = next(e for e in events if e.event_id == "718594:24.3")
    assert isinstance(steal.detail, BaseballPlay)
    assert detail(steal).event_type == "stolen_base"
    assert detail(steal).pa_end is False
    assert detail(steal).moves == (RunnerMove("457759", 2, 3),)
    assert (before(steal).balls, before(steal).strikes) == (2, 0)
    walk = events[events.index(steal) + 1]
    assert walk.event_id == "718594:24"
    assert RunnerMove("457759", 2, 3) not in detail(walk).moves


def test_diffpatch_sequence_replays_through_the_engine():
    """A live capture of diffPatch polls gives each new at-bat once, in order, engine-valid."""
    game = GumboGame(source="622947")
    machine = GameMachine("mlb", "622947")
    paths = sorted(SEQUENCE.iterdir())
    with pytest.raises(FeedParseError, match="before any full document"):
        game.update(decode_concatenated(paths[0].read_bytes(), paths[0].name)[0])
    for path in paths[1:]:
        for response in decode_concatenated(path.read_bytes(), path.name):
            for event in game.update(response):
                assert machine.apply(event) is Outcome.APPLIED
    all_plays = game.document["liveData"]["plays"]["allPlays"]
    assert game.timestamp == "20200107_001458"
    assert len(all_plays) == 59
    assert all(p["about"]["isComplete"] for p in all_plays)
    assert machine.state.plays == len(plays(game.events)) == 59
    assert [e.seq for e in game.events] == list(range(1, 61))
    last = all_plays[-1]["result"]
    assert (machine.state.away_score, machine.state.home_score) == (
        last["awayScore"],
        last["homeScore"],
    )


def test_patched_document_matches_a_later_full_document():
    """Patches applied to one full document rebuild the at-bats the next full document holds."""
    responses = []
    for path in sorted(SEQUENCE.iterdir()):
        responses.extend(decode_concatenated(path.read_bytes(), path.name))
    first, second = [i for i, r in enumerate(responses) if isinstance(r, dict)][:2]
    game = GumboGame()
    for response in responses[first:second]:
        game.update(response)
    patched = game.document["liveData"]["plays"]["allPlays"]
    fresh = responses[second]["liveData"]["plays"]["allPlays"]
    assert len(patched) == 56
    assert patched == fresh[:56]


def test_stale_diffpatch_is_refused_and_state_kept():
    """The real diffPatch older than the in-progress snapshot is refused; nothing changes."""
    game = GumboGame()
    first = game.update(load("feed_live_599359_inprogress_20191015_223732.json.gz"))
    before = (game.document, game.timestamp, game.events)
    with pytest.raises(FeedParseError, match="stale diffPatch"):
        game.update(load("diffPatch_599359_20191015.json.gz"))
    assert (game.document, game.timestamp, game.events) == before
    assert len(plays(first)) == 51


def test_same_document_twice_gives_nothing_new():
    """A repeated document is not new."""
    game = GumboGame()
    doc = load("feed_live_744914.json.gz")
    assert len(game.update(doc)) == 70
    assert game.update(copy.deepcopy(doc)) == []
    assert game.final


def test_new_plays_continue_the_sequence():
    """Plays that appear in a later document are emitted once, numbered after the earlier ones."""
    doc = load("feed_live_744914.json.gz")
    early = copy.deepcopy(doc)
    early["liveData"]["plays"]["allPlays"] = early["liveData"]["plays"]["allPlays"][:30]
    early["gameData"]["status"]["abstractGameState"] = "Live"
    game = GumboGame()
    machine = GameMachine("mlb", "744914")
    first = game.update(early)
    rest = game.update(doc)
    assert [e.event_id for e in plays(first)][-1] == "744914:29"
    assert rest[0].event_id == "744914:30"
    assert rest[0].seq == first[-1].seq + 1
    assert rest[-1].kind == "game_end"
    for event in first + rest:
        assert machine.apply(event) is Outcome.APPLIED
    assert machine.state.status == "final"


def test_changed_completed_play_is_a_correction():
    """A completed play whose content changes is re-sent correcting the earlier event id."""
    doc = load("feed_live_744914.json.gz")
    game = GumboGame()
    machine = GameMachine("mlb", "744914")
    for event in game.update(doc):
        machine.apply(event)
    fixed = copy.deepcopy(doc)
    fixed["liveData"]["plays"]["allPlays"][5]["result"]["description"] = "Scoring changed."
    (correction,) = game.update(fixed)
    assert correction.corrects == "744914:5"
    assert correction.event_id == "744914:5~1"
    assert correction.text == "Scoring changed."
    assert machine.apply(correction) is Outcome.CORRECTED
    again = copy.deepcopy(fixed)
    again["liveData"]["plays"]["allPlays"][5]["result"]["description"] = "Changed again."
    (second,) = game.update(again)
    assert (second.event_id, second.corrects) == ("744914:5~2", "744914:5~1")
    assert machine.apply(second) is Outcome.CORRECTED
    assert machine.state.status == "final"


def _drop(doc: dict[str, Any], *keys: str | int) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    target: Any = doc
    for key in keys[:-1]:
        target = target[key]
    del target[keys[-1]]
    return doc


def _set(doc: dict[str, Any], value: object, *keys: str | int) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    target: Any = doc
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda d: _drop(d, "liveData", "plays", "allPlays"), "missing field 'allPlays'"),
        (lambda d: _drop(d, "gamePk"), "missing field 'gamePk'"),
        (
            lambda d: _drop(d, "liveData", "plays", "allPlays", 3, "about", "atBatIndex"),
            "allPlays[3].about: missing field 'atBatIndex'",
        ),
        (
            lambda d: _set(
                d, "5B", "liveData", "plays", "allPlays", 2, "runners", 0, "movement", "end"
            ),
            "unknown base '5B'",
        ),
        (
            lambda d: _set(d, "7", "liveData", "plays", "allPlays", 1, "result", "homeScore"),
            "the runners' moves make",
        ),
        (lambda d: _set(d, [], "liveData", "plays"), "liveData.plays: expected an object"),
        (
            lambda d: _set(d, "middle", "liveData", "plays", "allPlays", 4, "about", "halfInning"),
            "unknown half 'middle'",
        ),
    ],
    ids=[
        "no-allPlays",
        "no-gamePk",
        "no-atBatIndex",
        "bad-base",
        "bad-score",
        "plays-array",
        "half",
    ],
)
def test_drifted_document_is_refused_and_state_kept(mutate, reason):
    """A renamed, missing or contradictory field is a FeedParseError; the last good state stays."""
    good = load("feed_live_718594.json.gz")
    early = copy.deepcopy(good)
    early["liveData"]["plays"]["allPlays"] = early["liveData"]["plays"]["allPlays"][:1]
    game = GumboGame(source="718594.json")
    game.update(early)
    kept = (game.document, game.timestamp, game.events)
    with pytest.raises(FeedParseError, match=r"718594\.json") as info:
        game.update(mutate(good))
    assert reason in str(info.value)
    assert (game.document, game.timestamp, game.events) == kept
    assert len(game.update(good)) == 71


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty document"),
        (b'{"gamePk": 718594, "liveData": {', "malformed JSON"),
        (b"\x1f\x8b\x08\x00garbage", "bad gzip data"),
        (b"42", "expected a live-feed document"),
    ],
    ids=["empty", "truncated", "bad-gzip", "number"],
)
def test_unreadable_bytes_are_refused_and_state_kept(data, reason):
    """Malformed or truncated bytes raise FeedParseError and change nothing."""
    game = GumboGame()
    game.update(load("feed_live_744914.json.gz"))
    kept = (game.document, game.events)
    with pytest.raises(FeedParseError, match=reason):
        game.update_bytes(data)
    assert (game.document, game.events) == kept


def test_truncated_real_document_is_refused():
    """A real document cut in the middle is malformed JSON, not a shorter game."""
    raw = gzip.decompress((FIXTURES / "feed_live_718594.json.gz").read_bytes())
    with pytest.raises(FeedParseError, match="malformed JSON"):
        GumboGame().update_bytes(raw[: len(raw) // 2])


def test_patch_that_cannot_apply_is_refused_and_state_kept():
    """A diffPatch for a different document version leaves the last good document."""
    game = GumboGame()
    game.update(load("feed_live_718594.json.gz"))
    kept = (game.document, game.timestamp, game.events)
    bad = [
        {
            "diff": [
                {"op": "replace", "path": "/metaData/timeStamp", "value": "20990101_000000"},
                {"op": "replace", "path": "/liveData/plays/allPlays/99/result/event", "value": "x"},
            ]
        }
    ]
    with pytest.raises(FeedParseError, match=r"cannot replace /liveData/plays/allPlays/99"):
        game.update(bad)
    assert (game.document, game.timestamp, game.events) == kept
    with pytest.raises(FeedParseError, match="no 'diff' array"):
        game.update([{"patch": []}])
    assert (game.document, game.timestamp, game.events) == kept


def test_other_game_and_stale_documents_are_refused():
    """A document for another game, or older than the current one, is refused."""
    game = GumboGame()
    game.update(load("feed_live_718594.json.gz"))
    with pytest.raises(FeedParseError, match="not 718594"):
        game.update(load("feed_live_744914.json.gz"))
    old = _set(load("feed_live_718594.json.gz"), "20230413_120000", "metaData", "timeStamp")
    with pytest.raises(FeedParseError, match="stale document"):
        game.update(old)


def test_runner_placed_by_rule_is_its_own_event():
    """The extra-inning runner (a runner_placed action) is a radj-style play before the at-bat."""
    doc = load("feed_live_744914.json.gz")
    first = doc["liveData"]["plays"]["allPlays"][0]
    batter = first["matchup"]["batter"]["id"]
    placed = {
        "index": 0,
        "type": "action",
        "isPitch": False,
        "details": {"eventType": "runner_placed", "description": "X starts inning at 2nd base."},
        "player": {"id": 1},
        "base": 2,
    }
    play = copy.deepcopy(first)
    for event in play["playEvents"]:
        event["index"] += 1
    play["playEvents"].insert(0, placed)
    for runner in play["runners"]:
        runner["details"]["playIndex"] += 1
    assert [r["details"]["runner"]["id"] for r in play["runners"]] == [batter]
    doc["liveData"]["plays"]["allPlays"] = [play]
    doc["gameData"]["status"]["abstractGameState"] = "Live"
    events = read_document(doc).events
    radj, at_bat = events[1], events[2]
    assert radj.event_id == "744914:0.0"
    assert radj.detail == BaseballPlay(
        batter=None,
        pitcher=str(first["matchup"]["pitcher"]["id"]),
        code="runner_placed",
        moves=(RunnerMove("1", 0, 2),),
        event_type="runner_placed",
    )
    assert after(radj).bases == (None, "1", None)
    assert before(at_bat).bases_code == "010"
    run(list(events), "744914")


def test_shared_data_documents_all_read():
    """Every live feed in the shared data folder reads and replays (when it is present)."""
    folder = shared_data("feeds", "mlb-gumbo")
    for path in sorted(folder.glob("feed_live_*.json")):
        normalized = read_document(orjson.loads(path.read_bytes()), source=path.name)
        run(list(normalized.events), normalized.game_id)


def _mid_at_bat(doc: dict[str, Any]) -> dict[str, Any]:
    """The feed as it stood inside at-bat 24 of 718594: after the steal and one more pitch."""
    early = copy.deepcopy(doc)
    all_plays = early["liveData"]["plays"]["allPlays"][:25]
    current = all_plays[24]
    current["about"]["isComplete"] = False
    current["playEvents"] = current["playEvents"][:5]
    current["runners"] = [r for r in current["runners"] if r["details"]["playIndex"] == 3]
    current["result"] = {"type": "atBat", "awayScore": 1, "homeScore": 1}
    early["liveData"]["plays"]["allPlays"] = all_plays
    early["gameData"]["status"]["abstractGameState"] = "Live"
    return early


def test_runner_event_inside_an_at_bat_in_progress():
    """Split, a steal is emitted while its at-bat goes on; the at-bat follows when complete."""
    doc = load("feed_live_718594.json.gz")
    game = GumboGame(split_runner_events=True)
    machine = GameMachine("mlb", "718594")
    first = game.update(_mid_at_bat(doc))
    assert [e.event_id for e in first[-2:]] == ["718594:23", "718594:24.3"]
    rest = game.update(doc)
    assert rest[0].event_id == "718594:24"
    assert all(e.corrects is None for e in rest)
    for event in first + rest:
        assert machine.apply(event) is Outcome.APPLIED
    assert machine.state.status == "final"


def test_folded_at_bat_waits_for_its_end():
    """Folded, nothing of an at-bat in progress is emitted; it comes whole when complete."""
    doc = load("feed_live_718594.json.gz")
    game = GumboGame()
    first = game.update(_mid_at_bat(doc))
    assert first[-1].event_id == "718594:23"
    rest = game.update(doc)
    assert rest[0].event_id == "718594:24"
    assert RunnerMove("457759", 2, 3) in detail(rest[0]).moves


def test_extra_inning_runner_without_an_action_is_placed():
    """In an extra half, a runner who moves from a base the plays never filled was placed."""
    doc = load("feed_live_744914.json.gz")
    doc["liveData"]["linescore"]["scheduledInnings"] = 8  # the ninth becomes an extra inning
    all_plays = doc["liveData"]["plays"]["allPlays"][:60]
    single = all_plays[59]
    assert single["about"]["inning"] == 9
    single["runners"].append(
        {
            "movement": {"start": "2B", "end": "3B", "outBase": None, "isOut": False},
            "details": {"runner": {"id": 1}, "eventType": "single", "playIndex": 4},
        }
    )
    single["matchup"]["postOnThird"] = {"id": 1}
    doc["liveData"]["plays"]["allPlays"] = all_plays
    doc["gameData"]["status"]["abstractGameState"] = "Live"
    events = read_document(doc).events
    assert [e.event_id for e in events[-2:]] == ["744914:59.placed", "744914:59"]
    assert detail(events[-2]).moves == (RunnerMove("1", 0, 2),)
    assert detail(events[-2]).event_type == "runner_placed"
    assert set(detail(events[-1]).moves) == {RunnerMove("1", 2, 3), RunnerMove("608324", 0, 1)}
    assert after(events[-1]).bases == ("608324", None, "1")
    run(list(events), "744914")


def _sequence() -> list[Any]:
    responses: list[Any] = []
    for path in sorted(SEQUENCE.iterdir())[1:]:
        responses.extend(decode_concatenated(path.read_bytes(), path.name))
    return responses


def needs_full(game: GumboGame) -> bool:
    return game.needs_full_document


def test_needs_full_document_after_a_refused_patch():
    """A refused diffPatch asks for a full document; taking one clears the request."""
    game = GumboGame()
    assert needs_full(game)
    doc = load("feed_live_599359_inprogress_20191015_223732.json.gz")
    game.update(doc)
    assert not needs_full(game)
    with pytest.raises(FeedParseError):
        game.update(load("diffPatch_599359_20191015.json.gz"))
    assert needs_full(game)
    game.update(doc)
    assert not needs_full(game)


@settings(max_examples=5, deadline=None, derandomize=True)
@given(st.data())
def test_lost_polls_never_break_the_game(data):
    """Whatever polls are lost, each response is taken or refused with FeedParseError, and
    every event emitted replays through the engine."""
    responses = _sequence()
    first = next(i for i, r in enumerate(responses) if isinstance(r, dict))
    kept = [responses[first]] + [
        r for r in responses[first + 1 :] if data.draw(st.booleans(), label="kept")
    ]
    game = GumboGame()
    machine = GameMachine("mlb", "622947")
    for response in kept:
        try:
            new = game.update(response)
        except FeedParseError:
            assert needs_full(game)
            continue
        for event in new:
            assert machine.apply(event) in (Outcome.APPLIED, Outcome.CORRECTED)
    assert [e.seq for e in game.events] == list(range(1, len(game.events) + 1))
    assert machine.state.plays == len([e for e in plays(game.events) if e.corrects is None])


def test_every_prefix_of_a_game_is_a_prefix_of_its_events():
    """Reading the first n at-bats gives the first events of the whole game, unchanged."""
    doc = load("feed_live_718594.json.gz")
    full = read_document(doc).events
    all_plays = doc["liveData"]["plays"]["allPlays"]
    for n in range(0, len(all_plays), 7):
        partial = copy.deepcopy(doc)
        partial["liveData"]["plays"]["allPlays"] = all_plays[:n]
        partial["gameData"]["status"]["abstractGameState"] = "Live"
        assert read_document(partial).events == full[: n + 1]


def test_play_by_play_response():
    """A playByPlay response (plays without the game's data) reads like the live feed's plays."""
    doc = load("playByPlay_pydantic_fixture.json.gz")
    assert is_play_by_play(doc)
    assert not is_play_by_play(load("feed_live_744914.json.gz"))
    normalized = read_play_by_play(doc, game_id="1", source="pbp")
    assert normalized.at_bats == len(doc["allPlays"]) == 62
    last = normalized.events[-1]
    assert (last.away_score, last.home_score) == (0, 2)
    assert not normalized.final
    run(list(normalized.events), "1")
    with pytest.raises(FeedParseError, match="missing field 'allPlays'"):
        read_play_by_play({"plays": []}, game_id="1")


@pytest.mark.parametrize(("split", "last_id"), [(False, "718594:24"), (True, "718594:24.3")])
def test_game_that_ends_inside_an_at_bat(split, last_id):
    """A game final in the middle of an at-bat (a walk-off wild pitch, a called game) keeps the
    runner events of that at-bat and ends."""
    doc = _mid_at_bat(load("feed_live_718594.json.gz"))
    doc["gameData"]["status"]["abstractGameState"] = "Final"
    doc["liveData"]["linescore"]["teams"]["home"]["runs"] = 1
    doc["liveData"]["linescore"]["teams"]["away"]["runs"] = 1
    normalized = read_document(doc, split_runner_events=split)
    last_play, end = normalized.events[-2:]
    assert last_play.event_id == last_id
    assert detail(last_play).moves == (RunnerMove("457759", 2, 3),)
    assert detail(last_play).event_type == "stolen_base"
    assert detail(last_play).pa_end is False
    assert end.kind == "game_end"
    assert normalized.final
    assert run(list(normalized.events), "718594").state.status == "final"


def test_pitching_change_inside_an_at_bat_is_no_correction():
    """A runner event keeps the pitcher of its moment when the pitcher changes later in the
    at-bat (matchup.pitcher names the pitcher at the end)."""
    doc = load("feed_live_718594.json.gz")
    early = _mid_at_bat(doc)
    later = copy.deepcopy(doc)
    at_bat = later["liveData"]["plays"]["allPlays"][24]
    for event in at_bat["playEvents"][4:]:
        event["index"] += 1
    at_bat["playEvents"].insert(
        4,
        {
            "index": 4,
            "type": "action",
            "details": {"eventType": "pitching_substitution", "description": "Pitching Change"},
            "player": {"id": 999},
        },
    )
    for runner in at_bat["runners"]:
        if runner["details"]["playIndex"] > 3:
            runner["details"]["playIndex"] += 1
    at_bat["matchup"]["pitcher"]["id"] = 999
    game = GumboGame(split_runner_events=True)
    steal = game.update(early)[-1]
    assert (steal.event_id, detail(steal).pitcher) == ("718594:24.3", "664076")
    rest = game.update(later)
    assert all(e.corrects is None for e in rest)
    assert (rest[0].event_id, detail(rest[0]).pitcher) == ("718594:24", "999")


def test_end_time_filled_in_later_is_no_correction():
    """A timestamp the feed fills in on a later poll does not correct the play."""
    doc = load("feed_live_744914.json.gz")
    early = copy.deepcopy(doc)
    del early["liveData"]["plays"]["allPlays"][3]["about"]["endTime"]
    game = GumboGame()
    game.update(early)
    assert game.update(doc) == []


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 200) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=6,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(_paths(child, (*prefix, index)))
    return found


_SMALL = load("feed_live_715720_trimmed.json.gz")
_SMALL["liveData"] = {
    "plays": _SMALL["liveData"]["plays"],
    "linescore": _SMALL["liveData"]["linescore"],
}
_SMALL["gameData"] = {
    k: _SMALL["gameData"][k] for k in ("game", "datetime", "status", "teams", "venue")
}
_SMALL_PATHS = _paths(_SMALL)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.sampled_from(_SMALL_PATHS), JSON_VALUES, st.booleans())
def test_any_mutation_is_read_or_refused_cleanly(path, value, delete):
    """Any field of a real document replaced or removed: read, or FeedParseError, nothing else."""
    doc = copy.deepcopy(_SMALL)
    target = doc
    for key in path[:-1]:
        target = target[key]
    if delete and isinstance(target, dict):
        del target[path[-1]]
    else:
        target[path[-1]] = value
    game = GumboGame()
    try:
        events = game.update(doc)
    except FeedParseError:
        assert game.events == []
        return
    machine = GameMachine("mlb", events[0].game_id)
    for event in events:
        machine.apply(event)


def test_at_bats_listed_twice_or_swapped_are_refused():
    """A copy of the feed that lists an at-bat twice, two the wrong way round, or skips one
    is refused with the at-bat named; the game keeps its last good document."""
    doc = load("feed_live_744914.json.gz")
    all_plays = doc["liveData"]["plays"]["allPlays"]
    swapped = copy.deepcopy(doc)
    swapped_plays = swapped["liveData"]["plays"]["allPlays"]
    swapped_plays[10], swapped_plays[11] = swapped_plays[11], swapped_plays[10]
    twice = copy.deepcopy(doc)
    twice["liveData"]["plays"]["allPlays"].insert(20, copy.deepcopy(all_plays[20]))
    gap = copy.deepcopy(doc)
    del gap["liveData"]["plays"]["allPlays"][5]
    game = GumboGame()
    game.update(_set(doc, "Live", "gameData", "status", "abstractGameState"))
    kept = (game.document, game.events)
    for variant, reason in (
        (swapped, "at-bat 11 comes where at-bat 10 belongs"),
        (twice, "at-bat 20 is listed twice"),
        (gap, "at-bat 6 comes where at-bat 5 belongs"),
    ):
        with pytest.raises(FeedParseError, match=reason):
            game.update(variant)
        assert (game.document, game.events) == kept
