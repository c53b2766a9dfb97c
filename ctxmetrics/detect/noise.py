"""The noise model of a prepared series (`_Noise`): robust scales the anomalies cannot inflate."""
from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, replace
from typing import Iterator

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ctxmetrics.config import DetectionSettings
from ctxmetrics.detect.autocorrelation import _window_long_run_var
from ctxmetrics.detect.prepare import _Series
from ctxmetrics.detect.robust import mad, median, median_and_mad, median_and_mad_rows, median_rows

_BLOCKS = (7, 14, 28)  # block lengths (days) of a daily series' long-run variance (the pre-screen's)
_BLOCK_UNITS = (1, 2, 4)  # the same blocks in units of periods (`frequency.long_run_unit`)


@dataclass
class _Noise:
    """Robust noise model of one prepared series."""

    level: np.ndarray  # local typical level of y (rolling median)
    scale: np.ndarray  # robust sd of y per day (the body of the distribution)
    tail: np.ndarray  # robust sd of y per day for single-day judgements (covers heavy tails)
    z: np.ndarray  # robust residual per day in noise units (counts: capped by the exact tail)
    day_var: float  # typical daily variance of y
    lrv: float  # long-run variance of y per day (>= day_var)
    dispersion: float | None = None  # rates: the beta-binomial intra-class correlation (`_beta_binomial_scales`)

    def se2(self, n: np.ndarray | float) -> np.ndarray | float:
        """Variance of the mean of `n` consecutive days, inflated for autocorrelation.

        The inflation grows from none for one day to the full long-run factor at a week.
        """
        n = np.maximum(n, 1)
        inflation = 1.0 + (self.lrv / self.day_var - 1.0) * np.minimum(n - 1, 6) / 6
        return self.day_var / n * inflation


def _rolling_median(y: np.ndarray, ok: np.ndarray, half: int) -> np.ndarray:
    """Centered rolling median over 2*half+1 days of the `ok` entries (edges reflected).

    Along the last axis: the rows of a matrix whose entries are all `ok` each as on its own."""
    n = y.shape[-1]
    half = min(half, n - 1)
    if ok.all() and _slides(y):
        from ctxmetrics.detect.kernels import rolling_median  # numba: the detector's path only

        # compiled, each window kept sorted as it slides: the same order statistic as the
        # partition below at a third of its time (issue-9s30)
        rows = y.reshape(-1, n)
        return rolling_median(rows, np.arange(len(rows)), half).reshape(y.shape)
    masked = np.where(ok, y, np.nan)
    # np.pad's reflect mode written out: np.pad alone took about half the time of the median
    padded = np.concatenate(
        (masked[..., 1 : half + 1][..., ::-1], masked, masked[..., n - 1 - half : n - 1][..., ::-1]), axis=-1
    )
    windows = sliding_window_view(padded, 2 * half + 1, axis=-1)
    if ok.all():  # odd windows without NaN: the median is the middle element
        return np.partition(windows, half, axis=-1)[..., half]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows are filled below
        level = np.nanmedian(windows, axis=1)
    have = np.isfinite(level)
    if not have.any():
        return np.full(len(y), median(y))
    return np.interp(np.arange(len(y)), np.flatnonzero(have), level[have])


def _slides(y: np.ndarray) -> bool:
    """Whether `kernels.rolling_median` gives `_rolling_median`'s very values for y: float64,
    every value finite, and no -0.0 (which it could swap for a +0.0 of the window where the
    partition keeps either)."""
    return y.dtype == np.float64 and y.shape[-1] > 1 and bool(np.isfinite(y).all()) and not (np.signbit(y) & (y == 0)).any()


def _long_run_var(y: np.ndarray, ok: np.ndarray, unit: int = 7) -> float:
    """Per-day variance implied by differences of adjacent block means (median over
    block lengths).

    Differences cancel slow trends and seasonality (blocks are 1, 2 and 4 `unit`s: whole
    weeks of a daily series), the MAD ignores the few differences that straddle a shift,
    and long blocks catch positive autocorrelation that day-to-day statistics
    understate. The median over lengths, not the maximum: long blocks are both noisy
    (few blocks) and inflated by month-long bumps, which would hide the very bumps the
    detector looks for.
    """
    from ctxmetrics.detect.kernels import block_difference_mads  # numba: the detector's path only

    # overlapping blocks (every quarter block) steady the estimate at long blocks;
    # compiled (`kernels.block_difference_mads`): ~15 array operations a block were ~6% of a candidate
    blocks = np.array([unit * k for k in _BLOCK_UNITS], dtype=np.int64)
    y, ok = np.ascontiguousarray(y, dtype=np.float64), np.ascontiguousarray(ok, dtype=bool)
    mads, measured = block_difference_mads(y, ok, blocks)
    estimates = [float(spread) ** 2 / 2 * int(block) for spread, block, m in zip(mads, blocks, measured) if m]
    return float(median(np.array(estimates))) if estimates else 0.0


