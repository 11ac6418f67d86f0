"""The MLB model on the real games bundled with the repo: fit, WPA, evaluation."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pressbox.engine.events import PlayEvent
from pressbox.engine.models import mlb
from pressbox.feeds.retrosheet import iter_games
from tests.conftest import SAMPLE_RETROSHEET


@pytest.fixture(scope="module")
def games() -> dict[str, Sequence[PlayEvent]]:
    return {g.game_id: g.events for g in iter_games([SAMPLE_RETROSHEET])}


@pytest.fixture(scope="module")
def model() -> mlb.MlbModel:
    return mlb.load()


def final(events: Sequence[PlayEvent]) -> float:
    end = events[-1]
    if end.home_score == end.away_score:
        return 0.5
    return 1.0 if end.home_score > end.away_score else 0.0


def test_the_sample_has_its_seven_games(games):
    """The bundled sample reads as the seven games its README lists."""
    assert len(games) == 7
    assert "PIT201609290" in games


def test_wpa_of_a_game_sums_exactly_to_result_minus_start(games, model):
    """Sum of WPA = final result − starting WP, exactly, for every bundled game."""
    for events in games.values():
        scored = mlb.score_game(events, model)
        assert len(scored) == len(events)
        start = scored[0].wp_before
        assert sum(p.wpa for p in scored) == final(events) - start
        assert scored[-1].wp_after == final(events)
        assert all(p.wpa == p.wp_after - p.wp_before for p in scored)
        assert all(0.0 <= p.wp_after <= 1.0 and p.leverage >= 0.0 for p in scored)


@settings(max_examples=25, deadline=None)
@given(prior=st.floats(0.2, 0.8))
def test_wpa_sums_exactly_with_any_prior(games, model, prior):
    """With a pregame prior the game starts at it and WPA still sums exactly."""
    for events in games.values():
        scored = mlb.score_game(events, model, prior=prior)
        assert scored[0].wp_before == pytest.approx(prior, abs=1e-9)
        assert sum(p.wpa for p in scored) == final(events) - scored[0].wp_before


def test_walk_offs_and_last_outs_end_at_exactly_the_result(games, model):
    """The play that ends a game takes WP to exactly 1 or 0; game_end then adds nothing."""
    for game_id in ("KCA201510270", "WAS201604240", "SFN201610100", "ANA201504100"):
        scored = mlb.score_game(games[game_id], model)
        assert scored[-2].wp_after == final(games[game_id])
        assert scored[-1].wpa == 0.0


def test_a_called_game_jumps_at_its_end(games, model):
    """A game called in the 6th (the visitors ahead 2-1) gets its last WPA from game_end."""
    scored = mlb.score_game(games["COL201505080"], model)
    assert scored[-1].wp_after == 0.0
    assert 0.0 < scored[-2].wp_after < 1.0
    assert scored[-1].wpa < 0


def test_a_tied_game_ends_at_one_half(games, model):
    """The 2016 game called as a tie ends at WP 0.5."""
    scored = mlb.score_game(games["PIT201609290"], model)
    assert scored[-1].wp_after == 0.5


def test_key_plays_are_the_largest_swings(games, model):
    """Key plays are the events with the largest |WPA|, largest first."""
    scored = mlb.score_game(games["CLE201611020"], model)
    top = mlb.key_plays(scored, 3)
    assert len(top) == 3
    assert [abs(p.wpa) for p in top] == sorted((abs(p.wpa) for p in scored), reverse=True)[:3]


def test_scoring_without_game_start_uses_a_default_game(games, model):
    """Events without a game_start are scored as a 9-inning game from the first pitch."""
    events = games["ANA201504100"][1:]
    scored = mlb.score_game(events, model)
    assert scored[0].wp_before == model.table().start


def test_game_records_reduce_a_game(games):
    """A record keeps the info, final score and the state before each play."""
    record = mlb.game_record(games["WAS201604240"])
    assert record is not None
    assert record.season == 2016
    assert record.result == 1.0
    assert len(record.plays) == sum(e.kind == "play" for e in games["WAS201604240"])
    assert record.plays[0] == (1, 0, 0, 0, 0)
    assert mlb.game_record(games["WAS201604240"][:-1]) is None
    assert mlb.game_record(games["WAS201604240"][1:]) is None


def test_plate_appearances_cover_every_half_inning(games):
    """Every half-inning that ended with three outs ends one transition in END."""
    for events in games.values():
        transitions = mlb.plate_appearances(events)
        thirds = sum(
            1 for e in events if e.kind == "play" and e.before.outs + e.detail.outs_on_play >= 3
        )
        assert sum(1 for t in transitions if t[3] == mlb.END) == thirds
        assert all(0 <= t[2] < 24 and 0 <= t[4] <= 4 for t in transitions)


def test_a_runner_placed_by_rule_starts_no_transition(games):
    """A ``radj`` runner is not a plate appearance; the next one starts after it."""
    events = list(games["ANA201504100"])
    play = events[1]
    placed = msgspec.structs.replace(
        play,
        detail=msgspec.structs.replace(play.detail, event_type="runner_placed"),
    )
    events[1] = placed
    transitions = mlb.plate_appearances(events)
    assert len(transitions) == len(mlb.plate_appearances(games["ANA201504100"])) - 1


def test_fit_on_the_sample_is_deterministic(games):
    """Fitting twice gives the same bytes; the file records seasons and counts."""
    params = mlb.fit(games.values(), shrink=50.0)
    again = mlb.fit(list(games.values()), shrink=50.0)
    assert mlb.dumps(params) == mlb.dumps(again)
    assert params["seasons"] == [2015, 2016]
    assert params["version"] == "2015-2016"
    assert params["n_games"] == 6
    assert params["n_ties_skipped"] == 1
    counted = sum(row[3] for rows in params["transitions"].values() for row in rows)
    assert counted == params["n_plate_appearances"]
    assert params["li_norm"] > 0
    assert 0 < params["home_win_rate"] < 1
    model = mlb.loads(mlb.dumps(params))
    assert 0 < model.table().start < 1


def test_fit_of_one_season_is_labelled_by_it(games):
    """A single training season is the model's version."""
    params = mlb.fit([games["ANA201504100"], games["COL201505080"]])
    assert params["version"] == "2015"


