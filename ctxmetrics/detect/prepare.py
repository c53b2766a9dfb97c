"""Preparation: a series on its grid, season removed, variance stabilised (`_Series`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ctxmetrics.detect.log_scale import _log_scale_fits, _positive
from ctxmetrics.detect.robust import mad, median, median_and_mad_rows, median_rows


KINDS = ("count", "ratio", "gauge")
_DEAD_WEEKDAY = 0.05  # a weekday below 5% of a normal day (no weekend trade) carries no signal


@dataclass
class _Series:
    """A series ready for detection: only its valid days, in order."""

    index: np.ndarray  # day index (into the input) of each kept day
    weekday: np.ndarray  # 0=Monday
    y: np.ndarray  # stabilised, deseasonalised values
    num: np.ndarray  # level units: numerator (deseasonalised count, ratio numerator, gauge)
    den: np.ndarray  # level units: denominator (1, or the ratio denominator)
    known: np.ndarray  # True on annotated days where the normal pattern does not hold
    floor_var: np.ndarray  # sampling variance of y per day (Poisson or binomial), 0 for gauges
    factor: np.ndarray  # weekday factor of each day (counts; 1 otherwise)
    shape: float | None  # counts: gamma shape of the overdispersion; None otherwise
    inverse: Callable[[np.ndarray], np.ndarray]  # stabilised scale back to level units

    @property
    def sized(self) -> bool:
        """Counts and rates: their changes are relative, so `min_change_pct` applies."""
        return self.shape is not None or bool(self.floor_var.any())


def _centered_mean(v: np.ndarray, ok: np.ndarray, width: int = 7) -> np.ndarray:
    """Centered moving mean over `width` days of the `ok` entries (NaN where none), along
    the last axis (each row of a matrix as on its own)."""
    n = v.shape[-1]
    lead = np.zeros(v.shape[:-1] + (1,))
    cs = np.concatenate((lead, np.cumsum(np.where(ok, v, 0.0), axis=-1)), axis=-1)
    ck = np.concatenate((lead.astype(np.int64), np.cumsum(ok, axis=-1)), axis=-1)
    half = width // 2
    lo = np.clip(np.arange(n) - half, 0, n)
    hi = np.clip(np.arange(n) + half + 1, 0, n)
    count = ck[..., hi] - ck[..., lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (cs[..., hi] - cs[..., lo]) / count, np.nan)


def _weekday_medians(r: np.ndarray, weekday: np.ndarray, ok: np.ndarray, default: float, period: int = 7) -> np.ndarray:
    """Median of `r` per phase of the season (weekday) over `ok` days (`default` where none)."""
    profile = np.full(period, default)
    for day in range(period):
        sel = r[ok & (weekday == day)]
        if sel.size:
            profile[day] = median(sel)
    return profile


def _multiplicative_profile(x: np.ndarray, weekday: np.ndarray, ok: np.ndarray, period: int) -> np.ndarray:
    """Seasonal factors (mean 1) from the median ratio of each period to its cycle's mean.

    At low volume a median of counts can be 0 for a phase that has events (below ~0.7 a
    day), which would drop it as dead and leave the other factors coarse: the factors are
    then events over expected events, without the days an episode or a close moved."""
    if period < 2:
        return np.ones(1)
    local = _centered_mean(x, ok, period | 1)
    usable = ok & (local > 0)
    ratio = np.divide(x, local, out=np.ones_like(x), where=usable)
    profile = np.maximum(_weekday_medians(ratio, weekday, usable, 1.0, period), 0.0)
    if np.any((profile == 0) & (np.bincount(weekday[usable], x[usable], period) > 0)):
        profile = _ratio_of_sums(x, local, weekday, usable, period)
        # outlying days: beyond 3.5 Poisson sds (1 on the root scale) of the count the
        # other days of their week lead to expect
        width = period | 1
        others = np.maximum(width * local - x, 0.0) / (width - 1)
        inlier = usable & (np.abs(2.0 * (np.sqrt(x) - np.sqrt(profile[weekday] * others))) <= 3.5)
        profile = _ratio_of_sums(x, local, weekday, inlier, period)
    return profile / profile.mean() if profile.mean() > 0 else np.ones(period)


def _ratio_of_sums(x: np.ndarray, local: np.ndarray, weekday: np.ndarray, use: np.ndarray, period: int) -> np.ndarray:
    """Events over expected events per phase of the season (the Poisson estimate of its
    factor; 1 where a phase has no days)."""
    phase = weekday[use]
    events, exposure = np.bincount(phase, x[use], period), np.bincount(phase, local[use], period)
    return np.divide(events, exposure, out=np.ones(period), where=exposure > 0)


def _additive_profile(y: np.ndarray, weekday: np.ndarray, ok: np.ndarray, period: int) -> np.ndarray:
    """Seasonal offsets (mean 0) from the median difference of each period to its cycle's mean."""
    if period < 2:
        return np.zeros(1)
    local = _centered_mean(y, ok, period | 1)
    usable = ok & np.isfinite(local)
    profile = _weekday_medians(np.where(usable, y - local, 0.0), weekday, usable, 0.0, period)
    return profile - profile.mean()


