"""The latest days of a cube checked as a whole: changes that hide in a cell.

A change in one cell of a wide cube moves the rollups above it too little to be flagged,
and a few days at the end of the data are often too short for the cell's own series to
clear the detector's bar. After detection, the last 1, 3 and 7 days of every leaf are set
against their expected values (`rootcause.window_expectation`, as drivers are) and the
deviation is localized over the whole cube (`rootcause.localize_codes`). Elements the
detector already flagged (on the element, a part of it or a rollup above it) are left to
those anomalies. The rest counts only when its strongest element's change clears a
Bonferroni bound over every candidate element of every window at `_FALSE_ALARM`, the
chance per metric that noise alone reports anything; the others then come as `localize`
chose them (its own test, given that something changed). What remains is one anomaly
(`found_by: "cube"`) on the smallest rollup that holds it; `explain` fills its drivers like
any anomaly's.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ctxmetrics.models.anomaly import Anomaly
from ctxmetrics.models.segments import is_within
from ctxmetrics.models.series import SeriesSet
from ctxmetrics.scan.scan import segment_masks

if TYPE_CHECKING:
    from ctxmetrics.models.annotation import Annotation

__all__ = ["latest_changes", "WINDOWS"]

WINDOWS = (1, 3, 7)  # days at the end of the data: a day, a few days, a week
_FALSE_ALARM = 0.01  # per metric and scan, over every element of every window
_WEEKS = 8  # weeks of history behind each leaf's expected value, as drivers take them


def latest_changes(
    series_set: SeriesSet, found: list[Anomaly], annotations: Sequence["Annotation"] = (), tz: str = "UTC"
) -> list[Anomaly]:
    """The anomaly (at most one) of the cube's last days that `found`, the detector's
    anomalies of this metric, does not already cover. Daily counts only, and only where
    the leaves add up to the total (not a gauge, nor a partial cube). Days an outage,
    holiday or offsite of the timeline covers are unknown in the leaves it scopes, as the
    detector takes them: a known outage is explained where it was flagged, not found again."""
    from ctxmetrics.explain.rootcause import (
        candidate_count, encode_leaves, localize_codes, null_gain, window_expectation,
    )

    if series_set.kind != "count" or series_set.denominators is not None or series_set.granularity != "daily":
        return []
    depth = max((len(s) for s in series_set.segments), default=0)
    leaf_rows = np.array([r for r, s in enumerate(series_set.segments) if depth and len(s) == depth], dtype=int)
    days = series_set.days
    if len(leaf_rows) < 2 or days < max(WINDOWS) + 7 * _WEEKS or not _adds_up(series_set, leaf_rows):
        return []
    if any(not a.segment and (a.end is None or a.end >= series_set.day(days - 1)) for a in found):
        return []  # the total was flagged up to the last day: its drivers localize the cube
    leaves = [series_set.segments[r] for r in leaf_rows]
    dims = list(leaves[0])
    codes, names = encode_leaves(leaves, dims)
    bound = null_gain(candidate_count(codes) * len(WINDOWS), _FALSE_ALARM)
    lo = days - max(WINDOWS) - 7 * _WEEKS  # only the days the windows and their history read
    values = series_set.values[:, lo:][leaf_rows]
    if series_set.gaps is not None:
        values[:, series_set.gaps[lo:]] = np.nan  # days without data are unknown, not zeros
    values[segment_masks(leaves, series_set.day(lo), days - lo, annotations, tz)] = np.nan
    best = None  # (evidence, first day of the window, elements not covered yet, expected, actual)
    for length in WINDOWS:
        first = days - length
        expected, actual, noise = window_expectation(values, first - lo, days - 1 - lo, _WEEKS)
        kept = []  # (element, evidence) of the root-cause set that nothing detected covers
        for segment, _ in localize_codes(codes, dims, names, expected, actual, noise).elements:
            if not _covered(segment, series_set.day(first), found):
                members = np.array([is_within(leaf, segment) for leaf in leaves])
                kept.append((segment, _count_z(expected[members], actual[members], noise[members]) ** 2))
        # The cube changed when its strongest such element clears the bound; the others are
        # the root-cause set's as `localize` chose them (its own test, given a change). Sets
        # of cells each below the bound, accepted at a Bonferroni bound for their size, were
        # tried: 20-40% cells end to end 0.800 -> 0.826, but one more false alarm on the
        # clean funnels of tests/test_detect_funnel.py (6 of 560 series, bound 1%).
        evidence = sum(gain for _, gain in kept)
        if kept and max(gain for _, gain in kept) > bound and (best is None or evidence > best[0]):
            best = (evidence, first, [segment for segment, _ in kept], expected, actual)
    if best is None:
        return []
    return [_anomaly(series_set, leaves, *best)]


def _adds_up(series_set: SeriesSet, leaf_rows: np.ndarray) -> bool:
    """True when the leaves sum to the total over the checked days: the whole cube."""
    total = series_set.row({})
    if total is None:
        return False
    days = slice(series_set.days - max(WINDOWS), None)
    top = float(np.nansum(series_set.values[total, days]))
    leaves = float(np.nansum(series_set.values[leaf_rows, days]))
    return abs(top - leaves) <= 1e-6 * max(abs(top), 1.0)


def _count_z(expected: np.ndarray, actual: np.ndarray, noise: np.ndarray) -> float:
    """How many σ the element's count is off its expected sum, on square roots (Anscombe):
    a small count's upper tail is far longer than a normal one's, so on raw counts a cell
    of a few a day would clear any bound by chance; √ makes it about symmetric, and the
    same z for large counts."""
    e, a = float(expected.sum()), float(actual.sum())
    sigma = math.sqrt(float((noise**2).sum()))
    if e <= 0 or sigma <= 0:
        return 0.0
    return 2 * (math.sqrt(a + 3 / 8) - math.sqrt(e + 3 / 8)) * math.sqrt(e) / sigma


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
