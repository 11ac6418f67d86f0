"""Bookmakers' odds as a pregame win probability (the prior a live model starts from).

A bookmaker's prices imply probabilities that add up to more than 1: the excess is the
bookmaker's margin (the overround). :func:`remove_margin` takes it out in one of three ways:

- ``"proportional"``: scale every implied probability by the same factor.
- ``"shin"``: Shin's (1993) model, where the margin protects the bookmaker from insiders; it
  takes more off long shots than off favourites (the favourite–long-shot bias).
- ``"power"``: raise every implied probability to the power ``k`` that makes them sum to 1
  (also shades long shots).

:func:`pregame_prior` averages the margin-free probabilities of several bookmakers, falling
back to the point spread (a normal margin of victory around it, Stern 1991) when no
bookmaker has moneylines. :func:`read_odds` reads the odds document the simulated upstream
serves::

    {"gameId": "401403921", "sport": "ncaaf",
     "books": [{"provider": "consensus", "format": "american",
                "home": 259, "away": -330, "draw": null, "spread": 9.0, "total": 68.0}]}

``format`` is ``"american"`` (default) or ``"decimal"``; ``spread`` is the home team's line
(negative when the home team is favoured). :func:`read_odds_api` reads the events of The Odds
API v4 (``/v4/sports/{sport}/odds``: ``bookmakers[].markets[]`` ``h2h`` and ``spreads``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from pressbox.errors import FeedParseError
from pressbox.feeds.parse import Reader, join
from pressbox.types import JSON, Sport

__all__ = [
    "SPREAD_SIGMA",
    "BookLine",
    "MarginMethod",
    "PregamePrior",
    "american_to_decimal",
    "decimal_to_american",
    "implied_probabilities",
    "overround",
    "pregame_prior",
    "read_odds",
    "read_odds_api",
    "remove_margin",
    "spread_win_probability",
]

MarginMethod: TypeAlias = Literal["proportional", "shin", "power"]

SPREAD_SIGMA: Final[dict[Sport, float]] = {"nfl": 13.86, "ncaaf": 16.0, "mlb": 4.0}
"""Standard deviation of the final margin around the spread, points (runs for MLB).

