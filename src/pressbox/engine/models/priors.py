"""Pregame priors kept through a season: from the market when given, else from ratings.

A win-probability model starts a game at a pregame prior, the home team's chance before the
first pitch or kickoff. This module gives that prior for any matchup:

* **from odds** (:func:`prior_from_odds`): American (``-150``, ``+130``) or decimal
  (``1.67``) moneylines of both teams, turned into implied probabilities with the
  bookmaker's margin removed (scaled to sum to 1). The arithmetic is the MLB model's
  (:func:`pressbox.engine.models.mlb.prior_from_odds`), reused here, not copied;
* **from ratings** (:class:`RatingBook`): an Elo book per sport, updated after each final,
  with a home advantage that is itself estimated from the finals seen so far, shrunk toward
  the sport's long-run home-win rate (:class:`EloConfig`). The home edge of one season is a
  noisy number (a 256-game NFL season has a standard error of 3 points on it), so a book
  that trusted only its own seasons would chase noise; one that never learned would stay
  wrong when the league changes.

:class:`Priors` holds one book per sport and is what a live processor keeps:
``prior_for(sport, home, away, odds=None)`` before a game, ``record_final(...)`` after it.
Everything here is pure: no I/O, no clock.

The consumers: the MLB model takes the probability (``MlbModel.win_probability(state,
prior=p)``); the NFL model takes either the same probability
(``NflModel.win_probability(state, prior=p)``) or the book's Elo difference and home edge
(``NflModel.home_wp(..., elo_diff=..., home_edge=...)``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from pressbox.engine.models.mlb import implied_probability, prior_from_odds
from pressbox.types import Sport

__all__ = [
    "CONFIGS",
    "EloConfig",
    "Final",
    "Prior",
    "Priors",
    "RatingBook",
    "elo_points",
    "implied_probability",
    "odds_probabilities",
    "prior_from_odds",
    "score_pregame",
    "season_of",
]


def season_of(sport: Sport, date: str) -> int:
    """The season a game played on ``date`` (``YYYY-MM-DD`` or ``YYYYMMDD``) belongs to.

    Football seasons run into January and February (the playoffs), which belong to the
    season that started the year before; baseball seasons are calendar years.

    Raises:
        ValueError: The date does not start with a year and a month.
    """
    digits = date.replace("-", "").replace("/", "")
    if len(digits) < 6 or not digits[:6].isdigit():
        raise ValueError(f"not a date: {date!r}")
    year, month = int(digits[:4]), int(digits[4:6])
    if sport != "mlb" and month <= 2:
        return year - 1
    return year


def elo_points(probability: float) -> float:
    """Elo points that give ``probability`` to the stronger side (400 · log10 odds).

    The probability is held within [0.001, 0.999] so that an extreme input cannot ask for
    an infinite edge.
    """
    p = min(max(probability, 0.001), 0.999)
    return 400.0 * math.log10(p / (1.0 - p))


def odds_probabilities(home_odds: float, away_odds: float) -> tuple[float, float]:
    """Both teams' probabilities from their moneylines, the margin removed (sum is 1).

    Args:
        home_odds: The home team's price, American (``-150``) or decimal (``1.67``).
        away_odds: The visitors' price.

    Raises:
        ValueError: A price is neither American nor decimal odds.
    """
    home = prior_from_odds(home_odds, away_odds)
    return home, 1.0 - home


@dataclass(frozen=True, slots=True)
class EloConfig:
    """How a sport's rating book moves.

    Args:
        k: Rating points at stake per game.
        home_rate: The sport's long-run home-win rate between equal teams; the home
            advantage is shrunk toward it.
        home_games: Weight of ``home_rate``, in games: the estimate after ``n`` finals
            with ``w`` home wins is ``(home_rate·home_games + w) / (home_games + n)``.
        home_carry: Share of the finals' weight on the home-win rate kept from one season to
            the next (older seasons count less).
        carry: Share of a rating's distance from the mean kept between seasons (0: everyone
            starts each season equal).
        margin_of_victory: Scale updates by FiveThirtyEight's margin-of-victory multiplier
            ``ln(|margin| + 1) · 2.2 / (0.001 · winner's edge + 2.2)`` (football).
        initial: Rating of a team not seen yet.
    """

    k: float
    home_rate: float
    home_games: float
    home_carry: float = 0.5
    carry: float = 0.0
    margin_of_victory: bool = False
    initial: float = 1500.0

    def __post_init__(self) -> None:
        if not 0.0 < self.home_rate < 1.0:
            raise ValueError(f"home_rate {self.home_rate} must be inside (0, 1)")
        if self.k < 0 or self.home_games <= 0:
            raise ValueError("k must be >= 0 and home_games > 0")
        if not (0.0 <= self.carry <= 1.0 and 0.0 <= self.home_carry <= 1.0):
            raise ValueError("carry and home_carry must be within [0, 1]")


CONFIGS: Mapping[Sport, EloConfig] = {
    # MLB: ratings restart each season; k = 4 (fitted on 2015-2016 by the pregame log loss,
    # see mlb.fit_elo_k); long-run home-win rate 0.54 with a season's weight (2,430 games).
    "mlb": EloConfig(k=4.0, home_rate=0.54, home_games=2430.0),
    # NFL: FiveThirtyEight's k = 20, margin-of-victory multiplier and two-thirds carry-over;
    # long-run home-win rate 0.57 (regular seasons 1970s-2010s) with a season's weight.
    "nfl": EloConfig(
        k=20.0, home_rate=0.57, home_games=256.0, carry=2.0 / 3.0, margin_of_victory=True
    ),
    # College football: no data here to fit on; NFL-like movement, a larger home edge.
    "ncaaf": EloConfig(
        k=20.0, home_rate=0.60, home_games=400.0, carry=2.0 / 3.0, margin_of_victory=True
    ),
}
"""Default book settings per sport."""


@dataclass(frozen=True, slots=True)
class Final:
    """One finished game, as a book records it.

    Args:
        home: Home team code.
        away: Visiting team code.
        home_score: Final home score.
        away_score: Final away score.
        season: The season it belongs to (a new season regresses the ratings).
        neutral: Played on a neutral field (no home advantage; not counted in the home rate).
        order: Sort key within the season (a date or game id); :meth:`RatingBook.seed`
            records finals in ``(season, order)`` order.
        game_id: The game's id, if known: :class:`Priors` records a game once.
    """

    home: str
    away: str
    home_score: int
    away_score: int
    season: int | None = None
    neutral: bool = False
    order: str = ""
    game_id: str = ""


@dataclass(frozen=True, slots=True)
class Prior:
    """A pregame prior for one matchup.

    Args:
        home: The home team's pregame win probability, in (0, 1).
        source: ``"odds"`` (the market, margin removed) or ``"ratings"`` (the book).
        elo_diff: Home minus away rating in the book, home advantage left out.
        home_advantage: The book's home advantage in Elo points (0 on a neutral field).
    """

    home: float
    source: Literal["odds", "ratings"]
    elo_diff: float
    home_advantage: float

    @property
    def away(self) -> float:
        """The visitors' pregame win probability (``1 − home``; ties are not priced)."""
        return 1.0 - self.home


@dataclass(slots=True)
class RatingBook:
    """Elo ratings and a home advantage kept from the finals of a sport so far.

    Args:
        config: How the book moves (see :class:`EloConfig`, :data:`CONFIGS`).
        ratings: Current ratings by team code (teams not in it start at ``initial``).
        season: The season of the last final recorded.
        home_wins: Weighted home wins counted so far (ties count half).
        home_count: Weighted finals counted so far (neutral-site games left out).
    """

    config: EloConfig
    ratings: dict[str, float] = field(default_factory=dict)
    season: int | None = None
    home_wins: float = 0.0
    home_count: float = 0.0

    @classmethod
    def for_sport(cls, sport: Sport, **changes: float | bool) -> RatingBook:
        """An empty book with the sport's defaults, some of them changed (``k=5``).

        Raises:
            ValueError: Unknown sport or a bad setting.
        """
        if sport not in CONFIGS:
            raise ValueError(f"no rating book settings for sport {sport!r}")
        base = CONFIGS[sport]
        values = {
            "k": base.k,
            "home_rate": base.home_rate,
            "home_games": base.home_games,
            "home_carry": base.home_carry,
            "carry": base.carry,
            "margin_of_victory": base.margin_of_victory,
            "initial": base.initial,
        }
        unknown = set(changes) - set(values)
        if unknown:
            raise ValueError(f"unknown rating book settings: {', '.join(sorted(unknown))}")
        values.update(changes)
        return cls(
            EloConfig(
                k=float(values["k"]),
                home_rate=float(values["home_rate"]),
                home_games=float(values["home_games"]),
                home_carry=float(values["home_carry"]),
                carry=float(values["carry"]),
                margin_of_victory=bool(values["margin_of_victory"]),
                initial=float(values["initial"]),
            )
        )

    def rating(self, team: str) -> float:
        """A team's current rating (``initial`` if it has not played)."""
        return self.ratings.get(team, self.config.initial)

    def home_win_rate(self) -> float:
        """The home-win rate between equal teams: the long-run rate shrunk toward the
        finals seen so far."""
        c = self.config
        return (c.home_rate * c.home_games + self.home_wins) / (c.home_games + self.home_count)

    def home_advantage(self) -> float:
        """The home advantage in Elo points (from :meth:`home_win_rate`)."""
        return elo_points(self.home_win_rate())

    def elo_diff(self, home: str, away: str) -> float:
        """Home minus away rating, home advantage left out."""
        return self.rating(home) - self.rating(away)

    def probability(self, home: str, away: str, *, neutral: bool = False) -> float:
        """The home team's pregame win probability from the ratings."""
        edge = self.elo_diff(home, away) + (0.0 if neutral else self.home_advantage())
        return 1.0 / (1.0 + math.pow(10.0, -edge / 400.0))

    def start_season(self, season: int) -> None:
        """Begin ``season``: ratings keep ``carry`` of their distance from the mean, the
        home-rate counts keep ``home_carry`` of their weight. Nothing happens for the
        season already running."""
        if self.season == season:
            return
        if self.season is not None:
            c = self.config
            self.ratings = {
                team: c.initial + c.carry * (r - c.initial) for team, r in self.ratings.items()
            }
            self.home_wins *= c.home_carry
            self.home_count *= c.home_carry
        self.season = season

    def record_final(
        self,
        home: str,
        away: str,
        home_score: int,
        away_score: int,
        *,
        season: int | None = None,
        neutral: bool = False,
    ) -> float:
        """Move both ratings and the home rate after a final.

        The home team gains exactly what the visitors lose.

        Args:
            home: Home team code.
            away: Visiting team code.
            home_score: Final home score.
            away_score: Final away score.
            season: The game's season; a new one first calls :meth:`start_season`.
            neutral: A neutral-site game (no home advantage, not counted in the home rate).

        Returns:
            The rating points the home team gained (negative when it lost them).

        Raises:
            ValueError: Negative scores or a team playing itself.
        """
        if home_score < 0 or away_score < 0:
            raise ValueError(f"scores cannot be negative: {home_score}-{away_score}")
        if home == away:
            raise ValueError(f"a team cannot play itself: {home}")
        if season is not None:
            self.start_season(season)
        rh, ra = self.rating(home), self.rating(away)
        edge = rh - ra + (0.0 if neutral else self.home_advantage())
        expected = 1.0 / (1.0 + math.pow(10.0, -edge / 400.0))
        result = 1.0 if home_score > away_score else 0.0 if home_score < away_score else 0.5
        multiplier = 1.0
        margin = abs(home_score - away_score)
        if self.config.margin_of_victory and margin:
            winner_edge = edge if home_score > away_score else -edge
            multiplier = math.log(margin + 1.0) * 2.2 / (0.001 * winner_edge + 2.2)
        shift = self.config.k * multiplier * (result - expected)
        self.ratings[home] = rh + shift
        self.ratings[away] = ra - shift
        if not neutral:
            self.home_wins += result
            self.home_count += 1.0
        return shift

    def seed(self, finals: Iterable[Final]) -> int:
        """Record many finals in ``(season, order)`` order (an archive at start-up).

        Returns:
            How many finals were recorded.
        """
        ordered = sorted(finals, key=lambda f: (f.season if f.season is not None else 0, f.order))
        for f in ordered:
            self.record_final(
                f.home, f.away, f.home_score, f.away_score, season=f.season, neutral=f.neutral
            )
        return len(ordered)


class Priors:
    """One :class:`RatingBook` per sport, and the pregame prior of any matchup.

    Args:
        books: Books to start from, by sport; a sport without one gets
            ``RatingBook.for_sport(sport)`` when first used.
    """

    def __init__(self, books: Mapping[Sport, RatingBook] | None = None) -> None:
        self._books: dict[Sport, RatingBook] = dict(books or {})
        self._recorded: set[tuple[Sport, str]] = set()

    def book(self, sport: Sport) -> RatingBook:
        """The sport's book (created empty with the sport's defaults on first use).

        Raises:
            ValueError: Unknown sport.
        """
        if sport not in self._books:
            self._books[sport] = RatingBook.for_sport(sport)
        return self._books[sport]

    def prior_for(
        self,
        sport: Sport,
        home: str,
        away: str,
        odds: tuple[float, float] | float | None = None,
        *,
        neutral: bool = False,
        season: int | None = None,
    ) -> Prior:
        """The home team's pregame win probability.

        Args:
            sport: ``"mlb"``, ``"nfl"`` or ``"ncaaf"``.
            home: Home team code.
            away: Visiting team code.
            odds: The market, when known: both moneylines ``(home, away)`` (American or
                decimal; the margin is removed), or a probability already free of margin
                (for example ``pressbox.feeds.odds.pregame_prior(...).home``). ``None``:
                the book's ratings.
            neutral: A neutral field (the book's home advantage is not applied).
            season: The game's season: one newer than the book's last final begins first
                (:meth:`RatingBook.start_season`), so the first game of a season is priced
                from the ratings carried over, not from last season's.

        Raises:
            ValueError: Unknown sport, bad prices, or a probability outside (0, 1).
        """
        book = self.book(sport)
        if season is not None and (book.season is None or season > book.season):
            book.start_season(season)
        home_advantage = 0.0 if neutral else book.home_advantage()
        diff = book.elo_diff(home, away)
        if odds is None:
            return Prior(
                home=book.probability(home, away, neutral=neutral),
                source="ratings",
                elo_diff=diff,
                home_advantage=home_advantage,
            )
        if isinstance(odds, tuple):
            p = prior_from_odds(odds[0], odds[1])
        else:
            p = float(odds)
            if not 0.0 < p < 1.0:
                raise ValueError(f"a prior probability must be inside (0, 1), not {odds}")
        return Prior(home=p, source="odds", elo_diff=diff, home_advantage=home_advantage)

    def record_final(
        self,
        sport: Sport,
        home: str,
        away: str,
        home_score: int,
        away_score: int,
        *,
        season: int | None = None,
        neutral: bool = False,
        game_id: str = "",
    ) -> float:
        """Update the sport's book after a final (see :meth:`RatingBook.record_final`).

        Args:
            season: The game's season; a final of a season before the book's is history
                the book has moved past (a replay of old games): it changes nothing and
                returns 0.
            game_id: The game's id: a game already recorded (a processor that resumed a
                finished game, a final the book was seeded with) changes nothing and
                returns 0. ``""``: not checked.
        """
        if game_id and (sport, game_id) in self._recorded:
            return 0.0
        last = self.book(sport).season
        if season is not None and last is not None and season < last:
            return 0.0
        shift = self.book(sport).record_final(
            home, away, home_score, away_score, season=season, neutral=neutral
        )
        if game_id:
            self._recorded.add((sport, game_id))
        return shift

    def seed(self, sport: Sport, finals: Iterable[Final]) -> int:
        """Record a sport's past finals in order (see :meth:`RatingBook.seed`), each game
        once (see :meth:`record_final`).

        Returns:
            How many finals were recorded.
        """
        fresh = [f for f in finals if not f.game_id or (sport, f.game_id) not in self._recorded]
        self._recorded.update((sport, f.game_id) for f in fresh if f.game_id)
        return self.book(sport).seed(fresh)


@dataclass(frozen=True, slots=True)
class PregameScore:
    """Pregame scores of a book against a constant home-edge prior over the same games.

    Args:
        n_games: Games scored.
        book_brier: Brier score of the book's prior.
        book_log_loss: Log loss of the book's prior.
        constant_brier: Brier score of the constant prior.
        constant_log_loss: Log loss of the constant prior.
        constant: The constant home probability used.
    """

    n_games: int
    book_brier: float
    book_log_loss: float
    constant_brier: float
    constant_log_loss: float
    constant: float


def score_pregame(
    finals: Iterable[Final], book: RatingBook, *, constant: float, skip: int = 0
) -> PregameScore:
    """Score a book's pregame prior through a season, out of sample.

    Each game is predicted from the finals before it, then recorded. Ties are scored as
    0.5. The constant prior is ``constant`` for every game (for example the home-win rate
    of the training seasons).

    Args:
        finals: The games, recorded in ``(season, order)`` order.
        book: The book to score (it is updated as the games go).
        constant: The home probability of the constant prior.
        skip: Leave the first ``skip`` games out of the scores (they still update the book).

    Raises:
        ValueError: No game to score.
    """
    ordered = sorted(finals, key=lambda f: (f.season if f.season is not None else 0, f.order))
    sums = [0.0, 0.0, 0.0, 0.0]
    n = 0
    for i, f in enumerate(ordered):
        p = book.probability(f.home, f.away, neutral=f.neutral)
        book.record_final(
            f.home, f.away, f.home_score, f.away_score, season=f.season, neutral=f.neutral
        )
        if i < skip:
            continue
        y = 1.0 if f.home_score > f.away_score else 0.0 if f.home_score < f.away_score else 0.5
        for j, q in ((0, p), (2, constant)):
            q = min(max(q, 1e-6), 1.0 - 1e-6)
            sums[j] += (q - y) ** 2
            sums[j + 1] -= y * math.log(q) + (1.0 - y) * math.log(1.0 - q)
        n += 1
    if n == 0:
        raise ValueError("no game to score")
    return PregameScore(
        n_games=n,
        book_brier=sums[0] / n,
        book_log_loss=sums[1] / n,
        constant_brier=sums[2] / n,
        constant_log_loss=sums[3] / n,
        constant=constant,
    )
