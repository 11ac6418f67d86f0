"""MLB win probability: a base-out Markov model of run scoring, solved exactly into a table.

How the model works (docs/model.md has the long form):

1. **Fit** (:func:`fit`). Every plate appearance of the training games is one transition
   of the 24 base-out states (3 outs × 8 base occupancies): from the state when the plate
   appearance began to the state when it ended, with the runs scored on the way (stolen
   bases, wild pitches and other plays during the plate appearance are folded in; a third
   out ends the transition). Counts are kept per half (top or bottom, which carries the home
   advantage), per inning group (1st, 2nd–6th, 7th–8th, 9th, extra innings) and per score
   context (the batting team tied, behind by 1-3, ahead by 1-3, or a margin of 4+: bullpens
   are used by the score), and each cell is shrunk toward its inning group, each group
   toward its half.
2. **Run distributions.** The distribution of the runs still to score in the half-inning
   from every base-out state follows by solving the Markov chain exactly
   (:func:`run_distribution`).
3. **Win probability.** The home team's win probability for every (inning, half, outs,
   bases, score difference) comes from an exact backward recursion over the chain and the
   remaining half-innings (within a half-inning, runs move the score one way only, so
   sweeping the score difference against that way solves each state once), with the
   game-ending rules: the bottom of the last scheduled inning is not played when the home
   team leads, a walk-off ends the game, ties go to extra innings (solved as a fixed
   point, since extra innings repeat), and from 2020 an extra inning starts with a runner
   on second. The result is a table, so an answer is one lookup.
4. **Team strength.** A pregame prior (from odds, or from :class:`EloRatings`) is matched
   by tilting the run scoring of each plate appearance, the home team's by ``e^{θ·runs}``
   and the visitors' by ``e^{−θ·runs}``; tables for a grid of θ are built on demand and
   blended, so the game starts exactly at the prior and the prior fades as the remaining
   innings run out.
5. **WPA and leverage.** :func:`score_game` gives each event its WP before and after and
   its WPA. Table values are multiples of 2⁻³², so WPA values are exact differences and
   the WPA of a game sums, in floating point, to exactly the final result minus the
   starting WP. The leverage index is the expected absolute WP change of the coming plate
   appearance divided by its average over all plate appearances of the training seasons.

Nothing here reads files except :func:`load`, which reads the parameters shipped with the
package (or a file it is pointed at).
"""

from __future__ import annotations

import json
import math
import os
import re
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from pressbox.engine.events import (
    BaseballPlay,
    BaseballSituation,
    GameInfo,
    GameState,
    PlayEvent,
    WinProbability,
)
from pressbox.engine.models.base import fit_logistic, logistic

FORMAT = "pressbox.mlb-wp"
"""The ``format`` field of a parameter file."""

FORMAT_VERSION = 1
"""The ``format_version`` this module reads and writes."""

NAME = "mlb-markov"

GROUPS = ("1", "2-6", "7-8", "9", "10+")
"""Inning groups with their own transitions, named for a 9-inning game; a shorter game
maps its innings onto them by distance from its last scheduled inning."""

CONTEXTS = ("tied", "behind", "ahead", "margin")
"""Score contexts from the batting team's view: tied, behind by 1-3, ahead by 1-3, and a
margin of 4 or more either way. Bullpen use follows the score (a closer protects a lead of
1-3, not a tie on the road), so run scoring does too."""

_EXTRA = 4
"""Index of the extra-inning group in :data:`GROUPS`."""

HALVES = ("top", "bottom")
END = 24
"""Index of the absorbing state: the third out."""
STATES = 24
MAX_DIFF = 30
"""Score differences beyond ±30 are looked up as ±30 (the answer is 0 or 1 by then)."""
MAX_PA_RUNS = 6
"""Runs scored during one plate appearance are counted up to 6 (4 is the most a hit gives)."""
MAX_RUNS = 20
"""Runs still to score in a half-inning are counted up to 20; the rare tail is lumped there."""
QUANTUM = 2.0**-32
"""Every table value is a multiple of this, which keeps sums of WPA exact."""
THETA_STEP = 0.02
THETA_LEVELS = 30
"""The strength grid is θ = k·0.02 for k in −30..30."""
PRIOR_TABLES = 16
"""How many tables built for a pregame prior are kept (about 1.2 MB each), least recently
used first out: enough for the games of a busy night."""
PRIOR_BLENDS = 1024
"""How many pregame priors :meth:`MlbModel.win_probability` keeps the blend of (two
levels and a weight, a few hundred bytes), the oldest first out: a season's live games,
many times over."""
DEFAULT_SHRINK = 100.0
"""Pseudo plate appearances pulling an inning group's transitions toward its half's."""

_N_DIFF = 2 * MAX_DIFF + 1
_BASES_CODE = re.compile(r"[01]{3}")
_STAT_LINE = re.compile(
    r"^\((\d+), ([01]), (\d), \(([01]), ([01]), ([01])\), (-?\d+)\): \((\d+), (\d+)\)$"
)

Transition = tuple[int, int, int, float]
"""``(from_state, to_state, runs, weight)``: a base-out transition and its count or
probability; ``to_state`` is :data:`END` for the third out."""


# --------------------------------------------------------------------------- states


def bases_mask(code: str) -> int:
    """The bit mask of a ``"101"``-style bases code (bit 0 = first, 1 = second, 2 = third).

    Raises:
        ValueError: ``code`` is not three 0/1 characters.
    """
    if not _BASES_CODE.fullmatch(code):
        raise ValueError(f"bases must be three 0/1 flags for first, second, third: {code!r}")
    return sum(1 << i for i, c in enumerate(code) if c == "1")


def situation_mask(situation: BaseballSituation) -> int:
    """The bases bit mask of a situation."""
    first, second, third = situation.bases
    return (first is not None) | (second is not None) << 1 | (third is not None) << 2


def inning_group(inning: int, innings: int = 9) -> int:
    """Index in :data:`GROUPS` of an inning in a game scheduled for ``innings`` innings."""
    if inning > innings:
        return 4
    if inning == innings:
        return 3
    if inning >= innings - 2:
        return 2
    return 0 if inning == 1 else 1


def progress(inning: int, bottom: bool, outs: int, innings: int = 9) -> float:
    """Fraction of the scheduled game played: outs made so far over 6 per inning, at most 1."""
    made = (inning - 1) * 6 + (3 if bottom else 0) + outs
    return min(1.0, made / (6.0 * innings))


# --------------------------------------------------------------------------- game records


@dataclass(frozen=True, slots=True)
class GameRecord:
    """The compact form of one finished game that fitting and scoring need.

    Args:
        game_id: The game.
        info: Its :class:`GameInfo` (teams, date, scheduled innings, extra-inning rule).
        home_score: Final home score.
        away_score: Final away score.
        plays: One row per ``play`` event, the situation before it:
            ``(inning, bottom (0/1), outs, bases mask, home minus away score)``.
    """

    game_id: str
    info: GameInfo
    home_score: int
    away_score: int
    plays: tuple[tuple[int, int, int, int, int], ...]

    @property
    def result(self) -> float:
        """1.0 for a home win, 0.0 for a loss, 0.5 for a tie."""
        if self.home_score == self.away_score:
            return 0.5
        return 1.0 if self.home_score > self.away_score else 0.0

    @property
    def season(self) -> int:
        """The season (year of the game's date)."""
        return int(self.info.date[:4])

    @property
    def order(self) -> tuple[str, int, str]:
        """A key that puts games in the order they were played."""
        return (self.info.date, self.info.game_number, self.game_id)


