"""The done-criterion on full seasons: fit on one, score the other (shared data, slow)."""

from __future__ import annotations

import gc
from importlib import resources

import numpy as np
import pytest

from pressbox.engine.models import mlb
from pressbox.engine.models.base import score_predictions
from pressbox.feeds.retrosheet import iter_games
from tests.conftest import shared_data

pytestmark = pytest.mark.slow


def shipped(name: str) -> bytes:
    return resources.files("pressbox.engine.models").joinpath("data", name).read_bytes()


@pytest.fixture(scope="module")
def seasons() -> dict[int, list]:
    folder = shared_data("retrosheet")
    # Holding two seasons of events makes the collector rescan them over and over.
    gc.disable()
    try:
        return {year: [g.events for g in iter_games([folder / str(year)])] for year in (2015, 2016)}
    finally:
        gc.enable()


def test_fitting_a_season_regenerates_the_shipped_file(seasons):
    """``fit`` on 2015 gives, byte for byte, the shipped ``data/mlb-2015.json``."""
    params = mlb.fit(seasons[2015])
    assert mlb.dumps(params) == shipped("mlb-2015.json")


@pytest.mark.parametrize(("train", "test"), [(2015, 2016), (2016, 2015)])
def test_the_model_beats_its_baselines_on_a_held_out_season(seasons, train, test):
    """Held out: Brier below both baselines and the empirical table, ECE at most 0.02."""
    model = mlb.loads(shipped(f"mlb-{train}.json"))
    assert model.params["seasons"] == [train]
    records = [r for r in map(mlb.game_record, seasons[test]) if r is not None]
    ev = mlb.evaluate(records, model)
    assert ev.wp_strength is not None
    with_strength = score_predictions(ev.wp_strength, ev.actual)
    plain = score_predictions(ev.wp, ev.actual)
    constant = score_predictions(
        np.full(len(ev.actual), model.params["baselines"]["constant"]["home_win_rate"]),
        ev.actual,
    )
    logistic = score_predictions(
        mlb.published_logistic(model.params, ev.rows, ev.innings), ev.actual
    )
    folder = shared_data("win-expectancy-gregstoll", "statsyears")
    table = mlb.EmpiricalTable(
        f.read_text() for f in sorted(folder.glob("stats.*")) if f.suffix != f".{test}"
    )
    empirical = score_predictions(
        [table.home_wp(i, bool(b), o, m, d) for i, b, o, m, d in ev.rows.tolist()], ev.actual
    )
    for scores in (with_strength, plain):
        assert scores.brier < logistic.brier < constant.brier
        assert scores.ece <= 0.02
    assert with_strength.brier < empirical.brier
    assert plain.brier == pytest.approx(empirical.brier, abs=0.001)
