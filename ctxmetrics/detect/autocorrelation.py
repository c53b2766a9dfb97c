"""The long-run variance of a gauge whose noise wanders, read off its variogram."""
from __future__ import annotations

import numpy as np

from ctxmetrics.detect.robust import mad, median

_CLEAR = 3.0  # phi's z above 0 (white noise) beyond which it counts


def _lag_differences(y: np.ndarray, index: np.ndarray, ok: np.ndarray, lag: int) -> np.ndarray:
    """y[t] - y[t - lag] over the periods `lag` apart (by `index`) that are both `ok`."""
    if ok.all() and index[-1] - index[0] == len(index) - 1:  # no gap: every period's pair is `lag` on
        return y[lag:] - y[:-lag]
    pos = np.flatnonzero(ok)
    later = np.searchsorted(index[pos], index[pos] + lag)
    paired = later < len(pos)
    paired[paired] = index[pos[later[paired]]] == index[pos[paired]] + lag
    return y[pos[later[paired]]] - y[pos[paired]]


def _mean_square_difference(y: np.ndarray, index: np.ndarray, ok: np.ndarray, lag: int) -> tuple[float, int]:
    """The mean square of the `lag` differences (`_lag_differences`), those beyond 5
    robust sds left out (a step or an episode moves only the differences at its ends),
    and how many were averaged."""
    d = _lag_differences(y, index, ok, lag)
    if d.size < 2:
        return 0.0, 0
    spread = mad(d)
    inner = d[np.abs(d - median(d)) <= 5.0 * spread] if spread > 0 else d
    return float(np.mean(inner**2)), int(inner.size)


def _window_long_run_var(y: np.ndarray, index: np.ndarray, ok: np.ndarray, width: int) -> float:
    """The long-run variance per period of `y` on windows of `width` periods: `width` / 2
    times the variance of the difference of two adjacent means of `width` periods, from
    the variogram of `y`. 0 where the lag-1 autocorrelation is not clearly above 0 (the
    caller keeps its own estimate).

    The variogram g(k) = var(y[t] - y[t-k]) gives the variance of any contrast of
    periods (weights a summing to 0) as -1/2 sum_ij a_i a_j g(|i - j|), here two adjacent
    windows. Differences need no level, which the autocorrelation of residuals around a
    fitted level does: a step left in them reads as autocorrelation, and a fit's own
    steps take the wander in too. Each lag's g(k) is the squared robust sd of its
    differences: a trend moves only their median, and a step or an episode only the
    differences across its ends (k of them at lag k), which a mean square would take in
    whole when the step is as small as the wander. Not an AR(1)
    fitted to the first lags: its long-run variance hinges on 1 - phi, which a few
    hundred periods do not measure (at phi 0.9 and 250 periods the estimate of phi has
    an sd of 0.12); and on the window's own width, not in the limit of long windows,
    which is far above what a window of a few periods varies by when phi is near 1.
    """
    g1, n1 = _mean_square_difference(y, index, ok, 1)
    g2, n2 = _mean_square_difference(y, index, ok, 2)
    if g1 <= 0 or min(n1, n2) < 24:
        return 0.0
    # the AR(1) variogram is 2 s2 (1 - phi^k): phi = g(2) / g(1) - 1, about 0 with an sd
    # of ~1.45 / sqrt(n) for white noise (simulated, n 30-730: the two mean squares share
    # their terms); below `_CLEAR` of those the series is judged white
    if g2 / g1 - 1.0 < _CLEAR * 1.45 / np.sqrt(min(n1, n2)):
        return 0.0
    lags = np.abs(np.subtract.outer(np.arange(2 * width), np.arange(2 * width)))
    variogram = np.array([0.0] + [mad(_lag_differences(y, index, ok, k)) ** 2 for k in range(1, 2 * width)])
    weights = np.repeat([-1.0 / width, 1.0 / width], width)
    return float(width / 2.0 * -0.5 * (weights @ variogram[lags] @ weights))
