"""A smooth curved level for the calendar fit (a quadratic and a cubic beside the linear
trend, or for daily series an S-curve where it fits better), offered only where the
series bends clearly more than its noise."""
from __future__ import annotations

import functools

import numpy as np

from ctxmetrics.config import DetectionSettings

# the quadratic and the cubic: with the quartic and quintic too, S-curves bent less into
# steps but steps of 3-5 sds beside a curve were taken in (benchmarks/README.md, 9sm)
_COLUMNS = 2
_CURVE_CHANCE = 1e-3  # the quick test's chance: a straight level bends this much this rarely


@functools.lru_cache(maxsize=8)
def _curve_columns(n: int) -> np.ndarray:
    """Legendre polynomials of degree 2 to 1 + `_COLUMNS` on the periods scaled to [-1, 1]:
    the bend of an accelerating, S-shaped or flattening level beyond its linear trend.
    Orthogonal to the intercept and the trend over the periods, so that a curve does not
    change what the linear trend means. Built once per length (read-only: shared)."""
    from numpy.polynomial import legendre

    x = np.linspace(-1.0, 1.0, n) if n > 1 else np.zeros(n)
    columns = _orthogonal_to_line(legendre.legvander(x, 1 + _COLUMNS)[:, 2:])
    columns.flags.writeable = False
    return columns


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


# S-curves: the steepest point from a quarter of the series before it to a quarter after
# (the flattening and the accelerating halves of a logistic too), on a 1/16 grid
_LOGISTIC_MIDDLES = np.linspace(-0.25, 1.25, 25)
_LOGISTIC_STEEPNESS_RATIO = 1.5  # the grid of steepness, each this much steeper than the last
_LOGISTIC_FLATTEST = 3.0  # a logistic this flat over the series is a cubic's bend already
_TEN_TO_NINETY = 2 * np.log(9)  # a logistic's rise from 10% to 90%, in units of 1 / steepness


def _curve_for(y: np.ndarray, ok: np.ndarray, calendar: np.ndarray, daily: bool, settings: DetectionSettings,
               lrv: float) -> np.ndarray:
    """The curve columns the calendar fit is offered for `y`: the cubic's
    (`_curve_columns`), or for a daily series an S-curve's (`_logistic_columns`) where it
    takes more of what an intercept and `calendar` leave than the cubic does, by two steps'
    price (`lrv` the long-run variance the fit prices with). The cubic cannot follow a
    steep two-year adoption curve (daily logistic gauges were cut into ~4 changes a
    series); the logistic can.

    Both are two columns, priced alike in the fit (two steps). The S-curve's middle and
    steepness are chosen by a search, as a step's day is, and a search finds some S
    that takes part of a lasting step in (the daily accelerating gauges' steps turned into
    episodes where the S won at any margin); hence its margin. It rises no faster than
    over two level windows (`level_window_days` either side of a boundary), so that no
    S is a step. (Beside a curve, the fit prices a step at the noise around the curve,
    `calendar._remove_calendar`: at the curve's bends a 6-sd step beside an S cost more
    than it gained.)"""
    n, window = len(y), settings.level_window_days
    cubic = _curve_columns(n)
    if not daily or n < 4 * window:
        return cubic
    step_price = 0.5 * (1.5 * settings.min_score) ** 2 * lrv  # as `calendar._fit_with_steps` prices a step
    basis, _ = np.linalg.qr(np.column_stack((np.ones(n), calendar))[ok])  # of what the calendar fit holds already
    rest = y[ok] - basis @ (basis.T @ y[ok])
    candidates = _logistic_candidates(n, window)

    def taken(columns: np.ndarray) -> np.ndarray:
        """The sum of squares each pair of `columns` (n x 2 * pairs) takes from `rest`
        beside the calendar: each pair's own least-squares fit, less the calendar's share."""
        on_ok = columns[ok]
        shared = (on_ok.T @ basis).reshape(-1, 2, basis.shape[1])
        pairs = on_ok.T.reshape(-1, 2, len(rest))
        gram = pairs @ pairs.transpose(0, 2, 1) - shared @ shared.transpose(0, 2, 1)
        cy = pairs @ rest
        solved = np.linalg.solve(gram + 1e-9 * np.eye(2), cy[..., None])[..., 0]
        return np.einsum("pk,pk->p", cy, solved)

    gains = taken(candidates)
    best = int(np.argmax(gains))
    if gains[best] <= taken(cubic)[0] + 2 * step_price:
        return cubic
    return candidates[:, 2 * best:2 * best + 2]


@functools.lru_cache(maxsize=8)
def _logistic_candidates(n: int, window: int) -> np.ndarray:
    """`_logistic_columns` of every middle and steepness of the grid, each less its line
    (`_orthogonal_to_line`), side by side (n x 2 * pairs); the steepest rises from 10% to
    90% over `2 * window` periods. Built once per length (read-only: shared)."""
    x = np.linspace(0.0, 1.0, n)
    columns = _orthogonal_to_line(np.column_stack([_logistic_columns(x, m, k) for k in _logistic_steepness(n, window)
                                                   for m in _LOGISTIC_MIDDLES]))
    columns.flags.writeable = False
    return columns


def _logistic_steepness(n: int, window: int) -> np.ndarray:
    """The steepness grid of the S-curves of `n` periods (per unit of the series scaled to
    [0, 1]): from `_LOGISTIC_FLATTEST` up by `_LOGISTIC_STEEPNESS_RATIO`, the steepest
    rising from 10% to 90% over `2 * window` periods."""
    steepest = _TEN_TO_NINETY * (n - 1) / (2 * window)
    count = max(int(np.floor(np.log(steepest / _LOGISTIC_FLATTEST) / np.log(_LOGISTIC_STEEPNESS_RATIO))) + 1, 1)
    return _LOGISTIC_FLATTEST * _LOGISTIC_STEEPNESS_RATIO ** np.arange(count)


def _logistic_columns(x: np.ndarray, middle: float, steepness: float) -> np.ndarray:
    """A logistic rise on `x` (0 to 1) steepest at `middle`, and its derivative in the
    middle: beside it, the fit moves the steepest point a little either way."""
    rise = 1.0 / (1.0 + np.exp(-steepness * (x - middle)))
    return np.column_stack((rise, rise * (1.0 - rise)))


def _orthogonal_to_line(columns: np.ndarray) -> np.ndarray:
    """`columns` less their least-squares fit by an intercept and a line over the periods:
    a curve does not change what the linear trend means."""
    n = len(columns)
    line = np.column_stack((np.ones(n), np.linspace(-1.0, 1.0, n) if n > 1 else np.zeros(n)))
    return columns - line @ np.linalg.lstsq(line, columns, rcond=None)[0]
