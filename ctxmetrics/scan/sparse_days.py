"""Changes of a sparse series that it has shown before.

A segment with an event on a few days only (a refund now and then, 0 on the other days)
has a robust noise scale of 0, since most of its days hold one value. The detector then
scores each event day as a change over no noise at all (`NOISELESS_SCORE` and above), as
if the series had never varied, and a payments export's refund segments filled the digest
with one "rise" per refund (450 of a Stripe export's 500 anomalies). Such a change is
kept only when the series never did as much before: no stretch of its earlier days as
long as the change reached its level. A series that truly held one value before its
change (a price list, a CTR at 2.70% for months) is not judged here: its change stands.

A series of events (0 on most of its periods) is judged on the rest of its periods too: its
first event day, or its first run of 2-3 event days, has nothing before it to match, but
when the series does as much again later, such days are how its events come, not a change
(a refund segment's first refund two days into the export). A lasting change, and a
temporary one never matched before or after, stand.
"""
from __future__ import annotations

import numpy as np

from ctxmetrics.models.anomaly import NOISELESS_SCORE


def without_seen_before(values: np.ndarray, changes: list) -> list:
    """`changes` (of one series, `values` per period) less those of a noiseless score that
    the series' earlier periods already matched (`seen_before`) or, in a series of events,
    its later periods match (`seen_after_in_events`)."""
    return [c for c in changes if c.score < NOISELESS_SCORE or not (
        seen_before(values, c.start, c.end, c.direction) or seen_after_in_events(values, c.start, c.end, c.direction)
    )]


def seen_after_in_events(values: np.ndarray, start: int, end: int | None, direction: str) -> bool:
    """Whether a temporary change of a series of events (its median period is 0) is matched
    by a stretch as long after it (`seen_before` on the series read backwards)."""
    values = np.asarray(values, dtype=float)
    if end is None or not np.isfinite(values).any() or np.nanmedian(values) != 0:
        return False
    backwards = values[::-1]
    return seen_before(backwards, len(values) - 1 - end, len(values) - 1 - start, direction, since_varied=False)


def seen_before(values: np.ndarray, start: int, end: int | None, direction: str, since_varied: bool = True) -> bool:
    """Whether a stretch of the periods before `start`, as long as the change (`start` to
    `end`, or to the last period when it lasts), was as high (`up`) or as low (`down`) on
    average as the change, in a series that did vary before it (`since_varied`; unknown
    periods, NaN, are no stretch's)."""
    values = np.asarray(values, dtype=float)
    before = values[:start]
    known = before[np.isfinite(before)]
    if known.size < 2 or (since_varied and known.min() == known.max()):
        return False  # it never varied: a real first change
    stop = len(values) if end is None else end + 1
    level = np.nanmean(values[start:stop]) if np.isfinite(values[start:stop]).any() else np.nan
    span = stop - start
    if not np.isfinite(level) or span > len(before):
        return False
    sums = np.convolve(np.nan_to_num(before), np.ones(span), "valid")
    whole = np.convolve(np.isfinite(before).astype(float), np.ones(span), "valid") == span
    if not whole.any():
        return False
    means = sums[whole] / span
    return bool(means.max() >= level) if direction == "up" else bool(means.min() <= level)
