"""Properties of the shipped MLB model over the whole state space (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pressbox.engine.events import GameState
from pressbox.engine.models import mlb


@pytest.fixture(scope="module")
def model() -> mlb.MlbModel:
    return mlb.load()


@pytest.fixture(scope="module")
def neutral(model: mlb.MlbModel) -> mlb.MlbModel:
    return model.without_home_advantage()


innings = st.integers(1, 16)
halves = st.booleans()
outs = st.integers(0, 2)
masks = st.integers(0, 7)
diffs = st.integers(-40, 40)
rules = st.booleans()
priors = st.one_of(st.none(), st.floats(0.2, 0.8))


@settings(max_examples=300, deadline=None)
@given(innings, halves, outs, masks, diffs, rules, priors)
def test_probabilities_are_probabilities(model, inning, bottom, out, mask, diff, rule, prior):
    """Every WP is in [0, 1] and every leverage index is non-negative."""
    table = model.table(9, rule, prior)
    assert 0.0 <= table.home_wp(inning, bottom, out, mask, diff) <= 1.0
    assert table.leverage(inning, bottom, out, mask, diff) >= 0.0


@settings(max_examples=300, deadline=None)
@given(innings, halves, outs, masks, diffs, rules, priors, st.integers(1, 5))
def test_more_runs_ahead_is_never_worse(model, inning, bottom, out, mask, diff, rule, prior, more):
    """With everything else fixed, a bigger home lead never lowers the home WP."""
    table = model.table(9, rule, prior)
    assert table.home_wp(inning, bottom, out, mask, diff + more) >= table.home_wp(
        inning, bottom, out, mask, diff
    )


@settings(max_examples=300, deadline=None)
@given(innings, halves, st.integers(0, 1), masks, st.integers(1, 12), rules)
def test_the_leader_gains_as_the_trailers_outs_run_out(
    model, inning, bottom, out, mask, lead, rule
):
    """When the trailing team bats, each out it makes leaves the leader's WP no lower."""
    table = model.table(9, rule)
    if bottom:  # the home team trails and bats
        assert table.home_wp(inning, True, out + 1, mask, -lead) <= table.home_wp(
            inning, True, out, mask, -lead
        )
    else:  # the visitors trail and bat
        assert table.home_wp(inning, False, out + 1, mask, lead) >= table.home_wp(
            inning, False, out, mask, lead
        )


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 8), st.integers(1, 8), halves, st.integers(1, 12), rules)
def test_the_leader_gains_as_innings_run_out(model, inning, later, bottom, lead, rule):
    """The same lead at the start of a later half-inning is worth no less to the leader.

    "Later" means fewer outs left, so this is a property of the scheduled innings: a half
    of an extra inning leaves the trailing team the same three outs as the 9th did.
    """
    later = min(inning + later, 9)
    table = model.table(9, rule)
    assert table.home_wp(later, bottom, 0, 0, lead) >= table.home_wp(inning, bottom, 0, 0, lead)
    assert table.home_wp(later, bottom, 0, 0, -lead) <= table.home_wp(inning, bottom, 0, 0, -lead)


@settings(max_examples=200, deadline=None)
@given(st.integers(9, 20), outs, masks, st.integers(1, 40), rules, priors)
def test_a_walk_off_state_is_exactly_won(model, inning, out, mask, lead, rule, prior):
    """Home ahead in the bottom of the 9th or later: the game is over, WP exactly 1."""
    assert model.table(9, rule, prior).home_wp(inning, True, out, mask, lead) == 1.0


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 30), st.integers(0, 30))
def test_final_states_are_exactly_decided(model, home, away):
    """A final state gives exactly 1 or 0 (a tie: tie = 1)."""
    wp = model.win_probability(
        GameState(sport="mlb", game_id="g", status="final", home_score=home, away_score=away)
    )
    if home > away:
        assert (wp.home, wp.away, wp.tie) == (1.0, 0.0, 0.0)
    elif home < away:
        assert (wp.home, wp.away, wp.tie) == (0.0, 1.0, 0.0)
    else:
        assert (wp.home, wp.away, wp.tie) == (0.0, 0.0, 1.0)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 12), st.integers(-10, 10), rules, st.floats(0.3, 0.7))
def test_swapping_the_teams_mirrors_without_home_advantage(neutral, inning, diff, rule, prior):
    """With the home advantage zeroed, swapping the teams mirrors the WP at an inning's start.

    At the top of any inning both teams have the same innings left, so the home team's WP
    with lead d and prior p plus its WP with lead −d and prior 1 − p is exactly 1.
    """
    start = 0b010 if rule and inning > 9 else 0
    wp = neutral.table(9, rule, prior).home_wp(inning, False, 0, start, diff)
    swapped = neutral.table(9, rule, 1.0 - prior).home_wp(inning, False, 0, start, -diff)
    assert wp + swapped == pytest.approx(1.0, abs=1e-8)


def test_a_neutral_game_is_a_coin_flip(neutral):
    """Without home advantage, equal teams each win half the time."""
    assert neutral.table().start == pytest.approx(0.5, abs=1e-9)
    assert neutral.table(9, True).start == pytest.approx(0.5, abs=1e-9)
