"""NFL win probability: a gradient-boosted model fitted on play-by-play, served from a grid.

The model answers from the side of the team with the ball (as published football models do)
and turns that into the home team's probability. The learner's inputs are play-level:

* the score difference ``sd`` (offense minus defense),
* seconds left in regulation ``t`` and, derived from it, seconds left in the half,
* the field position summarized as expected points ``ep`` of (down, distance, yard line),
  fitted on the same data (the points of the next score in the half),
* the timeouts difference,
* score-by-time interactions (``sd·progress``, ``sd/√t``, ``(sd+ep)/√t``).

:func:`fit` fits the expected-points table and a
:class:`~sklearn.ensemble.HistGradientBoostingClassifier` (monotone increasing in the score
terms, expected points and timeouts), recalibrates it on out-of-fold predictions (Platt),
and tabulates it on a grid over (t, sd, ep, timeouts) interpolated linearly
in t and ep. The grid (230,000 cells of 16-bit log-odds, 66 KiB compressed) is what ships;
one evaluation is a handful of list lookups, a few microseconds in pure Python, and the
result is monotone in the score because every grid row is.

Team strength is an Elo rating carried over seasons, and the home edge is estimated from the
finals so far, shrunk toward the long-run home-win rate; both come from the NFL rating book
of :mod:`pressbox.engine.models.priors` (:func:`pregame_strength`). They enter the log-odds
on Elo's own scale, shrinking with the time left (:func:`strength_term`).

Kickoffs are valued as the receiving team's first down at the mean post-kickoff yard line,
tries as the expected extra point followed by the kickoff. Overtime (15 minutes in
2014-2016; the regular season ends in a tie, the postseason goes on) is valued on the
fourth-quarter grid with the overtime clock. Fourth-down decision support
(:meth:`NflModel.fourth_down`) compares going for it (conversion probability fitted on third
and fourth downs), a field goal (make probability by distance, fitted) and a punt (net field
position, fitted).
"""

from __future__ import annotations

import io
import json
import math
import os
from array import array
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from pressbox.engine.events import (
    FootballPlay,
    FootballSituation,
    GameState,
    PlayEvent,
    WinProbability,
)
from pressbox.engine.models.priors import RatingBook, elo_points

NAME = "nfl-gbm-grid"
DATA_FILE = "nfl.npz"

SD_MAX = 28
"""Score differences beyond ±28 are read as ±28 (the grid's edge)."""
T_NODES: tuple[int, ...] = (
    # Second half, dense near its end.
    0, 10, 20, 30, 45, 60, 90, 120, 150, 180, 240, 300, 360, 450, 600, 750, 900, 1200,
    1500, 1800,
    # First half: a separate segment so that the end of the half is not blended with the
    # start of the third quarter.
    1801, 1815, 1830, 1860, 1920, 2010, 2100, 2400, 2700, 3000, 3300, 3600,
)  # fmt: skip
EP_NODES: tuple[float, ...] = (
    -2.5, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.5,
)  # fmt: skip
TO_MAX = 3
LOGIT_SCALE = 256.0
"""Grid cells hold round(log-odds × 256) as 16-bit integers."""
MAX_DISTANCE = 30
_HALF_NODE = 19
"""Index of the 1800 s node, the last of the second half."""

ELO_START = 1500.0
ELO_K = 20.0
ELO_HOME = 55.0
"""Home-field advantage in Elo points of a model file that does not record its own."""
ELO_CARRY = 2.0 / 3.0
"""Between seasons a rating keeps two thirds of its distance from the mean."""

PLAY_SECONDS = {"go": 6, "field_goal": 5, "punt": 9}
"""Clock assumed to run off on each fourth-down option."""

LEVERAGE_OUTCOMES: tuple[tuple[str, float], ...] = (
    ("gain_first_down", 0.30),
    ("no_gain", 0.45),
    ("big_play", 0.12),
    ("turnover", 0.03),
    ("loss", 0.10),
)
"""Outcomes of a generic next snap and their weights, for :meth:`NflModel.leverage`."""

Decision = Literal["go", "field_goal", "punt"]


@dataclass(frozen=True, slots=True)
class Game:
    """One game's events with what the model needs to know about its season.

    Args:
        events: The game's normalized events, ``game_start`` first.
        season: The season's year (a January playoff game belongs to the year before).
        postseason: A playoff game (overtime goes on until someone scores).
    """

    events: Sequence[PlayEvent]
    season: int
    postseason: bool = False


@dataclass(frozen=True, slots=True)
class FourthDown:
    """The value of each fourth-down option, from the offense's side.

    Args:
        go: Win probability after going for it.
        field_goal: Win probability after a field-goal attempt (``None`` beyond range).
        punt: Win probability after punting (``None`` inside the opponent's 35).
        convert: Probability of converting the fourth down.
        make: Probability of making the field goal (``None`` when not considered).
        recommendation: The option with the highest win probability.
        margin: How much higher, in win probability, than the next best option.
        offense_wp: Win probability of the offense before the decision.
    """

    go: float
    field_goal: float | None
    punt: float | None
    convert: float
    make: float | None
    recommendation: Decision
    margin: float
    offense_wp: float

    def to_dict(self) -> dict[str, object]:
        """The JSON shape of the CLI and the API."""
        return {
            "go": self.go,
            "field_goal": self.field_goal,
            "punt": self.punt,
            "convert_probability": self.convert,
            "make_probability": self.make,
            "recommendation": self.recommendation,
            "margin": self.margin,
            "offense_wp": self.offense_wp,
        }


@dataclass(frozen=True, slots=True)
class Params:
    """Everything a fitted model is: the grid, the tables and the fitted constants."""

    grid: npt.NDArray[np.int16]
    ep_table: npt.NDArray[np.float32]
    meta: dict[str, Any] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        """Serialize as a compressed ``.npz`` (no pickles)."""
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            grid=self.grid,
            ep_table=self.ep_table,
            meta=np.frombuffer(json.dumps(self.meta, sort_keys=True).encode(), dtype=np.uint8),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Params:
        """Read what :meth:`to_bytes` wrote.

        Raises:
            ValueError: The bytes are not a model file of this version.
        """
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                grid = np.asarray(npz["grid"], dtype=np.int16)
                ep_table = np.asarray(npz["ep_table"], dtype=np.float32)
                meta = json.loads(bytes(npz["meta"]).decode())
        except (OSError, KeyError, ValueError) as exc:
            raise ValueError(f"not an NFL model file: {exc}") from exc
        expected = (len(T_NODES), 2 * SD_MAX + 1, len(EP_NODES), 2 * TO_MAX + 1)
        if grid.shape != expected or ep_table.shape != (4, MAX_DISTANCE + 1, 101):
            raise ValueError(f"NFL model grid has shape {grid.shape}, expected {expected}")
        return cls(grid=grid, ep_table=ep_table, meta=meta)


# --------------------------------------------------------------------------- features


def seconds_left(quarter: int, clock_seconds: int) -> int:
    """Seconds left in regulation; in overtime, seconds left in the overtime period.

    Overtime is read on the fourth-quarter part of the grid: a tied game with the ball and
    a clock to play, which is what it is.
    """
    if quarter >= 5:
        return max(0, min(900, clock_seconds))
    return max(0, min(3600, (4 - quarter) * 900 + clock_seconds))


