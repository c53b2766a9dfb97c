"""Causes of one anomaly: every timeline event whose window meets it, scored and ranked.

Each candidate gets a score in [0, 1], the product of independent factors:

- time: the change should start at the event's start (a plateau of a few days, then a
  decay) and, for a temporary change, recover when the event ends;
- scope: `disjoint` never explains; an exact scope beats a global event; an event scoped
  to part of a rollup explains it only when the scoped children carry most of the change;
  an exact scope whose change happened just as much outside the scope is not specific and
  is strongly penalised;
- metric: an event naming metrics explains only those and the funnel stages below them
  (with `funnel_lag_days` of extra delay); a ratio metric is reached through its
  numerator or denominator;
- direction: `expect`, or the type's usual effect (outage/offsite/holiday down, campaign
  up); a contradiction is a strong penalty.

Every cause carries the facts behind its score as a plain-language `reason`. A scoped
event explains a rollup when the root-cause set (`drivers`) lies inside its scope.
"""
from __future__ import annotations

import bisect
import datetime as dt
import math
from dataclasses import dataclass
from typing import Mapping

from ctxmetrics.config import Config
from ctxmetrics.explain.drivers import _split_from_drivers
from ctxmetrics.explain.events import _Event
from ctxmetrics.models.anomaly import Anomaly, Cause
from ctxmetrics.models.segments import segment_label
from ctxmetrics.wording import day_text

# Factors of the score. Each is a judgement, not a fit to one data set: an exact match is
# worth 1, a weaker but valid match a little less, a contradiction far less.
_SCOPE_EXACT, _SCOPE_PARTIAL, _SCOPE_GLOBAL, _SCOPE_NOT_SPECIFIC = 1.0, 0.9, 0.8, 0.3
_METRIC_LISTED, _METRIC_DOWNSTREAM, _METRIC_RATIO, _METRIC_ANY = 1.0, 0.9, 0.8, 0.85
_DIR_MATCH, _DIR_UNKNOWN, _DIR_CONTRA = 1.0, 0.8, 0.25
_OUTLASTS = 0.8  # a persistent shift explained by an event that already ended
_START_PLATEAU = 2  # days after the event's start (detectors place a boundary ±1-2 days)
_SLACK = 2  # days a detected start may precede the event's lead: boundary uncertainty
_START_DECAY = 5.0  # e-folding days beyond the plateau
_EARLY = 0.6  # change starting within the lead, more than a day before the event
_END_PLATEAU = 2
_END_DECAY = 7.0
_END_FLOOR = 0.5
_NOT_SPECIFIC = 0.5  # outside-scope change at least this fraction of the inside change


@dataclass
class _Assessment:
    score: float
    facts: list[str]
    excluded: str | None = None  # why it can never explain this anomaly


def _causes(anomaly, events, cube, config: Config, verdicts, by_metric) -> list[Cause]:
    ranked: list[tuple[int, Cause]] = []
    confirmed: list[Cause] = []
    for event in events:
        ann = event.annotation
        verdict = verdicts.get((anomaly.id, ann.id))
        if verdict == "rejected":
            continue
        if verdict != "confirmed" and not _meets(anomaly, event, config):
            continue
        fit = _assess(anomaly, event, cube, config, by_metric)
        if verdict == "confirmed":
            facts = "; ".join(fit.facts + ([fit.excluded] if fit.excluded else []))
            confirmed.append(Cause(ann.id, ann.title, ann.type, 1.0, f"confirmed by a person; {facts}", "confirmed"))
        elif fit.excluded is None and fit.score >= config.explain.min_cause_score:
            distance = abs((anomaly.start - event.first).days)
            ranked.append((distance, Cause(ann.id, ann.title, ann.type, round(fit.score, 2), "; ".join(fit.facts))))
    # Equal scores: the event that starts closest to the change ranks first.
    ranked.sort(key=lambda pair: (-pair[1].score, pair[0], pair[1].annotation_id))
    return confirmed + [cause for _, cause in ranked]


def _meets(anomaly: Anomaly, event: _Event, config: Config) -> bool:
    """True when the event's window (lead/lag, plus the funnel delay) meets the anomaly's."""
    lag = event.window.lag + config.explain.funnel_lag_days  # the widest any relation allows
    lo = event.first - dt.timedelta(days=event.window.lead + _SLACK)
    hi = event.until + dt.timedelta(days=lag)
    return anomaly.start <= hi and (anomaly.end is None or anomaly.end >= lo)


