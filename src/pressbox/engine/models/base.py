"""The seam every win-probability model fills, and the sport-neutral scoring of predictions.

:class:`WinProbabilityModel` is what the processor and the API call: a state in, a
:class:`~pressbox.engine.events.WinProbability` and a leverage index out; a
:class:`PriorModel` also starts a game at a pregame prior (:func:`prior_model` tells which
models do). The functions
below score a model against results (Brier score, log loss, expected calibration error,
reliability bins) and fit the small logistic baselines models are compared with; they take
plain sequences of numbers so every sport can use them.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, cast, runtime_checkable

import numpy as np
import numpy.typing as npt

from pressbox.engine.events import GameState, WinProbability

LOG_LOSS_EPSILON = 1e-6
"""Predictions are clipped to [ε, 1 − ε] for the log loss, so one sure-but-wrong answer
costs log(1/ε) ≈ 13.8 instead of infinity."""


@runtime_checkable
class WinProbabilityModel(Protocol):
    """A fitted model that answers for the states of one sport."""

    @property
    def name(self) -> str:
        """Short model name (``"mlb-markov"``)."""

    @property
    def version(self) -> str:
        """What the model was fitted on, e.g. the training seasons (``"2015-2016"``)."""

    def win_probability(self, state: GameState) -> WinProbability:
        """The home, away and tie probabilities of the game in ``state``."""

    def leverage(self, state: GameState) -> float:
        """The leverage index of ``state``: 1.0 is an average situation."""


class PriorModel(Protocol):
    """A model whose answers start a game at a pregame prior (the MLB and NFL models)."""

    def win_probability(self, state: GameState, prior: float | None = None) -> WinProbability:
        """The probabilities of ``state`` for a game whose home team's pregame win
        probability is ``prior`` (``None``: the model's own start)."""


def prior_model(model: WinProbabilityModel) -> PriorModel | None:
    """The model as a :class:`PriorModel` if its ``win_probability`` takes ``prior``, else None.

    The signature is read, not assumed: a model written before priors, or a wrapper that
    does not hand ``prior`` on (a timing proxy), still serves a game, without a prior.
    """
    return cast(PriorModel, model) if _takes_prior(type(model)) else None


@functools.cache
def _takes_prior(kind: type) -> bool:
    # Once per class: reading a signature costs tens of microseconds, a game's start less.
    method = getattr(kind, "win_probability", None)
    try:
        return method is not None and "prior" in inspect.signature(method).parameters
    except (TypeError, ValueError):  # no signature to read (a builtin): assume none
        return False


@dataclass(frozen=True, slots=True)
class ReliabilityBin:
    """One bin of a reliability diagram.

    Args:
        lo: Lower edge of the predicted probability (inclusive).
        hi: Upper edge (exclusive, except for the last bin).
        predicted: Mean prediction in the bin.
        actual: Observed frequency of the event in the bin.
        n: Number of predictions in the bin.
    """

    lo: float
    hi: float
    predicted: float
    actual: float
    n: int


@dataclass(frozen=True, slots=True)
class Scores:
    """How well a set of probabilities predicted binary results.

    Args:
        n: Number of predictions.
        brier: Mean squared error of the probabilities (lower is better).
        log_loss: Mean negative log likelihood, natural log, predictions clipped by
            :data:`LOG_LOSS_EPSILON`.
        ece: Expected calibration error: the n-weighted mean of |predicted − actual| over the
            reliability bins.
        bins: The non-empty reliability bins.
    """

    n: int
    brier: float
    log_loss: float
    ece: float
    bins: tuple[ReliabilityBin, ...]

    def to_dict(self) -> dict[str, object]:
        """The JSON shape used by ``pressbox calibrate``."""
        return {
            "n": self.n,
            "brier": self.brier,
            "log_loss": self.log_loss,
            "ece": self.ece,
            "bins": [
                {"lo": b.lo, "hi": b.hi, "predicted": b.predicted, "actual": b.actual, "n": b.n}
                for b in self.bins
            ],
        }


def score_predictions(
    predicted: Sequence[float] | npt.NDArray[np.float64],
    actual: Sequence[float] | npt.NDArray[np.float64],
    *,
    bins: int = 10,
) -> Scores:
    """Score probabilities against 0/1 results.

    Args:
        predicted: Probabilities of the event, each in [0, 1].
        actual: 1.0 when the event happened, else 0.0; as long as ``predicted``.
        bins: Number of equal-width reliability bins over [0, 1] (default 10).

    Returns:
        The Brier score, log loss, expected calibration error and reliability bins.

    Raises:
        ValueError: The sequences differ in length, are empty, or ``bins`` < 1.
    """
    p = np.asarray(predicted, dtype=np.float64)
    y = np.asarray(actual, dtype=np.float64)
    if p.shape != y.shape or p.ndim != 1:
        raise ValueError("predicted and actual must be flat sequences of the same length")
    if p.size == 0:
        raise ValueError("nothing to score")
    if bins < 1:
        raise ValueError("bins must be at least 1")
    brier = float(np.mean((p - y) ** 2))
    clipped = np.clip(p, LOG_LOSS_EPSILON, 1.0 - LOG_LOSS_EPSILON)
    log_loss = float(-np.mean(y * np.log(clipped) + (1.0 - y) * np.log(1.0 - clipped)))
    index = np.minimum((p * bins).astype(np.int64), bins - 1)
    counts = np.bincount(index, minlength=bins)
    sum_p = np.bincount(index, weights=p, minlength=bins)
    sum_y = np.bincount(index, weights=y, minlength=bins)
    out: list[ReliabilityBin] = []
    ece = 0.0
    for b in range(bins):
        n = int(counts[b])
        if n == 0:
            continue
        mean_p = float(sum_p[b] / n)
        mean_y = float(sum_y[b] / n)
        ece += n * abs(mean_p - mean_y)
        out.append(ReliabilityBin(b / bins, (b + 1) / bins, mean_p, mean_y, n))
    return Scores(p.size, brier, log_loss, ece / p.size, tuple(out))


def fit_logistic(
    features: npt.NDArray[np.float64],
    actual: npt.NDArray[np.float64],
    *,
    ridge: float = 1e-6,
    iterations: int = 50,
) -> npt.NDArray[np.float64]:
    """Fit a logistic regression by maximum likelihood (Newton's method).

    Args:
        features: The design matrix, one row per observation; include a column of ones for
            an intercept.
        actual: 0/1 results, one per row.
        ridge: A tiny L2 penalty that keeps the Newton steps defined when a feature
            separates the data (default 1e-6).
        iterations: Upper bound on Newton steps (default 50); it stops earlier once the
            step is below 1e-10.

    Returns:
        The coefficients, one per column.

    Raises:
        ValueError: The shapes do not match.
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(actual, dtype=np.float64)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError("features must be (n, k) and actual (n,)")
    beta = np.zeros(x.shape[1])
    for _ in range(iterations):
        p = logistic(x @ beta)
        w = p * (1.0 - p)
        gradient = x.T @ (y - p) - ridge * beta
        hessian = (x * w[:, None]).T @ x + ridge * np.eye(x.shape[1])
        step = np.linalg.solve(hessian, gradient)
        beta = beta + step
        if float(np.max(np.abs(step))) < 1e-10:
            break
    return beta


def logistic(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The logistic function 1 / (1 + e^−z), computed without overflow."""
    out: npt.NDArray[np.float64] = 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))
    return out


def logit(p: float) -> float:
    """The log odds of ``p`` (``p`` strictly between 0 and 1)."""
    return math.log(p / (1.0 - p))
