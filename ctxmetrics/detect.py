"""The detector: daily series (numpy) in, `Change` records out; a vectorised pre-screen.

Pipeline of `detect_series` (docs/contract.md, "How detection should work"):

1. Prepare: drop unknown days, remove the weekly profile (multiplicative for counts,
   additive on the stabilised scale for ratios and gauges) and stabilise the variance
   (negative-binomial Anscombe for counts, arcsine-sqrt for rates). Days in `known_mask` never shape the
   profile, the baseline or the noise estimate.
2. Noise: a local level (rolling median), per-weekday robust day-to-day scales with a
   sampling floor (Poisson for counts, binomial for rates), and a long-run variance from
   differences of adjacent block means, so autocorrelated noise and slow trends are not
   mistaken for signal.
3. Spikes: 1..`spike_max_days` runs of large robust residuals; masked afterwards.
4. Level shifts: ruptures KernelCPD (linear kernel = penalised l2) with a penalty scaled
   by the long-run variance; every boundary is re-measured on windows of at most
   `level_window_days` each side and dropped unless significant and large. A shift that
   reverts within `max_temporary_days` becomes one temporary anomaly (kind "spike").

`prescreen` is the cheap vectorised filter over many series run before `detect_series`.
"""
from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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


def _weekday_medians(r: np.ndarray, weekday: np.ndarray, ok: np.ndarray, default: float) -> np.ndarray:
    """Median of `r` per weekday over `ok` days (`default` for a weekday without data)."""
    profile = np.full(7, default)
    for day in range(7):
        sel = r[ok & (weekday == day)]
        if sel.size:
            profile[day] = _median(sel)
    return profile


def _multiplicative_profile(x: np.ndarray, weekday: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Weekday factors (mean 1) from the median ratio of each day to its week's mean."""
    local = _centered_mean(x, ok)
    usable = ok & (local > 0)
    ratio = np.divide(x, local, out=np.ones_like(x), where=usable)
    profile = np.maximum(_weekday_medians(ratio, weekday, usable, 1.0), 0.0)
    return profile / profile.mean() if profile.mean() > 0 else np.ones(7)


def _additive_profile(y: np.ndarray, weekday: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Weekday offsets (mean 0) from the median difference of each day to its week's mean."""
    local = _centered_mean(y, ok)
    usable = ok & np.isfinite(local)
    profile = _weekday_medians(np.where(usable, y - local, 0.0), weekday, usable, 0.0)
    return profile - profile.mean()


def _prepare(values, settings, kind, denominator, known_mask, start_weekday) -> _Series | None:
    """Validate, deseasonalise and stabilise a series; None when it is too small to judge."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}.")
    values = np.asarray(values, dtype=float)
    n = len(values)
    known = np.zeros(n, bool) if known_mask is None else np.asarray(known_mask, bool)
    if known.shape != values.shape:
        raise ValueError("known_mask must have the same length as values.")
    weekday = (start_weekday + np.arange(n)) % 7
    if kind == "count":
        x = np.where(np.isfinite(values), values, 0.0)
        if n == 0 or _median(x) < settings.min_daily_volume:
            return None
        profile = _multiplicative_profile(x, weekday, ~known)
        factor = profile[weekday]
        valid = factor >= _DEAD_WEEKDAY
        num = np.divide(x, factor, out=np.zeros(n), where=valid)
        shape = _nb_shape(num, factor, valid & ~known)
        y = nb_transform(num, shape)
        den = np.ones(n)
        typical = float(_median(num[valid]))
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
        y = raw - _additive_profile(raw, weekday, valid & ~known)[weekday]
        num = np.where(valid, values, 0.0)
        floor_var = np.divide(0.25, den, out=np.zeros(n), where=valid)
        inverse = _arcsine_inverse
    else:
        valid = np.isfinite(values)
        raw = np.where(valid, values, 0.0)
        y = raw - _additive_profile(raw, weekday, valid & ~known)[weekday]
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
    return _Noise(level=level, scale=scale, z=z, day_var=day_var, lrv=lrv)


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
    pooled = _mad(resid[ok])
    pooled_tails = pooled
    if ok.sum() >= 100:
        # heavy tails (e.g. rates whose numerator lags the denominator) make the MAD too
        # small for a 5-sd rule: the 95th and 99th percentiles must also look normal
        deviation = np.abs(resid[ok] - _median(resid[ok]))
        q95, q99 = np.quantile(deviation, (0.95, 0.99))
        pooled_tails = max(pooled, float(q95) / 1.96, float(q99) / 2.576)
    day_mad = np.array([_mad(resid[ok & (weekday == d)]) for d in range(7)])

    def scale(floor: float) -> np.ndarray:
        day_sd = np.maximum(day_mad, floor)
        out = np.sqrt(np.maximum(day_sd[weekday] ** 2, floor_var))
        return np.where(out > 0, out, max(float(_median(out)), 1e-9))

    return scale(pooled), scale(pooled_tails)


# -------------------------------------------------------------------------------- spikes


def _pct(before: float, after: float) -> float:
    """Relative change in percent (infinite when the baseline is zero)."""
    if before == 0:
        return 0.0 if after == 0 else float(np.copysign(np.inf, after))
    return 100.0 * (after - before) / abs(before)


def _runs(z: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Maximal [start, stop) runs of same-sign |z| >= threshold."""
    sign = np.where(np.abs(z) >= threshold, np.sign(z), 0)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], sign, [0]))) != 0)
    runs = []
    for a, b in zip(edges[:-1], edges[1:]):
        if sign[a] != 0:
            runs.append((int(a), int(b)))
    return runs


