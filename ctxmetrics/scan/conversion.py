"""Stage conversions: a change of a funnel stage judged against the stage above it.

A lower stage's daily count carries every stage above it: a day of many leads is a day of
many MQLs, and the noise of the stages above (leads vary ~16% a day in a cell of the
generated funnels) hides a change of the stage's own conversion. Its share of the stage
above, lagged by the days the funnel takes between them, does not carry that noise, so a
one-day change of the MQL or won conversion that the count's own series cannot tell from
the leads' ups and downs stands out there (measured in benchmarks/README.md, "funnel
misses below the bar, judged as conversions").

So, for each pair of adjacent daily count stages of the funnel, the scan finds the lag at
which the upper stage's day-to-day ups and downs reappear in the lower one (on their
totals) and, when one shows clearly, runs the detector (pre-screen, then `find_changes`)
on every series of the lower stage as a ratio: its counts over the upper stage's counts of
the same segment that many days before. A change found there that no anomaly of the
stage's own series overlaps is stored on the stage's series (`found_by: "conversion"`),
with `before` the count the stage above's volume would have given at the old conversion
and `after` the count seen, both per day over the change's window; `change_pct` and
`score` are the conversion's. Only episodes of up to a week (`MAX_DAYS`) are judged. A change that happens in
the stage above leaves the conversion alone, so it is not found again here. Redone on
every scan, like the cube's latest days.

Low volume: a series whose stage above brings fewer than `min_denominator` events on its
median day is left out of that pass, but judged as a conversion it is still free of the
stage above's noise (won at 3-8 a day converts ~30% of its opportunities: its binomial
spread is ~0.7 of the count's Poisson one). Those series are judged in a pass of their
own, on episodes of any length and lasting shifts: at a few trials a day the mix of cells
moves a conversion less than its noise does, and a short window passes only on the
trials it holds (a day's rate is held to its exact tail, a longer window to its
likelihood), so a three-day push of opportunities at 10-20 a day is judged as a
week of won is.
A find there that the counts of a rollup or part of the series report moving the same
way over those days is not stored (it would restate that change, dated apart).

A conversion is stored as a change of the stage's count only when the count itself moved
that way (`count_moved`): over the change's days, the count seen is above (for a rise;
below for a fall) the count the old conversion gives at the stage above's usual volume
(each weekday's median of the 4 weeks before the change). A conversion is a ratio: a
one-day drop of its denominator (a region's sign-up flow down for a day, leads -85%)
spikes it while the stage below, whose conversions of earlier days land over the next
days, stays flat or falls less; reading that spike as "MQLs up 300%" states a change the
stage did not have. The stage above's own drop is reported on its own series.
"""
from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np

from ctxmetrics.models.anomaly import Anomaly
from ctxmetrics.models.series import SeriesSet
from ctxmetrics.scan.conversion_dating import redate_by_conversion
from ctxmetrics.scan.tagged import _overlap

FOUND_BY = "conversion"
MAX_LAG_DAYS = 14  # the longest a stage is looked for trailing the one above
# The lag is trusted when the upper stage's ups and downs show in the lower one's at least
# this many standard errors of a correlation (r * sqrt(days)) above no link: on the
# generated funnels the true lag shows at 10-25, every other lag below 3.
MIN_LINK_Z = 6.0
# Episodes of up to a week only: the day-to-day noise of the stages above is what the
# conversion takes out, and over weeks a rollup's conversion moves with the mix of its
# cells (each converting at its own rate, growing at its own pace), not with the stage.
MAX_DAYS = 7
# The low-volume pass judges a series when its median day has any trials at all.
LOW_VOLUME_MIN_DENOMINATOR = 1.0


def conversion_anomalies(sets: dict[str, SeriesSet], funnel: tuple[str, ...], found: list[Anomaly], config,
                         masks, annotations=()) -> list[Anomaly]:
    """The anomalies of each funnel stage's conversion from the stage above that no anomaly
    of `found` on the stage's series overlaps: the blind search's, then those of the
    stage's short tagged windows (`annotations`; `scan.tagged_conversion`).
    `masks(series_set)`: its known-day mask. First the detector's anomalies of `found` on
    each stage are dated again, in place, on their conversion (`scan.conversion_dating`)."""
    from ctxmetrics.scan.tagged import tagged_windows
    from ctxmetrics.scan.tagged_conversion import tagged_conversion_anomalies

    out: list[Anomaly] = []
    for upper, lower in zip(funnel, funnel[1:]):
        above, below = sets.get(upper), sets.get(lower)
        if not _comparable(above, below):
            continue
        lag = stage_lag(_total(above), _total(below), (below.start - above.start).days)
        if lag is None:
            continue
        mine = [a for a in found if a.metric == lower]
        known = masks(below)
        redate_by_conversion(above, below, lag, mine, config.detection_for(lower), known)
        settings = replace(config.detection_for(lower), max_temporary_days=MAX_DAYS)
        out += _stage_anomalies(above, below, lag, settings, known, mine)
        out += _stage_anomalies(above, below, lag, _low_volume_settings(config.detection_for(lower)), known, mine,
                                below_denominator=settings.min_denominator)
        windows = tagged_windows(below, annotations, config.timezone)
        out += tagged_conversion_anomalies(above, below, lag, windows, config.detection_for(lower), known, mine + out)
    return out