def _feature_matrix(
    t: npt.NDArray[np.float64],
    sd: npt.NDArray[np.float64],
    ep: npt.NDArray[np.float64],
    to_diff: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    half = np.where(t > 1800, t - 1800, t)
    progress = 1.0 - t / 3600.0
    root = np.sqrt((t + 30.0) / 3630.0)
    return np.column_stack([sd, t, half, ep, to_diff, sd * progress, sd / root, (sd + ep) / root])


FEATURES = ("sd", "t", "half", "ep", "to_diff", "sd_progress", "sd_t", "esd_t")
MONOTONE = (1, 0, 0, 1, 1, 1, 1, 1)
"""Monotone constraints of the learner: more points, field position and timeouts for the
offense never lower its win probability."""


ELO_LOGIT = math.log(10.0) / 400.0
"""Log-odds per Elo point before kickoff, Elo's own scale (a 100-point edge is 0.58)."""


def strength_term(t: float, elo: float) -> float:
    """What team strength adds to the offense's log-odds with ``t`` seconds left.

    Strength adds ``spread · f`` to the expected final margin while the uncertainty left
    shrinks like ``√f`` (``f`` the fraction of regulation left), so its weight on the
    log-odds is the pregame one times ``√f``: ``ELO_LOGIT · elo · √f``. The scale is
    Elo's own, not fitted: fitted on one season it follows that season's spread of
    ratings (narrow in a first season that starts from equal ratings) and transfers badly.
    """
    if t <= 0.0 or not elo:
        return 0.0
    return ELO_LOGIT * elo * math.sqrt(min(1.0, t / 3600.0))


# --------------------------------------------------------------------------- the model


class NflModel:
    """A fitted NFL win-probability model (see the module docstring).

    Args:
        params: The fitted grid, tables and constants.
    """

    def __init__(self, params: Params) -> None:
        self.params = params
        meta = params.meta
        self._name = str(meta.get("name", NAME))
        self._version = str(meta.get("version", "unfitted"))
        grid = params.grid
        self._grid = array("h", grid.astype(np.int16).ravel().tobytes())
        self._strides = [s // grid.itemsize for s in grid.strides]
        self._ep = [
            [[float(v) for v in row] for row in params.ep_table[d]] for d in range(4)
        ]  # ep[down-1][distance][yard line]
        self._t = [float(v) for v in T_NODES]
        self._epn = [float(v) for v in EP_NODES]
        self.xp_make = float(meta.get("xp_make", 0.96))
        self.kickoff_yard_line = round(float(meta.get("kickoff_yard_line", 22.0)))
        self.convert_coef = [float(v) for v in meta.get("convert_coef", [0.0, -0.5, 0.0, 0.0])]
        self.fg_coef = [float(v) for v in meta.get("fg_coef", [6.0, -0.1])]
        self.punt_coef = [float(v) for v in meta.get("punt_coef", [0.0, 0.0, 0.0])]
        self.convert_extra = float(meta.get("convert_extra_yards", 3.0))
        self.leverage_norm = float(meta.get("leverage_norm", 0.05))
        self.home_edge = float(meta.get("home_edge", ELO_HOME))
        """Home advantage in Elo points: the rating book's after the training games."""
        self.ratings: dict[str, float] = {
            str(k): float(v) for k, v in meta.get("elo_ratings", {}).items()
        }

    @property
    def name(self) -> str:
        """Short model name."""
        return self._name

    @property
    def version(self) -> str:
        """The seasons the model was fitted on (``"2014-2015"``)."""
        return self._version

    # ------------------------------------------------------------------ core lookup

    def expected_points(self, down: int, distance: int, yard_line: int) -> float:
        """Expected points of the next score in the half, from the offense's side."""
        d = min(4, max(1, down)) - 1
        return self._ep[d][min(MAX_DISTANCE, max(1, distance))][min(99, max(1, yard_line))]

    def _logit(self, t: float, sd: int, ep: float, home: int, elo: float, to_diff: int) -> float:
        """Log-odds of the offense winning: the grid, interpolated, plus team strength.

        ``home`` is +1 when the offense is at home, −1 when the defense is, 0 on a
        neutral field; the home advantage is :attr:`home_edge` Elo points.
        """
        tn = self._t
        i = bisect_right(tn, t) - 1
        if i >= len(tn) - 1:
            i, wt = len(tn) - 2, 1.0
        elif i < 0:
            i, wt = 0, 0.0
        elif i == _HALF_NODE:
            # Between the last second-half node (1800) and the first first-half one.
            wt = 0.0
        else:
            wt = (t - tn[i]) / (tn[i + 1] - tn[i])
        en = self._epn
        j = bisect_right(en, ep) - 1
        if j >= len(en) - 1:
            j, we = len(en) - 2, 1.0
        elif j < 0:
            j, we = 0, 0.0
        else:
            we = (ep - en[j]) / (en[j + 1] - en[j])
        s0, s1, s2, s3 = self._strides
        sdi = (sd if -SD_MAX <= sd <= SD_MAX else (SD_MAX if sd > 0 else -SD_MAX)) + SD_MAX
        toi = to_diff if -TO_MAX <= to_diff <= TO_MAX else (TO_MAX if to_diff > 0 else -TO_MAX)
        base = i * s0 + sdi * s1 + j * s2 + (toi + TO_MAX) * s3
        g = self._grid
        a = g[base]
        lo = a + we * (g[base + s2] - a)
        c = g[base + s0]
        hi = c + we * (g[base + s0 + s2] - c)
        return (lo + wt * (hi - lo)) / LOGIT_SCALE + strength_term(t, elo + self.home_edge * home)

    def offense_wp(
        self,
        t: float,
        sd: int,
        down: int,
        distance: int,
        yard_line: int,
        *,
        home: bool,
        elo: float = 0.0,
        to_diff: int = 0,
        neutral: bool = False,
    ) -> float:
        """Win probability of the team with the ball at a snap (ties count half).

        Args:
            t: Seconds left in regulation (see :func:`seconds_left`).
            sd: Offense score minus defense score.
            down: 1-4.
            distance: Yards to go.
            yard_line: Yards from the offense's own goal line, 1-99.
            home: The offense is the home team.
            elo: Offense Elo minus defense Elo.
            to_diff: Offense timeouts minus defense timeouts.
            neutral: No home advantage (a neutral field).
        """
        ep = self.expected_points(down, distance, yard_line)
        z = self._logit(t, sd, ep, 0 if neutral else 1 if home else -1, elo, to_diff)
        return 1.0 / (1.0 + math.exp(-z))

    def _after_kickoff(
        self, t: float, kicking_sd: int, *, kicking_home: bool, elo: float, to_diff: int,
        neutral: bool,
    ) -> float:  # fmt: skip
        """Win probability of the kicking team before its kickoff."""
        receiver = self.offense_wp(
            t, -kicking_sd, 1, 10, self.kickoff_yard_line, home=not kicking_home, elo=-elo,
            to_diff=-to_diff, neutral=neutral,
        )  # fmt: skip
        return 1.0 - receiver

    def _before_try(
        self, t: float, sd: int, *, home: bool, elo: float, to_diff: int, neutral: bool
    ) -> float:
        """Win probability of the scoring team before its try (then it kicks off)."""
        good = self._after_kickoff(
            t, sd + 1, kicking_home=home, elo=elo, to_diff=to_diff, neutral=neutral
        )
        missed = self._after_kickoff(
            t, sd, kicking_home=home, elo=elo, to_diff=to_diff, neutral=neutral
        )
        return self.xp_make * good + (1.0 - self.xp_make) * missed

    def home_wp(
        self,
        quarter: int,
        clock_seconds: int,
        possession: Literal["home", "away"] | None,
        down: int | None,
        distance: int | None,
        yard_line: int | None,
        home_score: int,
        away_score: int,
        *,
        home_timeouts: int | None = None,
        away_timeouts: int | None = None,
        elo_diff: float = 0.0,
        home_edge: float | None = None,
        postseason: bool = False,
        neutral: bool = False,
    ) -> float:
        """The home team's win probability (a tie counts half) for one situation.

        Args:
            quarter: 1-4, 5 and later for overtime.
            clock_seconds: Seconds left in the quarter.
            possession: Who has the ball (for a kickoff, the kicking team; for a try, the
                team that scored); ``None`` reads as the home team with the ball at its 25.
            down: 1-4; ``None`` for a kickoff or a try.
            distance: Yards to go (``None`` when ``down`` is).
            yard_line: Yards from the possessing team's goal line, 1-99; with ``down``
                ``None``, 80 or more means a try, less a kickoff.
            home_score: Home points.
            away_score: Away points.
            home_timeouts: Home timeouts left (``None``: as many as the away team).
            away_timeouts: Away timeouts left.
            elo_diff: Home Elo minus away Elo before the game (home advantage left out).
            home_edge: Home advantage in Elo points for this game (for example a rating
                book's, kept through the season); ``None``: the model's :attr:`home_edge`.
            postseason: Playoff overtime goes on; in the regular season a game tied after
                overtime is a tie.
            neutral: No home advantage (the mirror of the game gives ``1 -`` this).

        Returns:
            P(home wins) + P(tie)/2; exactly 1, 0 or 0.5 when the game is over.
        """
        diff = home_score - away_score
        is_try = down is None and yard_line is not None and yard_line >= 80
        if (
            quarter >= 4
            and clock_seconds <= 0
            and not is_try
            and (diff != 0 or (quarter >= 5 and not postseason))
        ):
            # Regulation or overtime is over: the result is known.
            return 1.0 if diff > 0 else 0.0 if diff < 0 else 0.5
        if quarter == 4 and clock_seconds <= 0 and diff == 0 and not is_try:
            # Tied at the end of regulation: overtime starts with a coin toss, so the
            # ball at the final whistle says nothing; either team may receive.
            return 0.5 * sum(
                self.home_wp(
                    5, 900, side, None, None, 35, home_score, away_score,
                    home_timeouts=home_timeouts, away_timeouts=away_timeouts,
                    elo_diff=elo_diff, home_edge=home_edge, postseason=postseason,
                    neutral=neutral,
                )
                for side in ("home", "away")
            )  # fmt: skip
        if home_edge is not None and not neutral:
            # The grid adds the model's edge; the difference is home strength like Elo.
            elo_diff += home_edge - self.home_edge
        t = float(seconds_left(quarter, clock_seconds))
        poss_home = possession != "away"
        to = 0
        if home_timeouts is not None and away_timeouts is not None:
            to = home_timeouts - away_timeouts
        sd = diff if poss_home else -diff
        elo = elo_diff if poss_home else -elo_diff
        to_off = to if poss_home else -to
        if down is None or distance is None:
            if is_try:
                p = self._before_try(
                    t, sd, home=poss_home, elo=elo, to_diff=to_off, neutral=neutral
                )
            else:
                p = self._after_kickoff(
                    t, sd, kicking_home=poss_home, elo=elo, to_diff=to_off, neutral=neutral
                )
        else:
            p = self.offense_wp(
                t, sd, down, distance, yard_line if yard_line is not None else 25,
                home=poss_home, elo=elo, to_diff=to_off, neutral=neutral,
            )  # fmt: skip
        return p if poss_home else 1.0 - p

    # ------------------------------------------------------------------ protocol

    def elo_diff(self, state: GameState, book: RatingBook | None = None) -> float:
        """Home Elo minus away Elo (0 for unknown teams).

        Args:
            state: The game (its teams).
            book: A rating book kept through the season (see
                :class:`pressbox.engine.models.priors.Priors`); ``None``: the ratings
                stored in the model file, as they were after its last training game.
        """
        if state.info is None:
            return 0.0
        if book is not None:
            return book.elo_diff(state.info.home, state.info.away)
        home = self.ratings.get(state.info.home, ELO_START)
        away = self.ratings.get(state.info.away, ELO_START)
        return home - away

    def win_probability(self, state: GameState, prior: float | None = None) -> WinProbability:
        """Home, away and tie probabilities for a game state.

        A final state gives exactly 1/0 (or a sure tie); before the first play the
        kickoff of a 0-0 game is valued.

        Args:
            state: The game.
            prior: The home team's pregame win probability, home advantage included (from
                odds or a rating book, see :class:`pressbox.engine.models.priors.Priors`);
                it replaces the model's own ratings and home edge as the strength term.
                ``None``: the ratings stored in the model file (:meth:`elo_diff`).
        """
        tag = f"{self._name}/{self._version}"
        diff = state.home_score - state.away_score
        if state.status == "final":
            if diff == 0:
                return WinProbability(home=0.0, away=0.0, tie=1.0, model=tag)
            return WinProbability(
                home=1.0 if diff > 0 else 0.0, away=0.0 if diff > 0 else 1.0, model=tag
            )
        s = state.situation
        if not isinstance(s, FootballSituation):
            s = FootballSituation(quarter=1, clock_seconds=900, possession="home", yard_line=35)
        p = self.home_wp(
            s.quarter,
            s.clock_seconds,
            s.possession,
            s.down,
            s.distance,
            s.yard_line,
            state.home_score,
            state.away_score,
            home_timeouts=s.home_timeouts,
            away_timeouts=s.away_timeouts,
            elo_diff=self.elo_diff(state) if prior is None else elo_points(prior) - self.home_edge,
        )
        return WinProbability(home=p, away=1.0 - p, model=tag)

    def leverage(self, state: GameState) -> float:
        """Leverage of the next snap: expected |ΔWP| over typical outcomes, 1.0 = average.

        The outcomes of :data:`LEVERAGE_OUTCOMES` (a first down, no gain, a 20-yard play,
        a turnover, a 5-yard loss, with fixed weights) are valued with the model; their
        weighted mean absolute change of win probability is divided by the same quantity
        averaged over the training plays. A kickoff or a try is valued like the receiving
        team's first down that follows; a final state gives 0.
        """
        s = state.situation
        if state.status == "final" or not isinstance(s, FootballSituation):
            return 0.0
        return self.situation_leverage(
            s, state.home_score, state.away_score, elo_diff=self.elo_diff(state)
        )

    def situation_leverage(
        self, s: FootballSituation, home_score: int, away_score: int, *, elo_diff: float = 0.0
    ) -> float:
        """:meth:`leverage` for a bare situation and score."""
        poss_home = s.possession != "away"
        diff = home_score - away_score
        sd = diff if poss_home else -diff
        elo = elo_diff if poss_home else -elo_diff
        t = float(seconds_left(s.quarter, s.clock_seconds))
        if s.down is None or s.distance is None or s.yard_line is None:
            # A kickoff or a try: the other team is about to have the ball (after a try,
            # with the extra point most likely scored).
            down, distance, yard = 1, 10, self.kickoff_yard_line
            if s.yard_line is not None and s.yard_line >= 80:
                sd += 1
            poss_home, sd, elo = not poss_home, -sd, -elo
        else:
            down, distance, yard = s.down, s.distance, s.yard_line
        return self._snap_leverage(t, sd, down, distance, yard, poss_home, elo)

    def _snap_leverage(
        self, t: float, sd: int, down: int, distance: int, yard: int, home: bool, elo: float
    ) -> float:
        now = self.offense_wp(t, sd, down, distance, yard, home=home, elo=elo)
        t2 = max(0.0, t - 6.0)
        total = 0.0
        for outcome, weight in LEVERAGE_OUTCOMES:
            after = self._outcome_wp(outcome, t2, sd, down, distance, yard, home, elo)
            total += weight * abs(after - now)
        return total / self.leverage_norm

    def _outcome_wp(
        self, outcome: str, t: float, sd: int, down: int, distance: int, yard: int,
        home: bool, elo: float,
    ) -> float:  # fmt: skip
        """Offense win probability after one generic outcome of a snap."""
        gain = {"gain_first_down": distance, "no_gain": 0, "big_play": 20, "loss": -5}.get(
            outcome, 0
        )
        if outcome == "turnover":
            return 1.0 - self.offense_wp(
                t, -sd, 1, 10, max(1, min(99, 100 - yard)), home=not home, elo=-elo
            )
        return self._after_gain(t, sd, down, distance, yard, gain, home, elo)

    def _after_gain(
        self, t: float, sd: int, down: int, distance: int, yard: int, gain: int, home: bool,
        elo: float,
    ) -> float:  # fmt: skip
        new_yard = yard + gain
        if new_yard >= 100:
            return self._before_try(t, sd + 6, home=home, elo=elo, to_diff=0, neutral=False)
        if new_yard <= 0:
            # A safety: two points for the defense and a free kick by the offense.
            return self._after_kickoff(
                t, sd - 2, kicking_home=home, elo=elo, to_diff=0, neutral=False
            )
        if gain >= distance:
            return self.offense_wp(t, sd, 1, min(10, 100 - new_yard), new_yard, home=home, elo=elo)
        if down >= 4:
            return 1.0 - self.offense_wp(t, -sd, 1, 10, 100 - new_yard, home=not home, elo=-elo)
        return self.offense_wp(t, sd, down + 1, distance - gain, new_yard, home=home, elo=elo)

    # ------------------------------------------------------------------ fourth down

    def convert_probability(self, distance: int, yard_line: int) -> float:
        """Probability that a fourth-down try gains the line to gain (fitted)."""
        c = self.convert_coef
        z = c[0] + c[1] * math.log(max(1, distance)) + c[2] * yard_line / 100.0 + c[3]
        return 1.0 / (1.0 + math.exp(-z))

    def make_probability(self, yard_line: int) -> float:
        """Probability of making a field goal from this yard line (kick = 117 − yard line)."""
        kick = 117 - yard_line
        c = self.fg_coef
        return 1.0 / (1.0 + math.exp(-(c[0] + c[1] * kick)))

    def punt_yard_line(self, yard_line: int) -> int:
        """The receiving team's expected yard line after a punt from ``yard_line`` (fitted)."""
        c = self.punt_coef
        y = yard_line / 100.0
        return max(1, min(99, round(100.0 * (c[0] + c[1] * y + c[2] * y * y))))

    def fourth_down(
        self,
        t: float,
        sd: int,
        distance: int,
        yard_line: int,
        *,
        home: bool,
        elo: float = 0.0,
        to_diff: int = 0,
    ) -> FourthDown:
        """Value going for it, kicking a field goal and punting on a fourth down.

        Args:
            t: Seconds left in regulation.
            sd: Offense minus defense score.
            distance: Yards to go.
            yard_line: Yards from the offense's own goal line.
            home: The offense is the home team.
            elo: Offense Elo minus defense Elo.
            to_diff: Offense minus defense timeouts.

        Returns:
            Each option's win probability for the offense, the recommendation and margin.
        """
        yard_line = max(1, min(99, yard_line))
        distance = max(1, min(distance, 100 - yard_line))
        now = self.offense_wp(t, sd, 4, distance, yard_line, home=home, elo=elo, to_diff=to_diff)
        t_go = max(0.0, t - PLAY_SECONDS["go"])
        p_conv = self.convert_probability(distance, yard_line)
        target = yard_line + distance
        if target >= 100:
            success = self._before_try(
                t_go, sd + 6, home=home, elo=elo, to_diff=to_diff, neutral=False
            )
        else:
            new_yard = min(99, target + round(self.convert_extra))
            if new_yard >= 100:
                new_yard = 99
            success = self.offense_wp(
                t_go, sd, 1, min(10, 100 - new_yard), new_yard, home=home, elo=elo,
                to_diff=to_diff,
            )  # fmt: skip
        failure = 1.0 - self.offense_wp(
            t_go, -sd, 1, 10, max(1, 100 - yard_line), home=not home, elo=-elo,
            to_diff=-to_diff,
        )  # fmt: skip
        go = p_conv * success + (1.0 - p_conv) * failure

        field_goal: float | None = None
        make: float | None = None
        if 117 - yard_line <= 65:
            t_fg = max(0.0, t - PLAY_SECONDS["field_goal"])
            make = self.make_probability(yard_line)
            made = self._after_kickoff(
                t_fg, sd + 3, kicking_home=home, elo=elo, to_diff=to_diff, neutral=False
            )
            spot = max(20, 100 - (yard_line - 7))
            missed = 1.0 - self.offense_wp(
                t_fg, -sd, 1, 10, min(99, spot), home=not home, elo=-elo, to_diff=-to_diff
            )
            field_goal = make * made + (1.0 - make) * missed

        punt: float | None = None
        if yard_line <= 65:
            t_p = max(0.0, t - PLAY_SECONDS["punt"])
            opp = self.punt_yard_line(yard_line)
            punt = 1.0 - self.offense_wp(
                t_p, -sd, 1, 10, opp, home=not home, elo=-elo, to_diff=-to_diff
            )

        options: list[tuple[float, Decision]] = [(go, "go")]
        if field_goal is not None:
            options.append((field_goal, "field_goal"))
        if punt is not None:
            options.append((punt, "punt"))
        options.sort(key=lambda o: o[0], reverse=True)
        margin = options[0][0] - options[1][0] if len(options) > 1 else 0.0
        return FourthDown(
            go=go,
            field_goal=field_goal,
            punt=punt,
            convert=p_conv,
            make=make,
            recommendation=options[0][1],
            margin=margin,
            offense_wp=now,
        )


def load(source: str | os.PathLike[str] | bytes | None = None) -> NflModel:
    """Load a fitted NFL model.

    Args:
        source: ``None`` (default) for the model shipped with pressbox (fitted on the
            2014 and 2015 seasons), the bytes of a model file, or its path.

    Returns:
        The model.

    Raises:
        ValueError: The file is not an NFL model file.
    """
    if source is None:
        data = resources.files("pressbox.engine.models").joinpath("data", DATA_FILE).read_bytes()
    elif isinstance(source, bytes):
        data = source
    else:
        data = Path(source).read_bytes()
    return NflModel(Params.from_bytes(data))


# --------------------------------------------------------------------------- Elo


def season_of(game_id: str) -> int:
    """The season of a GameCenter id ``YYYYMMDDnn`` (January and February belong to the
    season before)."""
    year, month = int(game_id[0:4]), int(game_id[4:6])
    return year - 1 if month <= 2 else year


def rating_book() -> RatingBook:
    """An empty NFL rating book: FiveThirtyEight's Elo (K = :data:`ELO_K`, the
    margin-of-victory multiplier, :data:`ELO_CARRY` kept between seasons) and a home
    advantage estimated from the finals so far, shrunk toward the long-run home-win rate
    (see :data:`pressbox.engine.models.priors.CONFIGS`)."""
    return RatingBook.for_sport("nfl", k=ELO_K, carry=ELO_CARRY, initial=ELO_START)


@dataclass(frozen=True, slots=True)
class Strength:
    """Team strength before each game and the book after the last one.

    Args:
        elo: Home minus away Elo before each game (by game id), home advantage left out.
        home_edge: The book's home advantage in Elo points before each game (by game id).
        book: The rating book after the last game.
    """

    elo: dict[str, float]
    home_edge: dict[str, float]
    book: RatingBook


def pregame_strength(
    results: Iterable[tuple[str, int, str, str, int, int]], book: RatingBook | None = None
) -> Strength:
    """Ratings and home advantage before each game, from the finals before it.

    Args:
        results: ``(game_id, season, home, away, home_points, away_points)`` in any order;
            they are recorded in game-id (date) order.
        book: The book to start from (default: :func:`rating_book`, everyone equal).
    """
    book = book if book is not None else rating_book()
    elo: dict[str, float] = {}
    edge: dict[str, float] = {}
    for game_id, season, home, away, hp, ap in sorted(results):
        book.start_season(season)
        elo[game_id] = book.elo_diff(home, away)
        edge[game_id] = book.home_advantage()
        book.record_final(home, away, hp, ap, season=season)
    return Strength(elo=elo, home_edge=edge, book=book)


def elo_ratings(
    results: Iterable[tuple[str, int, str, str, int, int]],
) -> tuple[dict[str, float], dict[str, float]]:
    """Elo ratings before each game, carried over seasons (see :func:`pregame_strength`).

    Every team starts the first season at :data:`ELO_START`; between seasons a rating is
    regressed a third of the way back to the mean (:data:`ELO_CARRY`). After each final the
    ratings move by ``K · multiplier · (result − expected)``, with the expected result
    including the book's home advantage and the margin-of-victory multiplier
    ``ln(|margin| + 1) · 2.2 / (0.001 · winner's Elo edge + 2.2)`` (FiveThirtyEight's).

    Args:
        results: ``(game_id, season, home, away, home_points, away_points)`` in any order;
            they are processed in game-id (date) order.

    Returns:
        ``(pregame, final)``: the home-minus-away Elo difference before each game (by game
        id, without the home advantage), and the ratings after the last game.
    """
    strength = pregame_strength(results)
    return strength.elo, dict(strength.book.ratings)


def game_results(games: Iterable[Game]) -> list[tuple[str, int, str, str, int, int]]:
    """``(game_id, season, home, away, home_points, away_points)`` of finished games."""
    out = []
    for game in games:
        start = game.events[0]
        end = game.events[-1]
        if start.info is None or end.kind != "game_end":
            continue
        out.append(
            (start.game_id, game.season, start.info.home, start.info.away, end.home_score,
             end.away_score)
        )  # fmt: skip
    return out


# --------------------------------------------------------------------------- rows

_SKIP_TYPES = frozenset({"timeout", "end_period", "two_minute_warning", "note"})


@dataclass(slots=True)
class Rows:
    """Per-play rows of a set of games, as plain arrays (home perspective where stated).

    ``quarter``, ``clock``, ``poss_home`` (1/0), ``down`` (0 for kickoffs and tries),
    ``distance``, ``yard_line``, ``home_score``, ``away_score``, ``home_to``, ``away_to``
    (-1 when unknown), ``elo`` (home minus away, pregame), ``postseason``, ``result``
    (home: 1 win, 0.5 tie, 0 loss), ``game`` (index of the game), ``next_points`` (points
    of the next score in the half from the offense's side, for expected points).
    """

    columns: dict[str, npt.NDArray[np.float64]]
    game_ids: list[str]

    def __getitem__(self, key: str) -> npt.NDArray[np.float64]:
        return self.columns[key]

    def __len__(self) -> int:
        return int(self.columns["quarter"].size)


def build_rows(
    games: Sequence[Game],
    pregame_elo: Mapping[str, float],
    home_edge: Mapping[str, float] | None = None,
) -> Rows:
    """Turn games into one row per play (timeouts and period ends are left out).

    Args:
        games: The games, each with its events.
        pregame_elo: Home-minus-away Elo before each game (by game id), from
            :func:`pregame_strength`; missing games get 0.
        home_edge: The home advantage in Elo points before each game (by game id);
            missing games (or ``None``) get :data:`ELO_HOME`.

    Returns:
        The rows (see :class:`Rows`).
    """
    cols: dict[str, list[float]] = {
        k: []
        for k in (
            "quarter", "clock", "poss_home", "down", "distance", "yard_line", "home_score",
            "away_score", "home_to", "away_to", "elo", "home_edge", "postseason", "result",
            "game",
            "next_points", "play", "gained", "converted",
        )
    }  # fmt: skip
    game_ids: list[str] = []
    for game in games:
        events = list(game.events)
        if not events or events[-1].kind != "game_end":
            continue
        gid = events[0].game_id
        gi = len(game_ids)
        game_ids.append(gid)
        final = events[-1]
        result = 0.5
        if final.home_score != final.away_score:
            result = 1.0 if final.home_score > final.away_score else 0.0
        plays = [
            (e, e.before, e.detail)
            for e in events
            if e.kind == "play"
            and isinstance(e.before, FootballSituation)
            and isinstance(e.detail, FootballPlay)
            and e.detail.play_type not in _SKIP_TYPES
            and e.before.possession is not None
        ]
        next_pts = _next_score_points([(e, b) for e, b, _ in plays])
        home_score = away_score = 0
        for idx, (e, b, detail) in enumerate(plays):
            # The next *play* (not the next event, which may be a timeout without a
            # possession) tells what this one achieved.
            after = plays[idx + 1][1] if idx + 1 < len(plays) else b
            cols["quarter"].append(b.quarter)
            cols["clock"].append(b.clock_seconds)
            cols["poss_home"].append(1.0 if b.possession == "home" else 0.0)
            cols["down"].append(b.down or 0)
            cols["distance"].append(b.distance or 0)
            cols["yard_line"].append(b.yard_line if b.yard_line is not None else 25)
            cols["home_score"].append(home_score)
            cols["away_score"].append(away_score)
            cols["home_to"].append(-1 if b.home_timeouts is None else b.home_timeouts)
            cols["away_to"].append(-1 if b.away_timeouts is None else b.away_timeouts)
            cols["elo"].append(pregame_elo.get(gid, 0.0))
            cols["home_edge"].append((home_edge or {}).get(gid, ELO_HOME))
            cols["postseason"].append(1.0 if game.postseason else 0.0)
            cols["result"].append(result)
            cols["game"].append(gi)
            cols["next_points"].append(next_pts[idx])
            cols["play"].append(_PLAY_CODES.get(detail.play_type, 0))
            same = after.possession == b.possession and _half(after.quarter) == _half(b.quarter)
            known = after.yard_line is not None and b.yard_line is not None
            cols["gained"].append(
                float((after.yard_line or 0) - (b.yard_line or 0))
                if same and known and idx + 1 < len(plays)
                else float("nan")
            )
            offense_scored = (
                e.home_score > home_score if b.possession == "home" else e.away_score > away_score
            )
            cols["converted"].append(
                1.0
                if offense_scored or (same and after.down == 1 and idx + 1 < len(plays))
                else 0.0
            )
            home_score, away_score = e.home_score, e.away_score
    return Rows({k: np.asarray(v, dtype=np.float64) for k, v in cols.items()}, game_ids)


_PLAY_CODES = {
    "run": 1, "pass": 2, "punt": 3, "field_goal": 4, "kickoff": 5, "extra_point": 6,
    "two_point": 7, "kneel": 8, "spike": 9, "penalty": 10,
}  # fmt: skip


def _next_score_points(plays: Sequence[tuple[PlayEvent, FootballSituation]]) -> list[float]:
    """For each play, the points of the next score in the same half, offense's side."""
    out = [0.0] * len(plays)
    pending: list[int] = []
    home_score = away_score = 0
    for idx, (e, b) in enumerate(plays):
        if pending and _half(b.quarter) != _half(plays[pending[0]][1].quarter):
            pending.clear()
        pending.append(idx)
        dh, da = e.home_score - home_score, e.away_score - away_score
        home_score, away_score = e.home_score, e.away_score
        if dh or da:
            # A touchdown's try is a later play; count the touchdown as 7.
            pts_home = 7.0 if dh == 6 else float(dh)
            pts_away = 7.0 if da == 6 else float(da)
            for p in pending:
                home_side = plays[p][1].possession == "home"
                out[p] = pts_home - pts_away if home_side else pts_away - pts_home
            pending.clear()
    return out


def _half(quarter: int) -> int:
    return 1 if quarter <= 2 else 2 if quarter <= 4 else 3


# --------------------------------------------------------------------------- fitting


def fit(
    games: Sequence[Game],
    *,
    elo_games: Sequence[Game] | None = None,
    max_iter: int = 100,
    seed: int = 0,
    folds: int = 2,
) -> Params:
    """Fit the NFL model on play-by-play.

    The learner sees play-level inputs only. Team strength enters as a fixed term on
    Elo's own scale (:func:`strength_term`); the learner's log-odds ``z`` are then
    recalibrated as ``c + a·z`` (Platt, with the strength term as an offset) on
    out-of-fold predictions (two folds of games). No isotonic map follows: fitted on the
    out-of-fold predictions of one season's games it is a noisy step function, and grouped
    cross-validation inside each season scored it worse (Brier 0.1569 against 0.1560 on
    2014, 0.1588 against 0.1563 on 2015). A
    game-level input given to the trees directly lets them memorize the games of a season
    (every play of a game shares its Elo and its result), which out of sample is
    overconfident.

    Args:
        games: The training games.
        elo_games: Games whose results feed the Elo ratings (default: ``games``); pass
            every game known, in or out of training, to carry strength across seasons.
            Ratings before a game only use results before it.
        max_iter: Boosting iterations of the learner (default 100).
        seed: Random seed of the learner.
        folds: Folds of games for the out-of-fold predictions the calibration is fitted
            on (default 2).

    Returns:
        The fitted parameters (write them with :meth:`Params.to_bytes`).

    Raises:
        ValueError: There are no plays to fit on.
    """
    strength = pregame_strength(game_results(elo_games if elo_games else games))
    rows = build_rows(games, strength.elo, strength.home_edge)
    if len(rows) == 0:
        raise ValueError("no plays to fit on")
    seasons = sorted({g.season for g in games})
    ep_table = fit_expected_points(rows, seed=seed)
    meta: dict[str, Any] = {
        "name": NAME,
        "version": f"{seasons[0]}-{seasons[-1]}" if len(seasons) > 1 else str(seasons[0]),
        "seasons": seasons,
        "n_games": len(rows.game_ids),
        "n_plays": len(rows),
    }
    meta.update(_stable(_fit_special_teams(rows)))
    m = training_matrix(rows, ep_table, kickoff_yard_line=meta["kickoff_yard_line"])

    # Out-of-fold log-odds (``folds`` folds of games) for the calibration.
    oof = np.zeros(m.y.size)
    fold = m.game % folds
    for k in range(folds):
        learner = _learner(max_iter, seed)
        learner.fit(m.x[fold != k], m.y[fold != k], sample_weight=m.w[fold != k])
        oof[fold == k] = _log_odds(learner.predict_proba(m.x[fold == k])[:, 1])
    offset = np.array(
        [strength_term(float(t), float(e)) for t, e in zip(m.x[:, 1], m.elo, strict=True)]
    )
    c, a = _stable(_fit_platt(oof[m.single], offset[m.single], m.y_single))
    meta["recalibration"] = [c, a]

    learner = _learner(max_iter, seed)
    learner.fit(m.x, m.y, sample_weight=m.w)
    grid = _tabulate(learner, intercept=c, slope=a)
    book = strength.book
    meta["elo_ratings"] = {k: round(v, 2) for k, v in sorted(book.ratings.items())}
    meta["home_edge"] = round(book.home_advantage(), 3)
    meta["elo"] = {
        "k": book.config.k,
        "carry": book.config.carry,
        "home_rate_prior": book.config.home_rate,
        "home_prior_games": book.config.home_games,
        "home_carry": book.config.home_carry,
        "elo_seasons": sorted({g.season for g in (elo_games if elo_games else games)}),
    }
    meta["leverage_norm"] = _stable(
        _leverage_norm(NflModel(Params(grid, ep_table, dict(meta))), rows)
    )
    return Params(grid=grid, ep_table=ep_table, meta=meta)


def _stable(value: Any) -> Any:
    """``value`` with every float rounded to 12 significant digits (in lists, tuples and
    dicts too), so that the model file is the same bytes on every machine: the last bits of
    a fitted coefficient depend on the CPU's and the libraries' order of operations (seen:
    a Platt intercept of ...722658 on one machine, ...722671 on another)."""
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, (list, tuple)):
        return [_stable(v) for v in value]
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items()}
    return value


