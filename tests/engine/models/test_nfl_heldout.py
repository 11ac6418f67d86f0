"""The NFL model on full seasons: the shipped file regenerates, and a later season it
never saw is scored better than both baselines (shared data, slow)."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest

from pressbox.cli.nfl_model import read_games
from pressbox.engine.models import nfl
from pressbox.engine.models.base import fit_logistic, logistic, score_predictions
from tests.conftest import shared_data

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def seasons() -> dict[int, list[nfl.Game]]:
    folder = shared_data("nfl-gamecenter")
    out = {}
    for year in (2014, 2015):
        games, problems = read_games([folder / str(year)])
        assert not problems
        out[year] = games
    return out


def test_fitting_both_seasons_regenerates_the_shipped_file(seasons) -> None:
    """``fit`` on 2014 and 2015 gives, byte for byte, the shipped ``data/nfl.npz``."""
    games = seasons[2014] + seasons[2015]
    blob = nfl.fit(games, elo_games=games).to_bytes()
    shipped = resources.files("pressbox.engine.models").joinpath("data", "nfl.npz")
    assert blob == shipped.read_bytes()


def test_a_later_season_beats_both_baselines(seasons) -> None:
    """Trained on 2014 only, scored on every play of 2015: better Brier than the refit
    published formula and the constant; strength and home edge from earlier finals only."""
    train, test = seasons[2014], seasons[2015]
    every = train + test
    model = nfl.NflModel(nfl.fit(train, elo_games=every))
    strength = nfl.pregame_strength(nfl.game_results(every))
    train_rows = nfl.build_rows(train, strength.elo, strength.home_edge)
    rows = nfl.build_rows(test, strength.elo, strength.home_edge)
    y = rows["result"]
    scores = score_predictions(nfl.predict_rows(model, rows), y)
    coef = fit_logistic(nfl.published_features(train_rows), train_rows["result"])
    published = score_predictions(logistic(nfl.published_features(rows) @ coef), y)
    constant = score_predictions(np.full_like(y, float(np.mean(train_rows["result"]))), y)
    assert scores.brier < published.brier
    assert scores.brier < constant.brier
    assert scores.brier < 0.157
    # Strength before the first 2015 game is the book after the 2014 finals, regressed.
    book = nfl.pregame_strength(nfl.game_results(train)).book
    book.start_season(2015)
    first = min(rows.game_ids)
    assert strength.home_edge[first] == pytest.approx(book.home_advantage())
    start = test[[g.events[0].game_id for g in test].index(first)].events[0]
    assert start.info is not None
    assert strength.elo[first] == pytest.approx(book.elo_diff(start.info.home, start.info.away))
