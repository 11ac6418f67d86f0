"""GUMBO documents built from Retrosheet games: the real feed's shape, consistent content."""

from __future__ import annotations

import json
from typing import Any

import jsonpatch
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pressbox.engine.events import BaseballPlay, BaseballSituation
from pressbox.feeds.upstream import gumbo, ids
from pressbox.feeds.upstream.data import UpstreamData
from tests.conftest import shared_data
from tests.feeds.upstream.conftest import ANA_PK


def _real_final() -> dict[str, Any]:
    path = shared_data("feeds", "mlb-gumbo", "feed_live_718594.json")
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def test_top_level_shape_matches_a_real_capture(sample: UpstreamData) -> None:
    """Top-level, metaData, gameData and liveData keys are those of a real final feed."""
    real = _real_final()
    mg = sample.games[ANA_PK]
    doc = gumbo.feed_document(mg, sample, gumbo.final_point(mg))
    assert set(real) <= set(doc)
    assert set(real["metaData"]) <= set(doc["metaData"])
    for key in ("game", "datetime", "status", "teams", "players", "venue", "weather"):
        assert key in doc["gameData"]
    assert set(real["liveData"]) <= set(doc["liveData"])
    assert set(real["liveData"]["plays"]) <= set(doc["liveData"]["plays"])
    assert set(real["gameData"]["status"]) <= set(doc["gameData"]["status"]) | {"codedGameState"}
    real_ls, ls = real["liveData"]["linescore"], doc["liveData"]["linescore"]
    assert set(real_ls) - set(ls) <= {"currentInningOrdinal"} - set(ls)
    assert set(real_ls["innings"][0]) == set(ls["innings"][0])


def test_play_shape_matches_a_real_capture(sample: UpstreamData) -> None:
    """allPlays entries carry the real keys down to runners' movement and details."""
    real_play = _real_final()["liveData"]["plays"]["allPlays"][5]
    mg = sample.games[ANA_PK]
    doc = gumbo.feed_document(mg, sample, gumbo.final_point(mg))
    play = doc["liveData"]["plays"]["allPlays"][5]
    assert set(real_play) == set(play)
    assert set(real_play["result"]) == set(play["result"])
    assert set(real_play["about"]) == set(play["about"])
    assert set(real_play["count"]) == set(play["count"])
    assert {"batter", "pitcher", "batSide", "pitchHand", "splits"} <= set(play["matchup"])
    runner = play["runners"][0]
    assert set(real_play["runners"][0]["movement"]) == set(runner["movement"])
    assert set(real_play["runners"][0]["details"]) == set(runner["details"])
    pitch = next(e for e in play["playEvents"] if e["isPitch"])
    real_pitch = next(e for e in real_play["playEvents"] if e["isPitch"])
    assert set(pitch) <= set(real_pitch)
    assert set(pitch["details"]) <= set(real_pitch["details"])