def _comparable(above: SeriesSet | None, below: SeriesSet | None) -> bool:
    return (above is not None and below is not None and above.kind == below.kind == "count"
            and above.granularity == below.granularity == "daily")


def _total(series_set: SeriesSet) -> np.ndarray:
    """The total's row (the cube's largest series), else the row of the largest volume."""
    row = series_set.row({})
    if row is None:
        row = int(np.nanargmax(np.nansum(series_set.values, axis=1)))
    return series_set.detection_values(slice(row, row + 1))[0]


def stage_lag(upper: np.ndarray, lower: np.ndarray, offset: int = 0) -> int | None:
    """The days (0 to `MAX_LAG_DAYS`) by which `lower` trails `upper`: the lag at which the
    upper series' day-to-day ups and downs (log counts less their week's centred mean and
    their weekday's mean) best correlate with the lower one's, or None when that correlation
    is under `MIN_LINK_Z` standard errors. `offset`: days from `upper`'s first day to `lower`'s."""
    a, b = _wiggles(upper), _wiggles(lower)
    best, best_z = None, MIN_LINK_Z
    for lag in range(MAX_LAG_DAYS + 1):
        shift = offset - lag  # lower[j] pairs with upper[j + shift]
        lo, hi = max(0, -shift), min(len(b), len(a) - shift)
        if hi - lo < 8 * 7:
            continue
        x, y = a[lo + shift : hi + shift], b[lo:hi]
        both = np.isfinite(x) & np.isfinite(y)
        if both.sum() < 8 * 7:
            continue
        r = np.corrcoef(x[both], y[both])[0, 1]
        z = r * np.sqrt(both.sum())
        if np.isfinite(z) and z > best_z:
            best, best_z = lag, z
    return best


def _wiggles(values: np.ndarray) -> np.ndarray:
    """Log counts less a centred 7-day mean and each weekday's mean of the rest (NaN kept)."""
    logs = np.log1p(np.where(values >= 0, values, np.nan))
    filled = np.where(np.isfinite(logs), logs, 0.0)
    weight = np.isfinite(logs).astype(float)
    kernel = np.ones(7)
    with np.errstate(invalid="ignore", divide="ignore"):
        smooth = np.convolve(filled, kernel, mode="same") / np.convolve(weight, kernel, mode="same")
        rest = logs - smooth
        for day in range(7):
            rest[day::7] -= np.nanmean(rest[day::7]) if np.isfinite(rest[day::7]).any() else 0.0
    rest[:3], rest[-3:] = np.nan, np.nan  # the centred mean is one-sided there
    return rest


def _aligned(above: SeriesSet, below: SeriesSet, rows_above: list[int], lag: int) -> np.ndarray:
    """The upper stage's counts of `rows_above`, `lag` days earlier, on `below`'s columns
    (NaN where the upper stage has no such day)."""
    shift = (below.start - above.start).days - lag
    values = above.detection_values(rows_above)
    out = np.full((len(rows_above), below.days), np.nan)
    lo, hi = max(0, -shift), min(below.days, above.days - shift)
    if hi > lo:
        out[:, lo:hi] = values[:, lo + shift : hi + shift]
    return out


def _low_volume_settings(settings):
    """Settings of the low-volume pass: a series with trials on its median day is judged."""
    return replace(settings, min_denominator=LOW_VOLUME_MIN_DENOMINATOR)