def _spikes(s: _Series, noise: _Noise, settings: DetectionSettings) -> tuple[list[Change], np.ndarray]:
    """Short excursions (<= spike_max_days) that are significant and large.

    Returns:
        The spike changes and a mask of every short outlying run (reported or not), which
        the level-shift search ignores.
    """
    resid = s.y - noise.level
    z = noise.z
    outlying = np.zeros(len(z), bool)
    changes = []
    for a, b in _runs(z, settings.min_score / 2):
        if b - a > settings.spike_max_days or np.abs(z[a:b]).max() < settings.min_score:
            continue
        outlying[a:b] = True
        inflation = noise.se2(b - a) * (b - a) / noise.day_var
        score = abs(z[a:b].sum()) / np.sqrt((b - a) * inflation)
        before = float(np.mean(s.inverse(noise.level[a:b])))
        after = float(np.mean(s.inverse(s.y[a:b])))
        pct = _pct(before, after)
        if score >= settings.min_score and abs(pct) >= settings.min_change_pct:
            changes.append(Change(
                kind="spike", direction="up" if resid[a] > 0 else "down",
                start=int(s.index[a]), end=int(s.index[b - 1]),
                before=before, after=after, change_pct=pct, score=float(score),
            ))
    return changes, outlying


# -------------------------------------------------------------------------- level shifts


class _Windows:
    """Window means of y and of the level units, leaving out excluded days.

    Excluded days (annotated or outlying) are left out of a window unless they make up
    most of it: then the window *is* the anomaly (e.g. an annotated outage) and is
    measured as it is.
    """

    def __init__(self, s: _Series, y: np.ndarray, excluded: np.ndarray):
        keep = ~excluded

        def cum(v):
            return np.concatenate(([0.0], np.cumsum(v)))

        self._all = (cum(y), cum(s.num), cum(s.den), cum(np.ones(len(y))))
        self._kept = (cum(y * keep), cum(s.num * keep), cum(s.den * keep), cum(keep))

    def measure(self, lo: int, hi: int) -> tuple[float, float, int]:
        """Mean of y, pooled level (num/den) and number of days used in [lo, hi)."""
        use = self._kept if self._kept[3][hi] - self._kept[3][lo] >= (hi - lo) / 2 else self._all
        cy, cn, cd, ck = (c[hi] - c[lo] for c in use)
        return cy / ck, (cn / cd if cd > 0 else 0.0), int(ck)


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


def _candidates(y: np.ndarray, noise: _Noise, settings: DetectionSettings) -> list[int]:
    """Boundaries from penalised-l2 segmentation; the penalty is the gain of a min_score
    step measured on half-windows, in long-run-variance units."""
    import ruptures as rpt

    penalty = 0.5 * settings.min_score**2 * noise.lrv
    algo = rpt.KernelCPD(kernel="linear", min_size=settings.min_segment_days).fit(y)
    return [int(b) for b in algo.predict(pen=penalty)[:-1]]


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
        margins = [min(st.score / settings.min_score, abs(st.pct) / settings.min_change_pct) for st in steps]
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
        and abs(back) <= 0.5 * abs(jump)
    )


