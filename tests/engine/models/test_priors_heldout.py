"""The in-season rating book on real MLB seasons, out of sample (shared data, slow).

Run with ``-s`` to print the figures published in docs/model.md.
"""

from __future__ import annotations

import gc

import pytest

from pressbox.engine.models import mlb
from pressbox.engine.models.priors import Final, RatingBook, score_pregame
from pressbox.feeds.retrosheet import iter_games
from tests.conftest import shared_data

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def records() -> dict[int, list[mlb.GameRecord]]:
    folder = shared_data("retrosheet")
    gc.disable()  # two seasons of events make the collector rescan them over and over
    try:
        out = {}
        for year in (2015, 2016):
            games = (mlb.game_record(g.events) for g in iter_games([folder / str(year)]))
            out[year] = [r for r in games if r is not None and r.result != 0.5]
        return out
    finally:
        gc.enable()


def finals(records: list[mlb.GameRecord]) -> list[Final]:
    return [
        Final(
            r.info.home,
            r.info.away,
            r.home_score,
            r.away_score,
            season=r.season,
            order=f"{r.info.date}/{r.info.game_number}/{r.game_id}",
        )
        for r in records
    ]


@pytest.mark.parametrize(("train", "test"), [(2015, 2016), (2016, 2015)])
def test_the_book_beats_a_constant_home_edge_through_a_held_out_season(
    records, train, test
) -> None:
    """Each game predicted from earlier finals only: lower Brier and log loss than the
    training seasons' home-win rate as a constant prior."""
    rate = sum(r.result for r in records[train]) / len(records[train])
    k = mlb.fit_elo_k(records[train], mlb.elo_home_advantage(rate))
    book = RatingBook.for_sport("mlb", k=k)
    book.seed(finals(records[train]))  # the training season teaches the home rate only
    score = score_pregame(finals(records[test]), book, constant=rate)
    print(
        f"\nMLB pregame, train {train} -> test {test}: {score.n_games} games, k={k:g}; "
        f"book Brier {score.book_brier:.4f} log loss {score.book_log_loss:.4f}; "
        f"constant {rate:.3f} Brier {score.constant_brier:.4f} "
        f"log loss {score.constant_log_loss:.4f}"
    )
    assert score.n_games > 2400
    assert score.book_brier < score.constant_brier
    assert score.book_log_loss < score.constant_log_loss