def _fit_platt(
    z: npt.NDArray[np.float64], offset: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
) -> tuple[float, float]:
    """``c`` and ``a`` of ``P = σ(c + a·z + offset)`` by maximum likelihood (Newton)."""
    x = np.column_stack([np.ones_like(z), z])
    beta = np.array([0.0, 1.0])
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(x @ beta + offset)))
        w = p * (1.0 - p)
        step = np.linalg.solve((x * w[:, None]).T @ x + 1e-6 * np.eye(2), x.T @ (y - p))
        beta = beta + step
        if float(np.max(np.abs(step))) < 1e-10:
            break
    return float(beta[0]), float(beta[1])


def _learner(max_iter: int, seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    # Small trees and large leaves: all plays of a game share its result, and a flexible
    # learner memorizes the games of a season (out of sample it is overconfident).
    return HistGradientBoostingClassifier(
        max_iter=max_iter,
        learning_rate=0.05,
        max_leaf_nodes=7,
        min_samples_leaf=3000,
        l2_regularization=1.0,
        monotonic_cst=list(MONOTONE),
        early_stopping=False,
        random_state=seed,
    )


def _log_odds(p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-5, 1 - 1e-5)
    out: npt.NDArray[np.float64] = np.log(q / (1.0 - q))
    return out


@dataclass(frozen=True, slots=True)
class TrainingMatrix:
    """Learner inputs from the offense's side (see :func:`training_matrix`)."""

    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]
    w: npt.NDArray[np.float64]
    elo: npt.NDArray[np.float64]
    """Offense minus defense Elo, one per row of ``x``."""
    game: npt.NDArray[np.int64]
    single: npt.NDArray[np.bool_]
    """Rows that are not the second copy of a tied game's play."""
    y_single: npt.NDArray[np.float64]
    """Results of the ``single`` rows, 0.5 for a tie."""