def game_record(events: Sequence[PlayEvent]) -> GameRecord | None:
    """Reduce a game's events to a :class:`GameRecord`.

    Args:
        events: The game's events in order, ``game_start`` first and ``game_end`` last.

    Returns:
        The record, or ``None`` when the game has no ``game_start`` info or no ``game_end``.
    """
    info: GameInfo | None = None
    final: PlayEvent | None = None
    plays: list[tuple[int, int, int, int, int]] = []
    home = away = 0
    for event in events:
        if event.kind == "game_start":
            info = event.info
        elif event.kind == "game_end":
            final = event
        elif isinstance(event.before, BaseballSituation):
            b = event.before
            plays.append(
                (b.inning, int(b.half == "bottom"), b.outs, situation_mask(b), home - away)
            )
        home, away = event.home_score, event.away_score
    if info is None or final is None:
        return None
    return GameRecord(events[0].game_id, info, final.home_score, final.away_score, tuple(plays))


def _state(situation: BaseballSituation) -> int:
    return situation.outs * 8 + situation_mask(situation)


def plate_appearances(events: Sequence[PlayEvent]) -> list[tuple[int, int, int, int, int, int]]:
    """The plate-appearance transitions of one game.

    A transition runs from the state when a plate appearance began to the state when it
    ended (``pa_end``) or the half-inning ended (a third out on the bases), and carries the
    runs scored in between. A plate appearance cut off by the end of the game is dropped;
    runners placed by rule start no transition.

    Args:
        events: The game's events in order.

    Returns:
        ``(inning, bottom, from_state, to_state, runs, score_diff)`` tuples, where
        ``to_state`` is :data:`END` for the third out and ``score_diff`` is home minus away
        when the plate appearance began.
    """
    out: list[tuple[int, int, int, int, int, int]] = []
    start: int | None = None
    half: tuple[int, str] | None = None
    runs = diff = home = away = 0
    for event in events:
        before, after, detail = event.before, event.after, event.detail
        if (
            event.kind == "play"
            and isinstance(before, BaseballSituation)
            and isinstance(after, BaseballSituation)
            and isinstance(detail, BaseballPlay)
        ):
            if detail.event_type == "runner_placed":
                start = None
            else:
                if start is None or half != (before.inning, before.half):
                    start, half, runs = _state(before), (before.inning, before.half), 0
                    diff = home - away
                runs += detail.runs
                bottom = int(before.half == "bottom")
                if before.outs + detail.outs_on_play >= 3:
                    out.append((before.inning, bottom, start, END, runs, diff))
                    start = None
                elif detail.pa_end:
                    out.append((before.inning, bottom, start, _state(after), runs, diff))
                    start = None
        home, away = event.home_score, event.away_score
    return out


# --------------------------------------------------------------------------- ratings


def implied_probability(odds: float) -> float:
    """The probability implied by one price, margin included.

    Args:
        odds: An American moneyline (``-150``, ``+130``: absolute value at least 100) or
            decimal odds (``1.67``: greater than 1 and below 100).

    Raises:
        ValueError: The value is neither.
    """
    if odds <= -100:
        return -odds / (-odds + 100.0)
    if odds >= 100:
        return 100.0 / (odds + 100.0)
    if 1.0 < odds < 100:
        return 1.0 / odds
    raise ValueError(f"not an American moneyline or decimal odds: {odds}")


def prior_from_odds(home_odds: float, away_odds: float) -> float:
    """The home team's win probability from both moneylines, the bookmaker's margin removed.

    The two implied probabilities add up to more than 1 (the overround); they are scaled
    down proportionally.

    Args:
        home_odds: The home team's price (American or decimal, see
            :func:`implied_probability`).
        away_odds: The visitors' price.
    """
    home = implied_probability(home_odds)
    away = implied_probability(away_odds)
    return home / (home + away)


@dataclass(slots=True)
class EloRatings:
    """Team ratings kept from results so far in a season (Elo), for a pregame prior.

    Everyone starts at ``initial``; after each final the winner takes
    ``k · (1 − expected)`` points from the loser.

    Args:
        k: Points at stake per game (default 4, about what MLB's small game-to-game
            signal supports; :func:`fit_elo_k` picks it on training seasons).
        home_advantage: Elo points added to the home team (default 24 ≈ a 53.4 % home win
            rate between equal teams).
        initial: Starting rating (default 1500).
        ratings: Current ratings by team code.
    """

    k: float = 4.0
    home_advantage: float = 24.0
    initial: float = 1500.0
    ratings: dict[str, float] = field(default_factory=dict)

    def probability(self, home: str, away: str) -> float:
        """The home team's pregame win probability."""
        delta = (
            self.ratings.get(home, self.initial)
            + self.home_advantage
            - self.ratings.get(away, self.initial)
        )
        return 1.0 / (1.0 + math.pow(10.0, -delta / 400.0))

    def update(self, home: str, away: str, result: float) -> None:
        """Move both ratings after a final.

        Args:
            home: Home team code.
            away: Visiting team code.
            result: 1.0 for a home win, 0.0 for a loss, 0.5 for a tie.
        """
        change = self.k * (result - self.probability(home, away))
        self.ratings[home] = self.ratings.get(home, self.initial) + change
        self.ratings[away] = self.ratings.get(away, self.initial) - change


def elo_home_advantage(home_win_rate: float) -> float:
    """Elo points that give equal teams the home win rate ``home_win_rate``.

    The rate is held within [0.01, 0.99] so that a tiny training set cannot ask for an
    infinite advantage.
    """
    rate = min(max(home_win_rate, 0.01), 0.99)
    return 400.0 * math.log10(rate / (1.0 - rate))


def fit_elo_k(
    records: Sequence[GameRecord],
    home_advantage: float,
    candidates: Sequence[float] = (0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20),
) -> float:
    """The Elo ``k`` whose in-season pregame predictions have the lowest log loss.

    Ratings restart at the start of each season, as they do when scoring.
    """
    best, best_loss = 0.0, math.inf
    ordered = sorted(records, key=lambda r: r.order)
    for k in candidates:
        loss = 0.0
        elo = EloRatings(k=float(k), home_advantage=home_advantage)
        season = None
        for record in ordered:
            if record.season != season:
                elo, season = EloRatings(k=float(k), home_advantage=home_advantage), record.season
            p = elo.probability(record.info.home, record.info.away)
            y = record.result
            loss -= y * math.log(p) + (1.0 - y) * math.log(1.0 - p)
            elo.update(record.info.home, record.info.away, y)
        if loss < best_loss - 1e-9:
            best, best_loss = float(k), loss
    return best


# --------------------------------------------------------------------------- fitting


def score_context(batting_diff: int) -> int:
    """Index in :data:`CONTEXTS` of the batting team's lead (negative when behind)."""
    if batting_diff == 0:
        return 0
    if -3 <= batting_diff < 0:
        return 1
    return 2 if 0 < batting_diff <= 3 else 3


def _key(bottom: int, group: int, context: int) -> str:
    return f"{HALVES[bottom]}/{GROUPS[group]}/{CONTEXTS[context]}"


