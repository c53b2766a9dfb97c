"""The detector: one series (numpy) in, `Change` records out; a vectorised pre-screen.

`find_changes` is the single entry point (docs/contract.md, "How detection should work"):

1. Prepare: place the values on the grid of their frequency (gaps are NaN, unknown),
   remove the season of that frequency (weekdays; months of a monthly series) and
   stabilise the variance (negative binomial for counts, arcsine-sqrt for rates). Daily
   and weekly series with >= 13 months also lose the yearly season and the sales
   calendar (quarter- and month-end closes). Known days never shape normal.
2. Noise: a local level, per-weekday robust scales relative to each day's sampling
   variance, a tail scale the anomalies cannot inflate, and a long-run variance for
   autocorrelation.
3. Episodes: a multiscale scan of windows (1 day to `max_temporary_days`) against both
   flanks, scored as a whole (counts at low volume by their likelihood); short ones first.
4. Level shifts: ruptures KernelCPD (linear kernel) with a penalty from the long-run
   variance, every boundary re-measured on weighted windows; a shift that reverts becomes
   one temporary episode. Then the scan again for the episodes the boundaries missed.

`prescreen` is the cheap vectorised filter over many series run before `find_changes`.
"""
from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ctxmetrics.config import DetectionSettings

KINDS = ("count", "ratio", "gauge")
_MAD_TO_SD = 1.4826
_DEAD_WEEKDAY = 0.05  # a weekday below 5% of a normal day (no weekend trade) carries no signal
_BLOCKS = (7, 14, 28)  # block lengths (days) for the long-run variance
_PRESCREEN_CHUNK = 2048  # rows per chunk: keeps a 100k x 730 screen within a few hundred MB


@dataclass(frozen=True)
class Change:
    """One detected anomaly in a daily series.

    `start`/`end` are day indexes into the input array; `end` is inclusive and None for a
    persistent level shift. `before`/`after` are typical daily levels in the metric's units
    (a count per day, or a rate); `score` is the effect in robust noise units.
    """

    kind: str
    direction: str
    start: int
    end: int | None
    before: float
    after: float
    change_pct: float
    score: float
    unit: str = "per day"  # "per day"/"per week"/... for counts, "rate", or "" (a gauge's own units)
    frequency: str = "daily"
    start_date: object = None  # datetime.date of `start` when dates were given
    end_date: object = None


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


@dataclass
class _Noise:
    """Robust noise model of one prepared series."""

    level: np.ndarray  # local typical level of y (rolling median)
    scale: np.ndarray  # robust sd of y per day (the body of the distribution)
    tail: np.ndarray  # robust sd of y per day for single-day judgements (covers heavy tails)
    z: np.ndarray  # robust residual per day in noise units (counts: capped by the exact tail)
    day_var: float  # typical daily variance of y
    lrv: float  # long-run variance of y per day (>= day_var)

    def se2(self, n: np.ndarray | float) -> np.ndarray | float:
        """Variance of the mean of `n` consecutive days, inflated for autocorrelation.

        The inflation grows from none for one day to the full long-run factor at a week.
        """
        n = np.maximum(n, 1)
        inflation = 1.0 + (self.lrv / self.day_var - 1.0) * np.minimum(n - 1, 6) / 6
        return self.day_var / n * inflation


# --------------------------------------------------------------------------- preparation


def _centered_mean(v: np.ndarray, ok: np.ndarray, width: int = 7) -> np.ndarray:
    """Centered moving mean over `width` days of the `ok` entries (NaN where none)."""
    n = len(v)
    cs = np.concatenate(([0.0], np.cumsum(np.where(ok, v, 0.0))))
    ck = np.concatenate(([0], np.cumsum(ok)))
    half = width // 2
    lo = np.clip(np.arange(n) - half, 0, n)
    hi = np.clip(np.arange(n) + half + 1, 0, n)
    count = ck[hi] - ck[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (cs[hi] - cs[lo]) / count, np.nan)


def _median(v: np.ndarray):
    """`np.median` of a 1-D array, NaN included, at a fraction of its cost.

    The detector takes ~50 medians of short arrays per series; np.median's generic axis
    handling costs more than the partition itself there.
    """
    n = v.size
    if n == 0:
        return np.median(v)
    k = (n - 1) // 2
    # the last position is partitioned too, so a NaN (sorted last) shows up there
    part = np.partition(v, (k, n - 1) if n % 2 else (k, k + 1, n - 1))
    if np.isnan(part[-1]):
        return part[-1]
    return part[k] if n % 2 else (part[k] + part[k + 1]) / 2


def _weekday_medians(r: np.ndarray, weekday: np.ndarray, ok: np.ndarray, default: float, period: int = 7) -> np.ndarray:
    """Median of `r` per phase of the season (weekday) over `ok` days (`default` where none)."""
    profile = np.full(period, default)
    for day in range(period):
        sel = r[ok & (weekday == day)]
        if sel.size:
            profile[day] = _median(sel)
    return profile


def _multiplicative_profile(x: np.ndarray, weekday: np.ndarray, ok: np.ndarray, period: int) -> np.ndarray:
    """Seasonal factors (mean 1) from the median ratio of each period to its cycle's mean."""
    if period < 2:
        return np.ones(1)
    local = _centered_mean(x, ok, period | 1)
    usable = ok & (local > 0)
    ratio = np.divide(x, local, out=np.ones_like(x), where=usable)
    profile = np.maximum(_weekday_medians(ratio, weekday, usable, 1.0, period), 0.0)
    return profile / profile.mean() if profile.mean() > 0 else np.ones(period)


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
        typical = float(_median(num[valid])) if valid.any() else 0.0
        floor_var = np.divide(1.0, factor * (1.0 + typical / shape), out=np.zeros(n), where=valid)
        inverse = _NBInverse(shape)
    elif kind == "ratio":
        if denominator is None:
            raise ValueError("a ratio series needs its denominator counts.")
        den = np.nan_to_num(np.asarray(denominator, dtype=float))
        if den.shape != values.shape:
            raise ValueError("denominator must have the same length as values.")
        if n == 0 or _median(den) < settings.min_denominator:
            return None
        valid = np.isfinite(values) & (den >= settings.min_denominator)
        rate = np.clip(np.divide(values, den, out=np.zeros(n), where=valid), 0.0, 1.0)
        raw = np.arcsin(np.sqrt(rate))
        y = raw - _additive_profile(raw, weekday, valid & ~known, period)[weekday]
        num = np.where(valid, values, 0.0)
        floor_var = np.divide(0.25, den, out=np.zeros(n), where=valid)
        inverse = _arcsine_inverse
    else:
        valid = np.isfinite(values)
        raw = np.where(valid, values, 0.0)
        y = raw - _additive_profile(raw, weekday, valid & ~known, period)[weekday]
        num, den, floor_var = y, np.ones(n), np.zeros(n)
        inverse = _identity
    if valid.sum() < 4 * settings.min_segment_days:
        return None
    if kind != "count":
        factor, shape = np.ones(n), None
    return _Series(
        index=np.flatnonzero(valid), weekday=weekday[valid], y=y[valid], num=num[valid],
        den=den[valid], known=known[valid], floor_var=floor_var[valid], inverse=inverse,
        factor=factor[valid], shape=shape,
    )


_YEARLY_MIN_DAYS = 395  # 13 months: from here on the yearly season is part of normal
_CLOSE_DAYS = (7, 3)  # the sales calendar: last 7 days of a quarter, last 3 of other months


def _calendar_columns(days: np.ndarray, span: int, daily: bool) -> np.ndarray | None:
    """Regressors of the normal calendar: yearly harmonics (>= 13 months of data) and,
    for daily series, quarter-end and month-end closes (each seen at least 3 times)."""
    cols = []
    if span >= _YEARLY_MIN_DAYS:
        year_day = (days - days.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64)
        angle = 2 * np.pi * year_day / 365.25
        cols += [np.sin(angle), np.cos(angle), np.sin(2 * angle), np.cos(2 * angle)]
    if daily:
        cols += [close.astype(float) for close in _close_days(days)]
    return np.column_stack(cols) if cols else None