def _remembered_long_run_var(y: np.ndarray, ok: np.ndarray, unit: int = 7) -> float:
    """`_long_run_var`, remembered for the last inputs: the calendar fit judges its season
    on the very values that the noise model measures again once the calendar is out (and
    `find_changes_many` fits the calendars of a batch before it measures their noise: 64
    entries hold two per series of a scan's batch)."""
    return _long_run_var_of(y.tobytes(), ok.tobytes(), unit)


@functools.lru_cache(maxsize=64)
def _long_run_var_of(y: bytes, ok: bytes, unit: int) -> float:
    return _long_run_var(np.frombuffer(y), np.frombuffer(ok, dtype=bool), unit)


def _noise(s: _Series, settings: DetectionSettings, exact_tails: bool = True, unit: int = 7,
           wander_width: int = 0) -> _Noise:
    """Local level, per-day robust scale and long-run variance of a prepared series.

    `exact_tails=False` leaves the count residuals `z` uncapped by their exact tail (the
    costly part), for callers that need only the scales; `unit`: periods per block unit
    of the long-run variance (`frequency.long_run_unit`); `wander_width`: periods of the
    windows on which a gauge's wander is measured (`_with_wander`; 0: not measured)."""
    ok = ~s.known
    level = _rolling_median(s.y, ok, 2 * settings.min_segment_days)
    rate_scales = _beta_binomial_scales(s, level, ok)
    if rate_scales is not None:
        body, tail, rho = rate_scales
        noise = replace(_noise_of(s, level, body, tail, unit, long_run_gate=_RATE_LONG_RUN_GATE), dispersion=rho)
        return _exact_tails(s, noise, settings) if exact_tails else noise
    scale, tail_scale = _weekday_scales(s.y - level, s.weekday, ok, s.floor_var)
    noise = _noise_of(s, level, scale, tail_scale, unit)
    if wander_width and s.shape is None and not s.floor_var.any():  # a gauge: no sampling noise, it may wander
        noise = _with_wander(s, noise, wander_width)
    return _exact_tails(s, noise, settings) if exact_tails else noise