def test_fit_needs_a_finished_game(games):
    """Unfinished or tied games alone cannot be fitted on."""
    with pytest.raises(ValueError, match="no finished"):
        mlb.fit([games["PIT201609290"], games["ANA201504100"][:-1]])


def test_evaluate_scores_every_play_of_untied_games(games, model):
    """Evaluation keeps one row per play of each untied game, in both variants."""
    records = [mlb.game_record(e) for e in games.values()]
    ev = mlb.evaluate([r for r in records if r is not None], model)
    assert ev.n_games == 6
    assert ev.n_ties_skipped == 1
    n = sum(len(r.plays) for r in records if r is not None and r.result != 0.5)
    assert ev.rows.shape == (n, 5)
    assert ev.actual.shape == ev.wp.shape == (n,)
    assert ev.wp_strength is not None
    assert ev.wp_strength.shape == (n,)
    assert set(ev.actual.tolist()) <= {0.0, 1.0}
    plain = mlb.evaluate([r for r in records if r is not None], model, strength=False)
    assert plain.wp_strength is None
    assert plain.wp.tolist() == ev.wp.tolist()


def test_evaluate_needs_plays(games, model):
    """Nothing to score raises ValueError; a game without plays is skipped."""
    record = mlb.game_record(games["ANA201504100"])
    assert record is not None
    empty = mlb.GameRecord(record.game_id, record.info, record.home_score, record.away_score, ())
    with pytest.raises(ValueError, match="no finished"):
        mlb.evaluate([empty], model)
    assert mlb.evaluate([empty, record], model).n_games == 1


def test_events_without_a_baseball_situation_are_passed_over(games, model):
    """A play with no situation and plays after the game is decided change nothing."""
    events = list(games["KCA201510270"])
    stray = msgspec.structs.replace(events[5], before=None)
    events[5] = stray
    record = mlb.game_record(events)
    assert record is not None
    assert len(record.plays) == sum(e.kind == "play" for e in events) - 1
    scored = mlb.score_game(events, model)
    assert scored[5].wpa == 0.0
    assert scored[5].leverage == 0.0
    late = [*games["KCA201510270"][:-1], games["KCA201510270"][-2], games["KCA201510270"][-1]]
    scored = mlb.score_game(late, model)
    assert scored[-2].wpa == 0.0
    assert sum(p.wpa for p in scored) == 1.0 - scored[0].wp_before