def training_matrix(
    rows: Rows, ep_table: npt.NDArray[np.float32], *, kickoff_yard_line: float
) -> TrainingMatrix:
    """Learner inputs, 0/1 labels and weights, from the offense's side.

    Kickoffs become the receiving team's first down at the mean post-kickoff yard line;
    tries are left out (the model values them from the kickoff that follows). A tied game
    enters twice, once won and once lost, at half weight.
    """
    down = rows["down"].astype(np.int64)
    play = rows["play"].astype(np.int64)
    is_try = (down == 0) & (rows["yard_line"] >= 80)
    keep = ~is_try & (play != _PLAY_CODES["extra_point"]) & (play != _PLAY_CODES["two_point"])
    kick = (down == 0) & ~is_try
    poss_home = rows["poss_home"].copy()
    poss_home[kick] = 1.0 - poss_home[kick]
    sign = np.where(poss_home > 0, 1.0, -1.0)
    sd = sign * (rows["home_score"] - rows["away_score"])
    t = np.array(
        [seconds_left(int(q), int(c)) for q, c in zip(rows["quarter"], rows["clock"], strict=True)],
        dtype=np.float64,
    )
    d = np.where(kick, 1, np.clip(down, 1, 4))
    dist = np.where(kick, 10, np.clip(rows["distance"], 1, MAX_DISTANCE)).astype(np.int64)
    yl = np.where(kick, round(kickoff_yard_line), np.clip(rows["yard_line"], 1, 99)).astype(
        np.int64
    )
    ep = ep_table[d - 1, dist, yl].astype(np.float64)
    to_known = (rows["home_to"] >= 0) & (rows["away_to"] >= 0)
    to_diff = np.where(to_known, sign * (rows["home_to"] - rows["away_to"]), 0.0)
    x = _feature_matrix(t, sd, ep, np.clip(to_diff, -TO_MAX, TO_MAX))
    result = np.where(poss_home > 0, rows["result"], 1.0 - rows["result"])
    # Team strength from the offense's side, home advantage included (see strength_term).
    elo = sign * (rows["elo"] + rows["home_edge"])
    game = rows["game"].astype(np.int64)
    x, result, elo, game = x[keep], result[keep], elo[keep], game[keep]
    tie = result == 0.5
    n_tie = int(tie.sum())
    order = np.concatenate([np.flatnonzero(~tie), np.flatnonzero(tie), np.flatnonzero(tie)])
    y = np.concatenate([result[~tie], np.ones(n_tie), np.zeros(n_tie)])
    w = np.concatenate([np.ones(int((~tie).sum())), np.full(2 * n_tie, 0.5)])
    single = np.concatenate([np.ones(int((~tie).sum()) + n_tie, bool), np.zeros(n_tie, bool)])
    y_single = np.where(np.arange(y.size) < (~tie).sum(), y, 0.5)[single]
    return TrainingMatrix(
        x=x[order], y=y, w=w, elo=elo[order], game=game[order], single=single, y_single=y_single
    )