def _close_days(days: np.ndarray) -> list[np.ndarray]:
    """Masks of the sales calendar's closes among `days` (datetime64[D]): the last 7 days
    of each quarter, the last 3 of other months; each only when seen at least 3 times."""
    month = days.astype("datetime64[M]")
    to_end = ((month + 1).astype("datetime64[D]") - days).astype(np.int64)
    quarter_month = month.astype(np.int64) % 3 == 2
    closes = (quarter_month & (to_end <= _CLOSE_DAYS[0]), ~quarter_month & (to_end <= _CLOSE_DAYS[1]))
    return [close for close in closes if np.unique(month[close]).size >= 3]


def _robust_fit(y: np.ndarray, calendar: np.ndarray, ok: np.ndarray) -> np.ndarray | None:
    """Calendar coefficients of y ~ intercept + trend + calendar, refitted three times
    without the days beyond 3.5 robust sds (episodes must not bend the season)."""
    t = np.arange(len(y)) / 365.25
    design = np.column_stack((np.ones(len(t)), t - t.mean(), calendar))
    use = ok.copy()
    for _ in range(3):
        if use.sum() <= 2 * design.shape[1]:
            return None
        # normal equations (a few columns, hundreds of days): far cheaper than lstsq's SVD
        # of the whole design; pinv keeps lstsq's answer when a column is empty
        x = design[use]
        coef = np.linalg.pinv(x.T @ x) @ (x.T @ y[use])
        resid = y - design @ coef
        use = ok & (np.abs(resid - _median(resid[ok])) <= 3.5 * max(_mad(resid[ok]), 1e-9))
    return coef[2:]


def _same_season_each_year(s: _Series, days: np.ndarray, calendar: np.ndarray, coef: np.ndarray) -> bool:
    """With two years or more, the yearly shape fitted on the first and on the last year
    must agree (correlation >= 0.5): a year upset by months-long anomalies (a lockdown)
    is no season to learn."""
    span = int((days[-1] - days[0]).astype(np.int64))
    if span < 730 or calendar.shape[1] < 4:
        return True
    curves = []
    for part in (days < days[0] + 365, days >= days[-1] - 365):
        fitted = _robust_fit(s.y[part], calendar[part, :4], ~s.known[part])
        if fitted is None:
            return False
        curves.append(calendar[:, :4] @ fitted)
    return bool(np.corrcoef(curves[0], curves[1])[0, 1] >= 0.5)


def _remove_calendar(s: _Series, noise: _Noise, settings: DetectionSettings, first_day, step_days: int) -> None:
    """Take the yearly season and the month-/quarter-end closes out of `s` (in place).

    Fitted with an intercept and a linear trend on the stabilised scale (`_robust_fit`),
    and only used when the years agree. Only the calendar part is removed: the trend
    stays, for the episode scan (flanks) and the boundary pruning to judge.
    """
    days = np.datetime64(first_day, "D") + s.index * step_days
    calendar = _calendar_columns(days, int(s.index[-1] - s.index[0] + 1) * step_days, step_days == 1)
    if calendar is None:
        return
    # level steps where a first segmentation puts them are fitted alongside, so that a
    # lasting shift is not mistaken for part of the season (with < 2 years they look alike)
    strong = replace(settings, min_score=1.5 * settings.min_score)  # only clear steps: a season bends, it does not jump
    steps = np.column_stack([np.arange(len(s.y)) >= b for b in _candidates(s.y, noise, strong, coarse=True)] or [np.zeros(len(s.y))])
    coef = _robust_fit(s.y, np.column_stack((calendar, steps)), ~s.known)
    if coef is None:
        return
    coef = coef[: calendar.shape[1]]
    if not _same_season_each_year(s, days, calendar, coef):
        return
    s.y = s.y - calendar @ coef
    if s.shape is not None:
        s.num = s.inverse(s.y)
    elif s.floor_var.any():
        s.num = s.inverse(s.y) * s.den
    else:
        s.num = s.y


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
    var = (_mad((u - local)[use]) ** 2) * 7 / 6  # a 7-day mean includes the day itself
    mean = float(_median(u[use]))
    excess = var - float(np.mean(local[use] / factor[use]))
    return float(np.clip(mean**2 / excess, 1.0, 1e6)) if excess > 0 else 1e6


def _arcsine_inverse(y: np.ndarray) -> np.ndarray:
    return np.sin(np.clip(y, 0.0, np.pi / 2)) ** 2


def _identity(y: np.ndarray) -> np.ndarray:
    return y


# --------------------------------------------------------------------------------- noise


def _rolling_median(y: np.ndarray, ok: np.ndarray, half: int) -> np.ndarray:
    """Centered rolling median over 2*half+1 days of the `ok` entries (edges reflected)."""
    half = min(half, len(y) - 1)
    masked = np.where(ok, y, np.nan)
    windows = sliding_window_view(np.pad(masked, half, mode="reflect"), 2 * half + 1)
    if ok.all():  # odd windows without NaN: the median is the middle element
        return np.partition(windows, half, axis=1)[:, half]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows are filled below
        level = np.nanmedian(windows, axis=1)
    have = np.isfinite(level)
    if not have.any():
        return np.full(len(y), _median(y))
    return np.interp(np.arange(len(y)), np.flatnonzero(have), level[have])


def _mad(v: np.ndarray) -> float:
    """Robust standard deviation (scaled MAD) of `v`."""
    return _MAD_TO_SD * float(_median(np.abs(v - _median(v)))) if v.size else 0.0


