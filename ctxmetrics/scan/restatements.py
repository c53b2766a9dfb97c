"""Restatements: one change reported again, dated otherwise, on a rollup, a part of it or a lower funnel stage.

A change shows in every series of the cube that holds it: the segment it happened in,
each rollup above it and, when it is everywhere alike, each part below. The detector runs
on each series alone, and at low volume it dates the same change a few days off (a part
of a campaign "starting" three days before the campaign). Of two anomalies of the same
metric, one segment holding the other, moving the same way at overlapping times but with
different starts, the stronger one dates the change and the weaker one only restates it
with a wrong date: it is not reported. Anomalies starting within 2 days of each other
stay: they agree, at the precision a change is dated to (the matching tolerance of
benchmarks/evaluate.py), and the weaker one may be the better dated. A stronger part dates
its rollup's change only when it carries that change: its own move, per day, is at least
half the rollup's (a refund's day of $299 in a segment that had none, scored sky-high
against a flat series, is not the +$1,700 a day its total rose by; nor is one region's
step a tenth of a total that moved everywhere alike). A cube where one cell holds nearly
all of the total's volume has its total and that cell dated alike, so the total's change
is kept whatever its other, smaller parts do.

Not restatements: an anomaly linked to an event the stronger one is not linked to (it
says something of its own), and a deeper episode inside the stronger change (a region
that closed nothing for two weeks during a company-wide six-week dip): at least twice
its log-ratio within the stronger one's days.

Down the funnel the same holds across stages: a change of leads reaches each stage below
within the funnel lag (`explain.funnel_lag_days`), and at the low volumes of the bottom
stages the detector often dates that echo late (won "starting" 15 days after the leads
campaign it follows). Of two anomalies of one segment moving the same way, a weaker one on
a lower stage that starts more than the lag (and the 2 days of dating) after the stronger
one, while that one (lag included) still lasts, restates it with a wrong date: it is not
reported. So does one that starts more than 2 days before the stronger one and still
lasts when it starts: a stage follows the stages above it, never leads them (won "rising"
from January when the MQL campaign it follows began in February, the window stretched
back over ordinary days). A lasting change is followed for its first
`_LASTING_SPAN_DAYS` (the window explain measures a persistent shift over); a lower stage
moving weeks later is news of its own. The same exceptions hold (its own event, or much deeper within the stronger one's
days, lag included). Echoes dated within the lag stay: they agree.

A tagged event dates a change too: when the test of its own window (`scan.tagged`) finds a
change over mostly the same days as the detector's anomaly of that series, in the same
direction, but with a start more than 2 days away, the detector's anomaly restates the
tagged one with a wrong date (the analyst wrote down when it happened; the blind search
picked the best-scoring window, which noise next to the change can shift by days). Its
series then reads as restated, so a tag edited later judges it afresh. Unless linked to an
event the tagged one is not.
"""
from __future__ import annotations

import datetime as dt
import math
from bisect import bisect_left, bisect_right

from ctxmetrics.models.anomaly import Anomaly
from ctxmetrics.models.segments import rollup_keys

_NEVER = dt.date.max  # the end of a lasting change
_SAME_DATING_DAYS = 2  # starts this close date one change alike (see the module docstring)
_LASTING_SPAN_DAYS = 28  # a lasting change's echoes start within its first four weeks (plus the lag)


def _overlap_in_time(a: Anomaly, b: Anomaly) -> bool:
    return a.start <= (b.end or _NEVER) and b.start <= (a.end or _NEVER)


def _log_ratio(a: Anomaly) -> float:
    """|log(after / before)|; a fall to zero is infinitely deep."""
    after = 1.0 + a.change_pct / 100.0
    return math.inf if after <= 0 else abs(math.log(after))


def _deeper_inside(a: Anomaly, stronger: Anomaly, lag: dt.timedelta = dt.timedelta(0)) -> bool:
    """`a` lies within `stronger`'s days (their end delayed by `lag`) and moved at least
    twice as far."""
    last = _NEVER if stronger.end is None else stronger.end + lag
    within = stronger.start <= a.start and (a.end or _NEVER) <= last
    return within and _log_ratio(a) >= 2 * _log_ratio(stronger)


def _own_causes(a: Anomaly, stronger: Anomaly) -> bool:
    """`a` is linked to an event `stronger` is not: it says something of its own."""
    return not {c.annotation_id for c in a.causes} <= {c.annotation_id for c in stronger.causes}


def _restates(a: Anomaly, stronger: Anomaly) -> bool:
    """`a` restates `stronger`, an anomaly of the same metric and direction on a rollup or a
    part of its segment starting more than `_SAME_DATING_DAYS` away from it."""
    return (
        stronger.score > a.score
        and _overlap_in_time(a, stronger)
        and not _own_causes(a, stronger)
        and not _deeper_inside(a, stronger)
    )