13.86 is Stern's (1991) estimate for the NFL; college margins spread wider. MLB lines are
moneylines, so its value only serves the rare run-line-only book."""

_BISECTION_STEPS: Final = 100
_MIN_AMERICAN: Final = 100.0


@dataclass(frozen=True, slots=True)
class BookLine:
    """One bookmaker's pregame prices for a game.

    Attributes:
        provider: The bookmaker's name.
        home: Price on the home team winning, as decimal odds (> 1), ``None`` if not offered.
        away: Price on the away team winning, decimal odds.
        draw: Price on a tie, decimal odds, for markets that have one.
        spread: The home team's point spread (negative when the home team is favoured).
        total: The over/under line.
    """

    provider: str
    home: float | None = None
    away: float | None = None
    draw: float | None = None
    spread: float | None = None
    total: float | None = None


@dataclass(frozen=True, slots=True)
class PregamePrior:
    """The pregame win probability that the odds imply.

    Attributes:
        home: Probability that the home team wins, in [0, 1].
        away: Probability that the away team wins.
        tie: Probability of a tie (0 unless a book prices the draw).
        basis: ``"moneyline"`` or ``"spread"``: what the probability was computed from.
        method: The margin-removal method (``"spread"`` for the spread basis).
        books: How many bookmakers were averaged.
        margin: The mean overround of those books (0.045 = 4.5 %); 0 for the spread basis.
    """

    home: float
    away: float
    tie: float
    basis: Literal["moneyline", "spread"]
    method: str
    books: int
    margin: float


def american_to_decimal(american: float) -> float:
    """Decimal odds (stake included) of American odds: +240 → 3.40, -305 → 1.328.

    Raises:
        ValueError: The odds are not American odds (between -100 and +100, or not finite).
    """
    if not math.isfinite(american) or abs(american) < _MIN_AMERICAN:
        raise ValueError(f"{american} is not American odds (<= -100 or >= +100)")
    if american > 0:
        return 1.0 + american / 100.0
    return 1.0 + 100.0 / -american


def decimal_to_american(decimal: float) -> float:
    """American odds of decimal odds: 3.40 → +240, 1.5 → -200.

    Raises:
        ValueError: ``decimal`` is not greater than 1.
    """
    _check_decimal(decimal)
    if decimal >= 2.0:
        return (decimal - 1.0) * 100.0
    return -100.0 / (decimal - 1.0)


def implied_probabilities(decimals: Sequence[float]) -> tuple[float, ...]:
    """The raw probabilities ``1 / odds`` of decimal odds, margin included.

    Raises:
        ValueError: Fewer than two outcomes, or odds not greater than 1.
    """
    if len(decimals) < 2:
        raise ValueError("a market needs at least two outcomes")
    for decimal in decimals:
        _check_decimal(decimal)
    return tuple(1.0 / decimal for decimal in decimals)


def overround(decimals: Sequence[float]) -> float:
    """The bookmaker's margin: the implied probabilities' sum minus 1 (0.045 = 4.5 %)."""
    return math.fsum(implied_probabilities(decimals)) - 1.0


def remove_margin(decimals: Sequence[float], method: MarginMethod = "shin") -> tuple[float, ...]:
    """Margin-free probabilities of a market's decimal odds, in the same order.

    Args:
        decimals: Decimal odds of every outcome of the market (home, away[, draw]).
        method: ``"proportional"``, ``"shin"`` (default) or ``"power"``. A market priced
            below 1 (no margin or an arbitrage) is scaled proportionally by every method.

    Returns:
        Probabilities in [0, 1] that sum to 1.

    Raises:
        ValueError: Bad odds or an unknown method.
    """
    raw = implied_probabilities(decimals)
    total = math.fsum(raw)
    if method not in ("proportional", "shin", "power"):
        raise ValueError(f"unknown margin method {method!r}")
    if method == "proportional" or total <= 1.0:
        result = [p / total for p in raw]
    elif method == "power":
        result = _power(raw)
    else:
        result = _shin(raw, total)
    scale = math.fsum(result)
    return tuple(min(1.0, max(0.0, p / scale)) for p in result)


def _power(raw: Sequence[float]) -> list[float]:
    # sum(p ** k) falls as k grows (every p < 1); with a margin it is > 1 at k = 1.
    low, high = 1.0, 2.0
    while math.fsum(p**high for p in raw) > 1.0:
        high *= 2.0
    for _ in range(_BISECTION_STEPS):
        middle = (low + high) / 2.0
        if math.fsum(p**middle for p in raw) > 1.0:
            low = middle
        else:
            high = middle
    k = (low + high) / 2.0
    return [p**k for p in raw]


def _shin(raw: Sequence[float], total: float) -> list[float]:
    """Shin's probabilities: ``z`` is the share of insider money that solves sum(p) = 1."""

    def probabilities(z: float) -> list[float]:
        return [
            (math.sqrt(z * z + 4.0 * (1.0 - z) * q * q / total) - z) / (2.0 * (1.0 - z))
            for q in raw
        ]

    # The sum is above 1 at z = 0 (it is sqrt(total)) and falls as z grows.
    low, high = 0.0, 0.999
    for _ in range(_BISECTION_STEPS):
        middle = (low + high) / 2.0
        if math.fsum(probabilities(middle)) > 1.0:
            low = middle
        else:
            high = middle
    return probabilities((low + high) / 2.0)


def spread_win_probability(spread: float, sport: Sport) -> float:
    """Probability that the home team wins given its point spread.

    The home team's final margin is taken as normal around ``-spread`` with the sport's
    :data:`SPREAD_SIGMA`.

    Args:
        spread: The home team's spread (negative when favoured: -3.5 gives about 0.6).
        sport: Selects the standard deviation.
    """
    if not math.isfinite(spread):
        raise ValueError(f"spread {spread} is not a number")
    sigma = SPREAD_SIGMA[sport]
    return 0.5 * math.erfc(spread / (sigma * math.sqrt(2.0)))


def pregame_prior(
    lines: Sequence[BookLine], sport: Sport, *, method: MarginMethod = "shin"
) -> PregamePrior | None:
    """The consensus pregame win probability of several bookmakers.

    Books that price both teams are de-margined with ``method`` and averaged; without any,
    the mean spread is turned into a probability with :func:`spread_win_probability`.

    Returns:
        The prior, or ``None`` when no book has a usable price or spread.
    """
    markets: list[tuple[float, float, float]] = []
    margins: list[float] = []
    for line in lines:
        if line.home is None or line.away is None:
            continue
        prices = [line.home, line.away] + ([line.draw] if line.draw is not None else [])
        probabilities = remove_margin(prices, method)
        tie = probabilities[2] if len(probabilities) > 2 else 0.0
        markets.append((probabilities[0], probabilities[1], tie))
        margins.append(overround(prices))
    if markets:
        count = len(markets)
        home = math.fsum(m[0] for m in markets) / count
        away = math.fsum(m[1] for m in markets) / count
        tie = math.fsum(m[2] for m in markets) / count
        scale = home + away + tie
        return PregamePrior(
            home=home / scale,
            away=away / scale,
            tie=tie / scale,
            basis="moneyline",
            method=method,
            books=count,
            margin=math.fsum(margins) / count,
        )
    spreads = [line.spread for line in lines if line.spread is not None]
    if not spreads:
        return None
    home = spread_win_probability(math.fsum(spreads) / len(spreads), sport)
    return PregamePrior(
        home=home,
        away=1.0 - home,
        tie=0.0,
        basis="spread",
        method="spread",
        books=len(spreads),
        margin=0.0,
    )


