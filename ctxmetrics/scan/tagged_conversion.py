"""Tagged windows of a lower funnel stage tested on its conversion from the stage above.

A tagged window is tested on the count of each series it names (`scan.tagged`). A lower
stage's count carries the day-to-day noise of every stage above it, so a one-day change
of its own conversion (an SQL day lost to a CRM outage) often stays under even a tagged
window's bar there, while its conversion from the stage above, lagged by the funnel's
days (`scan.conversion`), shows it clearly: on the generated funnels' tagged one-day
misses of sql and opportunities, exact windows scored 1.3-3.2 on the count and 4.3-6.8 on
the conversion (benchmarks/README.md, issue-9ft's round).

So each short tagged window (at most `conversion.MAX_DAYS` long, as the blind search of
the conversion: over weeks a rollup's conversion moves with the mix of its cells) of a
lower stage's series that the stage above holds too is measured once more, on that
series' conversion, by the detector's window test. These tests join the metric's tagged
family: each is held to the Šidák bar of the count windows and the conversion windows
together (the count windows keep their own bar, so the metric's family-wise rate stays
under twice `tagged.FAMILY_ALPHA`). A window that passes and that no anomaly of its
series already overlaps is stored like the blind conversion's finds (`found_by:
"conversion"`, the count the upper stage's days would have given before and the count
seen after), with the `tagged` record of a tagged window, when the count itself moved
that way (`conversion.count_moved`: not a dip of the stage above alone). Redone on every scan with the
other conversions.
"""
from __future__ import annotations

import warnings

import numpy as np

from ctxmetrics.models.anomaly import Anomaly
from ctxmetrics.models.series import SeriesSet
from ctxmetrics.scan.tagged import TaggedWindow, _overlap


def tagged_conversion_anomalies(above: SeriesSet, below: SeriesSet, lag: int, windows: dict[int, list[TaggedWindow]],
                                settings, masks: np.ndarray, found: list[Anomaly]) -> list[Anomaly]:
    """The passing conversion tests of `below`'s tagged `windows` (row -> its windows, as
    `tagged.tagged_windows` gives them) that no anomaly of `found` on their series
    overlaps (module docstring). `masks`: `below`'s known-day mask."""
    from ctxmetrics.detect.targeted import bar
    from ctxmetrics.scan.conversion import MAX_DAYS, _aligned, _count_anomaly, count_moved
    from ctxmetrics.scan.tagged import FAMILY_ALPHA, passing_changes

    short = {}
    for row, row_windows in windows.items():
        upper = above.row(below.segments[row])
        kept = [w for w in row_windows if w.end is not None and w.end - w.start < MAX_DAYS]
        if upper is not None and kept:
            short[row] = (upper, kept)
    if not short:
        return []
    tests = sum(map(len, windows.values())) + sum(len(kept) for _, kept in short.values())
    family_bar = bar(tests, FAMILY_ALPHA, settings.min_score)
    out: list[Anomaly] = []
    for row, (upper, kept) in sorted(short.items()):
        counts = np.array(below.detection_values(slice(row, row + 1))[0], dtype=float)
        trials = _aligned(above, below, [upper], lag)[0]
        counts[~np.isfinite(trials)] = np.nan
        trials = np.where(np.isfinite(trials), trials, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            passing = passing_changes(counts, trials, masks[row], kept, "ratio", below.start, "daily", settings,
                                      family_bar)
        own = [a for a in (*found, *out) if a.metric == below.metric and a.segment == below.segments[row]]
        for change, window in passing:
            if not count_moved(change, counts, trials):
                continue
            anomaly = _count_anomaly(below, row, change, trials)
            if any(_overlap(anomaly, other) for other in own):
                continue
            anomaly.tagged = {"events": list(window.events), "tests": tests, "bar": round(family_bar, 2)}
            own.append(anomaly)
            out.append(anomaly)
    return out
