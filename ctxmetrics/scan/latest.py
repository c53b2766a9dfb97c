"""The latest days of a cube checked as a whole: changes that hide in a cell.

A change in one cell of a wide cube moves the rollups above it too little to be flagged,
and a few days at the end of the data are often too short for the cell's own series to
clear the detector's bar. After detection, the last 1, 3 and 7 days of every leaf are set
against their expected values (`rootcause.WeekdayBaseline`: weekday medians of the 8 weeks
before the last week, with noise relative to each day's level) and the deviation is
localized over the whole cube (`rootcause.localize_codes`).

The check is calibrated on the cube itself: the same windows of the 3 weeks before are
scored the same way, and what the model got wrong there is taken out or counted in. An
element's score loses its drift (its mean past score, shrunk as far as those means are no
wider than noise makes them: a trend the medians lag behind), is divided by the spread of
past scores around their means, pooled over every element, and is read as a Student t
whose degrees of freedom are the fewer of that spread's and of the tail the leaves' past
daily scores show (their kurtosis): counts heavier-tailed than their spread says.

Elements the detector already flagged (on the element, a part of it or a rollup above it)
are left to those anomalies. The rest counts when its strongest element, or all of them
as one (cells that each moved too little to stand out alone), clears a Bonferroni bound
over every candidate element, or set of that many elements of one layer, of every window,
the chance `_FALSE_ALARM` per metric split evenly over the set sizes; the others then come
as `localize` chose them. What remains is one anomaly (`found_by: "cube"`) on the smallest
rollup that holds it; `explain` fills its drivers like any anomaly's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Collection, Sequence

import numpy as np

from ctxmetrics.config import DAYS_OFF_TYPES
from ctxmetrics.models.anomaly import Anomaly
from ctxmetrics.models.segments import is_within
from ctxmetrics.models.series import SeriesSet
from ctxmetrics.scan.scan import segment_masks

if TYPE_CHECKING:
    from ctxmetrics.models.annotation import Annotation

__all__ = ["latest_changes", "latest_windows", "total_flagged", "element_scores", "WINDOWS", "LATEST_DAYS"]

WINDOWS = (1, 3, 7)  # days at the end of the data: a day, a few days, a week
_FALSE_ALARM = 0.01  # per metric and scan, over every element of every window
_WEEKS = 8  # weeks of history behind each leaf's expected value, as drivers take them
_BACKTESTS = 3  # past weeks on which the expected values' own error is measured
_MIN_DOF = 5  # the heaviest tail the scores are read with (a t's kurtosis is finite above 4)
_SET_SIZES = (1, 2, 3)  # a root-cause set has at most 3 elements (`localize`)
LATEST_DAYS = 7 * (_WEEKS + 1 + _BACKTESTS)  # the days the check reads: its past weeks, their history, the last week


def latest_windows(
    series_set: SeriesSet, annotations: Sequence["Annotation"] = (), tz: str = "UTC", days_off: Collection[str] = DAYS_OFF_TYPES,
) -> tuple:
    """(cube, windows): what `latest_changes` reads whatever the detector found; (None, [])
    where the check does not apply. A scan computes it while its workers still detect.
    `days_off`: the event types whose days are unknown (`Config.days_off_types`)."""
    cube = _Cube.of(series_set, annotations, tz, days_off)
    return (None, []) if cube is None else (cube, cube.windows())


def total_flagged(series_set: SeriesSet, found: list[Anomaly]) -> bool:
    """True when `found` holds an anomaly of the total that lasts up to the last day: then
    `latest_changes` has nothing to add."""
    return any(not a.segment and (a.end is None or a.end >= series_set.day(series_set.days - 1)) for a in found)


def latest_changes(
    series_set: SeriesSet, found: list[Anomaly], annotations: Sequence["Annotation"] = (), tz: str = "UTC",
    prepared: tuple | None = None, days_off: Collection[str] = DAYS_OFF_TYPES,
) -> list[Anomaly]:
    """The anomaly (at most one) of the cube's last days that `found`, the detector's
    anomalies of this metric, does not already cover. Daily counts only, and only where
    the leaves add up to the total (not a gauge, nor a partial cube). Days an outage,
    holiday or offsite of the timeline covers are unknown in the leaves it scopes, as the
    detector takes them: a known outage is explained where it was flagged, not found again.
    `prepared`: the `latest_windows` of the same series and timeline, if computed already."""
    from ctxmetrics.explain.rootcause import candidate_count, localize_codes, null_gain

    if total_flagged(series_set, found):
        return []  # its drivers localize the cube
    cube, windows = prepared or latest_windows(series_set, annotations, tz, days_off)
    if cube is None:
        return []
    # Bonferroni over every element (or set of 2 or 3 elements of one layer) of every
    # window, the family's chance split evenly over the set sizes
    bounds = {
        k: null_gain(candidate_count(cube.codes, size=k) * len(WINDOWS), _FALSE_ALARM / len(_SET_SIZES))
        for k in _SET_SIZES
    }
    best = None  # (evidence, first day of the window, elements not covered yet, expected, actual)
    for window in windows:
        first = series_set.days - window.length
        kept = [  # the root-cause set's elements nothing detected covers
            segment
            for segment, _ in localize_codes(
                cube.codes, cube.dims, cube.names, window.expected, window.actual, window.leaf_noise
            ).elements
            if not _covered(segment, series_set.day(first), found)
        ]
        if not kept:
            continue
        gains = [window.evidence(cube.members(segment), len(segment)) for segment in kept]
        # The cube changed when its strongest such element clears the bound, or all of them
        # as one (their counts summed: cells that each moved too little to stand out alone)
        # clear the bound for sets of that size; the others come as `localize` chose them.
        together = np.logical_or.reduce([cube.members(segment) for segment in kept])
        joint = window.evidence(together, max(len(segment) for segment in kept)) if len(kept) > 1 else 0.0
        evidence = sum(gains)
        if (max(gains) > bounds[1] or joint > bounds[len(kept)]) and (best is None or evidence > best[0]):
            best = (evidence, first, kept, window.expected, window.actual)
    if best is None:
        return []
    return [_anomaly(series_set, cube.leaves, *best)]


def element_scores(
    series_set: SeriesSet, annotations: Sequence["Annotation"] = (), tz: str = "UTC", days_off: Collection[str] = DAYS_OFF_TYPES,
) -> list[np.ndarray]:
    """The calibrated score (standard deviations off expected, signed) of every candidate
    element of every window, as the check weighs them: on a cube without any change these
    should spread like a standard normal (benchmarks/latest_null.py)."""
    from ctxmetrics.explain.rootcause import candidate_groups

    cube = _Cube.of(series_set, annotations, tz, days_off)
    if cube is None:
        return []
    groups = candidate_groups(cube.codes, min(3, cube.codes.shape[1]))
    return [window.scores(ids, len(combo)) for window in cube.windows() for combo, ids in groups]


@dataclass(frozen=True)
class _Cube:
    """The leaves of a whole cube and the days the check reads (NaN where unknown)."""

    leaves: list[dict[str, str]]
    dims: list[str]
    codes: np.ndarray
    names: list[list[str]]
    values: np.ndarray  # leaves x the last days read

    @classmethod
    def of(cls, series_set: SeriesSet, annotations, tz: str, days_off: Collection[str]) -> "_Cube | None":
        """None when the check does not apply: not daily counts, not a whole cube, or too
        little history to measure the expected values' error on past weeks."""
        from ctxmetrics.explain.rootcause import encode_leaves

        if series_set.kind != "count" or series_set.denominators is not None or series_set.granularity != "daily":
            return None
        depth = max((len(s) for s in series_set.segments), default=0)
        leaf_rows = np.array([r for r, s in enumerate(series_set.segments) if depth and len(s) == depth], dtype=int)
        days = series_set.days
        span = LATEST_DAYS
        if len(leaf_rows) < 2 or days < span or not _adds_up(series_set, leaf_rows):
            return None
        leaves = [series_set.segments[r] for r in leaf_rows]
        dims = list(leaves[0])
        codes, names = encode_leaves(leaves, dims)
        lo = days - span
        values = series_set.values[:, lo:][leaf_rows]
        if series_set.gaps is not None:
            values[:, series_set.gaps[lo:]] = np.nan  # days without data are unknown, not zeros
        values[segment_masks(leaves, series_set.day(lo), span, annotations, tz, days_off=days_off)] = np.nan
        return cls(leaves, dims, codes, names, values)

    def windows(self) -> list["_Window"]:
        """The last 1, 3 and 7 days against the weekday medians of the weeks before the last
        week, each with its noise calibrated on the same windows of `_BACKTESTS` past weeks."""
        from ctxmetrics.explain.rootcause import WeekdayBaseline, candidate_groups

        groups = candidate_groups(self.codes, min(3, self.codes.shape[1]))
        leaf_ids = np.arange(len(self.leaves))
        span = self.values.shape[1]
        weeks = [span - 7 * (k + 1) for k in range(_BACKTESTS + 1)]  # first day of the last week, then past ones
        baselines = [WeekdayBaseline.before(self.values, first, _WEEKS) for first in weeks]
        tail = _tail_dof([_scores(*b.window(self.values, day, day), leaf_ids) for b in baselines[1:] for day in
                          range(b.origin, b.origin + 7)])
        out = []
        for length in WINDOWS:
            now, *past = [b.window(self.values, b.origin + 7 - length, b.origin + 6) for b in baselines]
            # the spread pooled over every element of the window, so that its own uncertainty
            # is small; the drift per layer (a region's trend is not a cell's)
            by_layer = {len(self.dims): [_past_scores(past, leaf_ids)]}
            for combo, ids in groups:
                by_layer.setdefault(len(combo), []).append(_past_scores(past, ids))
            scale, dof = _spread([p for parts in by_layer.values() for p in parts])
            dof = min(dof, tail)
            shrink = {layer: _shrink(parts, scale) for layer, parts in by_layer.items()}
            out.append(_Window(length, *now, past, scale, dof, shrink))
        return out

    def members(self, segment: dict[str, str]) -> np.ndarray:
        """True for the leaves inside `segment`."""
        inside = np.ones(len(self.leaves), dtype=bool)
        for dim, value in segment.items():
            j = self.dims.index(dim)
            inside &= self.codes[:, j] == self.names[j].index(value)
        return inside