def read_odds(doc: JSON, *, source: str = "odds") -> list[BookLine]:
    """The bookmakers' lines of an odds document (the shape is in the module docstring).

    Raises:
        FeedParseError: The document misses ``books``, or a price is not odds.
    """
    r = Reader(source)
    root = r.obj(doc, "")
    lines: list[BookLine] = []
    for number, book in enumerate(r.get_list(root, "books", "")):
        path = join("books", number)
        notation = r.opt_str(book, "format", path) or "american"
        if notation not in ("american", "decimal"):
            raise r.error(join(path, "format"), f"unknown odds format {notation!r}")
        prices: dict[str, float | None] = {}
        for key in ("home", "away", "draw"):
            value = r.opt_float(book, key, path)
            try:
                prices[key] = (
                    None
                    if value is None
                    else american_to_decimal(value)
                    if notation == "american"
                    else _check_decimal(value)
                )
            except ValueError as exc:
                raise FeedParseError(source, f"{join(path, key)}: {exc}") from exc
        lines.append(
            BookLine(
                provider=r.opt_str(book, "provider", path) or f"book {number + 1}",
                home=prices["home"],
                away=prices["away"],
                draw=prices["draw"],
                spread=r.opt_float(book, "spread", path),
                total=r.opt_float(book, "total", path),
            )
        )
    return lines


def read_odds_api(
    doc: JSON, *, source: str = "odds-api", odds_format: Literal["american", "decimal"] = "american"
) -> dict[str, list[BookLine]]:
    """The bookmakers' lines of The Odds API v4 events, by event id.

    Outcomes are matched to the teams by name (``home_team``/``away_team``; ``"Draw"`` for a
    tie); the ``spreads`` market gives the home team's ``point``.

    Args:
        doc: The decoded response: an array of events.
        source: Its name in errors.
        odds_format: The ``oddsFormat`` the request asked for.

    Raises:
        FeedParseError: An event misses its id or teams, or a price is not odds.
    """
    r = Reader(source)
    out: dict[str, list[BookLine]] = {}
    for number, event in enumerate(r.array(doc, "")):
        path = join("", number)
        event_id = r.get_str(event, "id", path)
        home_team = r.get_str(event, "home_team", path)
        away_team = r.get_str(event, "away_team", path)
        lines: list[BookLine] = []
        for book_number, book in enumerate(r.get_list(event, "bookmakers", path)):
            book_path = join(join(path, "bookmakers"), book_number)
            prices: dict[str, float] = {}
            spread: float | None = None
            for market_number, market in enumerate(r.get_list(book, "markets", book_path)):
                market_path = join(join(book_path, "markets"), market_number)
                key = r.get_str(market, "key", market_path)
                for index, outcome in enumerate(r.get_list(market, "outcomes", market_path)):
                    outcome_path = join(join(market_path, "outcomes"), index)
                    name = r.get_str(outcome, "name", outcome_path)
                    side = (
                        "home"
                        if name == home_team
                        else "away"
                        if name == away_team
                        else "draw"
                        if name.lower() == "draw"
                        else None
                    )
                    if key == "h2h" and side is not None:
                        price = r.opt_float(outcome, "price", outcome_path)
                        if price is None:
                            raise r.error(outcome_path, "missing field 'price'")
                        try:
                            prices[side] = (
                                american_to_decimal(price)
                                if odds_format == "american"
                                else _check_decimal(price)
                            )
                        except ValueError as exc:
                            raise r.error(join(outcome_path, "price"), str(exc)) from exc
                    elif key == "spreads" and side == "home":
                        spread = r.opt_float(outcome, "point", outcome_path)
            lines.append(
                BookLine(
                    provider=r.opt_str(book, "title", book_path)
                    or r.opt_str(book, "key", book_path)
                    or f"book {book_number + 1}",
                    home=prices.get("home"),
                    away=prices.get("away"),
                    draw=prices.get("draw"),
                    spread=spread,
                )
            )
        out[event_id] = lines
    return out


def _check_decimal(decimal: float) -> float:
    if not math.isfinite(decimal) or decimal <= 1.0:
        raise ValueError(f"{decimal} is not decimal odds (> 1)")
    return decimal
