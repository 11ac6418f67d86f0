"""Odds: notation conversions, margin removal and the pregame prior."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pressbox.errors import FeedParseError
from pressbox.feeds.espn import read_pickcenter
from pressbox.feeds.odds import (
    BookLine,
    MarginMethod,
    american_to_decimal,
    decimal_to_american,
    implied_probabilities,
    overround,
    pregame_prior,
    read_odds,
    read_odds_api,
    remove_margin,
    spread_win_probability,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "feeds" / "espn-cfb"
METHODS: list[MarginMethod] = ["proportional", "shin", "power"]

decimal_odds = st.floats(min_value=1.01, max_value=50.0, allow_nan=False)
american_odds = st.one_of(
    st.floats(min_value=100.0, max_value=5000.0), st.floats(min_value=-5000.0, max_value=-100.0)
)


@pytest.mark.parametrize(
    ("american", "decimal"),
    [(240, 3.40), (-305, 1 + 100 / 305), (100, 2.0), (-100, 2.0), (-200, 1.5), (150, 2.5)],
)
def test_american_and_decimal(american, decimal):
    """American odds convert to decimal odds and back."""
    assert american_to_decimal(american) == pytest.approx(decimal)
    if american != -100:
        assert decimal_to_american(decimal) == pytest.approx(american)


@pytest.mark.parametrize("bad", [0, 50, -99.5, math.inf, math.nan])
def test_not_american_odds(bad):
    """Values between -100 and +100 (or not finite) are not American odds."""
    with pytest.raises(ValueError, match="not American odds"):
        american_to_decimal(bad)


def test_bad_decimal_odds_and_markets():
    """Decimal odds must exceed 1, a market needs two outcomes, methods are named."""
    with pytest.raises(ValueError, match="not decimal odds"):
        implied_probabilities([1.0, 2.0])
    with pytest.raises(ValueError, match="two outcomes"):
        implied_probabilities([2.0])
    with pytest.raises(ValueError, match="unknown margin method"):
        remove_margin([1.9, 1.9], "magic")  # type: ignore[arg-type]


def test_even_market_with_vig():
    """-110 on both sides is a 4.5 % margin and 50/50 by every method."""
    prices = [american_to_decimal(-110)] * 2
    assert overround(prices) == pytest.approx(0.0476, abs=1e-4)
    for method in METHODS:
        assert remove_margin(prices, method) == pytest.approx((0.5, 0.5))


def test_shin_and_power_shade_the_long_shot():
    """Shin and power take more margin off the long shot than proportional scaling does."""
    prices = [1.5, 3.0, 8.0]
    proportional = remove_margin(prices, "proportional")
    for method in ("shin", "power"):
        shaded = remove_margin(prices, method)
        assert shaded[2] < proportional[2]
        assert shaded[0] > proportional[0]


@given(st.lists(decimal_odds, min_size=2, max_size=4), st.sampled_from(METHODS))
def test_margin_free_probabilities_are_a_distribution(prices, method):
    """Margin-free probabilities are in [0, 1], sum to 1 and keep the order of the prices."""
    probabilities = remove_margin(prices, method)
    assert len(probabilities) == len(prices)
    assert all(0.0 <= p <= 1.0 for p in probabilities)
    assert math.fsum(probabilities) == pytest.approx(1.0, abs=1e-9)
    for i in range(len(prices)):
        for j in range(len(prices)):
            if prices[i] < prices[j]:
                assert probabilities[i] >= probabilities[j] - 1e-12


@given(american_odds, american_odds, st.sampled_from(METHODS))
def test_margin_is_removed(home, away, method):
    """With a margin, every outcome's probability falls below its raw implied probability."""
    prices = [american_to_decimal(home), american_to_decimal(away)]
    raw = implied_probabilities(prices)
    probabilities = remove_margin(prices, method)
    if math.fsum(raw) > 1.0 + 1e-9:
        assert all(p <= q + 1e-12 for p, q in zip(probabilities, raw, strict=True))


@given(st.floats(min_value=-40, max_value=40), st.sampled_from(["nfl", "ncaaf"]))
def test_spread_probability(spread, sport):
    """A spread gives a probability in [0, 1] that falls as the home spread grows; 0 is even."""
    p = spread_win_probability(spread, sport)
    assert 0.0 <= p <= 1.0
    assert spread_win_probability(spread + 1, sport) <= p
    assert spread_win_probability(-spread, sport) == pytest.approx(1.0 - p)
    assert spread_win_probability(0.0, sport) == pytest.approx(0.5)


def test_pregame_prior_from_espn_pickcenter():
    """Three real books on Alabama @ Tennessee make Tennessee (home) about a 26 % underdog."""
    doc = orjson.loads(
        gzip.decompress((FIXTURES / "espn_summary_sections_401403921.json.gz").read_bytes())
    )
    lines = read_pickcenter(doc)
    prior = pregame_prior(lines, "ncaaf")
    assert prior is not None
    assert prior.basis == "moneyline"
    assert prior.books == 3
    assert prior.home + prior.away + prior.tie == pytest.approx(1.0)
    assert prior.home == pytest.approx(0.2587, abs=1e-3)
    assert prior.margin == pytest.approx(0.0496, abs=1e-3)
    proportional = pregame_prior(lines, "ncaaf", method="proportional")
    assert proportional is not None
    assert proportional.home > prior.home