def logistic_features(
    plays: npt.NDArray[np.int64], innings: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """The design matrix of the published logistic baseline.

    Columns: intercept, score difference (home − away), score difference × progress,
    progress (fraction of the scheduled game played, see :func:`progress`).

    Args:
        plays: Rows ``(inning, bottom, outs, bases mask, score diff)``.
        innings: Scheduled innings of each row's game.
    """
    p = np.asarray(plays, dtype=np.float64).reshape(-1, 5)
    made = (p[:, 0] - 1.0) * 6.0 + 3.0 * p[:, 1] + p[:, 2]
    prog = np.minimum(1.0, made / (6.0 * np.asarray(innings, dtype=np.float64)))
    diff = p[:, 4]
    return np.column_stack([np.ones(len(p)), diff, diff * prog, prog])


def _seasons_label(seasons: Sequence[int]) -> str:
    low, high = min(seasons), max(seasons)
    return str(low) if low == high else f"{low}-{high}"


def fit(games: Iterable[Sequence[PlayEvent]], *, shrink: float = DEFAULT_SHRINK) -> dict[str, Any]:
    """Fit the MLB model on finished games.

    Args:
        games: Each game's events in order (``game_start`` … ``game_end``).
        shrink: Pseudo plate appearances pulling each cell toward the next coarser one
            (default :data:`DEFAULT_SHRINK`).

    Returns:
        The parameters, a JSON-ready dict (write it with :func:`dumps`); they record the
        training seasons, the transition counts, the leverage normalizer, the Elo settings
        and the two baselines (home-win rate and the refit published logistic) fitted on
        the same games.

    Raises:
        ValueError: No finished, untied game was given.
    """
    counts: Counter[tuple[int, int, int, int, int, int]] = Counter()
    records: list[GameRecord] = []
    pa_rows: list[tuple[int, int, int, int, int]] = []
    pa_innings: list[int] = []
    ties = 0
    for events in games:
        record = game_record(events)
        if record is None:
            continue
        if record.result == 0.5:
            ties += 1
            continue
        records.append(record)
        innings = record.info.innings
        for inning, bottom, start, end, runs, diff in plate_appearances(events):
            context = score_context(diff if bottom else -diff)
            counts[(bottom, inning_group(inning, innings), context, start, end, runs)] += 1
            pa_rows.append((inning, bottom, start // 8, start % 8, diff))
            pa_innings.append(innings)
    if not records:
        raise ValueError("no finished, untied game to fit on")
    seasons = sorted({r.season for r in records})
    home_win_rate = sum(r.result for r in records) / len(records)
    transitions: dict[str, list[list[int]]] = {}
    for bottom in (0, 1):
        for group in range(len(GROUPS)):
            for context in range(len(CONTEXTS)):
                transitions[_key(bottom, group, context)] = sorted(
                    [start, end, runs, n]
                    for (b, g, c, start, end, runs), n in counts.items()
                    if (b, g, c) == (bottom, group, context)
                )
    plays = np.array([p for r in records for p in r.plays], dtype=np.int64).reshape(-1, 5)
    innings_col = np.array([r.info.innings for r in records for _ in r.plays], dtype=np.int64)
    results = np.array([r.result for r in records for _ in r.plays], dtype=np.float64)
    beta = fit_logistic(logistic_features(plays, innings_col), results)
    hfa = elo_home_advantage(home_win_rate)
    params: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": NAME,
        "version": _seasons_label(seasons),
        "seasons": seasons,
        "n_games": len(records),
        "n_ties_skipped": ties,
        "n_plays": len(plays),
        "n_plate_appearances": sum(counts.values()),
        "shrink": shrink,
        "groups": list(GROUPS),
        "contexts": list(CONTEXTS),
        "transitions": transitions,
        "home_win_rate": home_win_rate,
        "elo": {"k": fit_elo_k(records, hfa), "home_advantage": hfa, "initial": 1500.0},
        "baselines": {
            "constant": {"home_win_rate": home_win_rate},
            "published_logistic": {
                "features": ["intercept", "score_diff", "score_diff_x_progress", "progress"],
                "coefficients": [float(c) for c in beta],
            },
        },
        "li_norm": 1.0,
    }
    model = MlbModel(params)
    params["li_norm"] = model.mean_raw_swing(
        np.array(pa_rows, dtype=np.int64).reshape(-1, 5), np.array(pa_innings, dtype=np.int64)
    )
    return params


_DIGITS = 12
"""Significant digits kept of every fitted float: the last bits of a least-squares or
summed estimate move with the numerical library's version (summation order, BLAS), and the
shipped files must regenerate byte for byte wherever they are fitted."""


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.{_DIGITS}g}")
    if isinstance(value, Mapping):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(item) for item in value]
    return value


def dumps(params: Mapping[str, Any]) -> bytes:
    """Serialize parameters reproducibly: sorted keys, floats to 12 significant digits, one
    transition row per line."""
    text = json.dumps(_rounded(params), sort_keys=True, indent=1, separators=(",", ": "))
    # Put each [from, to, runs, count] row on one line: readable diffs, a small file.
    text = re.sub(r"\[\s+(-?\d+),\s+(-?\d+),\s+(-?\d+),\s+(\d+)\s+\]", r"[\1,\2,\3,\4]", text)
    return (text + "\n").encode()


# --------------------------------------------------------------------------- the model


def _shrunk(
    own: Mapping[tuple[int, int], float], prior: Mapping[tuple[int, int], float], shrink: float
) -> dict[tuple[int, int], float]:
    """Counts ``own`` pulled toward the probabilities ``prior`` by ``shrink`` pseudo-counts."""
    if not own:
        return dict(prior)
    n = sum(own.values())
    return {
        key: (own.get(key, 0.0) + shrink * prior.get(key, 0.0)) / (n + shrink)
        for key in sorted(set(prior) | set(own))
    }


def _normalized(counts: Mapping[tuple[int, int], float]) -> dict[tuple[int, int], float]:
    n = sum(counts.values())
    return {key: c / n for key, c in sorted(counts.items())}


def transition_probabilities(
    transitions: Mapping[str, Sequence[Sequence[int]]], shrink: float, *, neutral: bool = False
) -> dict[tuple[int, int, int], list[Transition]]:
    """Transition probabilities per (bottom, group, context), shrunk level by level.

    Each score-context cell is pulled toward its inning group, and each inning group toward
    its half, by ``shrink`` pseudo plate appearances; an extra-inning cell is pulled toward
    the 9th-inning cell of the same context instead. A base-out state never seen in a half
    falls back to "the batter is out, nobody moves".

    Args:
        transitions: Counts as stored in the parameters (``"bottom/9/tied"`` →
            ``[from, to, runs, count]`` rows).
        shrink: Pseudo plate appearances per level.
        neutral: Zero the home advantage: pool both halves and all score contexts, so
            both teams score alike in every situation.

    Returns:
        ``(from, to, runs, probability)`` rows per cell; each state's rows sum to 1.
    """
    cells: dict[tuple[int, int, int], dict[int, Counter[tuple[int, int]]]] = {}
    for bottom in (0, 1):
        for group in range(len(GROUPS)):
            for context in range(len(CONTEXTS)):
                table: dict[int, Counter[tuple[int, int]]] = defaultdict(Counter)
                for h in (0, 1) if neutral else (bottom,):
                    for c in range(len(CONTEXTS)) if neutral else (context,):
                        for start, end, runs, n in transitions.get(_key(h, group, c), ()):
                            table[start][(end, runs)] += n
                cells[(bottom, group, context)] = table
    out: dict[tuple[int, int, int], list[Transition]] = {}
    for bottom in (0, 1):
        for start in range(STATES):
            half: Counter[tuple[int, int]] = Counter()
            groups: list[Counter[tuple[int, int]]] = []
            for group in range(len(GROUPS)):
                merged: Counter[tuple[int, int]] = Counter()
                for context in range(len(CONTEXTS)):
                    merged.update(cells[(bottom, group, context)].get(start, Counter()))
                groups.append(merged)
                half.update(merged)
            solved: dict[tuple[int, int], dict[tuple[int, int], float]] = {}
            for group in range(len(GROUPS)):
                for context in range(len(CONTEXTS)):
                    rows = out.setdefault((bottom, group, context), [])
                    if not half:
                        rows.extend(_default_transitions(start))
                        continue
                    own = cells[(bottom, group, context)].get(start, Counter())
                    if group == _EXTRA:
                        # Extra innings are few; they are played like the 9th, so each
                        # extra-inning cell leans on the 9th-inning cell of its context.
                        level = solved[(_EXTRA - 1, context)]
                    else:
                        level = _shrunk(groups[group], _normalized(half), shrink)
                    level = solved[(group, context)] = _shrunk(own, level, shrink)
                    rows.extend((start, end, runs, p) for (end, runs), p in level.items())
    return out


