"""A smooth curved level (a quadratic and a cubic beside the linear trend) for the calendar
fit, offered only where the series bends clearly more than its noise."""
from __future__ import annotations

import numpy as np

# the quadratic and the cubic: with the quartic and quintic too, S-curves bent less into
# steps but steps of 3-5 sds beside a curve were taken in (benchmarks/README.md, 9sm)
_COLUMNS = 2
_CURVE_CHANCE = 1e-3  # the quick test's chance: a straight level bends this much this rarely


def _curve_columns(n: int) -> np.ndarray:
    """Legendre polynomials of degree 2 to 1 + `_COLUMNS` on the periods scaled to [-1, 1]:
    the bend of an accelerating, S-shaped or flattening level beyond its linear trend.
    Orthogonal to the intercept and the trend over the periods, so that a curve does not
    change what the linear trend means."""
    from numpy.polynomial import legendre

    x = np.linspace(-1.0, 1.0, n) if n > 1 else np.zeros(n)
    columns = legendre.legvander(x, 1 + _COLUMNS)
    line, curve = columns[:, :2], columns[:, 2:]
    return curve - line @ np.linalg.lstsq(line, curve, rcond=None)[0]  # orthogonal on the grid itself


def _curve_may_matter(y: np.ndarray, ok: np.ndarray, lrv: float, calendar: np.ndarray) -> bool:
    """Whether the level of `y` bends beyond its `calendar` (the linear trend, and the season
    and closes where fitted) more than its noise (`lrv`, the long-run variance per period)
    lets noise alone bend it: a least-squares fit of an intercept, `calendar` and
    `_curve_columns`, the curve's Wald test at `_CURVE_CHANCE`.

    The cheap gate before the calendar fit offers a curve at all: a clean flat or straight
    gauge fails it and is fitted as before. A lasting step passes it too
    (a step bends a line): there the step and the curve compete in the fit itself."""
    from ctxmetrics.detect.calendar import _chi2_threshold  # calendar imports this module

    n = len(y)
    design = np.column_stack((np.ones(n), calendar, _curve_columns(n)))[ok]
    if lrv <= 0 or len(design) <= 2 * design.shape[1]:
        return False
    gram = np.linalg.pinv(design.T @ design)
    coef = gram @ (design.T @ y[ok])
    curve = slice(-_COLUMNS, None)
    try:
        wald = float(coef[curve] @ np.linalg.solve(gram[curve, curve], coef[curve])) / lrv
    except np.linalg.LinAlgError:  # the curve is no more than the calendar already holds
        return False
    return wald >= _chi2_threshold(_COLUMNS, _CURVE_CHANCE)
