"""Whether a gauge is read on the log scale: it grows multiplicatively and its noise is
proportional to its level."""
from __future__ import annotations

import numpy as np

from ctxmetrics.detect.robust import mad

# The log fit must leave at most this share of the linear fit's residual variance: a clear
# preference, not one that noise around a flat level can flip.
_CLEARLY_BETTER = 0.8
# n times the sampling variance of the log of a MAD of n normal values (1.36 as n grows,
# 1.44 at n = 20), and how many of the resulting standard errors of a log ratio of two
# halves' spreads the log scale's unevenness must exceed to be more than chance
_LOG_MAD_VARIANCE = 1.4
_BEYOND_CHANCE = 2.0


def _positive(values: np.ndarray, valid: np.ndarray) -> bool:
    """Whether a gauge has enough valid values, all of them > 0, to be read on the log scale."""
    return int(valid.sum()) >= 8 and bool(np.all(values[valid] > 0))


def _grows_multiplicatively(linear: np.ndarray, logs: np.ndarray, use: np.ndarray) -> bool:
    """Whether a linear trend fits a positive gauge's logarithm (`logs`) clearly better
    than the gauge itself (`linear`), each with its season out, over the `use` periods.

    Box-Cox's comparison of the two scales: the residual variances put on one footing,
    the log fit's scaled by the squared geometric mean. A GDP or a revenue compounding a
    few percent a period is a straight line on the log scale and a curve on its own: a
    linear trend leaves the curve in, and the detector cut it into a staircase of level
    shifts (`benchmarks/yearly_steps.py`, growth class: 199 of 200 clean series flagged).
    A series without any variation (a noiseless level: residuals all 0) stays as it is.
    """
    if use.sum() < 8:
        return False
    t = np.flatnonzero(use).astype(float)
    t -= t.mean()
    own, logarithmic = _trend_residual_var(t, linear[use]), _trend_residual_var(t, logs[use])
    if not own > 0 or not logarithmic > 0:
        return False
    return logarithmic * np.exp(2 * logs[use].mean()) <= _CLEARLY_BETTER * own


def _log_scale_fits(linear: np.ndarray, logs: np.ndarray, use: np.ndarray) -> bool:
    """Whether a positive gauge is read on the log scale: it grows multiplicatively and its
    noise is proportional to its level (`_evens_the_spread`)."""
    return _grows_multiplicatively(linear, logs, use) and _evens_the_spread(linear, logs, use)


def _evens_the_spread(linear: np.ndarray, logs: np.ndarray, use: np.ndarray) -> bool:
    """Whether the log scale leaves the noise of a gauge's lower levels about as large as
    that of its upper levels, measured against the gauge's own scale (Tukey's spread
    against level, in two halves).

    The spread is the MAD of the period-to-period steps where the level is below its
    median and where it is above. Noise proportional to the level is even on the log scale
    and uneven on the gauge's own; noise of one size (a series rising from near zero: an
    adoption curve, a quantity recorded since it was small) is the other way round: the
    log scale stretches its lower levels' noise into dips and spikes. Box-Cox's comparison
    (`_grows_multiplicatively`) reads the trend's shape only and takes such an
    accelerating rise for compounding growth. The log scale is refused when its lower
    half's spread exceeds its upper half's by more than the gauge's own scale leaves
    either half's above the other's, beyond the halves' sampling error.
    """
    own, logarithmic = linear[use], logs[use]
    level = (own[1:] + own[:-1]) / 2
    upper = level > np.median(level)
    own_lower, own_upper = _half_spreads(np.diff(own), upper)
    log_lower, log_upper = _half_spreads(np.diff(logarithmic), upper)
    if not min(own_lower, own_upper, log_lower, log_upper) > 0:
        return False  # a half without spread: no evidence for the log scale
    own_uneven = abs(np.log(own_upper / own_lower))
    chance = _BEYOND_CHANCE * np.sqrt(_LOG_MAD_VARIANCE * (1 / upper.sum() + 1 / (~upper).sum()))
    return bool(np.log(log_lower / log_upper) <= own_uneven + chance)


def _half_spreads(steps: np.ndarray, upper: np.ndarray) -> tuple[float, float]:
    """Spread (scaled MAD) of the steps at the lower and at the `upper` levels."""
    return mad(steps[~upper]), mad(steps[upper])


def _on_log_scale(s) -> bool:
    """Whether prepared series `s` was put on the log scale (its inverse is exp)."""
    return s.inverse is np.exp


def _trend_residual_var(t: np.ndarray, v: np.ndarray) -> float:
    """Residual variance of `v` around its least-squares line in `t` (centred)."""
    slope = (t @ (v - v.mean())) / (t @ t) if t @ t > 0 else 0.0
    return float(np.mean((v - v.mean() - slope * t) ** 2))
