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
from itertools import combinations

from ctxmetrics.models.anomaly import Anomaly
from ctxmetrics.models.segments import segment_key

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
    part of its segment."""
    return (
        stronger.score > a.score
        and abs((stronger.start - a.start).days) > _SAME_DATING_DAYS
        and _overlap_in_time(a, stronger)
        and {c.annotation_id for c in a.causes} <= {c.annotation_id for c in stronger.causes}
        and not _deeper_inside(a, stronger)
    )


def _rollup_keys(segment: dict[str, str]) -> list[str]:
    """The keys of every strict rollup of a segment (the total included)."""
    return [segment_key(dict(kept)) for n in range(len(segment)) for kept in combinations(sorted(segment.items()), n)]


def restatements(anomalies: list[Anomaly]) -> list[Anomaly]:
    """The anomalies that restate a stronger one of a rollup or part of their segment with
    another start (see the module docstring). Each is compared only with the anomalies of
    its rollups and its parts, found through an index, not with every other one."""
    by_segment: dict[tuple[str, str, str], list[Anomaly]] = {}
    by_rollup: dict[tuple[str, str, str], list[Anomaly]] = {}  # the anomalies of a segment's parts
    rollups = {id(a): _rollup_keys(a.segment) for a in anomalies}
    for a in anomalies:
        by_segment.setdefault((a.metric, a.direction, a.segment_key), []).append(a)
        for key in rollups[id(a)]:
            by_rollup.setdefault((a.metric, a.direction, key), []).append(a)
    restated = []
    for a in anomalies:
        related = [b for key in rollups[id(a)] for b in by_segment.get((a.metric, a.direction, key), ())]
        related += by_rollup.get((a.metric, a.direction, a.segment_key), ())
        if any(_restates(a, b) for b in related):
            restated.append(a)
    return restated


def drop_restatements(anomalies: list[Anomaly]) -> tuple[list[Anomaly], list[Anomaly]]:
    """(kept, dropped): the anomalies without their restatements, and the restatements.
    The kept ones are to be explained again among themselves (their links may name a
    dropped one)."""
    dropped = restatements(anomalies)
    gone = {id(a) for a in dropped}
    return [a for a in anomalies if id(a) not in gone], dropped