def _stage_anomalies(above: SeriesSet, below: SeriesSet, lag: int, settings, masks: np.ndarray,
                     found: list[Anomaly], below_denominator: float | None = None) -> list[Anomaly]:
    """Conversion anomalies of every series of `below` that `above` has too (with
    `below_denominator`, only those whose stage above's median day is under it)."""
    from ctxmetrics.detect import find_changes_many
    from ctxmetrics.models import periods
    from ctxmetrics.scan.scan import screen

    pairs = [(row, above.row(segment)) for row, segment in enumerate(below.segments)]
    pairs = [(r, u) for r, u in pairs if u is not None]
    if not pairs:
        return []
    rows = [r for r, _ in pairs]
    numerators = np.array(below.detection_values(rows), dtype=float)
    denominators = _aligned(above, below, [u for _, u in pairs], lag)
    unknown = ~np.isfinite(denominators)
    numerators[unknown] = np.nan
    denominators[unknown] = 0.0
    chosen = screen(numerators, denominators, settings, "ratio", below.start)
    if below_denominator is not None:
        chosen &= np.median(denominators, axis=1) < below_denominator
    candidates = np.flatnonzero(chosen)
    if not len(candidates):
        return []
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        changes = find_changes_many(
            numerators[candidates], kind="ratio", denominators=denominators[candidates], settings=settings,
            known_masks=masks[rows][candidates], dates=periods.dates(below.start, below.days, "daily"),
        )
    low_volume = below_denominator is not None
    out = []
    for i, row_changes in zip(candidates, changes):
        row = rows[i]
        for change in (c for c in row_changes if _judged(c, low_volume)):
            if not count_moved(change, numerators[i], denominators[i]):
                continue
            anomaly = _count_anomaly(below, row, change, denominators[i])
            if not any(_reported(anomaly, other, low_volume) for other in found):
                out.append(anomaly)
    return out


def _judged(change, low_volume: bool) -> bool:
    """Episodes of up to `MAX_DAYS` days; in the low-volume pass, every change."""
    if low_volume:
        return True
    return change.end is not None and change.end - change.start + 1 <= MAX_DAYS


def _reported(anomaly: Anomaly, other: Anomaly, low_volume: bool) -> bool:
    """`other`, an anomaly of the stage's own counts, already reports `anomaly`'s change:
    it overlaps it in time on its series or, in the low-volume pass, on a rollup or part of
    it moving the same way (a weeks-long conversion change of a cell would otherwise
    restate, dated apart, a rollup's change the counts found, and outscore it)."""
    if not _overlap(anomaly, other):
        return False
    if other.segment == anomaly.segment:
        return True
    nested = other.segment.items() <= anomaly.segment.items() or anomaly.segment.items() <= other.segment.items()
    return low_volume and nested and other.direction == anomaly.direction


def count_moved(change, counts: np.ndarray, trials: np.ndarray) -> bool:
    """Whether the stage's count moved the conversion `change`'s way over its days: the
    count seen there against the count the old conversion gives at the stage above's usual
    volume (the median of each weekday's 4 days before the change; `counts` NaN on unknown
    days, `trials` the stage above's aligned counts). When it did not, the conversion moved
    because the stage above did, the other way (module docstring). True when the change's
    levels or the weeks before it cannot tell."""
    start = change.start
    end = len(counts) if change.end is None else change.end + 1
    if start < 7 or not change.before > 0:
        return True
    known = np.isfinite(counts)
    usual = np.full(7, np.nan)
    for j in range(7):  # window day start + i has the weekday of start + i % 7 - 7k
        days = [start + j - 7 * k for k in range(1, 5) if start + j - 7 * k >= 0]
        days = [d for d in days if known[d]]
        if days:
            usual[j] = np.median(trials[days])
    window = np.arange(start, end)
    window = window[known[window] & np.isfinite(usual[(window - start) % 7])]
    if not len(window):
        return True
    expected = change.before * float(np.mean(usual[(window - start) % 7]))
    seen = float(np.mean(counts[window]))
    return seen > expected if change.after > change.before else seen < expected


def _count_anomaly(below: SeriesSet, row: int, change, denominators: np.ndarray) -> Anomaly:
    """A conversion change stored on the stage's count series: `before` the count at the
    old conversion of the upper stage's days, `after` the count at the new one, per day
    over the change's window."""
    from ctxmetrics.scan.scan import anomaly_from_change

    window = slice(change.start, None if change.end is None else change.end + 1)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        upper = float(np.nanmean(denominators[window]))
        volume = float(np.nanmean(below.values[row]))
    anomaly = anomaly_from_change(below.metric, below.segments[row], below.start, change, volume)
    anomaly.before = round(float(change.before) * upper, 4)
    anomaly.after = round(float(change.after) * upper, 4)
    anomaly.found_by = FOUND_BY
    return anomaly