def _default_transitions(state: int) -> list[Transition]:
    """The batter makes an out and nobody moves: the fallback for a state never seen."""
    return [(state, END if state >= 16 else state + 8, 0, 1.0)]


def run_distribution(transitions: Sequence[Transition]) -> npt.NDArray[np.float64]:
    """The runs still to score in a half-inning from each base-out state.

    Solves the Markov chain exactly: with ``T_k`` the transitions that score ``k`` runs,
    ``f_r = (I − T_0)⁻¹ (t_r + Σ_{k≥1} T_k f_{r−k})``, where ``t_r`` is the probability of
    ending the half-inning with ``r`` runs on the last plate appearance. (The WP recursion
    works on the chain directly, because transitions depend on the score; this is for
    reporting run expectancy.)

    Args:
        transitions: ``(from, to, runs, probability)`` rows; each state's rows sum to 1.

    Returns:
        A (24, MAX_RUNS + 1) array; row ``s`` is the distribution of runs from state ``s``
        (the tail beyond MAX_RUNS is lumped in the last column).
    """
    top = max(t[2] for t in transitions)
    step = np.zeros((top + 1, STATES, STATES))
    last = np.zeros((top + 1, STATES))
    for start, end, runs, p in transitions:
        if end == END:
            last[runs, start] += p
        else:
            step[runs, start, end] += p
    inverse = np.linalg.inv(np.eye(STATES) - step[0])
    f = np.zeros((MAX_RUNS + 1, STATES))
    for r in range(MAX_RUNS + 1):
        rhs = last[r].copy() if r <= top else np.zeros(STATES)
        for k in range(1, min(r, top) + 1):
            rhs += step[k] @ f[r - k]
        f[r] = inverse @ rhs
    f[MAX_RUNS] += np.clip(1.0 - f.sum(axis=0), 0.0, None)
    dist: npt.NDArray[np.float64] = f.T.copy()
    return dist


@dataclass(frozen=True, slots=True)
class _Chain:
    """One cell's transitions as arrays, for the recursion.

    ``step[k]`` (24 × 24) moves between base-out states scoring ``k`` runs, ``last[k]``
    (24) ends the half-inning scoring ``k``; ``solve_last`` and ``solve_step`` fold in
    ``(I − step[0])⁻¹`` so that one state column is two matrix products.
    """

    starts: npt.NDArray[np.int64]
    ends: npt.NDArray[np.int64]
    runs: npt.NDArray[np.int64]
    probs: npt.NDArray[np.float64]
    solve_last: npt.NDArray[np.float64]
    solve_step: npt.NDArray[np.float64]


def _chain(rows: Sequence[Transition], theta: float) -> _Chain:
    starts = np.array([r[0] for r in rows], dtype=np.int64)
    ends = np.array([r[1] for r in rows], dtype=np.int64)
    runs = np.array([r[2] for r in rows], dtype=np.int64)
    probs = np.array([r[3] for r in rows], dtype=np.float64)
    if theta != 0.0:
        probs = probs * np.exp(theta * runs)
        totals = np.bincount(starts, weights=probs, minlength=STATES)
        probs = probs / totals[starts]
    k = MAX_PA_RUNS
    runs = np.minimum(runs, k)
    step = np.zeros((k + 1, STATES, STATES))
    last = np.zeros((k + 1, STATES))
    inner = ends != END
    np.add.at(step, (runs[inner], starts[inner], ends[inner]), probs[inner])
    np.add.at(last, (runs[~inner], starts[~inner]), probs[~inner])
    inverse = np.linalg.inv(np.eye(STATES) - step[0])
    solve_last = inverse @ last.T
    solve_step = inverse @ step[1:].transpose(1, 0, 2).reshape(STATES, k * STATES)
    return _Chain(starts, ends, runs, probs, solve_last, solve_step)


_DIFFS = np.arange(-MAX_DIFF, MAX_DIFF + 1)
_WIN = (_DIFFS > 0).astype(np.float64)
_SHIFTED = {
    sign: np.clip(
        np.arange(_N_DIFF)[:, None] + sign * np.arange(MAX_PA_RUNS + 1)[None, :], 0, _N_DIFF - 1
    )
    for sign in (-1, 1)
}
"""For the batting side's sign (+1 home, −1 away): diff index ``j`` after ``k`` runs."""
_CONTEXT_OF = {sign: [score_context(int(sign * d)) for d in _DIFFS] for sign in (-1, 1)}
"""The score context of each diff index, from the batting side's view."""


def _half_inning(
    chains: Sequence[_Chain], after: npt.NDArray[np.float64], sign: int
) -> npt.NDArray[np.float64]:
    """Home WP in every (base-out state, diff) of a half-inning.

    Args:
        chains: The transitions of each score context.
        after: Home WP when the half-inning ends, by diff index.
        sign: +1 when the home team bats (runs raise the diff), −1 otherwise.

    Returns:
        A (24, n_diff) array.
    """
    w = np.empty((STATES, _N_DIFF))
    shifted = _SHIFTED[sign]
    contexts = _CONTEXT_OF[sign]
    # Runs only move the diff one way, so sweeping against that way finds every value it
    # needs already solved. The far edge (a 30-run lead) is decided.
    if sign > 0:
        order: Iterable[int] = range(_N_DIFF - 2, -1, -1)
        w[:, _N_DIFF - 1] = 1.0
    else:
        order = range(1, _N_DIFF)
        w[:, 0] = 0.0
    for j in order:
        chain = chains[contexts[j]]
        cols = shifted[j]
        w[:, j] = chain.solve_last @ after[cols] + chain.solve_step @ w[:, cols[1:]].T.ravel()
    return w


