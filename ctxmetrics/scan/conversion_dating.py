"""A lower funnel stage's change dated by its conversion from the stage above.

A lower stage's daily count is the stage above's count of some days earlier times the
stage's conversion. When the conversion changes right after a few busy days of the stage
above, the count is already high on those days, and the detector, reading the count alone,
dates the change early: on the change's own series and on each rollup and part of it
alike, so one change becomes a miss and two or three false alarms (a 28-day sql rise dated
3 days early, benchmarks/README.md "funnel echoes dated late" and "funnel misses and false
alarms by view"). The conversion moves only from the day the stage itself changed.

So each anomaly the detector found on a lower stage's series is dated again on the
conversion of that series (its counts over the stage above's counts of the same segment,
lagged by the funnel's days, `scan.conversion`): the start, within `SEARCH_DAYS` of the
anomaly's, at which one conversion rate before and another from there to the anomaly's
end fit the counts best (Poisson counts of the stage given the stage above's, their
overdispersion measured on the days before). The anomaly takes that start only when the
conversion clearly moved there in the anomaly's direction (`MIN_CHANGE_Z`), that start is
clearly likelier than the detector's (`MIN_DATING_Z`) and more than 2 days from it (closer
starts agree, at the precision a change is dated to); it is then measured again over its
new days by the detector's own window test (`detect.targeted.window_changes`). An echo of a
change of the stage above leaves the conversion alone and keeps its date. A lasting change
is dated on its first `_LASTING_SPAN_DAYS` days. An anomaly that a tagged window of its
series overlaps is left to the tag, which dates it (`scan.restatements.redated_by_tags`).

Dating again an anomaly already dated this way finds its start again (its days before are
ordinary for the conversion), so a later scan that keeps the stored anomaly keeps it as is.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from ctxmetrics.models.anomaly import Anomaly
from ctxmetrics.models.series import SeriesSet

SEARCH_DAYS = 7  # starts looked at on each side of the detector's
BASELINE_DAYS = 28  # conversion days before the earliest start looked at: the old rate
_LASTING_SPAN_DAYS = 28  # a lasting change is dated on its first four weeks
_SAME_DATING_DAYS = 2  # starts this close date a change alike (scan.restatements)
# The conversion must have moved at the new start by this many standard errors (the
# anomaly already passed the detector's bar on its count; this only asks that the
# conversion, not the stage above, carries it)...
MIN_CHANGE_Z = 3.0
# ...and the new start must fit better than the detector's by a likelihood ratio of this
# many standard errors (two-sided ~95%): a flat profile keeps the detector's date.
MIN_DATING_Z = 2.0


def redate_by_conversion(above: SeriesSet, below: SeriesSet, lag: int, found: list[Anomaly], settings,
                         masks: np.ndarray) -> None:
    """Date again, in place, each of the detector's anomalies of `below` (`found`) whose
    conversion from `above` (lagged by `lag` days) says it started elsewhere (module
    docstring). `masks`: `below`'s known-day mask."""
    from ctxmetrics.scan.conversion import _aligned
    from ctxmetrics.scan.tagged import FOUND_BY as TAGGED, _overlap

    tagged = [a for a in found if a.found_by == TAGGED]
    for anomaly in found:
        if anomaly.found_by != "series" or anomaly.metric != below.metric:
            continue
        if any(t.segment == anomaly.segment and _overlap(t, anomaly) for t in tagged):
            continue  # an analyst's tag dates it (`restatements.redated_by_tags`)
        row, upper = below.row(anomaly.segment), above.row(anomaly.segment)
        if row is None or upper is None:
            continue
        counts = below.detection_values(slice(row, row + 1))[0].astype(float)
        trials = _aligned(above, below, [upper], lag)[0]
        start = (anomaly.start - below.start).days
        end = (anomaly.end - below.start).days if anomaly.end is not None else start + _LASTING_SPAN_DAYS - 1
        new_start = conversion_start(counts, trials, start, min(end, below.days - 1), anomaly.direction)
        if new_start is not None:
            _take_days(anomaly, below, row, new_start, settings, masks[row])


def conversion_start(counts: np.ndarray, trials: np.ndarray, start: int, end: int, direction: str) -> int | None:
    """The start of the conversion's change (`counts` over `trials`, day by day) that ends at
    `end`, when it is clearly another than `start` (module docstring), else None."""
    first = start - SEARCH_DAYS - BASELINE_DAYS
    if first < 0 or end <= start:
        return None
    x, n = counts[first : end + 1], trials[first : end + 1]
    use = np.isfinite(x) & np.isfinite(n) & (n > 0)
    x, n = np.where(use, x, 0.0), np.where(use, n, 0.0)
    cx, cn = np.concatenate([[0.0], np.cumsum(x)]), np.concatenate([[0.0], np.cumsum(n)])
    base = BASELINE_DAYS  # the baseline days [0, base) of the span are before every start looked at
    if cx[base] <= 0 or cn[base] <= 0:
        return None
    rate = cx[base] / cn[base]
    expected = rate * n[:base]
    spread = np.divide((x[:base] - expected) ** 2, expected, out=np.zeros(base), where=expected > 0)
    dispersion = max(1.0, float(spread.sum()) / max(int(use[:base].sum()) - 1, 1))
    last = len(x)
    candidates = np.arange(base, min(base + 2 * SEARCH_DAYS, last - 1) + 1)  # local starts, end included

    def loglik(events: np.ndarray, exposure: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(events > 0, events * np.log(events / exposure), 0.0) - events

    before_x, before_n = cx[candidates], cn[candidates]
    after_x, after_n = cx[last] - before_x, cn[last] - before_n
    if np.any(before_n <= 0) or np.any(after_n <= 0):
        return None
    whole = loglik(np.array([cx[last]]), np.array([cn[last]]))
    gain = (loglik(before_x, before_n) + loglik(after_x, after_n) - whole) / dispersion
    moved = after_x / after_n - before_x / before_n
    fits = (moved > 0) == (direction == "up")
    if not fits.any():
        return None
    best = int(np.argmax(np.where(fits, gain, -np.inf)))
    own = SEARCH_DAYS  # the detector's start among the candidates
    if abs(best - own) <= _SAME_DATING_DAYS or not 0 <= own < len(candidates):
        return None
    change_z = math.sqrt(max(2.0 * gain[best], 0.0))
    dating_z = math.sqrt(max(2.0 * (gain[best] - gain[own]), 0.0))
    if change_z < MIN_CHANGE_Z or dating_z < MIN_DATING_Z:
        return None
    return first + int(candidates[best])


def _take_days(anomaly: Anomaly, below: SeriesSet, row: int, start: int, settings, known: np.ndarray) -> None:
    """`anomaly` measured again from `start` to its end (a lasting one as a step at `start`)
    on its count series, as the detector measures a window named in advance; left as it is
    when that window no longer moves its way."""
    from ctxmetrics.detect.targeted import Window, window_changes
    from ctxmetrics.models import periods
    from ctxmetrics.scan.scan import anomaly_from_change

    end = None if anomaly.end is None else (anomaly.end - below.start).days
    values = below.detection_values(slice(row, row + 1))[0]
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        change = window_changes(
            values, [Window(start, end)], kind="count", dates=periods.dates(below.start, below.days, "daily"),
            settings=settings, known_mask=known,
        )[0]
    if change is None or change.direction != anomaly.direction:
        return
    measured = anomaly_from_change(anomaly.metric, anomaly.segment, below.start, change, anomaly.volume)
    for name in ("start", "end", "kind", "before", "after", "change_pct", "score"):
        setattr(anomaly, name, getattr(measured, name))