def _prepare(values, settings, kind, denominator, known_mask, start_weekday, period=7) -> _Series | None:
    """Validate, deseasonalise and stabilise a series; None when it has too few known periods.

    `period` is the season removed (7: weekdays of a daily series, 12: months of a monthly
    series with >= 3 years, 1: none); `start_weekday` is the phase of period 0.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}.")
    values = np.asarray(values, dtype=float)
    n = len(values)
    known = np.zeros(n, bool) if known_mask is None else np.asarray(known_mask, bool)
    if known.shape != values.shape:
        raise ValueError("known_mask must have the same length as values.")
    weekday = (start_weekday + np.arange(n)) % max(period, 1)
    if kind == "count":
        present = np.isfinite(values)
        x = np.where(present, np.maximum(values, 0.0), 0.0)
        profile = _multiplicative_profile(x, weekday, present & ~known, period)
        factor = profile[weekday]
        valid = present & (factor >= _DEAD_WEEKDAY)
        num = np.divide(x, factor, out=np.zeros(n), where=valid)
        shape = _nb_shape(num, factor, valid & ~known)
        y = nb_transform(num, shape)
        den = np.ones(n)
        typical = float(median(num[valid])) if valid.any() else 0.0
        floor_var = np.divide(1.0, factor * (1.0 + typical / shape), out=np.zeros(n), where=valid)
        inverse = _NBInverse(shape)
    elif kind == "ratio":
        if denominator is None:
            raise ValueError("a ratio series needs its denominator counts.")
        den = np.nan_to_num(np.asarray(denominator, dtype=float))
        if den.shape != values.shape:
            raise ValueError("denominator must have the same length as values.")
        if n == 0 or median(den) < settings.min_denominator:
            return None
        # every day with trials is evidence, weighed by them (`noise._beta_binomial_scales`);
        # a quiet day's few trials cannot make a signal alone (`episodes._rate_window_cap`)
        valid = np.isfinite(values) & (den > 0)
        num = np.where(valid, np.maximum(values, 0.0), 0.0)
        # any day with both counts is evidence, also one whose denominator is too small to judge
        both = np.isfinite(values) & np.isfinite(np.asarray(denominator, dtype=float))
        if np.any(both & (values > den)):
            y, floor_var, inverse = _ratio_of_counts(num, den, valid, weekday, known, period)
        else:
            rate = np.divide(num, den, out=np.zeros(n), where=valid)
            raw = np.arcsin(np.sqrt(rate))
            y = raw - _additive_profile(raw, weekday, valid & ~known, period)[weekday]
            floor_var = np.divide(0.25, den, out=np.zeros(n), where=valid)
            inverse = _arcsine_inverse
    else:
        valid = np.isfinite(values)
        raw = np.where(valid, values, 0.0)
        y = raw - _additive_profile(raw, weekday, valid & ~known, period)[weekday]
        inverse = _identity
        if _positive(raw, valid):
            logs = np.log(np.where(valid, raw, 1.0))
            logs -= _additive_profile(logs, weekday, valid & ~known, period)[weekday]
            if _log_scale_fits(y, logs, valid & ~known):
                # trend and season multiplicative; levels still reported in the gauge's units
                y, inverse = logs, np.exp
        num, den, floor_var = inverse(y), np.ones(n), np.zeros(n)
    if valid.sum() < 4 * settings.min_segment_days:
        return None
    if kind != "count":
        factor, shape = np.ones(n), None
    return _Series(
        index=np.flatnonzero(valid), weekday=weekday[valid], y=y[valid], num=num[valid],
        den=den[valid], known=known[valid], floor_var=floor_var[valid], inverse=inverse,
        factor=factor[valid], shape=shape,
    )


def _prepare_many(values: np.ndarray, settings, kind, denominators, known_masks, start_weekday, period=7) -> list[_Series | None]:
    """`_prepare` of each row of `values` (rows x periods, one calendar), the same series
    as row by row. Count rows with every period present, none known and every weekday
    live (the usual rows of a scan) share the days each median is taken over, so their
    weekday profiles, shapes and typical days are taken as matrices; other rows are
    prepared one by one."""
    values = np.asarray(values, dtype=float)
    known = np.zeros(values.shape, bool) if known_masks is None else np.asarray(known_masks, bool)
    out: list[_Series | None] = [None] * len(values)
    plain = np.zeros(len(values), bool)
    if kind == "count" and period >= 2 and values.shape[1] >= max(14, 4 * settings.min_segment_days):
        plain = np.isfinite(values).all(axis=1) & ~known.any(axis=1)
        rows = np.flatnonzero(plain)
        if rows.size:
            prepared = _plain_counts(values[rows], start_weekday, period)
            for row, s in zip(rows, prepared):
                out[row] = s
            plain[rows] = [s is not None for s in prepared]
    for row in np.flatnonzero(~plain):
        den = None if denominators is None else denominators[row]
        out[row] = _prepare(values[row], settings, kind, den, known[row], start_weekday, period)
    return out


def _plain_counts(values: np.ndarray, start_weekday: int, period: int) -> list[_Series | None]:
    """`_prepare` of count rows with every period present and none known; None for a row
    whose weekday profile needs more than the median ratios (a median of 0, a dead
    weekday, a week without events), left to `_prepare`."""
    n = values.shape[1]
    weekday = (start_weekday + np.arange(n)) % period
    phases = [np.flatnonzero(weekday == day) for day in range(period)]
    ok = np.ones(values.shape, bool)
    x = np.maximum(values, 0.0)
    local = _centered_mean(x, ok, period | 1)
    usable = (local > 0).all(axis=1)
    ratio = np.divide(x, local, out=np.ones_like(x), where=local > 0)
    profile = np.maximum(np.column_stack([median_rows(ratio[:, days]) for days in phases]), 0.0)
    events = np.column_stack([(x[:, days] > 0).any(axis=1) for days in phases])
    usable &= ~np.any((profile == 0) & events, axis=1)
    # means row by row: a mean along an axis may sum in another order than that of one row
    mean = np.array([row.mean() for row in profile])
    profile = np.where((mean > 0)[:, None], profile / np.where(mean > 0, mean, 1.0)[:, None], 1.0)
    factor = profile[:, weekday]
    usable &= (factor >= _DEAD_WEEKDAY).all(axis=1)
    num = np.divide(x, factor, out=np.zeros_like(x), where=factor > 0)  # rows with a dead weekday are left out
    week = _centered_mean(num, ok)
    spread = median_and_mad_rows(num - week)[1]
    typical = median_rows(num)
    poisson_var = [np.mean(row) for row in np.divide(week, factor, out=np.zeros_like(x), where=factor > 0)]
    out: list[_Series | None] = []
    for i in range(len(values)):
        if not usable[i]:
            out.append(None)
            continue
        shape = _shape_of(float(spread[i]), float(typical[i]), float(poisson_var[i]))
        out.append(_Series(
            index=np.arange(n), weekday=weekday.copy(), y=nb_transform(num[i], shape), num=num[i].copy(),
            den=np.ones(n), known=np.zeros(n, bool), floor_var=1.0 / (factor[i] * (1.0 + float(typical[i]) / shape)),
            inverse=_NBInverse(shape), factor=factor[i].copy(), shape=shape,
        ))
    return out


def _ratio_of_counts(num, den, valid, weekday, known, period):
    """Stabilised rate, its sampling variance and inverse for a rate that is not a proportion.

    A numerator above its denominator on some day (won today over opportunities today,
    when deals close days after they open) shows that the numerator is not drawn from the
    denominator: the two are counts of their own, and the rate carries the noise of both.
    Read as a proportion it looks heavy-tailed: a quiet day's denominator sends it to 1
    and beyond, which the binomial model calls a spike. Given their sum, the first of two
    independent Poisson counts is binomial with share r / (1 + r) (the conditional test
    of two Poisson rates), so the share num / (num + den) is stabilised as a proportion
    of num + den trials. Returns (y, floor_var, inverse); the inverse gives the rate.
    """
    trials = num + den
    share = np.divide(num, trials, out=np.zeros(len(num)), where=valid & (trials > 0))
    raw = np.arcsin(np.sqrt(share))
    y = raw - _additive_profile(raw, weekday, valid & ~known, period)[weekday]
    floor_var = np.divide(0.25, trials, out=np.zeros(len(num)), where=valid & (trials > 0))
    return y, floor_var, _share_inverse


def _share_inverse(y: np.ndarray) -> np.ndarray:
    """The rate r of a share r / (1 + r) on the arcsine scale."""
    share = np.sin(np.clip(y, 0.0, np.pi / 2 - 1e-6)) ** 2
    return share / (1.0 - share)


def nb_transform(u: np.ndarray, shape: float) -> np.ndarray:
    """Variance-stabilising transform of negative-binomial counts (variance ~1).

    2*sqrt(k)*asinh(sqrt((u + 3/8)/k)): Anscombe's 2*sqrt(u + 3/8) for counts well below
    the gamma shape k (Poisson-like), a log for counts well above it (overdispersed).
    """
    return 2.0 * np.sqrt(shape) * np.arcsinh(np.sqrt((np.maximum(u, 0.0) + 0.375) / shape))


class _NBInverse:
    """Inverse of `nb_transform` for one shape."""

    def __init__(self, shape: float):
        self.shape = shape

    def __call__(self, y: np.ndarray) -> np.ndarray:
        root = np.sqrt(self.shape)
        return np.maximum(self.shape * np.sinh(y / (2.0 * root)) ** 2 - 0.375, 0.0)


def _nb_shape(u: np.ndarray, factor: np.ndarray, ok: np.ndarray) -> float:
    """Gamma shape k of the overdispersion (variance = mean + mean^2/k), robustly.

    Residuals against the surrounding week's mean give the daily variance; what exceeds
    the Poisson variance (mean/weekday factor) is the overdispersion.
    """
    local = _centered_mean(u, ok)
    use = ok & np.isfinite(local)
    if use.sum() < 14:
        return 1e6
    return _shape_of(mad((u - local)[use]), float(median(u[use])), float(np.mean(local[use] / factor[use])))


def _shape_of(spread: float, mean: float, poisson_var: float) -> float:
    """The gamma shape from the robust sd of the residuals, the median count and the mean
    Poisson variance of a day (see `_nb_shape`)."""
    var = (spread**2) * 7 / 6  # a 7-day mean includes the day itself
    excess = var - poisson_var
    return float(np.clip(mean**2 / excess, 1.0, 1e6)) if excess > 0 else 1e6


def _arcsine_inverse(y: np.ndarray) -> np.ndarray:
    return np.sin(np.clip(y, 0.0, np.pi / 2)) ** 2


def _identity(y: np.ndarray) -> np.ndarray:
    return y


def _calendar_as_exposure(s: _Series, part: np.ndarray) -> None:
    """Counts with the calendar `part` (on the stabilised scale) taken out of `s.y`: the
    calendar's multiplier of a typical day joins the weekday factor as exposure, so that
    the events stay the events counted (a day without any stays 0, which the count
    likelihood needs) while `num` becomes the count of a normal day, as `y` does."""
    events = s.num * s.factor
    # the multiplier at the mean day (a median day of a sparse series has no event at all)
    typical = max(float(np.sum(events) / np.sum(s.factor)), 1e-9)
    multiplier = s.inverse(nb_transform(typical, s.shape) + part) / typical
    s.factor = s.factor * np.maximum(multiplier, 1e-9)
    s.num = events / s.factor