def _moved(anomaly: Anomaly, metric: str, event: _Event, by_metric, same_direction: bool) -> Anomaly | None:
    """An anomaly of `metric` in an overlapping segment that started between the event's
    lead and (shortly after) this anomaly's start: evidence that an effect on `metric`
    flowed into this one."""
    lo = event.first - dt.timedelta(days=event.window.lead + _SLACK)
    hi = anomaly.start + dt.timedelta(days=1)
    import bisect

    ordered = by_metric.get(metric, [])  # by start: only those starting in [lo, hi] are read
    first = bisect.bisect_left(ordered, lo, key=lambda a: a.start)
    last = bisect.bisect_right(ordered, hi, key=lambda a: a.start)
    for other in ordered[first:last]:
        if same_direction and other.direction != anomaly.direction:
            continue
        if _overlap(other.segment, anomaly.segment):
            return other
    return None


def _turned_back(anomaly: Anomaly, event: _Event, by_metric) -> Anomaly | None:
    """A lasting shift of the same series the other way that starts after `anomaly` and no
    later than the event's end plus its lag. The detector reports a drop that lasts beyond
    `max_temporary_days` (a lockdown tagged as a months-long outage) as a lasting shift and
    its recovery as another one: such a shift did not outlast the event."""
    hi = event.last + dt.timedelta(days=event.window.lag)
    ordered = by_metric.get(anomaly.metric, [])
    first = bisect.bisect_right(ordered, anomaly.start, key=lambda a: a.start)
    last = bisect.bisect_right(ordered, hi, key=lambda a: a.start)
    for other in ordered[first:last]:
        if other.end is None and other.segment == anomaly.segment and other.direction != anomaly.direction:
            return other
    return None


