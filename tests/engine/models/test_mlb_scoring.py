"""Scoring predictions (Brier, log loss, calibration) and the logistic baseline fit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pressbox.engine.models.base import (
    LOG_LOSS_EPSILON,
    fit_logistic,
    logistic,
    logit,
    score_predictions,
)


def test_perfect_predictions_score_zero():
    """Certain and right: Brier 0, log loss at the clip floor, no calibration error."""
    scores = score_predictions([1.0, 0.0, 1.0], [1.0, 0.0, 1.0])
    assert scores.n == 3
    assert scores.brier == 0.0
    assert scores.log_loss == pytest.approx(-math.log(1 - LOG_LOSS_EPSILON))
    assert scores.ece == 0.0
    assert [(b.lo, b.hi, b.n) for b in scores.bins] == [(0.0, 0.1, 1), (0.9, 1.0, 2)]


def test_scores_of_a_coin_flip():
    """Always 0.5: Brier 0.25, log loss ln 2, ECE the distance to the observed rate."""
    scores = score_predictions([0.5] * 4, [1.0, 1.0, 1.0, 0.0], bins=4)
    assert scores.brier == pytest.approx(0.25)
    assert scores.log_loss == pytest.approx(math.log(2))
    assert scores.ece == pytest.approx(0.25)
    (only,) = scores.bins
    assert (only.lo, only.hi, only.predicted, only.actual) == (0.5, 0.75, 0.5, 0.75)
    doc = scores.to_dict()
    assert doc["bins"] == [{"lo": 0.5, "hi": 0.75, "predicted": 0.5, "actual": 0.75, "n": 4}]
    assert set(doc) == {"n", "brier", "log_loss", "ece", "bins"}


def test_ece_weights_bins_by_their_size():
    """ECE is the n-weighted mean of |predicted − actual| over bins."""
    scores = score_predictions([0.15, 0.15, 0.85, 0.85], [0.0, 0.0, 1.0, 0.0])
    assert scores.ece == pytest.approx(0.5 * 0.15 + 0.5 * 0.35)


@pytest.mark.parametrize(
    ("predicted", "actual", "bins"),
    [([0.5], [1.0, 0.0], 10), ([], [], 10), ([0.5], [1.0], 0), ([[0.5]], [[1.0]], 10)],
)
def test_bad_inputs_are_refused(predicted, actual, bins):
    """Mismatched, empty or nested inputs and zero bins raise ValueError."""
    with pytest.raises(ValueError, match=r"(same length|nothing|bins)"):
        score_predictions(predicted, actual, bins=bins)


def test_logistic_fit_recovers_known_coefficients():
    """Maximum likelihood on data drawn from a logistic model finds its coefficients."""
    rng = np.random.default_rng(7)
    x = np.column_stack([np.ones(20000), rng.normal(size=20000), rng.uniform(size=20000)])
    truth = np.array([0.3, -1.2, 0.8])
    y = (rng.uniform(size=20000) < logistic(x @ truth)).astype(float)
    beta = fit_logistic(x, y)
    assert beta == pytest.approx(truth, abs=0.08)


def test_logistic_fit_survives_separable_data():
    """A feature that separates the classes gives a large, finite coefficient."""
    x = np.column_stack([np.ones(6), np.array([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0])])
    y = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    beta = fit_logistic(x, y, iterations=30)
    assert np.all(np.isfinite(beta))
    assert beta[1] > 1.0
    assert fit_logistic(x, y, iterations=1)[1] < beta[1]


def test_logistic_fit_checks_shapes():
    """Features must be a matrix with one row per result."""
    with pytest.raises(ValueError, match="features"):
        fit_logistic(np.ones(3), np.ones(3))


def test_logistic_and_logit_are_inverse():
    """logit undoes the logistic function."""
    assert logistic(np.array([0.0]))[0] == 0.5
    assert logit(float(logistic(np.array([1.7]))[0])) == pytest.approx(1.7)