def _long_run_var(y: np.ndarray, ok: np.ndarray) -> float:
    """Per-day variance implied by differences of adjacent block means (median over
    block lengths).

    Differences cancel slow trends and seasonality (blocks are whole weeks), the MAD
    ignores the few differences that straddle a shift, and block lengths of 1-4 weeks
    catch positive autocorrelation that day-to-day statistics understate. The median over
    lengths, not the maximum: long blocks are both noisy (few blocks) and inflated by
    month-long bumps, which would hide the very bumps the detector looks for.
    """
    cs = np.concatenate(([0.0], np.cumsum(np.where(ok, y, 0.0))))
    ck = np.concatenate(([0], np.cumsum(ok)))
    estimates = []
    for block in _BLOCKS:
        if len(y) < 8 * block:
            continue
        # overlapping blocks (every quarter block) steady the estimate at long blocks
        t = np.arange(0, len(y) - 2 * block + 1, max(1, block // 4))
        n1, n2 = ck[t + block] - ck[t], ck[t + 2 * block] - ck[t + block]
        full = (n1 >= block / 2) & (n2 >= block / 2)
        t, n1, n2 = t[full], n1[full], n2[full]
        diffs = (cs[t + 2 * block] - cs[t + block]) / n2 - (cs[t + block] - cs[t]) / n1
        if diffs.size >= 24:
            estimates.append(_mad(diffs) ** 2 / 2 * block)
    return float(_median(np.array(estimates))) if estimates else 0.0


def _noise(s: _Series, settings: DetectionSettings) -> _Noise:
    """Local level, per-day robust scale and long-run variance of a prepared series."""
    ok = ~s.known
    level = _rolling_median(s.y, ok, 2 * settings.min_segment_days)
    floor_var = _quasi_binomial_floor(s, level, ok)
    scale, tail_scale = _weekday_scales(s.y - level, s.weekday, ok, floor_var)
    z = (s.y - level) / tail_scale
    if s.shape is not None:
        z = _count_tail_z(s, level, z, settings.min_score)
    day_var = float(np.mean(scale[ok] ** 2)) if ok.any() else float(np.mean(scale**2))
    lrv = max(_long_run_var(s.y, ok), day_var)
    return _Noise(level=level, scale=scale, tail=tail_scale, z=z, day_var=day_var, lrv=lrv)


def _quasi_binomial_floor(s: _Series, level: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """For rates, the binomial variance scaled by the overdispersion the data shows.

    A conversion rate between stages that happen on different days (won today over
    opportunities today) is noisier than a binomial proportion, and most so on days with
    a small denominator; a constant robust scale would call those days spikes.
    """
    if s.shape is not None or not s.floor_var.any():
        return s.floor_var
    usable = ok & (s.floor_var > 0)
    if usable.sum() < 28:
        return s.floor_var
    standardised = (s.y - level)[usable] / np.sqrt(s.floor_var[usable])
    return s.floor_var * max(1.0, _mad(standardised) ** 2)


def _count_tail_z(s: _Series, level: np.ndarray, z: np.ndarray, threshold: float) -> np.ndarray:
    """Cap large count residuals at the normal quantile of their exact tail probability.

    The stabilising transform stretches the lower tail of small counts: a zero day at 7
    expected looks like 4.5 sds on the sqrt scale but happens once in a thousand days.
    The negative-binomial tail (at the estimated shape) gives the honest size.
    """
    from scipy import stats

    out = z.copy()
    idx = np.flatnonzero(np.abs(z) >= threshold)
    if idx.size == 0:
        return out
    shape = s.shape
    expected = np.maximum(s.inverse(level[idx]) * s.factor[idx], 1e-9)
    observed = np.round(s.num[idx] * s.factor[idx])
    p = shape / (shape + expected)
    tail = np.where(z[idx] > 0, stats.nbinom.sf(observed - 1, shape, p), stats.nbinom.cdf(observed, shape, p))
    size = stats.norm.isf(np.clip(tail, 1e-300, 0.5))
    out[idx] = np.sign(z[idx]) * np.minimum(np.abs(z[idx]), size)
    return out


def _weekday_scales(
    resid: np.ndarray, weekday: np.ndarray, ok: np.ndarray, floor_var: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Robust sd per day for the body and for the tails: its weekday's scale, at least the
    pooled scale and the floor.

    A weekday may be noisier than the rest (weekends) but never quieter: 100 days per
    weekday give too noisy a scale to trust a small one at 5 sds. The tail scale (for
    single-day judgements) has a pooled scale that also covers heavy tails. Both share the
    per-weekday MADs, computed once.
    """
    # the pooled scale is taken relative to each day's sampling variance, so that quiet
    # weekend days (few events, large variance) do not raise the floor of busy weekdays
    rel = np.sqrt(floor_var / _median(floor_var[floor_var > 0])) if (floor_var > 0).sum() > 0 else np.ones(len(resid))
    rel = np.where(rel > 0, rel, 1.0)
    resid = resid / rel
    pooled = _mad(resid[ok])
    pooled_tails = pooled
    if ok.sum() >= 100:
        # heavy tails (e.g. rates whose numerator lags the denominator) make the MAD too
        # small for a 5-sd rule, so the 95th percentile must look normal too; days beyond
        # 5 MADs are left out first, so that the anomalies themselves (holidays, storms,
        # a few percent of days) cannot set the threshold that is meant to find them
        deviation = np.abs(resid[ok] - _median(resid[ok]))
        body = deviation[deviation <= 5 * pooled]
        if body.size >= 100:
            pooled_tails = max(pooled, float(np.quantile(body, 0.95)) / 1.96)
    phases = max(int(weekday.max()) + 1, 1) if weekday.size else 1
    day_mad = np.array([_mad(resid[ok & (weekday == d)]) for d in range(phases)])

    def scale(floor: float) -> np.ndarray:
        day_sd = np.maximum(day_mad, floor)
        out = np.sqrt(np.maximum((day_sd[weekday] * rel) ** 2, floor_var))
        return np.where(out > 0, out, max(float(_median(out)), 1e-9))

    return scale(pooled), scale(pooled_tails)


# -------------------------------------------------------------------------------- spikes


def _pct(before: float, after: float) -> float:
    """Relative change in percent (infinite when the baseline is zero)."""
    if before == 0:
        return 0.0 if after == 0 else float(np.copysign(np.inf, after))
    return 100.0 * (after - before) / abs(before)


def _episode_widths(n: int, settings: DetectionSettings) -> list[int]:
    """Window widths scanned: every width up to a week, then ~25% apart up to
    `max_temporary_days` (a third of the series at most, so flanks remain). A window a
    little off an episode's length still holds most of it; merging and the boundary
    pass recover the exact ends."""
    widths, w = list(range(1, 8)), 7
    while True:
        w = int(round(w * 1.25))
        if w > settings.max_temporary_days:
            break
        widths.append(w)
    return [w for w in widths if 3 * w <= n]


class _Scan:
    """Window sums and window geometry over a prepared series: every episode candidate is
    scored from these.

    Built once per pass (widths, walls, noise); `exclude` then sets which days may serve
    as baseline, the only part that changes while a pass takes episodes one by one.
    Arrays of the geometry are (widths x starts).
    """

    def __init__(self, s: _Series, noise: _Noise, widths, settings: DetectionSettings, walls=(), starts=None):
        n = self.n = len(s.y)
        # lasting shifts found are walls: no flank reaches across one, no window spans one
        marks = np.zeros(n + 1, np.int64)
        marks[np.asarray(walls, dtype=np.int64)] = 1
        segment = np.cumsum(marks)  # segment number of each position 0..n
        bounds = np.r_[0, np.sort(np.asarray(walls, dtype=np.int64)), n]
        seg_lo, seg_hi = bounds[:-1], bounds[1:]

        # inverse-variance weights: a quiet weekend day (a few events) says less than a busy weekday
        body, tail = 1.0 / noise.scale**2, 1.0 / noise.tail**2
        self._terms = (s.y * body, body, np.ones(n), s.num, s.den, s.num * s.factor, s.factor)
        self.num, self.den = _cum(s.num), _cum(s.den)
        # counts: raw events and weekday factors, for the count likelihood of a window
        self.x, self.factor = _cum(self._terms[5]), _cum(s.factor)
        self.shape = s.shape
        # how much noisier the days are than the count model says (>= 1), for count z:
        # the negative-binomial variance on the stabilised scale is the Poisson part
        # (floor_var) plus the share of the gamma part, 1 - floor_var * factor
        floor = s.floor_var > 0
        model = s.floor_var + np.maximum(1.0 - s.floor_var * s.factor, 0.0)
        self.excess, self.excess_tail = (
            max(1.0, float(_median(sd[floor] ** 2 / model[floor]))) if floor.any() else 1.0
            for sd in (noise.scale, noise.tail)
        )

        w = self.w = np.asarray(widths)[:, None]
        t = self.t = (np.arange(n) if starts is None else np.asarray(starts))[None, :]
        end = self.end = np.minimum(t + w, n)
        f = np.maximum(42, np.minimum(2 * w, 112))  # flank days each side
        short = self.short = w <= settings.spike_max_days
        wy_body, w_body, wy_tail, w_tail = _cum(s.y * body), _cum(body), _cum(s.y * tail), _cum(tail)
        weight = np.where(short, w_tail[end] - w_tail[t], w_body[end] - w_body[t])
        self.long_run = noise.lrv / noise.day_var  # autocorrelation: variance of long means grows by this
        seg = segment[t]
        self.lo_b, self.hi_a = np.maximum(t - f, seg_lo[seg]), np.minimum(end + f, seg_hi[seg])
        inside = segment[np.maximum(end - 1, 0)] == seg  # the window spans no wall
        self.valid = (t + w <= n) & inside
        self.ramp = 1.0 + (self.long_run - 1.0) * np.minimum(w - 1, 6) / 6
        with np.errstate(invalid="ignore", divide="ignore"):
            self.m_w = np.where(short, wy_tail[end] - wy_tail[t], wy_body[end] - wy_body[t]) / weight
            self.v_w = self.ramp / weight

    def exclude(self, excluded: np.ndarray) -> "_Scan":
        """Leave `excluded` days out of every window's flanks (baseline)."""
        keep = ~excluded
        self.kwy, self.kw, self.k, self.knum, self.kden, self.kx, self.kfactor = (_cum(v * keep) for v in self._terms)
        return self


def _cum(v: np.ndarray) -> np.ndarray:
    """Cumulative sums with a leading 0: the sum over [a, b) is c[b] - c[a]."""
    return np.concatenate(([0.0], np.cumsum(v)))


def _window_scores(sc: _Scan, settings: DetectionSettings):
    """Score, direction sign, levels (before, during) and change % of every window of `sc`.

    Arrays are (widths x starts); a window that would run past the end scores 0. The
    window is compared with the days before it and the days after it (known-event days
    and other episodes left out); an episode must differ from both in the same direction:
    the score is the window against both flanks pooled (counts: by their likelihood), as
    long as each flank alone shows at least half of it (else the weaker flank's score).
    A trend or a lasting shift moves one flank with the window and so scores nothing.
    Near the ends of the series a short window (< `min_segment_days`) is judged against
    the one flank it has.
    """
    t, end, w, lo_b, hi_a, long_run = sc.t, sc.end, sc.w, sc.lo_b, sc.hi_a, sc.long_run
    m_w, v_w = sc.m_w, sc.v_w
    k_b, k_a = sc.k[t] - sc.k[lo_b], sc.k[hi_a] - sc.k[end]
    kw_b, kw_a = sc.kw[t] - sc.kw[lo_b], sc.kw[hi_a] - sc.kw[end]
    with np.errstate(invalid="ignore", divide="ignore"):
        sum_b, sum_a = sc.kwy[t] - sc.kwy[lo_b], sc.kwy[hi_a] - sc.kwy[end]
        z_b = (m_w - sum_b / kw_b) / np.sqrt(v_w + long_run / kw_b)
        z_a = (m_w - sum_a / kw_a) / np.sqrt(v_w + long_run / kw_a)
        z_ba = (m_w - (sum_b + sum_a) / (kw_b + kw_a)) / np.sqrt(v_w + long_run / (kw_b + kw_a))
        if sc.shape is not None:
            # few events: their likelihood, where the normal approximation loses power
            z_ba = _count_z(sc, z_ba)
    has_b, has_a = k_b >= 7, k_a >= 7
    both = has_b & has_a & (np.sign(z_b) == np.sign(z_a))
    weaker = np.minimum(np.abs(z_b), np.abs(z_a))
    # both flanks pooled give the power; each flank alone must still show half of it
    score = np.where(both, np.where(weaker >= 0.5 * np.abs(z_ba), np.abs(z_ba), weaker), 0.0)
    # the flank that is closer to the window is the baseline reported
    use_a = both & (np.abs(z_a) < np.abs(z_b))
    one_sided = w < settings.min_segment_days
    only_b, only_a = one_sided & has_b & ~has_a, one_sided & has_a & ~has_b
    score = np.where(only_b, np.abs(z_b), np.where(only_a, np.abs(z_a), score))
    use_a |= only_a
    sign = np.sign(np.where(use_a, z_a, z_b))
    score = np.where(sc.valid, np.nan_to_num(score), 0.0)
    # levels only where the score passes (few windows): the rest never need them
    rows, cols = np.nonzero(score >= settings.min_score)
    pct = np.zeros(score.shape)
    before, during = np.zeros(score.shape), np.zeros(score.shape)
    if rows.size:
        tt, ee = t[0, cols], end[rows, cols]
        lb, ha = lo_b[rows, cols], hi_a[rows, cols]
        with np.errstate(invalid="ignore", divide="ignore"):
            lvl_b = (sc.knum[tt] - sc.knum[lb]) / (sc.kden[tt] - sc.kden[lb])
            lvl_a = (sc.knum[ha] - sc.knum[ee]) / (sc.kden[ha] - sc.kden[ee])
            level = (sc.num[ee] - sc.num[tt]) / (sc.den[ee] - sc.den[tt])
        before[rows, cols] = np.where(use_a[rows, cols], lvl_a, lvl_b)
        during[rows, cols] = level
        pct[rows, cols] = _pct_array(before[rows, cols], level)
    return score, sign, before, during, pct


_FEW_EVENTS = 50  # below this many expected events in a window, counts are judged by their likelihood


def _count_z(sc: _Scan, z_normal: np.ndarray) -> np.ndarray:
    """`z_normal` with the windows of few expected events (< `_FEW_EVENTS`) judged by
    their likelihood instead.

    Signed deviance z of the window's event count against the rate of its flanks:
    Poisson deviance 2(o log(o/e) - (o - e)) of the observed count o against the expected
    e (flank rate times the window's weekday factors), shrunk for the overdispersion
    (variance e + e^2/(k w)) and for the flanks' own sampling error (e / flank events),
    then by the noise the data shows beyond the count model and by autocorrelation.
    At low volume this keeps the power a transform loses: 0 events where 14 were expected
    is a z of ~5, not ~3. Only the few-event windows are computed (none at high volume).
    """
    t, end, lo_b, hi_a = sc.t, sc.end, sc.lo_b, sc.hi_a
    flank_x = sc.kx[t] - sc.kx[lo_b] + sc.kx[hi_a] - sc.kx[end]
    flank_f = sc.kfactor[t] - sc.kfactor[lo_b] + sc.kfactor[hi_a] - sc.kfactor[end]
    expected = np.nan_to_num(flank_x / flank_f * (sc.factor[end] - sc.factor[t]), nan=np.inf)
    rows, cols = np.nonzero(expected < _FEW_EVENTS)
    if rows.size == 0:
        return z_normal
    e, fx, w = expected[rows, cols], flank_x[rows, cols], sc.w[rows, 0]
    observed = sc.x[end[rows, cols]] - sc.x[t[0, cols]]
    log_term = np.where(observed > 0, observed * np.log(np.maximum(observed, 1e-12) / e), 0.0)
    deviance = np.maximum(2.0 * (log_term - (observed - e)), 0.0)
    shrink = 1.0 + e / (sc.shape * w) + e / fx
    z = np.sign(observed - e) * np.sqrt(deviance / shrink)
    z = np.where(np.isfinite(z) & (e > 0), z, 0.0)
    z /= np.sqrt(np.where(sc.short[rows, 0], sc.excess_tail, sc.excess) * sc.ramp[rows, 0])
    out = z_normal.copy()
    out[rows, cols] = z
    return out


# Long windows are many and overlap little across widths: the scan tries ~10x more of
# them than single days, so their bar is a little higher (measured: the clean-series
# false-alarm rate on autocorrelated noise, benchmarks/evaluate.py tune split).
_LONG_BAR = 1.1


def _episodes(s: _Series, noise: _Noise, settings: DetectionSettings, widths, taken: np.ndarray, accept: int, walls=()) -> tuple[list[Change], np.ndarray, np.ndarray]:
    """Temporary episodes of the given widths, each scored as a whole.

    A multiscale scan (every start, each width) compares each window's mean with its
    flanks on the stabilised scale; the strongest window that is both significant
    (`min_score`) and large (`min_change_pct`) is kept, its days leave every other
    window's baseline, and the scan repeats until nothing passes. Days already `taken`
    (other anomalies) are neither scanned nor used as baseline. A winner wider than
    `accept` days is only set aside (its days leave the scan, so no short piece of it is
    reported) and left to a later pass.

    Returns:
        The episodes, `taken` with their days added, and the days set aside.
    """
    taken = taken.copy()
    aside = np.zeros(len(s.y), bool)
    found: list[tuple[int, int, float]] = []  # [start, stop) and sign of each episode
    widths = np.asarray(widths)
    if widths.size == 0:
        return [], taken, aside
    sized = s.shape is not None or bool(s.floor_var.any())
    sc = _Scan(s, noise, widths, settings, walls)
    t, end = sc.t, sc.end
    bar = settings.min_score * np.where(widths >= settings.min_segment_days, _LONG_BAR, 1.0)[:, None]
    while True:
        sc.exclude(s.known | taken | aside)
        free = np.concatenate(([0], np.cumsum(taken | aside)))
        score, sign, before, during, pct = _window_scores(sc, settings)
        if s.shape is not None and widths[0] == 1:
            # one day of counts: the transform overstates extreme days; the exact
            # negative-binomial tail (`noise.z`) gives their honest size
            score[0] = np.minimum(score[0], np.abs(noise.z))
        ok = (free[end] == free[t]) & (score >= bar)
        if sized:  # counts and rates: the size must matter too
            ok &= np.abs(pct) >= settings.min_change_pct
        if not ok.any():
            return _merge_adjacent(s, noise, settings, sorted(found), taken, walls), taken, aside
        passing = np.where(ok, score, 0.0)
        row, start = np.unravel_index(int(np.argmax(passing)), passing.shape)
        row, start = _narrowest_fit(row, start, passing, widths)
        if widths[row] <= accept:
            row, start = _widest_fit(row, start, passing, pct, widths, accept)
        w = int(widths[row])
        if w > accept:
            aside[start : start + w] = True
            continue
        taken[start : start + w] = True
        found.append((int(start), int(start) + w, float(sign[row, start])))


def _narrowest_fit(row: int, start: int, passing: np.ndarray, widths: np.ndarray):
    """The narrowest passing window inside the winner that scores nearly as well (95%):
    a storm day should not take a quiet Sunday along. Returns (row, start)."""
    w, score = widths[row], passing[row, start]
    for r in range(row):
        inner = passing[r, start : start + w - widths[r] + 1]
        if inner.size and inner.max() >= 0.95 * score:
            return r, start + int(np.argmax(inner))
    return row, start


def _widest_fit(row: int, start: int, passing: np.ndarray, pct: np.ndarray, widths: np.ndarray, accept: int):
    """The best wider passing window (> `accept` days) holding the short winner, if it
    scores at least 3/4 of it with at least half of its change: the short window is then
    only the peak of a longer episode. Returns (row, start) of the window chosen."""
    w, score, change = widths[row], passing[row, start], pct[row, start]
    best = (row, start)
    best_score = 0.0
    for r in np.flatnonzero(widths > accept):
        lo, hi = max(start + w - widths[r], 0), start
        scores = passing[r, lo : hi + 1]
        # a long window that is only the short peak diluted has a much smaller change
        scores = np.where(pct[r, lo : hi + 1] / change >= 0.5, scores, 0.0)
        if scores.size and scores.max() >= 0.75 * score and scores.max() > best_score:
            best, best_score = (r, lo + int(np.argmax(scores))), float(scores.max())
    return best


def _merge_adjacent(s: _Series, noise: _Noise, settings: DetectionSettings, found, taken: np.ndarray, walls=()) -> list[Change]:
    """One change per episode: touching windows that moved the same way are one episode
    (a lockdown that deepens midway), scored again as a whole."""
    merged: list[list] = []
    for a, b, sign in found:
        if merged and a <= merged[-1][1] + 1 and merged[-1][2] == sign:
            merged[-1][1] = b
        else:
            merged.append([a, b, sign])
    changes = []
    for a, b, sign in merged:
        others = taken.copy()
        others[a:b] = False
        sc = _Scan(s, noise, [b - a], settings, walls, starts=[a]).exclude(s.known | others)
        score, sgn, before, during, _ = (float(v[0, 0]) for v in _window_scores(sc, replace(settings, min_score=0.0)))
        score_ab = score if sgn == sign else 0.0
        if score_ab >= settings.min_score:  # the whole must pass as its parts did
            changes.append(_level_change("spike", s, a, b - 1, before, during, sign, score_ab))
    return changes


def _pct_array(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """`_pct` of arrays (0 where both are 0, infinite where only the baseline is)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = 100.0 * (after - before) / np.abs(before)
    return np.where(before == 0, np.where(after == 0, 0.0, np.copysign(np.inf, after - before)), np.nan_to_num(pct))


def _level_change(kind, s: _Series, first: int, last: int | None, before: float, after: float, sign: float, score: float) -> Change:
    """A change in level units; its direction follows the sign of the change itself."""
    if after != before:
        sign = np.sign(after - before)
    return Change(
        kind=kind, direction="up" if sign > 0 else "down",
        start=int(s.index[first]), end=None if last is None else int(s.index[last]),
        before=float(before), after=float(after), change_pct=_pct(before, after), score=float(score),
    )


# -------------------------------------------------------------------------- level shifts


class _Windows:
    """Window means of y and of the level units, leaving out excluded days.

    Excluded days (annotated or outlying) are left out of a window unless they make up
    most of it: then the window *is* the anomaly (e.g. an annotated outage) and is
    measured as it is.
    """

    def __init__(self, s: _Series, y: np.ndarray, excluded: np.ndarray, noise: _Noise):
        keep = ~excluded
        # inverse-variance weights in typical days: a quiet weekend day counts for less
        weight = noise.day_var / noise.scale**2

        def cum(v):
            return np.concatenate(([0.0], np.cumsum(v)))

        self._all = (cum(y * weight), cum(s.num), cum(s.den), cum(weight), cum(np.ones(len(y))))
        self._kept = (cum(y * weight * keep), cum(s.num * keep), cum(s.den * keep), cum(weight * keep), cum(keep))
        self.sized = s.shape is not None or bool(s.floor_var.any())  # counts and rates

    def measure(self, lo: int, hi: int) -> tuple[float, float, float]:
        """Weighted mean of y, pooled level (num/den) and the weight (typical days) used
        in [lo, hi)."""
        use = self._kept if self._kept[4][hi] - self._kept[4][lo] >= (hi - lo) / 2 else self._all
        cy, cn, cd, cw, _ = (c[hi] - c[lo] for c in use)
        return cy / cw, (cn / cd if cd > 0 else 0.0), float(cw)


@dataclass
class _Step:
    """One candidate boundary measured against its neighbours."""

    lo: int  # first day of the window before the boundary
    at: int
    y_before: float
    y_after: float
    before: float
    after: float
    pct: float
    score: float


def _measure(w: _Windows, noise: _Noise, lo: int, at: int, hi: int) -> _Step:
    """The step at `at` judged on [lo, at) against [at, hi)."""
    y1, l1, n1 = w.measure(lo, at)
    y2, l2, n2 = w.measure(at, hi)
    score = abs(y2 - y1) / np.sqrt(noise.se2(n1) + noise.se2(n2))
    return _Step(lo, at, y1, y2, l1, l2, _pct(l1, l2), float(score))


def _candidates(y: np.ndarray, noise: _Noise, settings: DetectionSettings, coarse: bool = False) -> list[int]:
    """Boundaries from penalised-l2 segmentation; the penalty is the gain of a min_score
    step measured on half-windows, in long-run-variance units.

    `coarse` (for the calendar fit's clear steps): long series are segmented on means of
    `_COARSE_BLOCK`-day blocks: for boundaries on block edges the l2 cost is the daily
    one divided by the block length (up to a constant), at ~1/block^2 of the work (the
    segmentation is quadratic in the length). Each boundary then moves to its best day
    (`_refine`).
    """
    import ruptures as rpt

    penalty = 0.5 * settings.min_score**2 * noise.lrv
    size = settings.min_segment_days
    block = _COARSE_BLOCK if coarse and len(y) >= _COARSE_MIN_POINTS else 1
    blocks = len(y) // block
    means = y[: blocks * block].reshape(blocks, block).mean(axis=1)
    algo = rpt.KernelCPD(kernel="linear", min_size=max(size // block, 1)).fit(means)
    bounds = [int(b) * block for b in algo.predict(pen=penalty / block)[:-1]]
    return _refine(y, bounds, block, size) if block > 1 else bounds


_COARSE_MIN_POINTS = 200  # shorter series are segmented point by point (cheap enough)
# 2-day blocks: with 3- or 4-day blocks the steps moved enough to change the calendar fit
# (clean funnels of tests/test_detect_funnel.py: 6-8 false alarms in 560 series, not 5)
_COARSE_BLOCK = 2


def _refine(y: np.ndarray, bounds: list[int], reach: int, size: int) -> list[int]:
    """Each boundary moved (at most `reach` days) to the day that best splits the stretch
    between its neighbours into two levels (largest l2 gain), left to right."""
    cs = _cum(y)
    out: list[int] = []
    for i, b in enumerate(bounds):
        lo = out[-1] if out else 0
        hi = bounds[i + 1] if i + 1 < len(bounds) else len(y)
        days = np.arange(max(b - reach, lo + size), min(b + reach, hi - size) + 1)
        if days.size == 0:
            out.append(b)
            continue
        gain = (cs[days] - cs[lo]) ** 2 / (days - lo) + (cs[hi] - cs[days]) ** 2 / (hi - days)
        out.append(int(days[np.argmax(gain)]))
    return out


def _prune(bounds: list[int], w: _Windows, noise: _Noise, n: int, settings: DetectionSettings) -> list[_Step]:
    """Drop the weakest failing boundary and re-measure until every boundary passes."""
    width = settings.level_window_days
    bounds = list(bounds)
    while True:
        edges = [0, *bounds, n]
        steps = [
            _measure(w, noise, max(edges[i], b - width), b, min(edges[i + 2], b + width))
            for i, b in enumerate(bounds)
        ]
        margins = [min(st.score / settings.min_score, _size_margin(st.pct, w, settings)) for st in steps]
        if not margins or min(margins) >= 1.0:
            return steps
        del bounds[int(np.argmin(margins))]


def _reverts(first: _Step, second: _Step, settings: DetectionSettings) -> bool:
    """True when `second` undoes most of `first` soon enough to be one temporary episode."""
    jump = first.y_after - first.y_before
    back = second.y_after - first.y_before
    return (
        np.sign(second.y_after - second.y_before) == -np.sign(jump)
        and second.at - first.at <= settings.max_temporary_days
        and abs(back) <= 0.3 * abs(jump)
    )


def _bridge(y: np.ndarray, gone: np.ndarray, reach: int = 14) -> np.ndarray:
    """`y` with each run of `gone` days replaced by the mean of up to `reach` kept days
    each side, so that an episode leaves no step for the level-shift search."""
    out = y.copy()
    for a, b in _true_runs(gone):
        around = np.r_[y[max(a - reach, 0) : a][~gone[max(a - reach, 0) : a]], y[b : b + reach][~gone[b : b + reach]]]
        out[a:b] = around.mean() if around.size else y[a:b].mean()
    return out


def _true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Maximal [start, stop) runs of True."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _shift_changes(s: _Series, noise: _Noise, outlying: np.ndarray, settings: DetectionSettings) -> tuple[list[Change], np.ndarray]:
    """Level shifts and temporary lifts/drops (reported as spikes with an end), and the
    days of those temporary ones."""
    n = len(s.y)
    y = _bridge(s.y, outlying)
    windows = _Windows(s, y, s.known | outlying, noise)
    steps = _prune(_candidates(y, noise, settings), windows, noise, n, settings)
    changes, i = [], 0
    temporary = np.zeros(n, bool)
    while i < len(steps):
        st = steps[i]
        if i + 1 < len(steps) and _reverts(st, steps[i + 1], settings):
            end = steps[i + 1].at
            episode = _measure(windows, noise, st.lo, st.at, end)
            changes.append(_change("spike", s, episode, int(s.index[end - 1])))
            temporary[st.at : end] = True
            i += 2
        else:
            changes.append(_change("level_shift", s, st, None))
            i += 1
    kept = [c for c in changes if c.score >= settings.min_score and _size_margin(c.change_pct, windows, settings) >= 1.0]
    return kept, temporary


def _size_margin(pct: float, w, settings: DetectionSettings) -> float:
    """How far a change is above `min_change_pct` (gauges: no size rule, their units vary)."""
    return abs(pct) / settings.min_change_pct if w.sized else np.inf


def _change(kind: str, s: _Series, st: _Step, end: int | None) -> Change:
    change = _level_change(kind, s, st.at, None, st.before, st.after, np.sign(st.y_after - st.y_before), st.score)
    return replace(change, end=end)


# ------------------------------------------------------------------------------ public API


DETECTOR = "ctxmetrics-episodes/2"  # name/version: part of the scan fingerprint


@dataclass(frozen=True)
class Frequency:
    """How a series is sampled, and the detector's windows counted in its periods."""

    name: str  # daily | weekly | monthly | quarterly | yearly | irregular
    unit: str  # what one count is per: "day", "week", ...
    step_days: int  # nominal days between points (for placing points on a regular grid)
    season: int  # length of the season removed (7 weekdays; 12 months with >= 3 years; 1 none)


_FREQUENCIES = (  # (name, unit, nominal step, longest median step in days)
    ("daily", "day", 1, 1.5),
    ("weekly", "week", 7, 10),
    ("monthly", "month", 30, 35),
    ("quarterly", "quarter", 91, 100),
    ("yearly", "year", 365, 400),
)


def infer_frequency(dates, n: int) -> Frequency:
    """The frequency of a series from its dates (daily when there are none)."""
    if dates is None or len(dates) < 2:
        return Frequency("daily", "day", 1, 7)
    days = np.asarray(dates, dtype="datetime64[D]").astype(np.int64)
    step = float(np.median(np.diff(days)))
    for name, unit, nominal, longest in _FREQUENCIES:
        if step <= longest:
            season = {"daily": 7, "monthly": 12 if n >= 36 else 1, "quarterly": 4 if n >= 12 else 1}.get(name, 1)
            return Frequency(name, unit, nominal, season)
    return Frequency("irregular", "point", 0, 1)


def settings_for(settings: DetectionSettings, freq: Frequency) -> DetectionSettings:
    """Day-based settings restated in the series' own periods (weeks, months, ...)."""
    if freq.name == "daily":
        return settings
    per = max(freq.step_days, 1)
    return replace(
        settings,
        spike_max_days=max(1, min(settings.spike_max_days, 3 * 7 // per or 1)),
        min_segment_days=max(3, min(settings.min_segment_days, 4)),
        max_temporary_days=max(4, settings.max_temporary_days // per),
        level_window_days=max(12, settings.level_window_days // per),
    )


def find_changes(
    values,
    *,
    kind: str = "count",
    dates=None,
    denominators=None,
    settings: DetectionSettings | None = None,
    known_mask=None,
    start_weekday: int = 0,
) -> list[Change]:
    """Find episodes (one day to months, temporary) and lasting level shifts in one series.

    The single entry point of detection: `scan` calls it for every series.

    Args:
        values: One value per period. NaN marks an unknown period (a data gap), never an
            anomaly. Counts: events per period; ratios: the numerator counts; gauges:
            levels (prices, rates, log values), reported in their own units.
        kind: "count", "ratio" or "gauge".
        dates: Optional dates of the values; the frequency (daily, weekly, monthly,
            quarterly, yearly) is inferred from them, and missing dates are unknown
            periods. Without dates the series is daily.
        denominators: Ratios only: the denominator count per period.
        settings: Thresholds; `DetectionSettings()` when None. Day-based lengths are
            restated in the series' own periods.
        known_mask: True on periods where the normal pattern is known not to hold
            (annotated days off): left out of baseline, season and noise, yet anomalies on
            them are still reported. Which event made a day known never changes how
            sensitive the detector is.
        start_weekday: Weekday of value 0 (0=Monday) when `dates` is None.

    Returns:
        Changes sorted by start; `start`/`end` index `values`.

    Raises:
        ValueError: unknown kind, or arrays of different lengths.
    """
    settings = settings or DetectionSettings()
    values = np.asarray(values, dtype=float)
    freq = infer_frequency(dates, len(values))
    position = np.arange(len(values))
    if dates is not None:
        if len(dates) != len(values):
            raise ValueError("dates must have the same length as values.")
        position, values, denominators, known_mask = _on_grid(dates, freq, values, denominators, known_mask)
        start_weekday = int((np.datetime64(np.asarray(dates, dtype="datetime64[D]")[0], "D").astype(np.int64) + 3) % 7)
    local = settings_for(settings, freq)
    season = freq.season if len(values) >= 3 * freq.season else 1
    s = _prepare(values, local, kind, denominators, known_mask, start_weekday % season if season == 7 else 0, season)
    if s is None:
        return []
    if dates is not None and freq.name in ("daily", "weekly"):
        _remove_calendar(s, _noise(s, local), local, np.asarray(dates, dtype="datetime64[D]")[0], freq.step_days)
    noise = _noise(s, local)
    # short episodes first (they would bend the boundary search; a short peak of a longer
    # episode is set aside, not reported), then boundaries (lasting shifts and long
    # temporary ones), then every episode the boundaries missed
    widths = _episode_widths(len(s.y), local)
    short, taken, aside = _episodes(s, noise, local, widths, np.zeros(len(s.y), bool), accept=local.min_segment_days - 1)
    shifts, temporary = _shift_changes(s, noise, taken, local)
    rest = []
    if aside.any() or temporary.any() or shifts:  # else the same scan again would find nothing
        walls = np.searchsorted(s.index, [c.start for c in shifts if c.end is None])
        rest, _, _ = _episodes(s, noise, local, widths, taken | temporary, accept=len(s.y), walls=walls)
    episodes = short + rest
    unit = {"count": f"per {freq.unit}", "ratio": "rate", "gauge": ""}[kind]
    out = []
    for c in sorted(episodes + shifts, key=lambda c: (c.start, c.kind)):
        pct = c.change_pct
        if kind == "gauge" and (c.before <= 0 or np.nanmin(values) <= 0):
            pct = float("nan")  # a percentage of a level that can be <= 0 means nothing
        first = int(np.searchsorted(position, c.start))
        last = None if c.end is None else int(np.searchsorted(position, c.end, side="right")) - 1
        out.append(replace(
            c, start=first, end=last, change_pct=pct, unit=unit, frequency=freq.name,
            start_date=None if dates is None else _date(dates, first),
            end_date=None if dates is None or last is None else _date(dates, last),
        ))
    return out


def _date(dates, i: int):
    return np.asarray(dates, dtype="datetime64[D]")[i].astype(object)


def _on_grid(dates, freq: Frequency, values, denominators, known_mask):
    """Place the values on a regular grid of the frequency; missing points are NaN.

    Returns the grid position of every input value and the gridded arrays.
    """
    days = np.asarray(dates, dtype="datetime64[D]").astype(np.int64)
    if freq.step_days == 1:
        position = days - days[0]
    elif freq.name in ("monthly", "quarterly"):
        months = np.asarray(dates, dtype="datetime64[M]").astype(np.int64)
        position = (months - months[0]) // (3 if freq.name == "quarterly" else 1)
    elif freq.name == "yearly":
        years = np.asarray(dates, dtype="datetime64[Y]").astype(np.int64)
        position = years - years[0]
    elif freq.step_days:
        position = np.round((days - days[0]) / freq.step_days).astype(np.int64)
    else:
        position = np.arange(len(values))
    if np.any(np.diff(position) <= 0):
        raise ValueError("dates must be increasing, one value per period.")
    size = int(position[-1]) + 1

    def grid(v, fill, dtype=float):
        if v is None:
            return None
        out = np.full(size, fill, dtype=dtype)
        out[position] = np.asarray(v, dtype=dtype)
        return out

    return position, grid(values, np.nan), grid(denominators, 0.0), grid(known_mask, False, bool)


# ------------------------------------------------------------------------------ pre-screen


def _row_weekday_medians(v: np.ndarray, weekday: np.ndarray) -> np.ndarray:
    """Per-row median of `v` for each weekday: shape (rows, 7)."""
    out = np.ones((v.shape[0], 7), v.dtype)
    for day in range(7):
        cols = weekday == day
        if cols.any():
            out[:, day] = _row_median(v[:, cols])
    return out


def _row_median(v: np.ndarray) -> np.ndarray:
    """Per-row (upper) median with a single partition: twice as fast as np.median."""
    k = v.shape[1] // 2
    return np.partition(v, k, axis=1)[:, k]


def _row_centered_mean(v: np.ndarray, width: int = 7) -> np.ndarray:
    """Per-row centered moving mean (edges use the nearest full window)."""
    n = v.shape[1]
    cs = _row_cumsum(v)
    half = width // 2
    start = np.clip(np.arange(n) - half, 0, max(n - width, 0))
    # every full window's mean from slices, then one gather (edges repeat their nearest)
    full = (cs[:, width:] - cs[:, : n + 1 - width]) / width
    return full[:, start]


def too_small(matrix, settings: DetectionSettings, kind: str = "count", denominators=None) -> np.ndarray:
    """Rows too small to ever show a change: counts whose longest episode window holds
    fewer events than a drop to zero needs to reach `min_score` (Poisson deviance
    2 * expected >= min_score**2); ratios whose median denominator is below
    `min_denominator`. Gauges are never too small."""
    matrix = np.atleast_2d(np.asarray(matrix, dtype=float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-unknown rows
        if kind == "count":
            return np.nan_to_num(np.nanmean(matrix, axis=1)) * settings.max_temporary_days < settings.min_score**2 / 2
        if kind == "ratio":
            return np.nan_to_num(np.nanmedian(np.asarray(denominators, dtype=float), axis=1)) < settings.min_denominator
    return np.zeros(len(matrix), bool)


def _stabilised_rows(matrix: np.ndarray, settings, kind, denominators, weekday):
    """Deseasonalised, variance-stabilised rows.

    Returns:
        The stabilised rows, which rows are large enough to judge, and the expected
        variance of each weekday relative to a typical day (rows x 7).
    """
    if kind == "count":
        x = matrix.astype(np.float32, copy=False)
        if np.isnan(x).any():  # data gaps: unknown days take the row's typical day
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                x = np.where(np.isnan(x), np.nan_to_num(np.nanmedian(x, axis=1))[:, None], x)
        big = ~too_small(x, settings, kind)
        local = _row_centered_mean(x)
        ratio = np.divide(x, local, out=np.ones_like(x), where=local > 0)
        profile = _row_weekday_medians(ratio, weekday)
        profile /= np.maximum(profile.mean(axis=1, keepdims=True), 1e-12)
        factor = np.maximum(profile[:, weekday], _DEAD_WEEKDAY)
        u = x / factor
        shape = _row_nb_shape(u, factor)
        # weekday variance on the stabilised scale: (1/factor + mean/k) / (1 + mean/k)
        over = (_row_median(u[:, ::3]) / shape)[:, None]
        rel_var = (1.0 / np.maximum(profile, _DEAD_WEEKDAY) + over) / (1.0 + over)
        rel_var /= np.median(rel_var, axis=1, keepdims=True)
        return nb_transform(u, shape[:, None]), big, rel_var
    if kind == "ratio":
        den = np.nan_to_num(np.asarray(denominators, dtype=np.float32))
        big = np.median(den, axis=1) >= settings.min_denominator
        valid = np.isfinite(matrix) & (den >= settings.min_denominator)
        rate = np.clip(np.divide(np.nan_to_num(matrix), den, out=np.zeros_like(den), where=valid), 0, 1)
        y = np.where(valid, np.arcsin(np.sqrt(rate)), np.nan)
    else:
        big = np.ones(matrix.shape[0], bool)
        y = matrix.astype(np.float32, copy=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-unknown rows stay flat
        fill = np.nan_to_num(np.nanmedian(y, axis=1))
    y = np.where(np.isfinite(y), y, fill[:, None])
    profile = _row_weekday_medians(y - _row_centered_mean(y), weekday)
    rel_var = np.ones((len(y), 7), y.dtype)
    return y - (profile - profile.mean(axis=1, keepdims=True))[:, weekday], big, rel_var


def _row_nb_shape(u: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """Per-row gamma shape of the overdispersion, as `_nb_shape` does for one series."""
    local = _row_centered_mean(u)
    # every third day (still cycling through all weekdays) is plenty for one number per row
    scale, _ = _row_mad((u - local)[:, ::3])
    excess = scale**2 * 7 / 6 - np.mean(local / factor, axis=1)
    mean = _row_median(u[:, ::3])
    shape = np.divide(mean**2, excess, out=np.full(len(u), 1e6), where=excess > 0)
    return np.clip(shape, 1.0, 1e6)


def _row_mad(v: np.ndarray, floor: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """Per-row robust sd (scaled MAD, at least `floor`) and median."""
    centre = _row_median(v)
    return np.maximum(_MAD_TO_SD * _row_median(np.abs(v - centre[:, None])), max(floor, 1e-9)), centre


def _row_cumsum(y: np.ndarray) -> np.ndarray:
    """Per-row cumulative sums with a leading 0 column (shared by the screen's statistics)."""
    return np.concatenate((np.zeros((y.shape[0], 1), y.dtype), np.cumsum(y, axis=1)), axis=1)


def _spike_stat(y, cs, weekday, half: int, rel_var, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Largest |residual| against the surrounding days' mean, in robust sds of its weekday
    (the pooled scale times the expected relative sd of the weekday), and the rows' robust
    daily sd. `cs`: `_row_cumsum(y)`."""
    n = y.shape[1]
    lo = np.clip(np.arange(n) - half, 0, n)
    hi = np.clip(np.arange(n) + half + 1, 0, n)
    # window sums cs[hi] - cs[lo]: slices inside, gathers only at the clipped edges
    window = np.empty_like(y)
    window[:, half : n - half] = cs[:, 2 * half + 1 :] - cs[:, : n - 2 * half]
    edges = np.r_[0:half, n - half : n]
    window[:, edges] = cs[:, hi[edges]] - cs[:, lo[edges]]
    resid = y - (window - y) / (hi - lo - 1)
    scale, centre = _row_mad(resid[:, ::2], floor)
    sd = scale[:, None] * np.sqrt(rel_var)[:, weekday]
    # a residual against the mean of 2*half neighbours has (1 + 1/(2*half)) the daily variance
    return (np.abs(resid - centre[:, None]) / sd).max(axis=1), scale / np.sqrt(1 + 1 / (2 * half))


def _episode_stat(cs: np.ndarray, width: int, scale: np.ndarray, long_run: np.ndarray) -> np.ndarray:
    """Largest |mean of a `width`-day window - mean of its flanks| per row, in units of its
    standard error, as the detector's episode scan judges a window: flanks of the same
    length each side (fewer at the ends), variances grown by the long-run factor
    (autocorrelation) as in `_Noise.se2`. `scale`: the rows' robust daily sd;
    `long_run`: their long-run variance over the daily one (`_row_long_run`)."""
    n = cs.shape[1] - 1
    flank = max(42, min(2 * width, 112))
    t = np.arange(n - width + 1)
    lo, hi = np.maximum(t - flank, 0), np.minimum(t + width + flank, n)
    inside = cs[:, width:] - cs[:, : n - width + 1]
    outside = cs[:, hi] - cs[:, lo] - inside
    days = (hi - lo - width).astype(cs.dtype)
    ramp = 1.0 + (long_run - 1.0) * min(width - 1, 6) / 6
    se = scale[:, None] * np.sqrt((ramp / width)[:, None] + long_run[:, None] / days)
    return (np.abs(inside / width - outside / days) / se).max(axis=1)


def _step_stat(cs: np.ndarray, width: int, scale: np.ndarray, long_run: np.ndarray) -> np.ndarray:
    """Largest |difference of adjacent `width`-day means| per row in standard errors, as
    the detector measures a boundary (`_measure`: long-run variance at these lengths)."""
    n = cs.shape[1] - 1
    diff = (cs[:, 2 * width : n + 1] - 2 * cs[:, width : n - width + 1] + cs[:, : n - 2 * width + 1]) / width
    return np.abs(diff).max(axis=1) / (scale * np.sqrt(2 * long_run / width))


def _row_long_run(cs: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Per row, the long-run variance over the daily one (>= 1), from differences of
    adjacent 7-, 14- and 28-day block means (median over lengths), as `_long_run_var`."""
    n = cs.shape[1] - 1
    estimates = []
    for block in _BLOCKS:
        if n >= 8 * block:
            t = np.arange(0, n - 2 * block + 1, max(1, block // 4))
            diffs = (cs[:, t + 2 * block] - 2 * cs[:, t + block] + cs[:, t]) / block
            estimates.append(_row_mad(diffs)[0] ** 2 / 2 * block)
    if not estimates:
        return np.ones(len(scale), cs.dtype)
    return np.maximum(np.min(np.array(estimates), axis=0) / scale**2, 1.0)


# Measured against find_changes itself on the tune split of the evaluation profiles
# (benchmarks/prescreen_recall.py --split tune --per-profile 60: daily counts and ratios
# with season, trend, closes, heavy tails, gaps, low volume): share of the series the
# detector reports that the screen keeps / share of clean synth.many_series rows kept
# (white noise). Episode share 0.85: 0.994 / 32%; 0.9: 0.985 / 22%; 1.0: 0.966 / 11%;
# 1.2: 0.896 / 4.6%. Below 1.2 the detector's own false alarms on clean funnels pass
# the screen: 11-15 in 560 series at 0.9-1.05 (tests/test_detect_funnel.py allows 1%),
# so recall >= 0.99 waits for a detector with fewer false alarms there.
_SPIKE_SHARE = 0.9  # share of min_score a single-day residual needs to keep its row
_EPISODE_SHARE = 1.2  # share of min_score an episode window needs to keep its row
_SCREEN_WIDTHS = (2, 3, 5, 8, 13, 21, 34, 55, 89)  # episode windows screened (~1.6x apart)


def _prescreen_chunk(matrix, settings, kind, denominators, weekday, closes) -> np.ndarray:
    """The pre-screen of one block of rows (see `prescreen`)."""
    y, big, rel_var = _stabilised_rows(matrix, settings, kind, denominators, weekday)
    for close in closes:  # the sales calendar is normal, as in the detector's calendar fit
        y[:, close] -= (_row_median(y[:, close]) - _row_median(y[:, ~close]))[:, None]
    n = y.shape[1]
    cs = _row_cumsum(y)
    # counts: the stabilised scale has unit sampling variance, so a zero MAD of a
    # low-volume row (mostly zeros) must not make every single event look extreme
    floor = 0.8 if kind == "count" else 1e-9
    spike, scale = _spike_stat(y, cs, weekday, settings.min_segment_days, rel_var, floor)
    keep = spike >= _SPIKE_SHARE * settings.min_score
    long_run = _row_long_run(cs, scale)
    for width in _SCREEN_WIDTHS:
        if 3 * width <= n:
            keep |= _episode_stat(cs, width, scale, long_run) >= _EPISODE_SHARE * settings.min_score
    for width in (settings.min_segment_days, settings.level_window_days // 2, settings.level_window_days):
        if 2 * width < n:
            keep |= _step_stat(cs, width, scale, long_run) >= _EPISODE_SHARE * settings.min_score
    return keep & big


def prescreen(
    matrix,
    settings: DetectionSettings,
    *,
    kind: str = "count",
    denominators=None,
    start_weekday: int = 0,
    start_date=None,
) -> np.ndarray:
    """Vectorised filter: which series are worth running `find_changes` on.

    Per row: weekday profile removed and variance stabilised as in `find_changes`, then a
    spike statistic (residual against neighbouring days in robust sds, with the expected
    extra variance of weekend days) and episode statistics (2- to 89-day windows against
    their flanks, as the detector's episode scan measures them, in standard errors from
    the row's robust daily sd). Rows are processed in chunks so 100k x 730 fits in a few
    hundred MB.

    Args:
        matrix: Shape (n_series, n_days); values as for `find_changes` (NaN: unknown day).
        settings: Detection thresholds; the screen is looser than the detector.
        kind: "count", "ratio" or "gauge".
        denominators: Ratios only: same shape as `matrix`.
        start_weekday: Weekday of column 0 (0=Monday).
        start_date: Date of column 0, if known: then month- and quarter-end closes are
            normal, as in `find_changes` with dates (and it sets the weekday).

    Returns:
        Boolean array, one entry per row.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}.")
    matrix = np.asarray(matrix)
    if kind == "ratio" and (denominators is None or np.shape(denominators) != matrix.shape):
        raise ValueError("ratio pre-screen needs denominators of the same shape as matrix.")
    rows, n = matrix.shape
    keep = np.zeros(rows, bool)
    if n < 4 * settings.min_segment_days:
        return keep
    closes = []
    if start_date is not None:
        days = np.datetime64(start_date, "D") + np.arange(n)
        start_weekday = int((days[0].astype(np.int64) + 3) % 7)  # 1970-01-01 was a Thursday
        closes = _close_days(days)
    weekday = (start_weekday + np.arange(n)) % 7

    def screen(lo: int) -> None:
        hi = min(lo + _PRESCREEN_CHUNK, rows)
        den = None if denominators is None else np.asarray(denominators[lo:hi])
        keep[lo:hi] = _prescreen_chunk(matrix[lo:hi], settings, kind, den, weekday, closes)

    # numpy releases the GIL in its array loops, so threads use every core
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(screen, range(0, rows, _PRESCREEN_CHUNK)))
    return keep