@dataclass(frozen=True)
class _Window:
    """One window's expected, actual and modelled noise per leaf, the same window on past
    weeks, and the measured spread of the model's scores there."""

    length: int
    expected: np.ndarray
    actual: np.ndarray
    noise: np.ndarray
    past: list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # (expected, actual, noise) per past week
    scale: float  # variance of the past scores around each element's own mean (at least 1)
    dof: int  # degrees of freedom of that variance
    shrink: dict[int, float]  # per layer, 0..1: how much of an element's mean past score is drift, not noise

    @property
    def leaf_noise(self) -> np.ndarray:
        return self.noise * math.sqrt(self.scale)

    def scores(self, ids: np.ndarray, layer: int) -> np.ndarray:
        """Calibrated score of each element of one group (leaf -> element id), as a standard
        normal's. Its model score less the drift in it (what the model gets wrong every
        week, a trend since the history: the element's mean past score, shrunk by as much
        as those means are no wider than noise makes them), over the spread measured on
        past weeks, counting the drift's own uncertainty, is a Student t with `dof` degrees
        of freedom (the spread is itself estimated): its score is the normal's of equal tail."""
        from scipy.special import ndtri, stdtr

        shrink = self.shrink[layer]
        drift = shrink * np.mean([_scores(*p, ids) for p in self.past], axis=0)
        t = (_scores(self.expected, self.actual, self.noise, ids) - drift) / math.sqrt(
            self.scale * (1 + shrink**2 / len(self.past))
        )
        return -np.sign(t) * ndtri(np.maximum(stdtr(self.dof, -np.abs(t)), 1e-300))

    def evidence(self, members: np.ndarray, layer: int) -> float:
        """Squared calibrated score of one element of `layer` (its leaves `members`)."""
        return float(self.scores(members.astype(np.int64), layer)[1] ** 2)