def test_pregame_prior_falls_back_to_the_spread():
    """Without moneylines the mean spread gives the prior; without anything there is none."""
    prior = pregame_prior([BookLine("a", spread=-3.0), BookLine("b", spread=-4.0)], "nfl")
    assert prior is not None
    assert prior.basis == "spread"
    assert prior.home == pytest.approx(spread_win_probability(-3.5, "nfl"))
    assert prior.home > 0.5
    assert pregame_prior([BookLine("a")], "nfl") is None


def test_pregame_prior_with_a_draw():
    """A three-way market gives a tie probability."""
    prior = pregame_prior([BookLine("a", home=2.1, away=3.6, draw=3.4)], "nfl")
    assert prior is not None
    assert prior.tie > 0.2
    assert prior.home + prior.away + prior.tie == pytest.approx(1.0)


def test_read_odds_document():
    """The odds document reads American and decimal books."""
    doc = {
        "gameId": "g",
        "books": [
            {"provider": "x", "home": -150, "away": 130, "spread": -3.0, "total": 44.5},
            {"format": "decimal", "home": 1.67, "away": 2.3},
        ],
    }
    lines = read_odds(doc)
    assert lines[0].home == pytest.approx(1 + 100 / 150)
    assert (lines[0].provider, lines[0].away) == ("x", 2.3)
    assert (lines[0].spread, lines[0].total) == (-3.0, 44.5)
    assert lines[1].provider == "book 2"
    assert lines[1].home == 1.67


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ({"gameId": "g"}, "missing field 'books'"),
        ({"books": [{"home": 50, "away": -110}]}, "books[0].home: 50.0 is not American odds"),
        ({"books": [{"format": "decimal", "home": 0.9, "away": 2}]}, "is not decimal odds"),
        ({"books": [{"format": "fractional", "home": 2, "away": 2}]}, "unknown odds format"),
        ({"books": [{"home": "evens", "away": 2}]}, "expected a number"),
    ],
    ids=["no-books", "american", "decimal", "format", "text"],
)
def test_bad_odds_documents(doc, reason):
    """Bad odds documents raise FeedParseError with the path."""
    with pytest.raises(FeedParseError) as info:
        read_odds(doc, source="odds.json")
    assert reason in str(info.value)


ODDS_API_EVENTS = [
    {
        "id": "e912304de2b2ce35b473ce2ecd3d1502",
        "sport_key": "americanfootball_nfl",
        "commence_time": "2023-10-11T23:10:00Z",
        "home_team": "Houston Texans",
        "away_team": "Kansas City Chiefs",
        "bookmakers": [
            {
                "key": "draftkings",
                "title": "DraftKings",
                "markets": [
                    {
                        "key": "h2h",
                        "outcomes": [
                            {"name": "Houston Texans", "price": 190},
                            {"name": "Kansas City Chiefs", "price": -230},
                        ],
                    },
                    {
                        "key": "spreads",
                        "outcomes": [
                            {"name": "Houston Texans", "price": -110, "point": 5.5},
                            {"name": "Kansas City Chiefs", "price": -110, "point": -5.5},
                        ],
                    },
                ],
            },
            {"key": "spread_only", "markets": [{"key": "spreads", "outcomes": []}]},
        ],
    }
]


def test_read_odds_api_events():
    """The Odds API v4 events give one line per bookmaker, matched to the teams by name."""
    lines = read_odds_api(ODDS_API_EVENTS)["e912304de2b2ce35b473ce2ecd3d1502"]
    draftkings = lines[0]
    assert draftkings.provider == "DraftKings"
    assert draftkings.home == pytest.approx(2.90)
    assert draftkings.away == pytest.approx(1 + 100 / 230)
    assert draftkings.spread == 5.5
    assert lines[1].home is None
    prior = pregame_prior(lines, "nfl")
    assert prior is not None
    assert prior.books == 1
    assert 0.3 < prior.home < 0.35


def test_read_odds_api_refuses_bad_events():
    """An event without teams or with a price that is not odds is refused."""
    with pytest.raises(FeedParseError, match=r"\[0\]: missing field 'home_team'"):
        read_odds_api([{"id": "x", "away_team": "A", "bookmakers": []}])
    bad = [
        {
            "id": "x",
            "home_team": "H",
            "away_team": "A",
            "bookmakers": [
                {"key": "b", "markets": [{"key": "h2h", "outcomes": [{"name": "H", "price": 1.9}]}]}
            ],
        }
    ]
    with pytest.raises(FeedParseError, match="not American odds"):
        read_odds_api(bad)
    assert read_odds_api(bad, odds_format="decimal")["x"][0].home == 1.9
