"""Tagged windows: every tagged event's own days tested on the series of its scope.

The blind detector looks for changes anywhere; a tagged event is a question asked in
advance ("did the offsite move anything?"), one test per window, so it needs far less
evidence. Each event with dates is tested the same way whatever its type: on every metric
it names (all when it names none), on the rollup of its scope (the total for a global
event; each combination of its scope's values), over its own days (a lasting step at its
start when it has no end; both for a one-day event, which may start a lasting change), by
`detect.targeted.window_changes`.

The bar: the tagged windows of one metric are one family (what `scan --metric M` tests),
held to a family-wise false-alarm rate of `FAMILY_ALPHA` by Šidák's bound over their
number, never above the blind detector's `min_score`. A window whose change passes it and
`min_change_pct` is stored as an ordinary anomaly with `found_by: "tagged window"`, unless
the blind detector already reported a change overlapping it on that series (but for one
it dates otherwise, which is then dropped: `scan.restatements.redates`).
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
from ctxmetrics.models.segments import TAGGED_STATE_SUFFIX, segment_key
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
    return windows_by_row(
        series_set.metric, series_set.segments, series_set.start, series_set.values.shape[1], series_set.granularity,
        annotations, tz,
    )


def windows_by_row(metric: str, segments: list[dict[str, str]], start: dt.date, n: int, gran: str, annotations,
                   tz: str) -> dict[int, list[TaggedWindow]]:
    """`tagged_windows` of the series `segments` of `metric` (`n` periods from `start`),
    for an engine that holds only some of a metric's series (the tagged ones)."""
    rows = {tuple(sorted(seg.items())): i for i, seg in enumerate(segments)}
    found: dict[int, dict[tuple, list[str]]] = {}
    for event in annotations:
        if event.metrics and metric not in event.metrics:
            continue
        first = periods.index(event.first_day(tz), start, gran)
        last_day = event.last_day(tz)
        last = None if last_day is None else min(periods.index(last_day, start, gran), n - 1)
        if not 0 <= first < n or (last is not None and last < first):
            continue
        # a one-day event (an instant: a release, a price change) may begin a lasting change
        # as well as be a one-day one: both are asked
        asked = [(first, last), (first, None)] if last == first else [(first, last)]
        for pairs in _scope_segments(event):
            row = rows.get(pairs)
            if row is not None:
                for window in asked:
                    found.setdefault(row, {}).setdefault(window, []).append(event.id)
    def order(window):  # by start, a lasting step after the windows that start with it
        return window.start, window.end is None, window.end or 0

    return {row: sorted((TaggedWindow(a, b, tuple(ids)) for (a, b), ids in by.items()), key=order)
            for row, by in found.items()}


def tagged_keys(metric: str, annotations) -> set[str]:
    """The segment keys of every series some event of `metric` may tag (those that exist
    and whose dates fall in the series are `windows_by_row`'s)."""
    return {
        segment_key(dict(pairs)) for event in annotations if not event.metrics or metric in event.metrics
        for pairs in _scope_segments(event)
    }


def _scope_segments(event):
    """Each combination of the event's scope values, as sorted (dimension, value) pairs."""
    dims = sorted(event.scope)
    for values in product(*(event.scope[d] for d in dims)):
        yield tuple(zip(dims, values))


def family_bar(windows: dict, settings) -> tuple[int, float]:
    """(tests, bar): how many windows one metric's scan tests (`windows`: per series, its
    windows), and the score each must reach."""
    from ctxmetrics.detect.targeted import bar

    tests = sum(map(len, windows.values()))
    return tests, bar(tests, FAMILY_ALPHA, settings.min_score)


def tag_fingerprint(fingerprint: str, tests: int, windows: list[TaggedWindow]) -> str:
    """The scan-state fingerprint of a series' tagged windows (key + `TAGGED_STATE_SUFFIX`):
    the series' own fingerprint (without the restated mark, which only says how its blind
    anomalies were stored), its family's size and its windows."""
    from ctxmetrics.scan.scan import plain_fingerprint

    text = f"{plain_fingerprint(fingerprint)}|{tests}|" + ";".join(f"{w.start}:{w.end}:{','.join(w.events)}" for w in windows)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def tags_changed(metric: str, fingerprints: dict[str, str], tagged: dict[str, list[TaggedWindow]], tests: int,
                 state) -> bool:
    """True when a series of `metric` (segment key -> its fingerprint) has its tagged
    windows (`tagged`, by segment key) tested otherwise than `state` records: tagged anew
    or no longer, other windows, family size or data. Its series restated by a tagged
    window (`scan.restatements.redates`) are then judged afresh, as when a series of the
    metric changed."""
    for key, fingerprint in fingerprints.items():
        stored = state.get((metric, key + TAGGED_STATE_SUFFIX))
        windows = tagged.get(key)
        if (stored is None) != (windows is None):
            return True
        if windows is not None and stored != tag_fingerprint(fingerprint, tests, windows):
            return True
    return False


