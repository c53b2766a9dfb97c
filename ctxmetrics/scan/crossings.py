"""Crossing echoes: one change reported again on a scope that only crosses the changed one.

Two segments cross when they agree on the dimensions both name and each names one the
other does not (region NA and channel paid): they share the cells of their merged segment
(NA x paid), and neither holds the other, so `scan.restatements` never compares them. A
change in NA moves NA x paid and with it paid, by paid's diluted share; at low volume the
detector may flag paid too, often dated a few days off. Such an anomaly on B says
nothing of its own when a stronger anomaly of the same metric and direction on a crossing
scope C overlaps it in time, starting more than 2 days apart (dated alike, the two agree,
as in `scan.restatements`), and B without the shared cells did not move over B's days:
the shared cells carry B's change, which C reports. It is not reported.

A change of B's own moves B's other cells too (they are most of B), so it stays. The
test reads the cube's sums, so it is made on count metrics only (a gauge's rollup is a
mean, a ratio's change is in its rate); their anomalies, and any whose rows the engine did
not keep, stay as they are.
"""
from __future__ import annotations

import datetime as dt

import numpy as np

from ctxmetrics.models.anomaly import Anomaly
from ctxmetrics.models.series import SeriesSet
from ctxmetrics.scan.restatements import _SAME_DATING_DAYS, _restates, _span_end  # judged as a rollup and its part

_BASELINE_WEEKS = 4  # B's rest is compared with its own level over the four weeks before B's start
_MIN_BASELINE_WEEKS = 2  # fewer known weeks than this: not judged (kept)
_MOVED_Z = 2.0  # the rest moved when it shifted B's way by two standard errors (or half B's own change)


def crossing(a: dict[str, str], b: dict[str, str]) -> dict[str, str] | None:
    """The merged segment of two crossing segments (the cells they share), else None: they
    name no dimension with different values and each names one the other does not."""
    if a.keys() <= b.keys() or b.keys() <= a.keys():
        return None
    if any(a[k] != b[k] for k in a.keys() & b.keys()):
        return None
    return {**a, **b}