def fit_expected_points(rows: Rows, *, seed: int = 0) -> npt.NDArray[np.float32]:
    """Expected points of the next score in the half for (down, distance, yard line).

    A gradient-boosted regression on snaps from scrimmage (monotone increasing in the yard
    line, decreasing in distance and down), tabulated for downs 1-4, distances 0-30 and yard
    lines 0-100.
    """
    from sklearn.ensemble import HistGradientBoostingRegressor

    snap = rows["down"] > 0
    x = np.column_stack(
        [
            rows["down"][snap],
            np.clip(rows["distance"][snap], 1, MAX_DISTANCE),
            rows["yard_line"][snap],
        ]
    )
    reg = HistGradientBoostingRegressor(
        max_iter=200,
        learning_rate=0.05,
        max_leaf_nodes=15,
        min_samples_leaf=100,
        monotonic_cst=[-1, -1, 1],
        random_state=seed,
    )
    reg.fit(x, rows["next_points"][snap])
    dd, dist, yl = np.meshgrid(
        np.arange(1, 5), np.arange(0, MAX_DISTANCE + 1), np.arange(0, 101), indexing="ij"
    )
    grid = np.asarray(
        reg.predict(np.column_stack([dd.ravel(), np.maximum(dist.ravel(), 1), yl.ravel()])),
        dtype=np.float32,
    )
    return grid.reshape(4, MAX_DISTANCE + 1, 101)