def _shift_changes(s: _Series, noise: _Noise, outlying: np.ndarray, settings: DetectionSettings) -> list[Change]:
    """Level shifts and temporary lifts/drops (reported as spikes with an end)."""
    n = len(s.y)
    y = np.where(outlying, noise.level, s.y)
    windows = _Windows(s, y, s.known | outlying)
    steps = _prune(_candidates(y, noise, settings), windows, noise, n, settings)
    changes, i = [], 0
    while i < len(steps):
        st = steps[i]
        if i + 1 < len(steps) and _reverts(st, steps[i + 1], settings):
            end = steps[i + 1].at
            episode = _measure(windows, noise, st.lo, st.at, end)
            changes.append(_change("spike", s, episode, int(s.index[end - 1])))
            i += 2
        else:
            changes.append(_change("level_shift", s, st, None))
            i += 1
    return [c for c in changes if c.score >= settings.min_score and abs(c.change_pct) >= settings.min_change_pct]


def _change(kind: str, s: _Series, st: _Step, end: int | None) -> Change:
    return Change(
        kind=kind, direction="up" if st.y_after > st.y_before else "down",
        start=int(s.index[st.at]), end=end, before=float(st.before), after=float(st.after),
        change_pct=float(st.pct), score=float(st.score),
    )


# ------------------------------------------------------------------------------ public API


def detect_series(
    values,
    settings: DetectionSettings,
    *,
    kind: str = "count",
    denominator=None,
    known_mask=None,
    start_weekday: int = 0,
) -> list[Change]:
    """Find spikes, level shifts and temporary episodes in one daily series.

    Args:
        values: One value per day. Counts: a missing day is 0. Ratios: the numerator
            counts. Gauges: NaN marks an unknown day.
        settings: Thresholds (`min_score`, `min_change_pct`, volumes, segment lengths).
        kind: "count", "ratio" or "gauge".
        denominator: Ratios only: the denominator count per day. Days below
            `settings.min_denominator` are treated as unknown; a series whose median
            denominator is below it yields nothing.
        known_mask: True on annotated days where the normal pattern is known not to hold;
            they are left out of baseline, seasonality and noise, but anomalies on them are
            still reported.
        start_weekday: Weekday of day 0 (0=Monday).

    Returns:
        Changes sorted by start day; empty for series too small to judge.
    """
    s = _prepare(values, settings, kind, denominator, known_mask, start_weekday)
    if s is None:
        return []
    noise = _noise(s, settings)
    spikes, outlying = _spikes(s, noise, settings)
    shifts = _shift_changes(s, noise, outlying, settings)
    return sorted(spikes + shifts, key=lambda c: (c.start, c.kind))


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


def _stabilised_rows(matrix: np.ndarray, settings, kind, denominators, weekday):
    """Deseasonalised, variance-stabilised rows.

    Returns:
        The stabilised rows, which rows are large enough to judge, and the expected
        variance of each weekday relative to a typical day (rows x 7).
    """
    if kind == "count":
        x = np.nan_to_num(matrix.astype(np.float32, copy=False))
        big = np.median(x, axis=1) >= settings.min_daily_volume
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


