"""Tagged windows: every tagged event's own days tested on the series of its scope.

The blind detector looks for changes anywhere; a tagged event is a question asked in
advance ("did the offsite move anything?"), one test per window, so it needs far less
evidence. Each event with dates is tested the same way whatever its type: on every metric
it names (all when it names none), on the rollup of its scope (the total for a global
event; each combination of its scope's values), over its own days (a lasting step at its
start when it has no end), by `detect.targeted.window_changes`.

The bar: the tagged windows of one metric are one family (what `scan --metric M` tests),
held to a family-wise false-alarm rate of `FAMILY_ALPHA` by Šidák's bound over their
number, never above the blind detector's `min_score`. A window whose change passes it and
`min_change_pct` is stored as an ordinary anomaly with `found_by: "tagged window"`, unless
the blind detector already reported a change overlapping it on that series.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import warnings
from dataclasses import dataclass
from itertools import product

import numpy as np

from ctxmetrics.models import periods
from ctxmetrics.models.anomaly import Anomaly
from ctxmetrics.models.segments import TAGGED_STATE_SUFFIX
from ctxmetrics.models.series import SeriesSet

FOUND_BY = "tagged window"
# One false alarm in a hundred scans of a metric whose tagged windows changed nothing:
# measured on decoy windows of clean generated counts (3,840 windows, 3 to 200 a day, 1 day
# to lasting), the window scores are near N(0, 1) (sd 0.85-1.15), so the normal bound holds.
FAMILY_ALPHA = 0.01


@dataclass(frozen=True)
class TaggedWindow:
    """One window of a series to test: its periods and the events that tag them."""

    start: int
    end: int | None  # inclusive; None: a lasting step at `start`
    events: tuple[str, ...]


def tagged_windows(series_set: SeriesSet, annotations, tz: str) -> dict[int, list[TaggedWindow]]:
    """Row of `series_set` -> the windows its events tag (events with the same periods on
    one series are one test)."""
    rows = {tuple(sorted(seg.items())): i for i, seg in enumerate(series_set.segments)}
    n, gran = series_set.values.shape[1], series_set.granularity
    found: dict[int, dict[tuple, list[str]]] = {}
    for event in annotations:
        if event.metrics and series_set.metric not in event.metrics:
            continue
        first = periods.index(event.first_day(tz), series_set.start, gran)
        last_day = event.last_day(tz)
        last = None if last_day is None else min(periods.index(last_day, series_set.start, gran), n - 1)
        if not 0 <= first < n or (last is not None and last < first):
            continue
        dims = sorted(event.scope)
        for values in product(*(event.scope[d] for d in dims)):
            row = rows.get(tuple(zip(dims, values)))
            if row is not None:
                found.setdefault(row, {}).setdefault((first, last), []).append(event.id)
    def order(window):  # by start, a lasting step after the windows that start with it
        return window.start, window.end is None, window.end or 0

    return {row: sorted((TaggedWindow(a, b, tuple(ids)) for (a, b), ids in by.items()), key=order)
            for row, by in found.items()}


def family_bar(windows: dict[int, list[TaggedWindow]], settings) -> tuple[int, float]:
    """(tests, bar): how many windows one metric's scan tests, and the score each must reach."""
    from ctxmetrics.detect.targeted import bar

    tests = sum(map(len, windows.values()))
    return tests, bar(tests, FAMILY_ALPHA, settings.min_score)


def retest_tagged(series_set: SeriesSet, tagged: dict[int, list[TaggedWindow]], tests: int, bar: float,
                  found: list[Anomaly], fingerprints: dict[str, str], state, detected: set[int], known_masks,
                  settings) -> list[Anomaly]:
    """`found` (one metric's anomalies) with the tagged-window anomalies brought up to date.

    The tagged windows of a series are tested again when the series was `detected` afresh
    or when its windows, their family's size or its data changed (a fingerprint of its own
    beside the series' own, added to `fingerprints`: the detector's fingerprint stays that of
    every engine, and a new tag does not re-detect the series); the rest keep their
    anomalies, and a series without tags has none."""
    metric, keys = series_set.metric, series_set.keys
    kept: set[str] = set()
    retest = []
    for row, windows in tagged.items():
        key = keys[row]
        text = f"{fingerprints[key]}|{tests}|" + ";".join(f"{w.start}:{w.end}:{','.join(w.events)}" for w in windows)
        fingerprints[key + TAGGED_STATE_SUFFIX] = tag_print = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
        if row in detected or state.get((metric, key + TAGGED_STATE_SUFFIX)) != tag_print:
            retest.append(row)
        else:
            kept.add(key)
    out = [a for a in found if a.found_by != FOUND_BY or a.segment_key in kept]
    for row in sorted(retest):
        out += tagged_anomalies(series_set, row, tagged[row], out, known_masks[row], settings, tests, bar)
    return out


def tagged_anomalies(series_set: SeriesSet, row: int, windows: list[TaggedWindow], found: list[Anomaly],
                     known_mask: np.ndarray, settings, tests: int, bar: float) -> list[Anomaly]:
    """The changes of one series over its tagged windows that pass `bar` and the size rule
    and that no anomaly the detector `found` on the series overlaps; the strongest first
    when two windows overlap."""
    from ctxmetrics.detect.targeted import Window, window_changes
    from ctxmetrics.scan.scan import anomaly_from_change

    key, gran = series_set.keys[row], series_set.granularity
    blind = [a for a in found if a.segment_key == key]
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-unknown row has no volume
        volume = float(np.nanmean(series_set.values[row]))
    dens = None if series_set.denominators is None else series_set.denominators[row]
    changes = window_changes(
        series_set.detection_values(slice(row, row + 1))[0], [Window(w.start, w.end) for w in windows],
        kind=series_set.kind, dates=periods.dates(series_set.start, series_set.values.shape[1], gran),
        denominators=dens, settings=settings, known_mask=known_mask,
    )
    sized = series_set.kind != "gauge"
    passing = sorted(
        ((c, w) for c, w in zip(changes, windows)
         if c is not None and c.score >= bar and (not sized or abs(c.change_pct) >= settings.min_change_pct)),
        key=lambda cw: -cw[0].score,
    )
    out: list[Anomaly] = []
    for change, window in passing:
        anomaly = anomaly_from_change(series_set.metric, series_set.segments[row], series_set.start, change, volume, gran)
        if any(_overlap(anomaly, other) for other in blind + out):
            continue
        anomaly.found_by = FOUND_BY
        anomaly.tagged = {"events": list(window.events), "tests": tests, "bar": round(bar, 2)}
        out.append(anomaly)
    return out


def _overlap(a: Anomaly, b: Anomaly) -> bool:
    far = dt.date.max
    return a.start <= (b.end or far) and b.start <= (a.end or far)