class WpTable:
    """The home team's win probability for every state of one kind of game.

    One table per (scheduled innings, extra-inning rule, team strength). Lookups are plain
    list indexing; :meth:`home_wp` is the hot path.
    """

    __slots__ = ("_li", "_n", "_wp", "array", "innings", "li_array", "start")

    array: npt.NDArray[np.float64]
    li_array: npt.NDArray[np.float64]
    _wp: list[float]
    _li: list[float]

    def __init__(
        self,
        values: npt.NDArray[np.float64],
        leverage: npt.NDArray[np.float64] | WpTable,
        innings: int,
    ) -> None:
        self.array = values
        self.innings = innings
        self._n = innings + 1
        self._wp = values.ravel().tolist()
        if isinstance(leverage, WpTable):  # A strength table shares its base's leverage.
            self.li_array, self._li = leverage.li_array, leverage._li
        else:
            self.li_array = leverage
            self._li = leverage.ravel().tolist()
        self.start: float = self._wp[MAX_DIFF]
        """The WP before the first pitch."""

    def _index(
        self, inning: int, half_is_bottom: bool, outs: int, bases_mask: int, score_diff: int
    ) -> int:
        if inning < 1 or not 0 <= outs <= 2 or not 0 <= bases_mask <= 7:
            raise ValueError(
                f"no such state: inning {inning}, outs {outs}, bases mask {bases_mask}"
            )
        if score_diff > MAX_DIFF:
            score_diff = MAX_DIFF
        elif score_diff < -MAX_DIFF:
            score_diff = -MAX_DIFF
        n = self._n
        row = (inning if inning < n else n) * 2 - 2 + half_is_bottom
        return (row * 24 + outs * 8 + bases_mask) * _N_DIFF + score_diff + MAX_DIFF

    def home_wp(
        self, inning: int, half_is_bottom: bool, outs: int, bases_mask: int, score_diff: int
    ) -> float:
        """The home team's win probability.

        Args:
            inning: 1-based inning; every extra inning is alike.
            half_is_bottom: The home team is batting.
            outs: 0-2.
            bases_mask: Bit 0 first base, bit 1 second, bit 2 third (``0b101`` = 1st & 3rd).
            score_diff: Home runs minus away runs.

        Raises:
            ValueError: The state does not exist (outs not 0-2, inning below 1...).
        """
        return self._wp[self._index(inning, half_is_bottom, outs, bases_mask, score_diff)]

    def leverage(
        self, inning: int, half_is_bottom: bool, outs: int, bases_mask: int, score_diff: int
    ) -> float:
        """The leverage index of a state (same arguments as :meth:`home_wp`)."""
        return self._li[self._index(inning, half_is_bottom, outs, bases_mask, score_diff)]

    def lookup(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """Vectorized :meth:`home_wp` over rows ``(inning, bottom, outs, bases mask, diff)``."""
        out: npt.NDArray[np.float64] = self.array.ravel()[self.indices(rows)]
        return out

    def lookup_leverage(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """Vectorized :meth:`leverage` over rows like :meth:`lookup`'s."""
        out: npt.NDArray[np.float64] = self.li_array.ravel()[self.indices(rows)]
        return out

    def indices(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Flat table positions of rows ``(inning, bottom, outs, bases mask, diff)``."""
        r = np.asarray(rows, dtype=np.int64).reshape(-1, 5)
        inning = np.minimum(r[:, 0], self._n)
        diff = np.clip(r[:, 4], -MAX_DIFF, MAX_DIFF) + MAX_DIFF
        out: npt.NDArray[np.int64] = (
            (inning * 2 - 2 + r[:, 1]) * 24 + r[:, 2] * 8 + r[:, 3]
        ) * _N_DIFF + diff
        return out


class _Blend(NamedTuple):
    """One prior's table, blended state by state: the two levels around it and the weight."""

    lo: array[float]
    hi: array[float]
    weight: float


class MlbModel:
    """The fitted MLB model: tables on demand, WP, leverage and team-strength priors.

    Args:
        params: Fitted parameters (:func:`fit`, or a parameter file decoded as JSON).
        neutral: Zero the home advantage: both teams score alike in every situation
            (halves and score contexts pooled). The home team still bats last, which then
            gives it nothing: the model is symmetric between the teams.

    Raises:
        ValueError: The parameters are not of this format or version.
    """

    def __init__(self, params: Mapping[str, Any], *, neutral: bool = False) -> None:
        if params.get("format") != FORMAT or params.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"not an MLB model parameter set of format {FORMAT} v{FORMAT_VERSION}")
        self.params = params
        self.neutral = neutral
        self._name = str(params["name"])
        self._version = str(params["version"])
        self.li_norm = float(params["li_norm"])
        self.transitions = transition_probabilities(
            params["transitions"], float(params["shrink"]), neutral=neutral
        )
        self._levels: dict[tuple[int, bool, int], npt.NDArray[np.float64]] = {}
        self._li: dict[tuple[int, bool], npt.NDArray[np.float64]] = {}
        self._tables: dict[tuple[int, bool], WpTable] = {}
        self._prior_tables: dict[tuple[int, bool, float], WpTable] = {}
        self._level_lists: dict[tuple[int, bool, int], array[float]] = {}
        self._blends: dict[tuple[int, bool, float], _Blend] = {}

    @property
    def name(self) -> str:
        """``"mlb-markov"``."""
        return self._name

    @property
    def version(self) -> str:
        """The training seasons, ``"2015"`` or ``"2015-2016"``."""
        return self._version

    @property
    def label(self) -> str:
        """``name/version``, as written into :class:`WinProbability`."""
        return f"{self._name}/{self._version}"

    def without_home_advantage(self) -> MlbModel:
        """The same model with the home advantage zeroed (see ``neutral``)."""
        return MlbModel(self.params, neutral=True)

    def run_distribution(self, bottom: bool, inning: int = 5, batting_diff: int = 0) -> Any:
        """Runs still to score from each base-out state (a (24, 21) array).

        Args:
            bottom: The home team bats.
            inning: The inning (its group's transitions are used).
            batting_diff: The batting team's lead (its score context's transitions).
        """
        key = (int(bottom), inning_group(inning), score_context(batting_diff))
        return run_distribution(self.transitions[key])

    # ---- tables

    def _after_bottom(self, w: npt.NDArray[np.float64], row: int, tie: float) -> Any:
        """Home WP once the bottom of table row ``row`` ends, by diff."""
        if row + 1 >= w.shape[0] - 1:  # the last scheduled inning or an extra one
            return np.where(_DIFFS == 0, tie, _WIN)
        return w[row + 1, 0, 0]

    def _after_top(self, w: npt.NDArray[np.float64], row: int, bottom_start: int) -> Any:
        """Home WP once the top of table row ``row`` ends, by diff."""
        if row + 1 >= w.shape[0] - 1:
            return np.where(_DIFFS > 0, 1.0, w[row, 1, bottom_start])
        return w[row, 1, bottom_start]

    def _build(self, innings: int, extra_runner: bool, theta: float) -> npt.NDArray[np.float64]:
        """Solve the recursion for one game kind and strength; values not yet quantized."""
        if innings < 1:
            raise ValueError(f"a game has at least one inning, not {innings}")
        n = innings
        extra_start = 0b010 if extra_runner else 0  # nobody out, runner on second
        chains = {
            key: _chain(rows, theta if key[0] else -theta) for key, rows in self.transitions.items()
        }

        def cell(row: int, bottom: int) -> list[_Chain]:
            group = inning_group(row + 1, n)
            return [chains[(bottom, group, c)] for c in range(len(CONTEXTS))]

        w = np.zeros((n + 1, 2, STATES, _N_DIFF))
        # Extra innings repeat, so the tied start of one is a fixed point X. Everything in
        # an extra inning is linear in X: solve with X = 0 and X = 1 and combine.
        solved = []
        for x in (0.0, 1.0):
            w[n, 1] = _half_inning(cell(n, 1), self._after_bottom(w, n, x), 1)
            w[n, 1][:, _DIFFS > 0] = 1.0
            w[n, 0] = _half_inning(cell(n, 0), self._after_top(w, n, extra_start), -1)
            solved.append(w[n].copy())
        low, high = solved
        slope = high[0, extra_start, MAX_DIFF] - low[0, extra_start, MAX_DIFF]
        x = low[0, extra_start, MAX_DIFF] / (1.0 - slope)
        w[n] = low + (high - low) * x
        tie = float(w[n, 0, extra_start, MAX_DIFF])
        for row in range(n - 1, -1, -1):
            w[row, 1] = _half_inning(cell(row, 1), self._after_bottom(w, row, tie), 1)
            if row + 1 >= n:
                w[row, 1][:, _DIFFS > 0] = 1.0
            w[row, 0] = _half_inning(cell(row, 0), self._after_top(w, row, 0), -1)
        return np.clip(w, 0.0, 1.0)

    def _level(self, innings: int, extra_runner: bool, k: int) -> npt.NDArray[np.float64]:
        key = (innings, extra_runner, k)
        if key not in self._levels:
            self._levels[key] = self._build(innings, extra_runner, k * THETA_STEP)
        return self._levels[key]

    def _leverage(self, innings: int, extra_runner: bool) -> npt.NDArray[np.float64]:
        """Raw expected |ΔWP| of the coming plate appearance, for every state (θ = 0)."""
        key = (innings, extra_runner)
        if key in self._li:
            return self._li[key]
        n = innings
        w = self._level(innings, extra_runner, 0)
        extra_start = 0b010 if extra_runner else 0
        tie = float(w[n, 0, extra_start, MAX_DIFF])
        swing = np.zeros_like(w)
        for row in range(n + 1):
            group = inning_group(row + 1, n)
            for bottom in (0, 1):
                sign = 1 if bottom else -1
                if bottom:
                    after = self._after_bottom(w, row, tie)
                else:
                    after = self._after_top(w, row, extra_start if row == n else 0)
                here = w[row, bottom]
                contexts = np.array(_CONTEXT_OF[sign])
                for context in range(len(CONTEXTS)):
                    chain = _chain(self.transitions[(bottom, group, context)], 0.0)
                    cols = _SHIFTED[sign][:, chain.runs].T  # (transitions, n_diff)
                    inner = (chain.ends != END)[:, None]
                    ends = np.where(chain.ends == END, 0, chain.ends)
                    nxt = np.where(inner, here[ends[:, None], cols], after[cols])
                    moves = chain.probs[:, None] * np.abs(nxt - here[chain.starts])
                    part = np.zeros((STATES, _N_DIFF))
                    np.add.at(part, chain.starts, moves)
                    swing[row, bottom][:, contexts == context] = part[:, contexts == context]
        self._li[key] = swing
        return swing

    def table(
        self, innings: int = 9, extra_runner: bool = False, prior: float | None = None
    ) -> WpTable:
        """The lookup table for a kind of game, optionally matched to a pregame prior.

        Args:
            innings: Scheduled innings (default 9).
            extra_runner: Extra innings start with a runner on second (MLB 2020+).
            prior: The home team's pregame win probability (from odds or ratings); both
                teams' run environments are tilted so that the table's starting WP equals
                it (within the strength grid's range, about 0.08-0.94). ``None`` (default):
                an average home team against an average visitor.

        Returns:
            The table. Tables are cached: every one without a prior, and the last
            :data:`PRIOR_TABLES` built for a prior (a processor asks again on every play).
        """
        key = (innings, extra_runner)
        if prior is None:
            if key not in self._tables:
                values = _quantize(self._level(innings, extra_runner, 0))
                self._tables[key] = WpTable(
                    values, self._leverage(innings, extra_runner) / self.li_norm, innings
                )
            return self._tables[key]
        cached = self._prior_tables.pop((innings, extra_runner, prior), None)
        if cached is None:
            base = self.table(innings, extra_runner)
            k, weight = self._bracket(prior, innings, extra_runner)
            lo = self._level(innings, extra_runner, k)
            hi = self._level(innings, extra_runner, k + 1)
            cached = WpTable(_quantize(lo + (hi - lo) * weight), base, innings)
            if len(self._prior_tables) >= PRIOR_TABLES:
                del self._prior_tables[next(iter(self._prior_tables))]
        self._prior_tables[(innings, extra_runner, prior)] = cached  # now the most recent
        return cached

    def lookup(
        self,
        rows: npt.NDArray[np.int64],
        innings: int = 9,
        extra_runner: bool = False,
        prior: float | None = None,
    ) -> npt.NDArray[np.float64]:
        """Vectorized home WP for many states of one kind of game.

        Args:
            rows: Rows ``(inning, bottom, outs, bases mask, home − away)``.
            innings: Scheduled innings.
            extra_runner: The extra-inning rule.
            prior: The home team's pregame win probability, if known.

        Returns:
            The same values :meth:`table` ``(...).home_wp`` gives, one per row.
        """
        table = self.table(innings, extra_runner)
        if prior is None:
            return table.lookup(rows)
        index = table.indices(rows)
        k, weight = self._bracket(prior, innings, extra_runner)
        lo = self._level(innings, extra_runner, k).ravel()[index]
        hi = self._level(innings, extra_runner, k + 1).ravel()[index]
        return _quantize(lo + (hi - lo) * weight)

    def _start(self, innings: int, extra_runner: bool, k: int) -> float:
        return float(self._level(innings, extra_runner, k)[0, 0, 0, MAX_DIFF])

    def _bracket(self, prior: float, innings: int, extra_runner: bool) -> tuple[int, float]:
        """Grid level ``k`` and weight so that blending levels k and k+1 starts at ``prior``.

        The starting WP rises with θ, about 0.02 a level around the middle, so a walk from
        the average teams (level 0, built with the model) finds the two levels around the
        prior and builds only the levels on the way (about 15 ms each, once per process): a
        prior of 0.6 needs levels 0 to 4 where a binary search from the grid's ends built
        seven levels, and the priors of a season (0.3-0.7) need the middle levels only.
        """
        k = 0
        while k > -THETA_LEVELS and self._start(innings, extra_runner, k) > prior:
            k -= 1
        while k < THETA_LEVELS - 1 and self._start(innings, extra_runner, k + 1) <= prior:
            k += 1
        p_lo, p_hi = (
            self._start(innings, extra_runner, k),
            self._start(innings, extra_runner, k + 1),
        )
        if prior <= p_lo:  # at or below the grid's weakest home team
            return k, 0.0
        if prior >= p_hi:  # at or above its strongest
            return k, 1.0
        return k, (prior - p_lo) / (p_hi - p_lo)

    def _blend(self, innings: int, extra_runner: bool, prior: float) -> _Blend:
        """The two strength levels around ``prior`` and the weight between them, kept for
        the next :data:`PRIOR_BLENDS` priors."""
        k, weight = self._bracket(prior, innings, extra_runner)
        lo, hi = (self._level_list(innings, extra_runner, j) for j in (k, k + 1))
        if len(self._blends) >= PRIOR_BLENDS:
            del self._blends[next(iter(self._blends))]
        blend = self._blends[(innings, extra_runner, prior)] = _Blend(lo, hi, weight)
        return blend

    def _level_list(self, innings: int, extra_runner: bool, k: int) -> array[float]:
        # Packed doubles rather than a list of float objects: two lookups a play touch two
        # cache lines instead of four scattered objects.
        key = (innings, extra_runner, k)
        if key not in self._level_lists:
            self._level_lists[key] = array("d", self._level(innings, extra_runner, k).tobytes())
        return self._level_lists[key]

    def strength(self, prior: float, innings: int = 9, extra_runner: bool = False) -> float:
        """The tilt θ whose starting WP is ``prior`` (clamped to the grid's range).

        Positive θ makes the home team stronger: its run distributions are tilted by
        ``e^{θ·runs}`` per plate appearance and the visitors' by ``e^{−θ·runs}``.
        """
        k, weight = self._bracket(prior, innings, extra_runner)
        return (k + weight) * THETA_STEP

    # ---- answers

    def home_wp(
        self,
        inning: int,
        half_is_bottom: bool,
        outs: int,
        bases_mask: int,
        score_diff: int,
    ) -> float:
        """The home team's WP in a 9-inning game without the extra-inning runner.

        See :meth:`WpTable.home_wp`; for other game kinds or a prior use :meth:`table`.
        """
        return self.table().home_wp(inning, half_is_bottom, outs, bases_mask, score_diff)

    def _table_for(self, state: GameState) -> WpTable:
        info = state.info
        if info is None:
            return self.table()
        return self.table(info.innings, info.extra_runner)

    def win_probability(self, state: GameState, prior: float | None = None) -> WinProbability:
        """The win probabilities of a game state.

        Args:
            state: The game; a final state gives exactly 1 and 0 (or a tie of 1); a game
                not yet started is answered for the first pitch.
            prior: The home team's pregame win probability, if known: the value
                :meth:`table` ``(..., prior)`` has for the state (so a game starts at the
                prior), computed for this state alone.
        """
        if state.status == "final":
            if state.home_score == state.away_score:
                return WinProbability(home=0.0, away=0.0, tie=1.0, model=self.label)
            home = 1.0 if state.home_score > state.away_score else 0.0
            return WinProbability(home=home, away=1.0 - home, model=self.label)
        info = state.info
        innings, extra_runner = (9, False) if info is None else (info.innings, info.extra_runner)
        table = self.table(innings, extra_runner)
        s = state.situation
        if isinstance(s, BaseballSituation):
            diff = state.home_score - state.away_score
            index = table._index(s.inning, s.half == "bottom", s.outs, situation_mask(s), diff)
        else:
            index = MAX_DIFF  # the first pitch
        if prior is None:
            wp = table._wp[index]
        else:
            # The one value of table(prior) this state needs, by the same arithmetic: a
            # processor then pays a lookup per play, not a whole table per game.
            blend = self._blends.get((innings, extra_runner, prior)) or self._blend(
                innings, extra_runner, prior
            )
            low = blend.lo[index]
            wp = round((low + (blend.hi[index] - low) * blend.weight) / QUANTUM) * QUANTUM
        return WinProbability(home=wp, away=1.0 - wp, model=self.label)

    def leverage(self, state: GameState) -> float:
        """The leverage index of a game state (0 once it is final)."""
        if state.status == "final":
            return 0.0
        table = self._table_for(state)
        s = state.situation
        if not isinstance(s, BaseballSituation):
            return table.leverage(1, False, 0, 0, 0)
        diff = state.home_score - state.away_score
        return table.leverage(s.inning, s.half == "bottom", s.outs, situation_mask(s), diff)

    def mean_raw_swing(self, rows: npt.NDArray[np.int64], innings: npt.NDArray[np.int64]) -> float:
        """Mean raw leverage (expected |ΔWP| of the coming plate appearance) over states.

        Over the plate-appearance starts of the training games, this is the leverage
        normalizer: a state with this raw swing has a leverage index of 1.

        Args:
            rows: Rows ``(inning, bottom, outs, bases mask, home − away)``.
            innings: Scheduled innings of each row's game.
        """
        total = 0.0
        for n in sorted(set(innings.tolist())):
            raw = self._leverage(n, False).ravel()[self.table(n).indices(rows[innings == n])]
            total += float(raw.sum())
        return total / max(1, len(rows))


def _quantize(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out: npt.NDArray[np.float64] = np.round(values / QUANTUM) * QUANTUM
    return out


# --------------------------------------------------------------------------- WPA


class ScoredPlay(NamedTuple):
    """One event's win probability added.

    A named tuple rather than a frozen dataclass: a season makes 200,000 of these, and a
    tuple is built several times faster.

    Args:
        seq: The event's sequence number.
        event_id: Its id.
        wp_before: Home WP before it.
        wp_after: Home WP after it (exactly 1, 0 or 0.5 once the game is over).
        wpa: ``wp_after − wp_before`` (exact; for the home team, negate for the visitors).
        leverage: Leverage index of the situation it happened in.
    """

    seq: int
    event_id: str
    wp_before: float
    wp_after: float
    wpa: float
    leverage: float


def score_game(
    events: Sequence[PlayEvent], model: MlbModel, prior: float | None = None
) -> list[ScoredPlay]:
    """WP before and after, WPA and leverage for every event of a game.

    The WPA of all returned events sums, exactly, to the final result minus the WP of the
    ``game_start`` event (the first pitch). A play that ends the game (a walk-off, the last
    out of the 9th or later with a leader, the top of the 9th or later ending with the home
    team ahead) takes the WP to exactly 1 or 0.

    Args:
        events: The game's events in order (``game_start`` first).
        model: The model.
        prior: The home team's pregame win probability, if known.

    Returns:
        One :class:`ScoredPlay` per event.
    """
    info = next((e.info for e in events if e.info is not None), None) or GameInfo(
        home="", away="", date=""
    )
    innings = info.innings
    table = model.table(innings, info.extra_runner, prior)
    wps, lis = table._wp, table._li  # The hot loop indexes them directly.
    last_row = innings + 1
    wp = table.start
    home = away = 0
    over = False
    out: list[ScoredPlay] = []
    append = out.append
    # The loop inlines WpTable._index: it runs once per play of every game replayed.
    for event in events:
        before = wp
        li = 0.0
        kind = event.kind
        b = event.before
        if kind == "play" and isinstance(b, BaseballSituation):
            first, second, third = b.bases
            row = (b.inning if b.inning < last_row else last_row) * 2 - 2 + (b.half == "bottom")
            diff = home - away
            diff = MAX_DIFF if diff > MAX_DIFF else -MAX_DIFF if diff < -MAX_DIFF else diff
            li = lis[
                (
                    row * 24
                    + b.outs * 8
                    + (first is not None)
                    + ((second is not None) << 1)
                    + ((third is not None) << 2)
                )
                * _N_DIFF
                + diff
                + MAX_DIFF
            ]
            a = event.after
            diff = event.home_score - event.away_score
            if isinstance(a, BaseballSituation) and not over:
                over = b.inning >= innings and diff != 0 and _over(b, a, diff)
                if over:
                    wp = 1.0 if diff > 0 else 0.0
                else:
                    first, second, third = a.bases
                    row = (
                        (a.inning if a.inning < last_row else last_row) * 2
                        - 2
                        + (a.half == "bottom")
                    )
                    diff = MAX_DIFF if diff > MAX_DIFF else -MAX_DIFF if diff < -MAX_DIFF else diff
                    wp = wps[
                        (
                            row * 24
                            + a.outs * 8
                            + (first is not None)
                            + ((second is not None) << 1)
                            + ((third is not None) << 2)
                        )
                        * _N_DIFF
                        + diff
                        + MAX_DIFF
                    ]
        elif kind == "game_end":
            diff = event.home_score - event.away_score
            wp = 0.5 if diff == 0 else (1.0 if diff > 0 else 0.0)
        elif kind == "game_start":
            li = lis[MAX_DIFF]
        home, away = event.home_score, event.away_score
        append(ScoredPlay(event.seq, event.event_id, before, wp, wp - before, li))
    return out


def _over(before: BaseballSituation, after: BaseballSituation, diff: int) -> bool:
    """In the last scheduled inning or later, with a leader: the play ended the game."""
    if before.half == "bottom":
        return after.half == "top" or diff > 0
    return after.half == "bottom" and diff > 0


def key_plays(scored: Iterable[ScoredPlay], n: int = 5) -> list[ScoredPlay]:
    """The ``n`` events with the largest |WPA| (earlier first among equals)."""
    return sorted(scored, key=lambda p: (-abs(p.wpa), p.seq))[:n]


# --------------------------------------------------------------------------- references


class EmpiricalTable:
    """An empirical win-expectancy table in Greg Stoll's format (counted from Retrosheet).

    Each line reads ``(inning, home_batting, outs, (on1, on2, on3), batting_diff): (wins,
    total)``, where ``wins`` counts the batting team's wins. Files are added together.
    States never seen are answered from coarser cells: without the bases, then without the
    outs, then with the inning capped at 9; a score difference beyond them all gets 1 or 0
    by its sign (0.5 when tied).

    Args:
        texts: The contents of one or more table files.

    Raises:
        ValueError: A line does not fit the format.
    """

    def __init__(self, texts: Iterable[str]) -> None:
        exact: Counter[tuple[int, int, int, int, int]] = Counter()
        totals: Counter[tuple[int, int, int, int, int]] = Counter()
        for text in texts:
            for number, line in enumerate(text.splitlines(), 1):
                line = line.strip()
                if not line:
                    continue
                m = _STAT_LINE.match(line)
                if m is None:
                    raise ValueError(f"line {number}: not a win-expectancy line: {line!r}")
                inning, hb, outs, b1, b2, b3, diff, wins, total = (int(g) for g in m.groups())
                key = (inning, hb, outs, b1 | b2 << 1 | b3 << 2, diff)
                exact[key] += wins
                totals[key] += total
        self._wins = exact
        self._totals = totals
        self._coarse: list[tuple[Counter[tuple[int, ...]], Counter[tuple[int, ...]]]] = []
        for keep in ((0, 1, 2, 4), (0, 1, 4)):
            wins_c: Counter[tuple[int, ...]] = Counter()
            totals_c: Counter[tuple[int, ...]] = Counter()
            for key, total in totals.items():
                sub = tuple(key[i] for i in keep)
                wins_c[sub] += exact[key]
                totals_c[sub] += total
            self._coarse.append((wins_c, totals_c))

    def __len__(self) -> int:
        return len(self._totals)

    def count(self, inning: int, bottom: bool, outs: int, mask: int, diff: int) -> int:
        """How many plays the table saw in exactly this state (``diff`` = home − away)."""
        batting = diff if bottom else -diff
        return self._totals.get((inning, int(bottom), outs, mask, batting), 0)

    def home_wp(self, inning: int, bottom: bool, outs: int, mask: int, diff: int) -> float:
        """The home team's empirical WP in a state (``diff`` = home − away)."""
        hb = int(bottom)
        batting = diff if bottom else -diff
        keys: list[tuple[Counter[Any], Counter[Any], tuple[int, ...]]] = [
            (self._wins, self._totals, (inning, hb, outs, mask, batting))
        ]
        for (wins, totals), sub in zip(
            self._coarse, ((inning, hb, outs, batting), (inning, hb, batting)), strict=True
        ):
            keys.append((wins, totals, sub))
        wins_c, totals_c = self._coarse[1]
        keys.append((wins_c, totals_c, (min(inning, 9), hb, batting)))
        for wins, totals, key in keys:
            total = totals.get(key, 0)
            if total:
                rate = wins[key] / total
                return rate if bottom else 1.0 - rate
        return 0.5 if diff == 0 else (1.0 if diff > 0 else 0.0)


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Every play of a set of finished games with the model's WP before it.

    Args:
        rows: The state before each play, ``(inning, bottom, outs, bases mask, diff)``.
        innings: Scheduled innings of each play's game.
        actual: 1.0 when the play's home team went on to win, else 0.0.
        wp: The model's home WP before each play, without team strength.
        wp_strength: The same with the Elo prior kept from results so far in the season
            (``None`` when not asked for).
        n_games: Games scored.
        n_ties_skipped: Games left out because they ended tied.
    """

    rows: npt.NDArray[np.int64]
    innings: npt.NDArray[np.int64]
    actual: npt.NDArray[np.float64]
    wp: npt.NDArray[np.float64]
    wp_strength: npt.NDArray[np.float64] | None
    n_games: int
    n_ties_skipped: int


def evaluate(
    records: Iterable[GameRecord], model: MlbModel, *, strength: bool = True
) -> Evaluation:
    """Score every play of finished games (tied games are left out).

    Games are taken in the order they were played; the Elo ratings (``k`` and home
    advantage from the parameters) restart at every season and are updated after each
    final, so each game's prior uses only results before it.

    Args:
        records: The games (:func:`game_record`).
        model: The model.
        strength: Also compute the WP with the Elo prior.

    Raises:
        ValueError: No finished, untied game with a play was given.
    """
    settings = model.params["elo"]
    ordered = sorted(records, key=lambda r: r.order)
    rows: list[npt.NDArray[np.int64]] = []
    innings: list[npt.NDArray[np.int64]] = []
    actual: list[npt.NDArray[np.float64]] = []
    plain: list[npt.NDArray[np.float64]] = []
    strong: list[npt.NDArray[np.float64]] = []
    elo = EloRatings(k=settings["k"], home_advantage=settings["home_advantage"])
    season = None
    ties = games = 0
    for record in ordered:
        if record.season != season:
            season = record.season
            elo = EloRatings(k=settings["k"], home_advantage=settings["home_advantage"])
        info = record.info
        prior = elo.probability(info.home, info.away)
        if record.result != 0.5:
            elo.update(info.home, info.away, record.result)
        if record.result == 0.5:
            ties += 1
            continue
        if not record.plays:
            continue
        games += 1
        r = np.array(record.plays, dtype=np.int64)
        rows.append(r)
        innings.append(np.full(len(r), info.innings, dtype=np.int64))
        actual.append(np.full(len(r), record.result))
        plain.append(model.lookup(r, info.innings, info.extra_runner))
        if strength:
            strong.append(model.lookup(r, info.innings, info.extra_runner, prior))
    if not rows:
        raise ValueError("no finished, untied game with a play to score")
    return Evaluation(
        rows=np.concatenate(rows),
        innings=np.concatenate(innings),
        actual=np.concatenate(actual),
        wp=np.concatenate(plain),
        wp_strength=np.concatenate(strong) if strength else None,
        n_games=games,
        n_ties_skipped=ties,
    )


def published_logistic(
    params: Mapping[str, Any], rows: npt.NDArray[np.int64], innings: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """The refit published logistic baseline's home WP for states (see :func:`fit`)."""
    beta = np.array(params["baselines"]["published_logistic"]["coefficients"])
    return logistic(logistic_features(rows, innings) @ beta)


# --------------------------------------------------------------------------- loading


def loads(data: bytes | str) -> MlbModel:
    """Build the model from the bytes of a parameter file.

    Raises:
        ValueError: Not JSON, or not an MLB parameter set.
    """
    try:
        params = json.loads(data)
    except json.JSONDecodeError as exc:
        raise ValueError(f"model parameters are not JSON: {exc}") from exc
    if not isinstance(params, dict):
        raise TypeError("model parameters must be a JSON object")
    return MlbModel(params)


def default_parameters() -> bytes:
    """The bytes of the parameter file shipped with pressbox (``data/mlb.json``)."""
    return resources.files("pressbox.engine.models").joinpath("data", "mlb.json").read_bytes()


def load(source: str | os.PathLike[str] | bytes | None = None) -> MlbModel:
    """Load the MLB model, with the table of 9-inning games without the runner rule built
    (and the strength levels next to it).

    Args:
        source: ``None`` (default) for the shipped parameters; the bytes of a parameter
            file; or the path of one.

    Raises:
        ValueError: The parameters are not a valid MLB parameter set.
        OSError: A path that cannot be read.
    """
    if source is None:
        model = loads(default_parameters())
    elif isinstance(source, bytes):
        model = loads(source)
    else:
        model = loads(Path(source).read_bytes())
    # Build the common table now (about 0.2 s) rather than on a live game's first play, and
    # the strength levels next to it (15 ms each), between which most pregame priors fall.
    model.table()
    for k in (-1, 1):
        model._level(9, False, k)
    return model