def _rest_moved(series_set: SeriesSet, anomaly: Anomaly, shared: dict[str, str]) -> bool | None:
    """Whether `anomaly`'s series less the `shared` cells (the rest) moved its way over its
    days (a lasting one's first four), from each weekday's mean of the weeks before: by at least `_MOVED_Z` standard
    errors, or nearer to `anomaly`'s own change than to none (at low volume a few days
    carry too little to be significant, and an unmoved rest must be told from an
    unmeasured one). None when the cube cannot say (a row missing, too few weeks before)."""
    own, cells = series_set.row(anomaly.segment), series_set.row(shared)
    if own is None or cells is None or series_set.granularity != "daily":
        return None
    first = series_set.day_index(anomaly.start)
    last = min(series_set.day_index(_span_end(anomaly)), series_set.days - 1)  # a lasting one: its first weeks
    weeks = min(_BASELINE_WEEKS, first // 7)
    if weeks < _MIN_BASELINE_WEEKS or last < first:
        return None
    values = series_set.detection_values([own, cells]).astype(float)
    rest = values[0] - values[1]
    before = rest[first - 7 * weeks:first].reshape(weeks, 7)  # row: a week, column: a weekday
    weekday_mean = np.nanmean(before, axis=0)
    known = np.isfinite(before).sum()
    residuals = before - weekday_mean
    if known <= 7 or not np.isfinite(weekday_mean).all():
        return None
    sd = np.sqrt(np.nansum(residuals**2) / (known - 7))
    window = rest[first:last + 1]
    expected = weekday_mean[(np.arange(first, last + 1) - first) % 7]
    days = np.isfinite(window)
    shift = float(np.sum(window[days] - expected[days]))
    if anomaly.direction == "down":
        shift = -shift
    standard_error = sd * np.sqrt(days.sum() * (1 + 1 / weeks))
    own_change = abs(anomaly.change_pct) / 100 * float(np.sum(expected[days]))
    return bool(shift >= _MOVED_Z * standard_error or shift >= own_change / 2)


def crossing_echoes(anomalies: list[Anomaly], sets: dict[str, SeriesSet]) -> list[Anomaly]:
    """The count anomalies that echo a stronger one of a crossing scope, dated more than
    `_SAME_DATING_DAYS` apart (module docstring); `sets`: the metrics' cubes by name.

    The pair is judged as `scan.restatements` judges a rollup and its part (stronger,
    overlapping in time, no event of its own, not much deeper inside); only the pairs whose
    segments cross and whose scores and days pass are read (`_stronger_crossing_dated_apart`),
    so the work follows the crossing pairs, not every pair of anomalies dated apart."""
    groups: dict[tuple[str, str], list[Anomaly]] = {}
    for a in anomalies:
        series_set = sets.get(a.metric)
        if series_set is not None and series_set.kind == "count":
            groups.setdefault((a.metric, a.direction), []).append(a)
    echoes = []
    for (metric, _), group in groups.items():
        for a, near in zip(group, _stronger_crossing_dated_apart(group)):
            for stronger in (group[j] for j in near):
                if ((shared := crossing(a.segment, stronger.segment)) is not None and _restates(a, stronger)
                        and _rest_moved(sets[metric], a, shared) is False):
                    echoes.append(a)
                    break
    return echoes


def _stronger_crossing_dated_apart(group: list[Anomaly]):
    """Per anomaly of `group`, in order: the indexes (ascending) of the ones whose segment
    crosses its own, stronger, overlapping it in time and starting more than
    `_SAME_DATING_DAYS` away from it.

    The crossing segments are looked up (`_CrossingIndex`) and the scores and days tested
    on those alone: a few per anomaly, where testing every stronger one dated apart was
    quadratic in the anomalies dated apart (crossing segments are about one pair in a
    hundred of a cube's anomalies). An anomaly no stronger one is dated apart from (most
    of a cube where many cells changed on one day) is passed over before the look-up."""
    starts = np.array([a.start.toordinal() for a in group])
    ends = np.array([(a.end or dt.date.max).toordinal() for a in group])
    scores = np.array([a.score for a in group], dtype=float)
    strongest_apart = _strongest_dated_apart(starts, ends, scores)
    index = _CrossingIndex(group)
    for i, (start, end, score) in enumerate(zip(starts, ends, scores)):
        if not strongest_apart[start] > score:
            yield index.none
            continue
        some = index.crossing(i)
        # the whole test on those (a NaN score is never stronger nor weaker)
        near = (scores[some] > score) & (starts[some] <= end) & (ends[some] >= start) & (
            np.abs(starts[some] - start) > _SAME_DATING_DAYS)
        yield np.sort(some[near])


def _strongest_dated_apart(starts: np.ndarray, ends: np.ndarray, scores: np.ndarray) -> dict[int, float]:
    """Per start day: the highest score (NaN skipped, -inf for none) of the anomalies
    starting more than `_SAME_DATING_DAYS` before it and still running on it, or more than
    that after it; nothing at or below it can be stronger and dated apart."""
    strongest = {}
    for start in np.unique(starts):
        apart = ((starts < start - _SAME_DATING_DAYS) & (ends >= start)) | (starts > start + _SAME_DATING_DAYS)
        strongest[start] = float(np.fmax.reduce(scores[apart], initial=-np.inf))
    return strongest


class _CrossingIndex:
    """The anomalies of a group by the segments that can cross a given one: a segment
    naming dimensions A is crossed by those naming dimensions K, neither set holding the
    other, that agree with it on the dimensions both name; so per (K, shared dimensions)
    the anomalies are grouped by their values there, built the first time it is asked."""

    def __init__(self, group: list[Anomaly]):
        self.segments = [a.segment for a in group]
        self.dims = [tuple(sorted(segment)) for segment in self.segments]
        self.named: dict[tuple[str, ...], list[int]] = {}  # dimensions named -> the anomalies naming them
        for i, dims in enumerate(self.dims):
            self.named.setdefault(dims, []).append(i)
        self.plans: dict[tuple[str, ...], list[tuple[tuple[str, ...], dict]]] = {}
        self.none = np.zeros(0, dtype=np.int64)

    def crossing(self, i: int) -> np.ndarray:
        """The indexes of the anomalies whose segment crosses anomaly `i`'s (`crossing`)."""
        dims = self.dims[i]
        if dims not in self.plans:
            self.plans[dims] = self._plan(dims)
        segment = self.segments[i]
        hits = [found for shared, by_value in self.plans[dims]
                if (found := by_value.get(tuple(segment[d] for d in shared))) is not None]
        return hits[0] if len(hits) == 1 else np.concatenate(hits) if hits else self.none

    def _plan(self, dims: tuple[str, ...]) -> list[tuple[tuple[str, ...], dict]]:
        """Per set of dimensions crossing `dims`: the dimensions shared and its anomalies
        by their values there."""
        plan = []
        for other, members in self.named.items():
            if set(other) <= set(dims) or set(dims) <= set(other):
                continue
            shared = tuple(d for d in other if d in dims)
            by_value: dict[tuple[str, ...], list[int]] = {}
            for j in members:
                by_value.setdefault(tuple(self.segments[j][d] for d in shared), []).append(j)
            plan.append((shared, {value: np.array(js) for value, js in by_value.items()}))
        return plan