def _a(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _overlap(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    """True when two segments share some leaf (no dimension set to different values)."""
    return all(b[k] == v for k, v in a.items() if k in b)


def _assess(anomaly: Anomaly, event: _Event, cube, config: Config, by_metric) -> _Assessment:
    ann = event.annotation
    type_info = config.event_type(ann.type)
    facts: list[str] = []
    score = 1.0

    # 1. Metric: listed, downstream in the funnel, part of a ratio, or any.
    relation = _metric_relation(ann.metrics, anomaly.metric, config)
    if relation is None:
        listed = ", ".join(ann.metrics)
        return _Assessment(0.0, facts, f"lists {listed}, not {anomaly.metric} nor a stage above it")
    kind, via, stages = relation
    delay = 0
    evidence = None  # the upstream anomaly that carries a funnel effect down to this one
    if kind in ("downstream", "ratio") and via != anomaly.metric:
        evidence = _moved(anomaly, via, event, by_metric, same_direction=kind == "downstream")
        if evidence is None:
            return _Assessment(0.0, facts, f"lists {via}, but {via} did not move there")
        delay = config.explain.funnel_lag_days if stages > 0 else 0
    elif kind == "any" and anomaly.metric in config.funnel[1:]:
        # An event naming no metric reaches lower stages through the funnel: allow the
        # delay only when a stage above moved first.
        for above in config.funnel[: config.funnel.index(anomaly.metric)]:
            evidence = _moved(anomaly, above, event, by_metric, same_direction=True)
            if evidence is not None:
                delay = config.explain.funnel_lag_days
                break

    expected = ann.expect
    if expected is None and config.metric(anomaly.metric).type != "ratio":
        expected = type_info.usual_direction  # a type's usual effect is about volumes, not rates
    if kind == "ratio" and anomaly.metric not in ann.metrics:
        expected = None  # a change in a numerator or denominator can move a rate either way

    # 2. Time: start near the event's start; recovery near its end. A change against the
    # expected direction that starts as the event ends is the event's effect wearing off.
    days_apart = (anomaly.start - event.first).days
    off = _beyond_period(days_apart, anomaly.period)
    reversal = False
    if expected is not None and anomaly.direction != expected and event.last is not None:
        after_end = (anomaly.start - event.last).days - 1
        reversal = -_SLACK <= after_end <= _START_PLATEAU + delay + _START_DECAY
    if reversal:
        fit = math.exp(-max(0, after_end - _START_PLATEAU - delay) / _START_DECAY)
        score *= fit if after_end >= -1 else _EARLY
        facts.append(_reversal_text(after_end, event.last))
    else:
        if off < -event.window.lead - _SLACK or anomaly.start > event.until + dt.timedelta(days=event.window.lag + delay):
            return _Assessment(0.0, [_start_text(days_apart, period=anomaly.period)], "starts outside the event's window")
        if off < -1:
            fit = _EARLY
        else:
            fit = math.exp(-max(0, off - _START_PLATEAU - delay) / _START_DECAY)
        score *= fit
        facts.append(_start_text(days_apart, delay, anomaly.period))
        if anomaly.end is not None and event.last is not None:
            raw = (anomaly.end - event.last).days
            within = _beyond_period(raw, anomaly.period)
            end_off = max(0, within - delay) if within > 0 else within
            if abs(end_off) > _END_PLATEAU:
                score *= max(_END_FLOOR, math.exp(-(abs(end_off) - _END_PLATEAU) / _END_DECAY))
            facts.append(_end_text(raw) + (" (funnel delay)" if delay and raw > _END_PLATEAU else ""))
        elif anomaly.end is None and event.last is not None and type_info.temporary:
            back = _turned_back(anomaly, event, by_metric)
            if back is not None:
                facts.append(f"the level turned back on {day_text(back.start, False)}, before it ended")
            elif event.last < _series_end(cube, event.last):
                if type_info.days_off:  # it only took days away: the days after it are normal again
                    return _Assessment(
                        0.0, facts, f"{_a(ann.type)} that ended on {day_text(event.last, False)} does not explain a lasting change"
                    )
                score *= _OUTLASTS
                facts.append(f"the change persists after it ended ({day_text(event.last, False)})")

    # 3. Scope.
    relation_scope = ann.scope_relation(anomaly.segment)
    scope_text = _scope_text(ann.scope)
    if relation_scope == "disjoint":
        return _Assessment(0.0, facts, f"scope {scope_text} does not cover {segment_label(anomaly.segment)}")
    if relation_scope == "global":
        score *= _SCOPE_GLOBAL
        facts.append("affects everything (no scope)")
    elif relation_scope == "exact":
        spread = cube.outside_change(anomaly, ann.scope) if cube is not None else None
        if spread is not None and _not_specific(*spread):
            inside, outside = spread
            score *= _SCOPE_NOT_SPECIFIC
            facts.append(
                f"scope {scope_text} matches, but outside it the series moved too "
                f"({_pct(outside)} vs {_pct(inside)})"
            )
        else:
            score *= _SCOPE_EXACT
            facts.append(f"scope {scope_text} matches exactly")
    else:  # partial: the anomaly is a rollup wider than the scope
        if anomaly.uniform:
            return _Assessment(0.0, facts, f"the change in {segment_label(anomaly.segment)} is everywhere alike, "
                                           f"not specific to {scope_text}")
        if anomaly.drivers:  # the root-cause set decides: it must lie inside the scope
            split = _split_from_drivers(anomaly, ann.scope) or (0.0, 1.0, None)
        else:
            split = cube.scope_split(anomaly, ann.scope) if cube is not None else None
        if split is None:
            return _Assessment(0.0, facts, f"scope {scope_text} is narrower than {segment_label(anomaly.segment)}")
        share, inside, outside = split
        if share < config.explain.min_scope_share or (outside is not None and _not_specific(inside, outside)):
            return _Assessment(
                0.0, facts, f"scope {scope_text} carries only {share:.0%} of the change in {segment_label(anomaly.segment)}"
            )
        score *= _SCOPE_PARTIAL
        facts.append(f"scope {scope_text} carries {min(share, 1.0):.0%} of the change")

    # 4. Metric fact (after scope so the reason reads time, scope, metric, direction).
    if kind == "listed":
        score *= _METRIC_LISTED
        facts.append(f"lists {anomaly.metric}")
    elif kind == "downstream":
        score *= _METRIC_DOWNSTREAM
        facts.append(
            f"lists {via}, which moved on {day_text(evidence.start, False)}; {anomaly.metric} is "
            f"{stages} stage{'s' if stages > 1 else ''} further down the funnel"
        )
    elif kind == "ratio":
        score *= _METRIC_RATIO
        facts.append(f"lists {via} ({anomaly.metric} is computed from it; {via} moved on {day_text(evidence.start, False)})")
    else:
        score *= _METRIC_ANY
        moved_first = f"; {evidence.metric} moved first ({day_text(evidence.start, False)})" if evidence is not None else ""
        facts.append("names no metric" + moved_first)

    # 5. Direction.
    if reversal:
        score *= _DIR_MATCH
        facts.append(f"expected {expected} while it lasted; went {anomaly.direction} as it ended")
    elif expected is None:
        score *= _DIR_UNKNOWN
        facts.append(f"no expected direction; went {anomaly.direction}")
    elif expected == anomaly.direction:
        score *= _DIR_MATCH
        facts.append(f"expected {expected}, went {anomaly.direction}")
    else:
        score *= _DIR_CONTRA
        facts.append(f"expected {expected}, but it went {anomaly.direction}")
    return _Assessment(min(max(score, 0.0), 1.0), facts)


def _series_end(cube, fallback: dt.date) -> dt.date:
    """Last day of the data behind `cube` (or `fallback` + 1 day when unknown)."""
    if cube is None:
        return fallback + dt.timedelta(days=1)
    return cube.series_set.day(cube.series_set.days - 1)


def _not_specific(inside: float, outside: float) -> bool:
    """True when the part outside the scope moved the same way, at least half as much."""
    return inside * outside > 0 and abs(outside) >= _NOT_SPECIFIC * abs(inside)


def _metric_relation(event_metrics: tuple[str, ...], metric: str, config: Config):
    """(kind, via, stages below) or None when the event cannot move `metric`."""
    if not event_metrics:
        return ("any", None, 0)
    if metric in event_metrics:
        return ("listed", metric, 0)
    down = _downstream(event_metrics, metric, config.funnel)
    if down is not None:
        return ("downstream", *down)
    definition = config.metric(metric)
    if definition.type == "ratio":
        for part in (definition.numerator, definition.denominator):
            if part in event_metrics:
                return ("ratio", part, 0)
            down = _downstream(event_metrics, part, config.funnel)
            if down is not None:
                return ("ratio", down[0], down[1])
    return None


def _downstream(event_metrics, metric, funnel) -> tuple[str, int] | None:
    """The nearest listed stage above `metric` in the funnel and how many stages above."""
    if metric not in funnel:
        return None
    below = funnel.index(metric)
    above = [(below - funnel.index(m), m) for m in event_metrics if m in funnel and funnel.index(m) < below]
    if not above:
        return None
    stages, name = min(above)
    return name, stages



# ------------------------------------------------------------------------ text


def _days(n: int) -> str:
    return f"{n} day{'s' if n != 1 else ''}"


# days a weekly/fortnightly/monthly/quarterly/yearly boundary may be from the day it stands for
_PERIOD_SLACK = {"day": 0, "week": 6, "fortnight": 13, "month": 30, "quarter": 91, "year": 365}


def _beyond_period(days: int, period: str) -> int:
    """Days between an event's and a change's boundaries beyond what the change's period
    leaves open: a weekly, monthly, quarterly or yearly change is known only to its period, so an
    event on the 20th and a change from the next month's first are on time (0)."""
    slack = _PERIOD_SLACK[period]
    return days - slack if days > slack else days + slack if days < -slack else 0


def _start_text(off: int, delay: int = 0, period: str = "day") -> str:
    if period != "day" and _beyond_period(off, period) == 0:
        return f"starts within a {period} of the change"
    if off == 0:
        return "starts the same day as the change"
    if off > 0:
        text = f"starts {_days(off)} before the change"
        return text + (" (funnel delay)" if delay and off > _START_PLATEAU else "")
    return f"starts {_days(-off)} after the change"


def _reversal_text(after_end: int, last: dt.date) -> str:
    if after_end == 0:
        return f"ends the day before the change ({day_text(last, False)})"
    if after_end > 0:
        return f"ends {_days(after_end + 1)} before the change ({day_text(last, False)})"
    return f"ends {_days(-after_end - 1)} after the change starts ({day_text(last, False)})" if after_end < -1 else f"ends the day the change starts ({day_text(last, False)})"


def _end_text(end_off: int) -> str:
    if end_off == 0:
        return "ends the same day as the change"
    if end_off > 0:
        return f"ends {_days(end_off)} before the change does"
    return f"ends {_days(-end_off)} after the change does"


def _pct(value: float) -> str:
    return f"{value * 100:+.0f}%"


def _scope_text(scope: Mapping[str, tuple[str, ...]]) -> str:
    return ",".join(f"{k}={'|'.join(v)}" for k, v in scope.items())