def _logistic_fit(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> list[float]:
    from pressbox.engine.models.base import fit_logistic

    return [float(v) for v in fit_logistic(x, y, ridge=1e-3)]


def _fit_special_teams(rows: Rows) -> dict[str, Any]:
    """Tries, kickoffs, conversions, field goals and punts, fitted on the rows."""
    play = rows["play"].astype(np.int64)
    down = rows["down"].astype(np.int64)
    nxt_same = ~np.isnan(rows["gained"])
    out: dict[str, Any] = {}

    # Extra points: share of kicked tries that scored (the next score is the try itself).
    xp = play == _PLAY_CODES["extra_point"]
    xp_good = rows["converted"][xp]
    out["xp_make"] = float(np.clip(xp_good.mean(), 0.5, 1.0)) if xp.any() else 0.96

    # Kickoffs: where the receiving team starts (rows after a kickoff, first down).
    kick_idx = np.flatnonzero(play == _PLAY_CODES["kickoff"])
    starts = [
        rows["yard_line"][i + 1]
        for i in kick_idx
        if i + 1 < len(rows)
        and rows["game"][i + 1] == rows["game"][i]
        and rows["down"][i + 1] == 1
        and rows["poss_home"][i + 1] != rows["poss_home"][i]
    ]
    out["kickoff_yard_line"] = float(np.mean(starts)) if starts else 22.0

    # Conversions on third and fourth down runs and passes.
    att = ((down == 3) | (down == 4)) & ((play == 1) | (play == 2))
    conv_x = np.column_stack(
        [
            np.ones(int(att.sum())),
            np.log(np.clip(rows["distance"][att], 1, None)),
            rows["yard_line"][att] / 100.0,
            (down[att] == 4).astype(np.float64),
        ]
    )
    coef = _logistic_fit(conv_x, rows["converted"][att])
    # Store with the fourth-down indicator folded in (c[3] adds to the intercept).
    out["convert_coef"] = [coef[0], coef[1], coef[2], coef[3]]
    succeeded = att & (rows["converted"] > 0) & nxt_same
    extra = rows["gained"][succeeded] - rows["distance"][succeeded]
    out["convert_extra_yards"] = float(np.clip(np.median(extra), 0, 10)) if extra.size else 3.0

    # Field goals: make probability by kick distance (117 − yard line).
    fg = play == _PLAY_CODES["field_goal"]
    kick = 117.0 - rows["yard_line"][fg]
    made = rows["converted"][fg]
    out["fg_coef"] = _logistic_fit(np.column_stack([np.ones(kick.size), kick]), made)

    # Punts: the receiving team's yard line after the punt.
    punt_idx = np.flatnonzero(play == _PLAY_CODES["punt"])
    ys, opp = [], []
    for i in punt_idx:
        if (
            i + 1 < len(rows)
            and rows["game"][i + 1] == rows["game"][i]
            and rows["down"][i + 1] == 1
            and rows["poss_home"][i + 1] != rows["poss_home"][i]
        ):
            ys.append(rows["yard_line"][i] / 100.0)
            opp.append(rows["yard_line"][i + 1] / 100.0)
    if len(ys) >= 3:
        c2, c1, c0 = np.polyfit(np.asarray(ys), np.asarray(opp), 2)
        out["punt_coef"] = [float(c0), float(c1), float(c2)]
    else:
        out["punt_coef"] = [0.6, -0.6, 0.0]
    return out


def _tabulate(learner: Any, *, intercept: float, slope: float) -> npt.NDArray[np.int16]:
    """The recalibrated log-odds ``c + a·z`` on every grid cell, as 16-bit integers."""
    t, sd, ep, to = np.meshgrid(
        np.asarray(T_NODES, dtype=np.float64),
        np.arange(-SD_MAX, SD_MAX + 1, dtype=np.float64),
        np.asarray(EP_NODES, dtype=np.float64),
        np.arange(-TO_MAX, TO_MAX + 1, dtype=np.float64),
        indexing="ij",
    )
    shape = t.shape
    x = _feature_matrix(t.ravel(), sd.ravel(), ep.ravel(), to.ravel())
    z = intercept + slope * _log_odds(learner.predict_proba(x)[:, 1])
    grid = np.round(np.clip(z, -100.0, 100.0) * LOGIT_SCALE).astype(np.int16).reshape(shape)
    # Tree ensembles are monotone by construction; the running maximum along the score
    # axis only removes rounding ties (and keeps it so if the slope were ever negative).
    out: npt.NDArray[np.int16] = np.maximum.accumulate(grid, axis=1)
    return out


def _leverage_norm(model: NflModel, rows: Rows) -> float:
    """Mean raw leverage over the training snaps (so that 1.0 is average)."""
    model.leverage_norm = 1.0
    snap = np.flatnonzero(rows["down"] > 0)
    if snap.size == 0:
        return 0.05
    take = snap[:: max(1, snap.size // 5000)]
    values = []
    for i in take:
        poss_home = rows["poss_home"][i] > 0
        diff = int(rows["home_score"][i] - rows["away_score"][i])
        t = float(seconds_left(int(rows["quarter"][i]), int(rows["clock"][i])))
        values.append(
            model._snap_leverage(
                t,
                diff if poss_home else -diff,
                int(rows["down"][i]),
                max(1, int(rows["distance"][i])),
                int(np.clip(rows["yard_line"][i], 1, 99)),
                poss_home,
                0.0,
            )
        )
    return float(np.mean(values)) if values else 0.05


# --------------------------------------------------------------------------- scoring


def cross_validate(
    games: Sequence[Game],
    *,
    elo_games: Sequence[Game] | None = None,
    folds: int = 3,
    seed: int = 1,
    max_iter: int = 100,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Grouped cross-validation of the whole fit inside a set of games.

    The games, in game-id order, are dealt into ``folds`` folds at random (seeded); each
    fold is scored by :func:`fit` run on the other folds, its own out-of-fold calibration
    included. Every play of a game shares the game's result, so the folds are whole games.
    This is how the model's choices are made without looking at a held-out season.

    Args:
        games: The games (one training season, say).
        elo_games: Games whose results feed the Elo ratings (default: ``games``).
        folds: Number of folds of games (at least 2).
        seed: Seed of the deal.
        max_iter: Boosting iterations of each fit.

    Returns:
        The home win probability before every play of every game, and the results
        (1, 0.5, 0), fold after fold.

    Raises:
        ValueError: Fewer than two folds, or fewer games than folds.
    """
    if folds < 2 or len(games) < folds:
        raise ValueError(f"cannot deal {len(games)} games into {folds} folds")
    strength = pregame_strength(game_results(elo_games if elo_games else games))
    ordered = sorted(games, key=lambda g: g.events[0].game_id)
    fold = np.random.default_rng(seed).permutation(len(ordered)) % folds
    predicted, actual = [], []
    for k in range(folds):
        train = [g for g, f in zip(ordered, fold, strict=True) if f != k]
        test = [g for g, f in zip(ordered, fold, strict=True) if f == k]
        model = NflModel(fit(train, elo_games=elo_games, max_iter=max_iter))
        rows = build_rows(test, strength.elo, strength.home_edge)
        predicted.append(predict_rows(model, rows))
        actual.append(rows["result"])
    return np.concatenate(predicted), np.concatenate(actual)


def predict_rows(model: NflModel, rows: Rows, *, elo: bool = True) -> npt.NDArray[np.float64]:
    """The model's home win probability for every row (the state before each play)."""
    out = np.empty(len(rows), dtype=np.float64)
    c = rows.columns
    for i in range(len(rows)):
        down = int(c["down"][i])
        hto, ato = int(c["home_to"][i]), int(c["away_to"][i])
        out[i] = model.home_wp(
            int(c["quarter"][i]),
            int(c["clock"][i]),
            "home" if c["poss_home"][i] > 0 else "away",
            down or None,
            int(c["distance"][i]) if down else None,
            int(c["yard_line"][i]),
            int(c["home_score"][i]),
            int(c["away_score"][i]),
            home_timeouts=hto if hto >= 0 else None,
            away_timeouts=ato if ato >= 0 else None,
            elo_diff=float(c["elo"][i]) if elo else 0.0,
            home_edge=float(c["home_edge"][i]),
            postseason=bool(c["postseason"][i]),
        )
    return out


def published_features(rows: Rows) -> npt.NDArray[np.float64]:
    """Inputs of the published broadcast formula, home perspective.

    ``logit = b0 + b1·sd + b2·sd·progress + b3·poss + b4·poss·field``, where ``sd`` is the
    home lead, ``progress`` the fraction of regulation played, ``poss`` +1 when the home
    team has the ball and −1 when the visitors do, and ``field`` the offense's yard line
    scaled to [−1, 1]. The hand-set version uses ``b1 = 0.12`` and ``b2 = 0.15``; here
    every coefficient is refit by maximum likelihood.
    """
    t = np.array(
        [seconds_left(int(q), int(c)) for q, c in zip(rows["quarter"], rows["clock"], strict=True)],
        dtype=np.float64,
    )
    progress = 1.0 - t / 3600.0
    sd = rows["home_score"] - rows["away_score"]
    poss = np.where(rows["poss_home"] > 0, 1.0, -1.0)
    field_pos = (rows["yard_line"] - 50.0) / 50.0
    return np.column_stack([np.ones_like(sd), sd, sd * progress, poss, poss * field_pos])
