"""Restatements: one change reported again, dated otherwise, on a rollup or a part of it.

A change shows in every series of the cube that holds it: the segment it happened in,
each rollup above it and, when it is everywhere alike, each part below. The detector runs
on each series alone, and at low volume it dates the same change a few days off (a part
of a campaign "starting" three days before the campaign). Of two anomalies of the same
metric, one segment holding the other, moving the same way at overlapping times but with
different starts, the stronger one dates the change and the weaker one only restates it
with a wrong date: it is not reported. Anomalies starting within 2 days of each other
stay: they agree, at the precision a change is dated to (the matching tolerance of
benchmarks/evaluate.py), and the weaker one may be the better dated.

Not restatements: an anomaly linked to an event the stronger one is not linked to (it
says something of its own), and a deeper episode inside the stronger change (a region
that closed nothing for two weeks during a company-wide six-week dip): at least twice
its log-ratio within the stronger one's days.
"""
from __future__ import annotations

import datetime as dt
import math
from bisect import bisect_left, bisect_right

from ctxmetrics.models.anomaly import Anomaly
from ctxmetrics.models.segments import rollup_keys

_NEVER = dt.date.max  # the end of a lasting change
_SAME_DATING_DAYS = 2  # starts this close date one change alike (see the module docstring)


def _overlap_in_time(a: Anomaly, b: Anomaly) -> bool:
    return a.start <= (b.end or _NEVER) and b.start <= (a.end or _NEVER)


def _log_ratio(a: Anomaly) -> float:
    """|log(after / before)|; a fall to zero is infinitely deep."""
    after = 1.0 + a.change_pct / 100.0
    return math.inf if after <= 0 else abs(math.log(after))


def _deeper_inside(a: Anomaly, stronger: Anomaly) -> bool:
    within = stronger.start <= a.start and (a.end or _NEVER) <= (stronger.end or _NEVER)
    return within and _log_ratio(a) >= 2 * _log_ratio(stronger)


def _restates(a: Anomaly, stronger: Anomaly) -> bool:
    """`a` restates `stronger`, an anomaly of the same metric and direction on a rollup or a
    part of its segment starting more than `_SAME_DATING_DAYS` away from it."""
    return (
        stronger.score > a.score
        and _overlap_in_time(a, stronger)
        and {c.annotation_id for c in a.causes} <= {c.annotation_id for c in stronger.causes}
        and not _deeper_inside(a, stronger)
    )


def restatements(anomalies: list[Anomaly]) -> list[Anomaly]:
    """The anomalies that restate a stronger one of a rollup or part of their segment with
    another start (see the module docstring).

    Each pair (a rollup's anomaly, an anomaly of a part of it) is judged once, from the
    rollup's side; its parts' anomalies are indexed by start, so only those starting more
    than `_SAME_DATING_DAYS` away are read (a cube where thousands of cells change on one
    day reads few)."""
    parts: dict[tuple[str, str, str], list[Anomaly]] = {}  # (metric, direction, rollup key) -> its parts' anomalies
    for a in anomalies:
        for key in rollup_keys(a.segment):
            parts.setdefault((a.metric, a.direction, key), []).append(a)
    for group in parts.values():
        group.sort(key=lambda b: b.start)
    starts = {key: [b.start for b in group] for key, group in parts.items()}
    restated: set[int] = set()
    near = dt.timedelta(days=_SAME_DATING_DAYS)
    for rollup in anomalies:
        key = (rollup.metric, rollup.direction, rollup.segment_key)
        if key not in parts:
            continue
        group, days = parts[key], starts[key]
        early, late = bisect_left(days, rollup.start - near), bisect_right(days, rollup.start + near)
        for part in (*group[:early], *group[late:]):
            if _restates(part, rollup):
                restated.add(id(part))
            elif _restates(rollup, part):
                restated.add(id(rollup))
    return [a for a in anomalies if id(a) in restated]


def drop_restatements(anomalies: list[Anomaly]) -> tuple[list[Anomaly], list[Anomaly]]:
    """(kept, dropped): the anomalies without their restatements, and the restatements.
    The kept ones are to be explained again among themselves (their links may name a
    dropped one)."""
    dropped = restatements(anomalies)
    gone = {id(a) for a in dropped}
    return [a for a in anomalies if id(a) not in gone], dropped