def _row_mad(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row robust sd (scaled MAD, never zero) and median."""
    centre = _row_median(v)
    return np.maximum(_MAD_TO_SD * _row_median(np.abs(v - centre[:, None])), 1e-9), centre


def _row_cumsum(y: np.ndarray) -> np.ndarray:
    """Per-row cumulative sums with a leading 0 column (shared by the screen's statistics)."""
    return np.concatenate((np.zeros((y.shape[0], 1), y.dtype), np.cumsum(y, axis=1)), axis=1)


def _spike_stat(y: np.ndarray, cs: np.ndarray, weekday: np.ndarray, half: int, rel_var: np.ndarray) -> np.ndarray:
    """Largest |residual| against the surrounding days' mean, in robust sds of its weekday
    (the pooled scale times the expected relative sd of the weekday). `cs`: `_row_cumsum(y)`."""
    n = y.shape[1]
    lo = np.clip(np.arange(n) - half, 0, n)
    hi = np.clip(np.arange(n) + half + 1, 0, n)
    # window sums cs[hi] - cs[lo]: slices inside, gathers only at the clipped edges
    window = np.empty_like(y)
    window[:, half : n - half] = cs[:, 2 * half + 1 :] - cs[:, : n - 2 * half]
    edges = np.r_[0:half, n - half : n]
    window[:, edges] = cs[:, hi[edges]] - cs[:, lo[edges]]
    resid = y - (window - y) / (hi - lo - 1)
    scale, centre = _row_mad(resid[:, ::2])
    sd = scale[:, None] * np.sqrt(rel_var)[:, weekday]
    return (np.abs(resid - centre[:, None]) / sd).max(axis=1)


def _mosum_stat(cs: np.ndarray, width: int) -> np.ndarray:
    """Largest robustly standardised difference of adjacent `width`-day means, from the
    rows' cumulative sums `cs` (`_row_cumsum`)."""
    n = cs.shape[1] - 1
    # at t = width .. n - width: cs[t + width] - 2 cs[t] + cs[t - width], as slices (no gathers)
    diff = (cs[:, 2 * width : n + 1] - 2 * cs[:, width : n - width + 1] + cs[:, : n - 2 * width + 1]) / width
    # adjacent positions overlap heavily, so a thinned sample estimates the scale as well
    scale, centre = _row_mad(diff[:, :: max(2, width // 4)])
    return np.abs(diff - centre[:, None]).max(axis=1) / scale


def _mosum_threshold(n: int, width: int) -> float:
    """Null maximum of ~n/width independent standard normals, plus 1.75 sds of margin
    (measured with benchmarks/detect.py: true-effect recall stays >= 0.99 on white and
    AR(1) noise while clean rows kept fall from ~20% to ~8%)."""
    return float(np.sqrt(2 * np.log(max(n / width, 2.0)))) + 1.75


def _prescreen_chunk(matrix, settings, kind, denominators, weekday) -> np.ndarray:
    """The pre-screen of one block of rows (see `prescreen`)."""
    y, big, rel_var = _stabilised_rows(matrix, settings, kind, denominators, weekday)
    n = y.shape[1]
    cs = _row_cumsum(y)
    keep = _spike_stat(y, cs, weekday, settings.min_segment_days, rel_var) >= 0.9 * settings.min_score
    for width in (settings.min_segment_days, 4 * settings.min_segment_days, settings.level_window_days):
        if 2 * width < n:
            keep |= _mosum_stat(cs, width) >= _mosum_threshold(n, width)
    return keep & big


def prescreen(
    matrix,
    settings: DetectionSettings,
    *,
    kind: str = "count",
    denominators=None,
    start_weekday: int = 0,
) -> np.ndarray:
    """Vectorised filter: which series are worth running `detect_series` on.

    Per row: weekday profile removed and variance stabilised as in `detect_series`, then a
    spike statistic (residual against neighbouring days in robust sds, with the expected
    extra variance of weekend days) and
    MOSUM statistics (differences of adjacent 7-, 28- and 56-day means, robustly
    standardised per row, which absorbs slow trends and autocorrelation). Rows are
    processed in chunks so 100k x 730 fits in a few hundred MB.

    Args:
        matrix: Shape (n_series, n_days); values as for `detect_series`.
        settings: Detection thresholds; the screen is looser than the detector.
        kind: "count", "ratio" or "gauge".
        denominators: Ratios only: same shape as `matrix`.
        start_weekday: Weekday of column 0 (0=Monday).

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
    weekday = (start_weekday + np.arange(n)) % 7

    def screen(lo: int) -> None:
        hi = min(lo + _PRESCREEN_CHUNK, rows)
        den = None if denominators is None else np.asarray(denominators[lo:hi])
        keep[lo:hi] = _prescreen_chunk(matrix[lo:hi], settings, kind, den, weekday)

    # numpy releases the GIL in its array loops, so threads use every core
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(screen, range(0, rows, _PRESCREEN_CHUNK)))
    return keep
