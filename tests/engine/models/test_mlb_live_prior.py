"""The MLB model's answers for one state at a pregame prior, as a live processor asks them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pressbox.engine.events import BaseballSituation, GameInfo, GameState
from pressbox.engine.models import mlb


@pytest.fixture(scope="module")
def model() -> mlb.MlbModel:
    return mlb.load()


def _state(
    inning: int, bottom: bool, outs: int, mask: int, diff: int, innings: int, rule: bool
) -> GameState:
    bases = tuple("r" if mask >> b & 1 else None for b in range(3))
    return GameState(
        sport="mlb",
        game_id="g",
        status="live",
        info=GameInfo(home="H", away="A", date="2020-08-01", innings=innings, extra_runner=rule),
        home_score=max(diff, 0),
        away_score=max(-diff, 0),
        situation=BaseballSituation(
            inning=inning,
            half="bottom" if bottom else "top",
            outs=outs,
            bases=bases,  # type: ignore[arg-type]
        ),
    )


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 12),
    st.booleans(),
    st.integers(0, 2),
    st.integers(0, 7),
    st.integers(-12, 12),
    st.sampled_from([7, 9]),
    st.booleans(),
    st.floats(0.02, 0.98),
)
def test_one_state_at_a_prior_is_the_prior_tables_value(
    model, inning, bottom, outs, mask, diff, innings, rule, prior
):
    """win_probability(state, prior) is exactly the value of table(..., prior) there."""
    state = _state(inning, bottom, outs, mask, diff, innings, rule)
    table = model.table(innings, rule, prior)
    expected = table.home_wp(inning, bottom, outs, mask, diff)
    assert model.win_probability(state, prior).home == expected
    assert model.win_probability(state).home == model.table(innings, rule).home_wp(
        inning, bottom, outs, mask, diff
    )


@settings(max_examples=100, deadline=None)
@given(st.floats(0.1, 0.9), st.booleans())
def test_a_game_not_yet_started_is_at_its_prior(model, prior, rule):
    """Before the first pitch the WP is the prior, to the table's quantum."""
    state = GameState(
        sport="mlb",
        game_id="g",
        info=GameInfo(home="H", away="A", date="2021-04-01", extra_runner=rule),
    )
    wp = model.win_probability(state, prior).home
    assert wp == model.table(9, rule, prior).start
    assert wp == pytest.approx(prior, abs=mlb.QUANTUM)
    assert wp / mlb.QUANTUM == int(wp / mlb.QUANTUM)


def test_the_blend_cache_is_bounded(model) -> None:
    """Many priors keep at most PRIOR_BLENDS blends; an evicted one answers the same."""
    state = GameState(sport="mlb", game_id="g")
    first = model.win_probability(state, 0.5).home
    for i in range(mlb.PRIOR_BLENDS + 5):
        model.win_probability(state, 0.4 + i * 1e-5)
    assert len(model._blends) <= mlb.PRIOR_BLENDS
    assert model.win_probability(state, 0.5).home == first
