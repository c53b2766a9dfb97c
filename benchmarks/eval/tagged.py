"""Single-series cases with a timeline: the detector plus the test of tagged windows.

Each case's planted changes are tagged with their own periods with probability
`TAGGED_SHARE` (the rest left untagged), and 2-3 decoy tags mark windows where nothing
happened (1 day to 4 weeks or lasting, at least `DECOY_CLEARANCE` periods from every
planted change). The detections are `find_changes`' plus, as `scan` adds them
(`ctxmetrics.scan.tagged.with_tagged`), each tagged window whose change reaches the bar of
the case's family of windows (Šidák at `FAMILY_ALPHA` over their number) and
`min_change_pct`, where no detection overlaps it but for a blind one the tag dates
otherwise (`scan.restatements.redates`: same direction, mostly the same days, a start more
than 2 days away), which the scan then drops as a restatement. Decoy false alarms:
tagged-window detections on decoys.
"""
from __future__ import annotations

import numpy as np

from benchmarks.eval.cases import Case
from benchmarks.eval.run import Outcome
from benchmarks.eval.scoring import Tally

TAGGED_SHARE = 0.75
DECOY_CLEARANCE = 30
DECOY_LENGTHS = (1, 3, 7, 14, 28, None)


def case_windows(case: Case, rng) -> tuple[list, list]:
    """(windows of tagged planted changes, decoy windows) as `detect.targeted.Window`s."""
    from ctxmetrics.detect.targeted import Window

    n = len(case.values)
    tagged = [Window(p.start, p.end) for p in case.planted if rng.random() < TAGGED_SHARE]
    edges = [d for p in case.planted for d in (p.start, n if p.end is None else p.end)]
    decoys: list = []
    for _ in range(200):  # a short series may hold fewer decoys than drawn
        if len(decoys) >= 2 + int(rng.integers(2)):
            break
        length = DECOY_LENGTHS[int(rng.integers(len(DECOY_LENGTHS)))]
        start = int(rng.integers(30, max(n - 30, 31)))
        end = None if length is None else min(start + length - 1, n - 1)
        last = n if end is None else end
        if all(start - d > DECOY_CLEARANCE or d - last > DECOY_CLEARANCE for d in edges):
            decoys.append(Window(start, end))
    return tagged, decoys


def tagged_outcome(case: Case, rng) -> tuple[Outcome, int]:
    """The detections of `case` with its tagged windows, and its decoy false alarms."""
    from ctxmetrics.config import DetectionSettings
    from ctxmetrics.detect import find_changes
    from ctxmetrics.detect.targeted import bar, window_changes
    from ctxmetrics.scan.tagged import FAMILY_ALPHA

    settings = DetectionSettings()
    redates = _dates_otherwise(case)
    blind = find_changes(case.values, kind=case.kind, dates=case.dates, denominators=case.denominators)
    tagged, decoys = case_windows(case, rng)
    windows = tagged + decoys
    threshold = bar(len(windows), FAMILY_ALPHA, settings.min_score)
    changes = window_changes(case.values, windows, kind=case.kind, dates=case.dates, denominators=case.denominators)
    added, decoy_alarms = [], 0
    for i, change in sorted(enumerate(changes), key=lambda ic: -(ic[1].score if ic[1] else 0)):
        if change is None or change.score < threshold:
            continue
        if case.kind != "gauge" and abs(change.change_pct) < settings.min_change_pct:
            continue
        if any(_overlap(change, other) and not (other in blind and redates(change, other)) for other in blind + added):
            continue
        added.append(change)
        decoy_alarms += i >= len(tagged)
    kept = [c for c in blind if not any(redates(t, c) for t in added)]
    return Outcome(case, kept + added), decoy_alarms


def _dates_otherwise(case: Case):
    """`redates(tagged, blind)` of two changes of `case`, by the scan's own rule on their
    stored (dated) form."""
    import datetime as dt

    from ctxmetrics.scan.restatements import redates
    from ctxmetrics.scan.scan import anomaly_from_change

    day0 = dt.date.fromisoformat(str(case.dates[0].astype("datetime64[D]")))
    granularity = {"D": "daily", "W": "weekly", "M": "monthly"}[case.freq]

    def stored(change):
        return anomaly_from_change("metric", {}, day0, change, 0.0, granularity)

    return lambda tagged, blind: redates(stored(tagged), stored(blind))


def _overlap(a, b) -> bool:
    far = 1 << 60
    return a.start <= (far if b.end is None else b.end) and b.start <= (far if a.end is None else a.end)


def tally_tagged(cases: list[Case], seed: int) -> tuple[Tally, int]:
    """The summed tally of `cases` with tags and decoys, and the decoy false alarms."""
    total, decoys = Tally(), 0
    for i, case in enumerate(cases):
        outcome, alarms = tagged_outcome(case, np.random.default_rng([seed, i]))
        total.add(outcome.tally())
        decoys += alarms
    return total, decoys
