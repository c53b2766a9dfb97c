"""Whether a gauge grows multiplicatively, so that it is read on the log scale."""
from __future__ import annotations

import numpy as np

# The log fit must leave at most this share of the linear fit's residual variance: a clear
# preference, not one that noise around a flat level can flip.
_CLEARLY_BETTER = 0.8


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


def _on_log_scale(s) -> bool:
    """Whether prepared series `s` was put on the log scale (its inverse is exp)."""
    return s.inverse is np.exp


def _trend_residual_var(t: np.ndarray, v: np.ndarray) -> float:
    """Residual variance of `v` around its least-squares line in `t` (centred)."""
    slope = (t @ (v - v.mean())) / (t @ t) if t @ t > 0 else 0.0
    return float(np.mean((v - v.mean() - slope * t) ** 2))