def _with_wander(s: _Series, noise: _Noise, width: int) -> _Noise:
    """`noise` of a gauge with its long-run variance raised to that of its windows of
    `width` periods, read off its variogram where its lag-1 autocorrelation is clearly
    above 0 (`autocorrelation._window_long_run_var`). The block estimate (`_long_run_var`) takes
    blocks of 1-4 periods of a weekly series and none of a yearly one under 56 years: a
    weekly price wandering at phi 0.6-0.9 measured 1.0-2.3 times its day variance
    (benchmarks/README.md, issue-9ar), and its wander was reported as episodes and shifts."""
    # windows of at most a tenth of the series: at lag k, k differences cross a step, and
    # in a short series (30-60 years) the long lags' robust sds would take the step in
    wander = _window_long_run_var(s.y, s.index, ~s.known, min(width, max(len(s.y) // 10, 1)))
    return replace(noise, lrv=wander) if wander > noise.lrv else noise


def _noise_of(s: _Series, level: np.ndarray, scale: np.ndarray, tail_scale: np.ndarray, unit: int,
              long_run_gate: float = 1.0) -> _Noise:
    """The noise model of `s` from its level and day scales; the long-run variance counts
    only where it exceeds `long_run_gate` times the day variance (else: the day variance)."""
    ok = ~s.known
    z = (s.y - level) / tail_scale
    day_var = float(np.mean(scale[ok] ** 2)) if ok.any() else float(np.mean(scale**2))
    long_run = _remembered_long_run_var(s.y, ok, unit)
    lrv = long_run if long_run > long_run_gate * day_var else day_var
    return _Noise(level=level, scale=scale, tail=tail_scale, z=z, day_var=day_var, lrv=lrv)


def _noises(series: list[_Series], settings: DetectionSettings, unit: int = 7,
            wander_width: int = 0) -> Iterator[_Noise]:
    """`_noise(s, settings, exact_tails=False, unit=unit, wander_width=wander_width)` of
    each series in turn, the same numbers as series by series. Series of one length with the same days, none
    known and every day with a sampling variance (the usual candidates of a scan) share
    the days of each median, so their rolling medians and weekday MADs are taken as
    matrices. Each long-run variance is measured when its series' turn comes: the
    calendar fit and the episode scan that follow reuse it (`_remembered_long_run_var`)."""
    longest = max(series, key=lambda s: len(s.index), default=None)
    plain = [
        i for i, s in enumerate(series)
        if np.array_equal(s.index, longest.index) and not s.known.any() and (s.floor_var > 0).all()
        and s.shape is not None  # rates have a noise model of their own (`_beta_binomial_scales`)
    ]
    if len(plain) > 1:
        ys = np.array([series[i].y for i in plain])
        ok = np.ones(ys.shape, bool)
        levels = _rolling_median(ys, ok, 2 * settings.min_segment_days)
        floor_var = np.array([series[i].floor_var for i in plain])
        rel = np.sqrt(floor_var / median_rows(floor_var)[:, None])
        rel = np.where(rel > 0, rel, 1.0)
        resid = (ys - levels) / rel
        center, pooled = median_and_mad_rows(resid)
        weekday = longest.weekday
        phases = max(int(weekday.max()) + 1, 1) if weekday.size else 1
        day_mad = np.column_stack([
            median_and_mad_rows(resid[:, weekday == d])[1] if (weekday == d).any() else np.zeros(len(plain))
            for d in range(phases)
        ])
        batched = {i: k for k, i in enumerate(plain)}
    else:
        batched = {}
    for i, s in enumerate(series):
        k = batched.get(i)
        if k is None:
            yield _noise(s, settings, exact_tails=False, unit=unit, wander_width=wander_width)
            continue
        scale, tail_scale = _scales_from(
            resid[k], s.weekday, ok[k], floor_var[k], rel[k], float(center[k]), float(pooled[k]), day_mad[k]
        )
        yield _noise_of(s, levels[k], scale, tail_scale, unit)


def _exact_tails(s: _Series, noise: _Noise, settings: DetectionSettings) -> _Noise:
    """`noise` with its count and rate residuals capped by their exact tail (`_count_tail_z`,
    `_rate_tail_z`)."""
    if noise.dispersion is not None:
        return replace(noise, z=_rate_tail_z(s, noise, settings.min_score))
    if s.shape is None:
        return noise
    return replace(noise, z=_count_tail_z(s, noise.level, noise.z, settings.min_score))


# Rates: the long-run variance of iid beta-binomial rates is estimated at 0.74-1.23 times
# their day variance (10th-90th percentile; benchmarks/README.md, issue-9g); only beyond
# this is it autocorrelation measured rather than the estimate's own error
_RATE_LONG_RUN_GATE = 1.4


# the arcsine variance of a binomial proportion at 30% is 0.25 / n within 5% from 30
# trials (n = 20: 9% above, 10: 30%, 3: 94%; its exact sum over the binomial law)
_NOMINAL_TRIALS = 30


def _beta_binomial_scales(s: _Series, level: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray, float] | None:
    """For rates (None otherwise): the sd of each day of a beta-binomial proportion on the
    arcsine scale, 0.25 / n * (1 + (n - 1) rho) for n trials at intra-class correlation
    rho = 1 / (concentration + 1), for the body and for the tails, and rho.

    rho is the one value at which the day-to-day differences standardised by it have a
    mean square of 1 (those within 5 sds: `_fitted_dispersion`); an episode moves only the
    differences at its ends. Busy days get the beta part in full and quiet days mostly the
    binomial one, which one overdispersion factor (quasi-binomial) cannot do. A weekday (or the
    tails) keeps a larger scale of its own only where it is measured beyond twice its
    sampling error (the root mean square of a weekday's z within 5 sds: 0.707 / sqrt(days);
    the 95th percentile of |z| over 1.96: 0.951 / sqrt(days)): a weekday's mean rate is a
    mean effect, already taken out.
    """
    if s.shape is not None or not s.floor_var.any():
        return None
    from ctxmetrics.detect.kernels import quieter_tail  # numba: the detector's path only

    usable = ok & (s.floor_var > 0)
    if usable.sum() < 28:
        return None
    trials = np.divide(0.25, s.floor_var, out=np.ones(len(s.y)), where=s.floor_var > 0)
    resid = s.y - level
    # rho is fitted on differences of consecutive usable days, not on the residuals from
    # the rolling median: the median is often the day itself (a residual of exactly 0),
    # which makes their MAD ~5% small (rho 15-40% small); a difference needs no level,
    # and an episode or a shift moves only the differences at its ends
    # ... and on days of `_NOMINAL_TRIALS` or more (where there are enough of them), whose
    # arcsine variance is the binomial 0.25 / n: a quiet day's is larger, which rho
    # would otherwise take up for every day
    fit = usable & (trials >= _NOMINAL_TRIALS)
    fit = fit if fit.sum() >= 28 else usable
    diffs = np.diff(s.y[fit])
    floor, n = s.floor_var[fit], trials[fit]
    phases = max(int(s.weekday.max()) + 1, 1)
    factor = np.ones(phases)
    # twice: rho, then each weekday's factor against it, then rho again with the noisier
    # weekdays at their own scale (else their extra noise would spread to every day)
    for _ in range(2):
        rho = _fitted_dispersion(diffs, floor * factor[s.weekday[fit]] ** 2, n)
        model = np.sqrt(s.floor_var * (1.0 + (trials - 1.0) * rho))
        model = np.where(model > 0, model, max(float(median(model[model > 0])), 1e-9))
        z = resid / model
        for d in range(phases):
            inner = z[usable & (s.weekday == d)]
            inner = inner[np.abs(inner) <= 5.0]
            spread = float(np.sqrt(np.mean(inner**2))) if inner.size >= 28 else 1.0
            factor[d] = spread if spread > 1.0 + 3 * 0.707 / np.sqrt(max(inner.size, 1)) else 1.0
        if (factor == 1.0).all():
            break
    body = model * factor[s.weekday]
    deviation = z[usable] / factor[s.weekday[usable]]
    inner = deviation[np.abs(deviation - median(deviation)) <= 5.0]
    tail = 1.0
    if inner.size >= 100:
        spread = quieter_tail(inner - median(deviation), deviation - median(deviation)) / 1.96
        tail = spread if spread > 1.0 + 2 * 0.951 / np.sqrt(inner.size) else 1.0
    return body, body * tail, rho


def _fitted_dispersion(diffs: np.ndarray, floor: np.ndarray, n: np.ndarray) -> float:
    """The rho of `_beta_binomial_scales` from the differences of consecutive days with
    binomial variances `floor` (times any weekday factor) at `n` trials.

    The MAD sets which differences are inliers (within 5 sds); their mean square (more
    precise: a MAD's variance is 2.7 times a variance's) then sets rho, each by bisection.
    """
    # the variance of a difference is binomial + beta * rho
    binomial, beta = floor[1:] + floor[:-1], (floor * (n - 1.0))[1:] + (floor * (n - 1.0))[:-1]
    square = diffs**2

    def fitted(spread) -> float:
        """The rho at which `spread` of the squared standardised differences is 1 (0 if below)."""
        lo, hi = 0.0, 1.0
        if spread(square / binomial) <= 1.0:
            return 0.0
        for _ in range(30):  # bisection (to 1e-9): the spread falls as rho rises
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if spread(square / (binomial + beta * mid)) > 1.0 else (lo, mid)
        return hi

    # the MAD's square: the median of z^2 over 0.4549 (the normal median of z^2)
    inliers = square / (binomial + beta * fitted(lambda z2: median(z2) / 0.4549)) <= 25.0
    return fitted(lambda z2: float(np.mean(z2[inliers])))


def _rate_tail_z(s: _Series, noise: _Noise, threshold: float) -> np.ndarray:
    """Cap large rate residuals at the normal quantile of their exact beta-binomial tail.

    At a few dozen trials the arcsine scale stretches the lower tail: no conversion of 40
    leads at 30% is 7.3 sds there but happens with probability 0.7**40 (4.8 sds). The
    day's expected rate is its arcsine value less its residual (its weekday's mean rate
    included); its trials n = 0.25 / floor_var (for a rate of two counts, their sum).
    """
    from scipy import special, stats

    out = noise.z.copy()
    idx = np.flatnonzero((np.abs(noise.z) >= threshold) & (s.floor_var > 0))
    if idx.size == 0:
        return out
    trials = np.round(0.25 / s.floor_var[idx])
    successes = np.clip(np.round(s.num[idx]), 0, trials)
    expected = np.arcsin(np.sqrt(successes / trials)) - (s.y[idx] - noise.level[idx])
    p = np.clip(np.sin(np.clip(expected, 0.0, np.pi / 2)) ** 2, 1e-6, 1 - 1e-6)
    if noise.dispersion > 1e-6:
        rho = min(noise.dispersion, 1 - 1e-6)
        law = stats.betabinom(trials, p * (1 - rho) / rho, (1 - p) * (1 - rho) / rho)
    else:  # binomial (the beta part's parameters would overflow)
        law = stats.binom(trials, p)
    up = noise.z[idx] > 0
    tail = np.where(up, law.sf(successes - 1), law.cdf(successes))
    size = 0.0 - special.ndtri(np.clip(tail, 1e-300, 0.5))
    out[idx] = np.sign(noise.z[idx]) * np.minimum(np.abs(noise.z[idx]), size)
    return out


def _count_tail_z(s: _Series, level: np.ndarray, z: np.ndarray, threshold: float) -> np.ndarray:
    """Cap large count residuals at the normal quantile of their exact tail probability.

    The stabilising transform stretches the lower tail of small counts: a zero day at 7
    expected looks like 4.5 sds on the sqrt scale but happens once in a thousand days.
    The negative-binomial tail (at the estimated shape) gives the honest size.
    """
    from scipy import special, stats

    out = z.copy()
    idx = np.flatnonzero(np.abs(z) >= threshold)
    if idx.size == 0:
        return out
    shape = s.shape
    expected = np.maximum(s.inverse(level[idx]) * s.factor[idx], 1e-9)
    observed = np.round(s.num[idx] * s.factor[idx])
    p = shape / (shape + expected)
    # each tail only where needed, and without scipy.stats' generic wrapper where a special
    # function gives the very same numbers (its argument checks cost ~0.1 ms a call, a
    # few % of a candidate): the lower tail at x >= 0 events is the regularised
    # incomplete beta I_p(k, x + 1), the normal quantile -ndtri
    up = z[idx] > 0
    tail = np.empty(idx.size)
    if up.any():
        tail[up] = stats.nbinom.sf(observed[up] - 1, shape, p[up])
    if not up.all():
        low = ~up
        tail[low] = np.clip(special.betainc(shape, observed[low] + 1, p[low]), 0.0, 1.0)
    size = 0.0 - special.ndtri(np.clip(tail, 1e-300, 0.5))
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
    rel = np.sqrt(floor_var / median(floor_var[floor_var > 0])) if (floor_var > 0).sum() > 0 else np.ones(len(resid))
    rel = np.where(rel > 0, rel, 1.0)
    resid = resid / rel
    center, pooled = median_and_mad(resid[ok]) if ok.any() else (0.0, 0.0)
    phases = max(int(weekday.max()) + 1, 1) if weekday.size else 1
    day_mad = np.array([mad(resid[ok & (weekday == d)]) for d in range(phases)])
    return _scales_from(resid, weekday, ok, floor_var, rel, center, pooled, day_mad)


def _scales_from(resid: np.ndarray, weekday: np.ndarray, ok: np.ndarray, floor_var: np.ndarray, rel: np.ndarray,
                 center: float, pooled: float, day_mad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`_weekday_scales` from the residuals relative to their sampling variance (`rel`),
    their median and pooled scale over the `ok` days and each weekday's MAD."""
    from ctxmetrics.detect.kernels import day_scales  # numba: the detector's path only

    # heavy tails (e.g. rates whose numerator lags the denominator) make the MAD too small
    # for a 5-sd rule, so the 95th percentile must look normal too (`kernels.quieter_tail`, from
    # 100 days); days beyond 5 MADs are left out first, so that the anomalies themselves
    # (holidays, storms, a few percent of days) cannot set the threshold that is meant to
    # find them. Compiled (`kernels.day_scales`): ~5% of a 730-day candidate in numpy
    scales = day_scales(*(np.ascontiguousarray(a, dtype=t) for a, t in (
        (resid, np.float64), (weekday, np.int64), (ok, bool), (floor_var, np.float64), (rel, np.float64))),
        float(center), float(pooled), np.ascontiguousarray(day_mad, dtype=np.float64))
    # a day's scale is never 0: the usual case has none
    return tuple(out if (out > 0).all() else np.where(out > 0, out, max(float(median(out)), 1e-9)) for out in scales)
