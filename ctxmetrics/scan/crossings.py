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
    overlapping in time, no event of its own, not much deeper inside); the scores and days
    are screened as arrays first (`_stronger_dated_apart`), so a cube where many cells
    changed at once reads few pairs."""
    groups: dict[tuple[str, str], list[Anomaly]] = {}
    for a in anomalies:
        series_set = sets.get(a.metric)
        if series_set is not None and series_set.kind == "count":
            groups.setdefault((a.metric, a.direction), []).append(a)
    echoes = []
    for (metric, _), group in groups.items():
        for a, near in zip(group, _stronger_dated_apart(group)):
            for stronger in (group[j] for j in near):
                if ((shared := crossing(a.segment, stronger.segment)) is not None and _restates(a, stronger)
                        and _rest_moved(sets[metric], a, shared) is False):
                    echoes.append(a)
                    break
    return echoes


def _stronger_dated_apart(group: list[Anomaly]):
    """Per anomaly of `group`, in order: the indexes (ascending) of the stronger ones that
    overlap it in time and start more than `_SAME_DATING_DAYS` away from it.

    Near-linear in the anomalies rather than a mask over the whole group per anomaly: per
    start day, the ones starting earlier and still running that day, and the ones starting
    later, are each sorted by score once, so an anomaly reads only those stronger than
    itself; the exact test is then made on those few (a wide cube's 20k anomalies of one
    metric and direction, most on one day, read a few each)."""
    starts = np.array([a.start.toordinal() for a in group])
    ends = np.array([(a.end or dt.date.max).toordinal() for a in group])
    scores = np.array([a.score for a in group], dtype=float)
    by_start = np.argsort(starts, kind="stable")
    sorted_starts = starts[by_start]
    sides: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}  # start day -> by score
    for a, start, end, score in zip(group, starts, ends, scores):
        if start not in sides:
            earlier = by_start[: np.searchsorted(sorted_starts, start - _SAME_DATING_DAYS, "left")]
            earlier = earlier[ends[earlier] >= start]  # still running on the day
            later = by_start[np.searchsorted(sorted_starts, start + _SAME_DATING_DAYS, "right"):]
            earlier, later = earlier[np.argsort(scores[earlier], kind="stable")], later[np.argsort(scores[later], kind="stable")]
            sides[start] = (earlier, scores[earlier], later, scores[later])
        earlier, earlier_scores, later, later_scores = sides[start]
        some = np.concatenate([
            earlier[np.searchsorted(earlier_scores, score, "right"):], later[np.searchsorted(later_scores, score, "right"):]
        ])
        # the whole test on those (a NaN score sorts last): the same set as testing every one
        near = (scores[some] > score) & (starts[some] <= end) & (ends[some] >= start) & (
            np.abs(starts[some] - start) > _SAME_DATING_DAYS)
        yield np.sort(some[near])