def test_metadata_timestamp_and_status_follow_the_replay_point(sample: UpstreamData) -> None:
    """Point 0 is a preview, a middle point is live, the last is final; timeStamps rise."""
    mg = sample.games[ANA_PK]
    codes = gumbo.timecodes(mg)
    assert codes == sorted(set(codes))
    total = gumbo.final_point(mg)
    assert len(codes) == total + 1
    for n, state in ((0, "Preview"), (total // 2, "Live"), (total, "Final")):
        doc = gumbo.feed_document(mg, sample, n)
        assert doc["gameData"]["status"]["abstractGameState"] == state
        assert doc["metaData"]["timeStamp"] == codes[n]
        assert doc["metaData"]["wait"] == gumbo.WAIT_SECONDS
    final = gumbo.feed_document(mg, sample, total)
    assert final["liveData"]["decisions"]["winner"]["id"]


@pytest.mark.parametrize("pk", [ANA_PK, 26362201510270, 36851201610100, 33077201609290])
def test_runs_in_runners_add_up_to_the_score(sample: UpstreamData, pk: int) -> None:
    """Every play's scoring runners account exactly for the score changes, and the linescore
    totals equal the final score."""
    mg = sample.games[pk]
    doc = gumbo.feed_document(mg, sample, gumbo.final_point(mg))
    away = home = 0
    for play in doc["liveData"]["plays"]["allPlays"]:
        scored = sum(1 for r in play["runners"] if r["details"]["isScoringEvent"])
        if play["about"]["isTopInning"]:
            away += scored
        else:
            home += scored
        assert (play["result"]["awayScore"], play["result"]["homeScore"]) == (away, home)
        for r in play["runners"]:
            m = r["movement"]
            assert m["start"] in (None, "1B", "2B", "3B")
            assert m["end"] in (None, "1B", "2B", "3B", "score")
            assert (m["outBase"] is not None) == m["isOut"]
    assert (away, home) == (mg.game.away_score, mg.game.home_score)
    teams = doc["liveData"]["linescore"]["teams"]
    assert (teams["away"]["runs"], teams["home"]["runs"]) == (away, home)
    assert sum(i["away"]["runs"] for i in doc["liveData"]["linescore"]["innings"]) == away


def test_plate_appearances_are_grouped_like_the_real_feed(sample: UpstreamData) -> None:
    """One allPlays entry per plate appearance; running plays become action events of it."""
    mg = sample.games[26362201510270]
    doc = gumbo.feed_document(mg, sample, gumbo.final_point(mg))
    plays = doc["liveData"]["plays"]["allPlays"]
    pa = 0
    for e in mg.game.events:
        if isinstance(e.detail, BaseballPlay) and isinstance(e.before, BaseballSituation):
            assert isinstance(e.after, BaseballSituation)
            pa += e.detail.pa_end or e.before.half != e.after.half
    assert len(plays) == pa
    assert [p["atBatIndex"] for p in plays] == list(range(len(plays)))
    actions = [e for p in plays for e in p["playEvents"] if e["type"] == "action"]
    running = [
        e
        for e in mg.game.events
        if isinstance(e.detail, BaseballPlay) and not e.detail.pa_end and e.detail.moves
    ]
    assert len(actions) == len(running)
    for p in plays:
        for r in p["runners"]:
            assert 0 <= r["details"]["playIndex"] < max(len(p["playEvents"]), 1)


def test_in_progress_at_bat_is_the_current_play(sample: UpstreamData) -> None:
    """Once a running play is out mid at-bat, currentPlay is that incomplete at-bat."""
    mg = sample.games[26362201510270]
    index = next(
        i
        for i, e in enumerate(mg.game.events)
        if isinstance(e.detail, BaseballPlay)
        and isinstance(e.before, BaseballSituation)
        and isinstance(e.after, BaseballSituation)
        and not e.detail.pa_end
        and e.before.half == e.after.half
    )
    doc = gumbo.feed_document(mg, sample, gumbo.point_after(mg, index + 1))
    current = doc["liveData"]["plays"]["currentPlay"]
    assert current["about"]["isComplete"] is False
    assert current["playEvents"][-1]["type"] == "action"
    assert doc["liveData"]["plays"]["allPlays"][-1] == current


def test_diff_patch_turns_the_older_document_into_the_newer(sample: UpstreamData) -> None:
    """Applying every diff in order to the older document gives exactly the newer one."""
    mg = sample.games[ANA_PK]
    docs = [gumbo.feed_document(mg, sample, n) for n in range(100, 106)]
    patches = gumbo.diff_patch(docs)
    assert len(patches) == 5
    current = docs[0]
    for patch in patches:
        assert patch["diff"][0]["path"] == "/metaData/timeStamp"
        current = jsonpatch.apply_patch(current, patch["diff"])
    assert current == docs[-1]


def test_ids_are_stable_and_reversible() -> None:
    """gamePk and player ids go back to the Retrosheet ids."""
    assert ids.game_pk("ANA201504100") == ANA_PK
    assert ids.game_id_of_pk(ANA_PK) == "ANA201504100"
    pid = ids.player_id("troum001")
    assert pid < 2**53
    assert ids.retro_id_of_player(pid) == "troum001"
    assert ids.player_id("troum001") != ids.player_id("troum002")
    assert ids.retro_id_of_player(ids.player_id("weird id!")) is None
    with pytest.raises(ValueError, match="Retrosheet"):
        ids.game_pk("nonsense")


def test_pitches_come_out_one_by_one(sample: UpstreamData) -> None:
    """Between two plays the at-bat in progress shows its pitches one update at a time, with
    the count moving, and no result until the play itself."""
    mg = sample.games[ANA_PK]
    plan = gumbo.points(mg)
    c = next(i for i, (_, shown) in enumerate(plan, 1) if shown == 2)
    doc = gumbo.feed_document(mg, sample, c)
    current = doc["liveData"]["plays"]["currentPlay"]
    assert current["about"]["isComplete"] is False
    assert "event" not in current["result"]
    pitches = [e for e in current["playEvents"] if e["isPitch"]]
    assert len(pitches) == 2
    count = current["count"]
    assert count["balls"] + count["strikes"] <= 2
    assert doc["liveData"]["linescore"]["balls"] == count["balls"]
    before = gumbo.feed_document(mg, sample, c - 1)
    assert len(before["liveData"]["plays"]["allPlays"]) == len(doc["liveData"]["plays"]["allPlays"])
    assert doc["metaData"]["timeStamp"] > before["metaData"]["timeStamp"]
    assert gumbo.final_point(mg) > len(mg.game.events)


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.text("ab/~", max_size=2),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text("ab/~", max_size=2), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(old=_json, new=_json)
@settings(max_examples=300, deadline=None)
def test_json_patch_turns_any_document_into_any_other(old: object, new: object) -> None:
    """The structural diff is a correct RFC 6902 patch for any pair of JSON values."""
    patched = jsonpatch.apply_patch(
        {"d": old}, [{**op, "path": "/d" + op["path"]} for op in gumbo.json_patch(old, new)]
    )
    assert patched == {"d": new}
    assert [type(x) for x in _leaves(patched["d"])] == [type(x) for x in _leaves(new)]


def _leaves(value: object) -> list[object]:
    if isinstance(value, dict):
        return [leaf for key in sorted(value) for leaf in _leaves(value[key])]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


def test_linescore_follows_the_half_innings(sample: UpstreamData) -> None:
    """After the third out the linescore is in the middle of the inning with the next team's
    batters due; once that team's first pitch is out it is their half, with no outs."""
    mg = sample.games[ANA_PK]
    third_out = next(
        i + 1
        for i, e in enumerate(mg.game.events)
        if isinstance(e.before, BaseballSituation)
        and isinstance(e.after, BaseballSituation)
        and e.kind == "play"
        and e.before.half != e.after.half
    )
    c = gumbo.point_after(mg, third_out)
    middle = gumbo.feed_document(mg, sample, c)["liveData"]["linescore"]
    assert (middle["inningState"], middle["outs"]) == ("Middle", 3)
    home_id = ids.team_ref(mg.game.info.home).mlb_id
    assert middle["offense"]["team"]["id"] == home_id
    assert {"batter", "onDeck", "inHole", "pitcher"} <= set(middle["offense"])
    assert middle["defense"]["pitcher"]["id"] != middle["offense"]["pitcher"]["id"]
    if gumbo.points(mg)[c] != (third_out + 1, 0):
        started = gumbo.feed_document(mg, sample, c + 1)["liveData"]["linescore"]
        assert (started["inningState"], started["outs"]) == ("Bottom", 0)
        assert started["offense"]["batter"] == middle["offense"]["batter"]