def _scores(expected: np.ndarray, actual: np.ndarray, noise: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """How many σ each element's count (leaves summed by element id) is off its expected
    sum, on square roots (Anscombe): a small count's upper tail is far longer than a normal
    one's, so on raw counts a cell of a few a day would clear any bound by chance; √ makes
    it about symmetric, and the same z for large counts."""
    size = int(ids.max()) + 1 if len(ids) else 0
    e = np.bincount(ids, expected, size)
    a = np.bincount(ids, actual, size)
    sigma = np.sqrt(np.bincount(ids, noise**2, size))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = 2 * (np.sqrt(np.maximum(a, 0) + 3 / 8) - np.sqrt(np.maximum(e, 0) + 3 / 8)) * np.sqrt(e) / sigma
    return np.where((e > 0) & (sigma > 0), z, 0.0)


def _past_scores(past, ids: np.ndarray) -> np.ndarray:
    """Each element's model scores on the past weeks (weeks x elements)."""
    return np.array([_scores(*p, ids) for p in past])


def _tail_dof(scores: list[np.ndarray]) -> float:
    """Degrees of freedom of the Student t whose kurtosis the leaves' daily scores on past
    weeks have (6 / excess kurtosis + 4): a day's count can stray further than its spread
    says (a busy day's overdispersion, a spread estimated from few days), and a bound far
    out in the tail is only as good as the tail it assumes; no excess: a normal's."""
    z = np.concatenate(scores)
    z = z[z != 0]  # leaves with nothing expected have no score
    if len(z) < 2:
        return float("inf")
    z = z / np.sqrt(np.mean(z**2))
    excess = float(np.mean(z**4)) - 3.0
    return max(4.0 + 6.0 / excess, _MIN_DOF) if excess > 0 else float("inf")


def _spread(parts: list[np.ndarray]) -> tuple[float, int]:
    """(variance, degrees of freedom) of past scores (weeks x elements each) around each
    element's own mean, the variance at least 1: what the model's noise leaves out (days
    that move together, a cell's overdispersion beyond its history's spread)."""
    weeks = parts[0].shape[0]
    squares = sum(float(((p - p.mean(axis=0)) ** 2).sum()) for p in parts)
    dof = sum(p.shape[1] for p in parts) * max(weeks - 1, 1)
    return max(squares / dof, 1.0), dof


def _shrink(parts: list[np.ndarray], scale: float) -> float:
    """The share of the elements' mean past scores beyond what noise of variance `scale`
    gives a mean of so many weeks (empirical Bayes: 0 when the means are noise, near 1
    when they are drift)."""
    weeks = parts[0].shape[0]
    means = np.concatenate([p.mean(axis=0) for p in parts])
    drift = float((means**2).mean()) if len(means) else 0.0
    return max(0.0, 1.0 - scale / weeks / drift) if drift > 0 else 0.0


def _adds_up(series_set: SeriesSet, leaf_rows: np.ndarray) -> bool:
    """True when the leaves sum to the total over the checked days: the whole cube."""
    total = series_set.row({})
    if total is None:
        return False
    days = slice(series_set.days - max(WINDOWS), None)
    top = float(np.nansum(series_set.values[total, days]))
    leaves = float(np.nansum(series_set.values[leaf_rows, days]))
    return abs(top - leaves) <= 1e-6 * max(abs(top), 1.0)


def _covered(segment: dict[str, str], since, found: list[Anomaly]) -> bool:
    """True when a detected anomaly reaching into the window sits on the element, inside
    it or above it: its own report (or its drivers) already says where."""
    return any(
        (a.end is None or a.end >= since) and (is_within(a.segment, segment) or is_within(segment, a.segment))
        for a in found
    )


def _anomaly(series_set: SeriesSet, leaves, gain: float, first: int, segments, expected, actual) -> Anomaly:
    """The stored form: a level shift from the window's first day on the smallest rollup
    holding every element, before/after that rollup's expected/actual daily values."""
    place = {d: v for d, v in segments[0].items() if all(s.get(d) == v for s in segments)}
    inside = np.array([is_within(leaf, place) for leaf in leaves])
    gaps = series_set.gaps
    length = max(int(series_set.days - first - (0 if gaps is None else gaps[first:].sum())), 1)  # known days
    before = float(expected[inside].sum()) / length
    after = float(actual[inside].sum()) / length
    row = series_set.row(place)
    with np.errstate(invalid="ignore"):
        volume = float(np.nanmean(series_set.values[row])) if row is not None else before
    return Anomaly(
        metric=series_set.metric,
        segment=place,
        kind="level_shift",
        direction="up" if after > before else "down",
        start=series_set.day(first),
        end=None,
        before=round(before, 4),
        after=round(after, 4),
        change_pct=round(100.0 * (after - before) / before, 1) if before > 0 else 0.0,
        score=round(math.sqrt(gain), 2),
        volume=round(volume, 2),
        found_by="cube",
    )