def retest_tagged(series_set: SeriesSet, tagged: dict[int, list[TaggedWindow]], tests: int, bar: float,
                  found: list[Anomaly], fingerprints: dict[str, str], state, detected: set[int], known_masks,
                  settings) -> list[Anomaly]:
    """`found` (one metric's anomalies) with the tagged-window anomalies brought up to date.

    The tagged windows of a series are tested again when the series was `detected` afresh
    or when its windows, their family's size or its data changed (a fingerprint of its own
    beside the series' own, added to `fingerprints`: the detector's fingerprint stays that of
    every engine, and a new tag does not re-detect the series); the rest keep their
    anomalies, and a series without tags has none."""
    metric, keys, gran = series_set.metric, series_set.keys, series_set.granularity
    fresh: dict[str, list[Anomaly]] = {}
    for row, windows in sorted(tagged.items()):
        key = keys[row]
        fingerprints[key + TAGGED_STATE_SUFFIX] = tag_print = tag_fingerprint(fingerprints[key], tests, windows)
        if row not in detected and state.get((metric, key + TAGGED_STATE_SUFFIX)) == tag_print:
            continue
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-unknown row has no volume
            volume = float(np.nanmean(series_set.values[row]))
        dens = None if series_set.denominators is None else series_set.denominators[row]
        passing = passing_changes(
            series_set.detection_values(slice(row, row + 1))[0], dens, known_masks[row], windows, series_set.kind,
            series_set.start, gran, settings, bar,
        )
        fresh[key] = [
            tagged_anomaly(metric, series_set.segments[row], series_set.start, change, window.events, volume, gran,
                           tests, bar)
            for change, window in passing
        ]
    return with_tagged(found, fresh, {keys[row] for row in tagged})


def passing_changes(values: np.ndarray, denominators, known_mask: np.ndarray, windows: list[TaggedWindow], kind: str,
                    start: dt.date, gran: str, settings, bar: float) -> list[tuple]:
    """(change, window) of one series' tagged windows (`values` as the detector reads them)
    whose change passes `bar` and the size rule, the strongest first."""
    from ctxmetrics.detect.targeted import Window, window_changes

    changes = window_changes(
        values, [Window(w.start, w.end) for w in windows], kind=kind, dates=periods.dates(start, len(values), gran),
        denominators=denominators, settings=settings, known_mask=known_mask,
    )
    sized = kind != "gauge"
    return sorted(
        ((c, w) for c, w in zip(changes, windows)
         if c is not None and c.score >= bar and (not sized or abs(c.change_pct) >= settings.min_change_pct)),
        key=lambda cw: -cw[0].score,
    )


def tagged_anomaly(metric: str, segment: dict[str, str], start: dt.date, change, events, volume: float, gran: str,
                   tests: int, bar: float) -> Anomaly:
    """The stored form of a passing tagged-window change."""
    from ctxmetrics.scan.scan import anomaly_from_change

    anomaly = anomaly_from_change(metric, segment, start, change, volume, gran)
    anomaly.found_by = FOUND_BY
    anomaly.tagged = {"events": list(events), "tests": tests, "bar": round(bar, 2)}
    return anomaly


def with_tagged(found: list[Anomaly], fresh: dict[str, list[Anomaly]], tagged: set[str]) -> list[Anomaly]:
    """`found` with the tagged-window anomalies of the series tested this scan (`fresh`:
    segment key -> passing anomalies, the strongest first) in place of their old ones:
    each one that no anomaly of its series overlaps (the blind detector's, or a stronger
    window's), but for the blind detector's anomalies it dates otherwise (those are then
    dropped as restatements, `scan.restatements.redates`). Series no longer `tagged` lose
    theirs; the rest keep them."""
    from ctxmetrics.scan.restatements import redates

    out = [a for a in found if a.found_by != FOUND_BY or (a.segment_key in tagged and a.segment_key not in fresh)]
    for key, candidates in fresh.items():
        blind = [a for a in out if a.segment_key == key]
        for anomaly in candidates:
            if not any(_overlap(anomaly, other) and not (other.found_by != FOUND_BY and redates(anomaly, other))
                       for other in blind):
                blind.append(anomaly)
                out.append(anomaly)
    return out


def _overlap(a: Anomaly, b: Anomaly) -> bool:
    far = dt.date.max
    return a.start <= (b.end or far) and b.start <= (a.end or far)