def _carries(part: Anomaly, rollup: Anomaly) -> bool:
    """`part` moved at least half as far per day as its `rollup` (see the module
    docstring): of a sum, it holds at least half the rollup's change; of a mean or a
    rate, it moved about as the rollup did. Unknown levels carry nothing."""
    return abs(part.after - part.before) >= 0.5 * abs(rollup.after - rollup.before)


def _span_end(a: Anomaly) -> dt.date:
    """The last day `a` counts over: its end, or a lasting change's first `_LASTING_SPAN_DAYS`."""
    return a.end or a.start + dt.timedelta(days=_LASTING_SPAN_DAYS - 1)


def redates(tagged: Anomaly, blind: Anomaly) -> bool:
    """`tagged` (a tagged window's anomaly) dates `blind` (the detector's, same series and
    direction) otherwise: starts more than `_SAME_DATING_DAYS` apart over mostly the same
    days (at least half of the longer one's)."""
    if (tagged.metric, tagged.segment_key, tagged.direction) != (blind.metric, blind.segment_key, blind.direction):
        return False
    if abs((tagged.start - blind.start).days) <= _SAME_DATING_DAYS:
        return False
    shared = (min(_span_end(tagged), _span_end(blind)) - max(tagged.start, blind.start)).days + 1
    longest = max((_span_end(a) - a.start).days + 1 for a in (tagged, blind))
    return 2 * shared >= longest


def redated_by_tags(anomalies: list[Anomaly], found_by: str) -> list[Anomaly]:
    """The detector's anomalies that an anomaly `found_by` a tagged window of their series
    dates otherwise (see the module docstring)."""
    tagged: dict[tuple[str, str], list[Anomaly]] = {}
    for a in anomalies:
        if a.found_by == found_by:
            tagged.setdefault((a.metric, a.segment_key), []).append(a)
    return [
        a for a in anomalies
        if a.found_by != found_by
        and any(redates(t, a) and not _own_causes(a, t) for t in tagged.get((a.metric, a.segment_key), ()))
    ]


def _echoes(a: Anomaly, upper: Anomaly, lag: dt.timedelta) -> bool:
    """`a`, on a lower stage, restates `upper`, an anomaly of a stage above in its segment
    moving the same way, with a start later than the funnel lag allows or earlier than the
    change it follows (module docstring)."""
    last = _span_end(upper)
    late = (a.start - upper.start).days > lag.days + _SAME_DATING_DAYS and a.start <= last + lag
    early = (upper.start - a.start).days > _SAME_DATING_DAYS and (a.end or _NEVER) >= upper.start
    return (
        upper.score > a.score
        and (late or early)
        and not _own_causes(a, upper)
        and not _deeper_inside(a, upper, lag)
    )


def funnel_echoes(anomalies: list[Anomaly], funnel: tuple[str, ...], lag_days: int) -> list[Anomaly]:
    """The anomalies of a lower funnel stage that restate a stronger one of a stage above in
    the same segment, dated later than `lag_days` allow (see the module docstring)."""
    stage = {metric: i for i, metric in enumerate(funnel)}
    lag = dt.timedelta(days=lag_days)
    groups: dict[tuple[str, str], list[Anomaly]] = {}  # (segment key, direction) -> its funnel anomalies
    for a in anomalies:
        if a.metric in stage:
            groups.setdefault((a.segment_key, a.direction), []).append(a)
    return [
        a for group in groups.values() for a in group
        if any(stage[u.metric] < stage[a.metric] and _echoes(a, u, lag) for u in group)
    ]


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
            elif _restates(rollup, part) and _carries(part, rollup):
                restated.add(id(rollup))
    return [a for a in anomalies if id(a) in restated]


def drop_restatements(
    anomalies: list[Anomaly], funnel: tuple[str, ...] = (), lag_days: int = 0, sets: dict | None = None
) -> tuple[list[Anomaly], list[Anomaly]]:
    """(kept, dropped): the anomalies without their restatements (on a rollup or part, down
    the `funnel`, whose stages trail each other by up to `lag_days`, of a tagged window of
    their own series, and, given the metrics' cubes `sets`, on a crossing scope:
    `scan.crossings`), and the restatements, in the order given. The kept ones are to be
    explained again among themselves (their links may name a dropped one)."""
    from ctxmetrics.scan.crossings import crossing_echoes  # it reads `_restates`: imported here
    from ctxmetrics.scan.tagged import FOUND_BY

    gone = {id(a) for a in (
        *restatements(anomalies), *funnel_echoes(anomalies, funnel, lag_days), *redated_by_tags(anomalies, FOUND_BY),
        *(crossing_echoes(anomalies, sets) if sets else ()),
    )}
    return [a for a in anomalies if id(a) not in gone], [a for a in anomalies if id(a) in gone]
