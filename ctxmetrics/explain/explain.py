"""Linking anomalies to the timeline, and the data's own drivers.

For every anomaly the candidates are the annotations whose window — first day minus the
type's `lead` to last day plus its `lag` (open events run to the data end) — meets the
anomaly. Each candidate gets a score in [0, 1], the product of independent factors:

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

Causes below `min_cause_score` are dropped: an empty list means "unexplained", which is
better than a wrong explanation. Every cause carries the facts behind its score as a
plain-language `reason`.

Drivers: the root-cause set of the anomaly in the cube (see `rootcause`): from the expected
and actual value of every leaf under the anomaly's segment over its window, the smallest
set of segments at any layer that carries the change — or "uniform" when it is everywhere
alike. A scoped event explains a rollup when the root-cause set lies inside its scope.
"""
from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass
from itertools import product
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from ctxmetrics.models.anomaly import Anomaly, Cause
from ctxmetrics.config import EVENT_TABLE, Config, EventWindow
from ctxmetrics.models.segments import is_within, rollup_keys, segment_label
from ctxmetrics.wording import day_text

if TYPE_CHECKING:
    from ctxmetrics.models.series import SeriesSet
    from ctxmetrics.models.annotation import Annotation

__all__ = ["explain_anomalies", "linking_cube", "missing_effects", "coverage", "USUAL_DIRECTION"]

# The effect an event type usually has on volumes when `expect` is not given.
USUAL_DIRECTION = {name: t.usual_direction for name, t in EVENT_TABLE.items() if t.usual_direction}
# Types whose effect should end with the event; a persistent shift outlasting them fits worse.
TEMPORARY_TYPES = tuple(name for name, t in EVENT_TABLE.items() if t.temporary)
# Events that only take days away: once over, the days after them are normal again.
DAYS_OFF_TYPES = tuple(name for name, t in EVENT_TABLE.items() if t.days_off)
# Events that are meant to move a metric even without an explicit `expect`.
EFFECT_TYPES = tuple(name for name, t in EVENT_TABLE.items() if t.intended)

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
_BASELINE_WEEKS = 4
# Weeks of history behind each leaf's expected value and noise in root-cause localization:
# a median of 8 same weekdays and a spread of 56 days, √2 less uncertain than with 4 weeks,
# which is what lets a 20% change of one cell stand out.
_ROOT_CAUSE_WEEKS = 8
_MEASURE_DAYS = 28  # window measured for a persistent shift
_MAX_CORRELATED = 5
_PARALLEL_MIN_ANOMALIES = 2000  # per worker: below this, starting workers costs more than it saves
_CUBE_DAYS = 10  # start days per metric localized in the whole cube when its total was not flagged


# ------------------------------------------------------------------------ public API


def explain_anomalies(
    anomalies: list[Anomaly],
    annotations: list["Annotation"],
    sets: Mapping[str, "SeriesSet"],
    config: Config,
    verdicts: Mapping[tuple[str, str], str],
    root_causes: bool = True,
    whole_cube: Callable[[dict[str, list[tuple[int, int]]]], dict] | None = None,
    cubes: Mapping[str, "_Cube"] | None = None,
    links: bool = True,
) -> None:
    """Fill `causes`, `drivers`, `funnel` and `correlated` of every anomaly, in place.

    Args:
        anomalies: Anomalies of every metric (those without a SeriesSet keep their drivers).
        annotations: The current timeline.
        sets: Daily series per metric, used for drivers and the scope rule.
        config: The project configuration (`explain` settings, `funnel`, metric kinds).
        verdicts: (anomaly id, annotation id) -> "confirmed" | "rejected" recorded by people.
        root_causes: False keeps the `drivers` and `uniform` the anomalies already have
            (an anomaly's root cause reads only itself and the cube, not the others).
        whole_cube: Where `sets` hold only the series linking reads (the Spark engine):
            given day ranges per metric (indexes of its series), the metric's total and
            every leaf over each range, as {(metric, range): SeriesSet starting on the
            range's first day}; `cube_drivers` read them. None: `sets` are whole cubes.
        cubes: `linking_cube` of some of the `sets`, built already (a scan builds them
            while its workers detect); the others are built here.
        links: False leaves `cube_drivers`, `funnel` and `correlated` to `link_anomalies`
            (nothing here reads them: a scan links once it has dropped restatements).
    """
    cubes = linking_cubes(sets, cubes)
    data_end = _data_end(sets, anomalies)
    if root_causes:
        _fill_root_causes(anomalies, cubes)
    if links:
        link_anomalies(anomalies, cubes, config, whole_cube)
    events = [_Event.of(a, config, data_end) for a in annotations]
    by_metric: dict[str, list[Anomaly]] = {}
    for anomaly in sorted(anomalies, key=lambda a: a.start):
        by_metric.setdefault(anomaly.metric, []).append(anomaly)
    for anomaly in anomalies:
        anomaly.causes = _causes(anomaly, events, cubes.get(anomaly.metric), config, verdicts, by_metric)


def link_anomalies(
    anomalies: list[Anomaly], cubes: Mapping[str, "_Cube"], config: Config,
    whole_cube: Callable[[dict[str, list[tuple[int, int]]]], dict] | None = None,
) -> None:
    """Fill `cube_drivers`, `funnel` and `correlated` of every anomaly, in place, among
    `anomalies` (`cubes`: `linking_cubes` of the metrics' series; `whole_cube` as in
    `explain_anomalies`).

    With whole cubes at hand, the leaf expectations `_locate_in_cube` reads (numpy, which
    releases the GIL) are computed in a thread while this one links funnel stages and
    correlated anomalies (Python), which read no cube, then takes the windows left too: on
    a scan's tail the second core otherwise idles."""
    windows = None
    if whole_cube is None:
        import threading

        pending, lock = _cube_days(anomalies, cubes), threading.Lock()

        def compute() -> None:  # the next window not taken yet, until none is left
            while True:
                with lock:
                    window = next(pending, None)
                if window is None:
                    return
                window[0]._leaf_expectation(window[1])

        windows = threading.Thread(target=compute)
        windows.start()
    try:
        _link_funnel(anomalies, config)
        _link_correlated(anomalies, config)
        if windows:
            compute()
    finally:
        if windows:
            windows.join()  # no thread is left running when the caller forks
    _locate_in_cube(anomalies, cubes, whole_cube)


def linking_cubes(sets: Mapping[str, "SeriesSet"], built: Mapping[str, "_Cube"] | None = None) -> dict[str, "_Cube"]:
    """`linking_cube` of every metric of `sets`: those `built` already, the others built here."""
    return {metric: (built or {}).get(metric) or _Cube(series_set) for metric, series_set in sets.items()}


def coverage(anomalies: Iterable[Anomaly]) -> dict[str, Any]:
    """How many anomalies have at least one cause, overall and per metric."""
    total = explained = 0
    per_metric: dict[str, dict[str, Any]] = {}
    for a in anomalies:
        entry = per_metric.setdefault(a.metric, {"total": 0, "explained": 0})
        entry["total"] += 1
        total += 1
        if a.explained:
            entry["explained"] += 1
            explained += 1
    for entry in per_metric.values():
        entry["share"] = round(entry["explained"] / entry["total"], 4)
    return {
        "total": total,
        "explained": explained,
        "share": round(explained / total, 4) if total else 0.0,
        "per_metric": dict(sorted(per_metric.items())),
    }


def missing_effects(
    annotations: Iterable["Annotation"],
    anomalies: list[Anomaly],
    config: Config,
    data_range: tuple[dt.date, dt.date],
    present: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    """Events that should have moved a metric but where no matching anomaly was found.

    `present`: the metrics the project has data for; an event's metrics are narrowed to
    them (an event naming none falls back to the first funnel stage present, or to the one
    metric of a single-metric project), so no sentence names a metric the project lacks.

    An event qualifies when it has `expect`, or is a campaign, pricing change or release,
    and lies fully inside `data_range` (open events are skipped). Its metrics are the ones
    it lists (else the first funnel stage); its segments are the combinations of its scope
    values. It is reported when none of those metrics has an anomaly in such a segment or a
    part of it — or in a rollup containing it that is linked to the event or whose drivers
    put most of the change inside the scope — that starts inside the event's window (with
    the type's lead and lag) and whose direction matches the expected one.
    """
    first_data, last_data = data_range
    tz = config.timezone
    out = []
    for event in annotations:
        if event.expect is None and event.type not in EFFECT_TYPES:
            continue
        first, last = event.first_day(tz), event.last_day(tz)
        if last is None or first < first_data or last > last_data:
            continue
        metrics = _effect_metrics(event, config, present)
        if not metrics:
            continue
        window = config.explain.windows.get(event.type, EventWindow(lead=2, lag=7))
        lo = first - dt.timedelta(days=window.lead)
        hi = min(last + dt.timedelta(days=window.lag), last_data)
        expected = event.expect or USUAL_DIRECTION.get(event.type)
        segments = _scope_segments(event.scope)
        seen, opposite = False, False
        for a in anomalies:
            if a.metric not in metrics or not lo <= a.start <= hi:
                continue
            inside = any(is_within(a.segment, seg) for seg in segments)
            if not inside and not any(is_within(seg, a.segment) for seg in segments):
                continue
            if not inside and not _rollup_shows(a, event, config):
                continue
            if expected is None or a.direction == expected:
                seen = True
                break
            opposite = True
        if seen:
            continue
        scope_text = _scope_text(event.scope) or "everything"
        verb = f"{' and '.join(metrics)} {expected}" if expected else f"{' and '.join(metrics)} to move"
        found = f"saw only a {'drop' if expected == 'up' else 'rise'}" if opposite else "no change seen"
        out.append({
            "annotation_id": event.id,
            "title": event.title,
            "type": event.type,
            "window": [first.isoformat(), last.isoformat()],
            "metrics": metrics,
            "segment": segments[0] if len(segments) == 1 else {k: list(v) for k, v in event.scope.items()},
            "segments": segments,
            "expect": expected,
            "reason": f"expected {verb} in {scope_text}; {found}",
        })
    return out


def _effect_metrics(event: "Annotation", config: Config, present: Iterable[str] | None) -> list[str]:
    if present is None:
        return list(event.metrics) or list(config.funnel[:1])
    have = set(present)
    if event.metrics:
        return [m for m in event.metrics if m in have]
    first_stage = [m for m in config.funnel if m in have][:1]
    return first_stage or (sorted(have) if len(have) == 1 else [])


def _rollup_shows(anomaly: Anomaly, event: "Annotation", config: Config) -> bool:
    """A rollup anomaly shows a scoped event's effect only when it is linked to the event
    or its drivers put most of the change inside the scope."""
    if any(c.annotation_id == event.id for c in anomaly.causes):
        return True
    split = _split_from_drivers(anomaly, event.scope)
    return split is not None and split[0] >= config.explain.min_scope_share


# ------------------------------------------------------------------------ events


@dataclass(frozen=True)
class _Event:
    annotation: "Annotation"
    first: dt.date
    last: dt.date | None  # None while open
    window: EventWindow
    until: dt.date  # last day it can act on (open events: the data end)

    @classmethod
    def of(cls, annotation: "Annotation", config: Config, data_end: dt.date) -> "_Event":
        tz = config.timezone
        window = config.explain.windows.get(annotation.type, EventWindow(lead=2, lag=7))
        first, last = annotation.first_day(tz), annotation.last_day(tz)
        until = max(data_end, first) if last is None else last
        return cls(annotation, first, last, window, until)


def _data_end(sets: Mapping[str, "SeriesSet"], anomalies: list[Anomaly]) -> dt.date:
    ends = [s.day(s.days - 1) for s in sets.values()]
    ends += [a.end or a.start for a in anomalies]
    return max(ends) if ends else dt.date.today()


# ------------------------------------------------------------------------ scoring


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


def _overlap(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    """True when two segments share some leaf (no dimension set to different values)."""
    return all(b[k] == v for k, v in a.items() if k in b)


def _assess(anomaly: Anomaly, event: _Event, cube, config: Config, by_metric) -> _Assessment:
    ann = event.annotation
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
        expected = USUAL_DIRECTION.get(ann.type)  # a type's usual effect is about volumes, not rates
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
        elif anomaly.end is None and event.last is not None and ann.type in TEMPORARY_TYPES:
            if event.last < _series_end(cube, event.last):
                if ann.type in DAYS_OFF_TYPES:
                    return _Assessment(
                        0.0, facts, f"a {ann.type} that ended on {day_text(event.last, False)} does not explain a lasting change"
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


# ------------------------------------------------------------------------ the data's drivers


def linking_cube(series_set: "SeriesSet") -> "_Cube":
    """What `explain_anomalies` reads of a metric's series whatever was found (its leaves
    encoded), to build beforehand and pass as `cubes`."""
    return _Cube(series_set)


class _Cube:
    """A SeriesSet with an index of child segments and before/after measurements."""

    def __init__(self, series_set: "SeriesSet"):
        import numpy as np  # scan-only: the read paths that import this module never build a cube

        from ctxmetrics.explain.rootcause import encode_leaves

        self.series_set = series_set
        depth = max((len(s) for s in series_set.segments), default=0)
        self.dims = list(next((s for s in series_set.segments if len(s) == depth), {}))
        self.leaf_rows = np.array([r for r, s in enumerate(series_set.segments) if depth and len(s) == depth], dtype=int)
        self.leaf_codes, self.leaf_names = encode_leaves([series_set.segments[r] for r in self.leaf_rows], self.dims)
        self._expectations: dict[tuple[int, int], tuple] = {}
        self._members: dict[tuple[int, int], Any] = {}  # (dim, value code) -> indexes of its leaves
        self._codes = [{name: code for code, name in enumerate(names)} for names in self.leaf_names]  # per dim: value -> code

    def window(self, anomaly: Anomaly) -> tuple[int, int] | None:
        """(first, last) day index the anomaly's change is measured over; None without a
        week of history before it or when it ends before it starts."""
        s = self.series_set.day_index(anomaly.start)
        last = self.series_set.days - 1
        e = last if anomaly.end is None else self.series_set.day_index(anomaly.end)
        if anomaly.end is None:
            e = min(e, s + _MEASURE_DAYS - 1)
        if s < 7 or s > last or e < s:  # no week of history, or no day to measure
            return None
        return s, min(e, last)

    def delta(self, rows: list[int], window: tuple[int, int]):
        """(excess, baseline) summed over the window, one entry per row.

        Counts: actual minus the mean of the same weekday in the four weeks before.
        Ratios: numerator minus denominator times the baseline rate (additive over
        segments). Gauges: like counts, on values with unknown days ignored.
        """
        import numpy as np

        s, e = window
        days = np.arange(s, e + 1)
        first = s - 7 * _BASELINE_WEEKS
        base_idx = first + ((days - first) % 7)[:, None] + 7 * np.arange(_BASELINE_WEEKS)[None, :]
        base_idx = np.where(base_idx >= 0, base_idx, -1)
        values = self.series_set.values[rows]
        with np.errstate(invalid="ignore", divide="ignore"):
            if self.series_set.denominators is None:
                valid = base_idx >= 0
                picked = np.where(valid[None], values[:, np.clip(base_idx, 0, None)], np.nan)
                base = np.nanmean(picked, axis=2)  # rows x days
                actual = values[:, days]
                keep = ~np.isnan(actual) & ~np.isnan(base)
                excess = np.where(keep, actual - base, 0.0).sum(axis=1)
                baseline = np.where(keep, base, 0.0).sum(axis=1)
                return excess, baseline
            den = self.series_set.denominators[rows]
            flat = np.unique(base_idx[base_idx >= 0])
            rate = values[:, flat].sum(axis=1) / den[:, flat].sum(axis=1)
            rate = np.where(np.isfinite(rate), rate, 0.0)
            expected = den[:, days] * rate[:, None]
            return (values[:, days] - expected).sum(axis=1), expected.sum(axis=1)

    def root_cause(self, anomaly: Anomaly) -> tuple[list[dict[str, Any]], bool]:
        """(drivers, uniform) of an anomaly on a rollup, localized over the leaves under it;
        a leaf has no drivers."""
        window = self.window(anomaly)
        if window is None:
            return [], False
        return self.localize(anomaly.segment, window, 1 if anomaly.direction == "up" else -1)

    def prepare(self, anomaly: Anomaly) -> None:
        """Compute what `root_cause` of this anomaly reads from the whole cube (its
        window's expectations), so that forked workers share it."""
        window = self.window(anomaly)
        if window is not None and len(anomaly.segment) < len(self.dims):
            self._leaf_expectation(window)

    def whole(self, window: tuple[int, int]) -> bool:
        """True when the leaves at hand add up to the total over `window`: the whole cube,
        not only the series an engine returned for linking."""
        import numpy as np

        total = self.series_set.row({})
        if total is None or not len(self.leaf_rows):
            return False
        days = slice(window[0], window[1] + 1)
        top = float(np.nansum(self.series_set.values[total, days]))
        leaves = float(np.nansum(self.series_set.values[self.leaf_rows, days]))
        return abs(top - leaves) <= 1e-6 * max(abs(top), 1.0)

    def localize(self, segment: Mapping[str, str], window: tuple[int, int], direction: int = 0):
        """(drivers, uniform) over the leaves under `segment` in `window` (see `rootcause`)."""
        from ctxmetrics.explain.rootcause import localize_codes

        free = [d for d in self.dims if d not in segment]
        if not free:  # a leaf
            return [], False
        inside = self._leaves_under(segment)
        if len(inside) < 2:
            return [], False
        expected, actual, noise = (None if part is None else part[inside] for part in self._leaf_expectation(window))
        columns = [self.dims.index(d) for d in free]
        found = localize_codes(
            self.leaf_codes[inside][:, columns], free, [self.leaf_names[j] for j in columns], expected, actual, noise,
            direction=direction,
        )
        drivers = [
            {"segment": {d: {**segment, **part}[d] for d in self.dims if d in segment or d in part}, "share": share}
            for part, share in found.elements
        ]
        return drivers, found.uniform

    def _leaves_under(self, segment: Mapping[str, str]):
        """Indexes of the leaves inside `segment`: the leaves of its rarest value, narrowed
        by the others (cheap even in a cube of many leaves)."""
        import numpy as np

        parts = []
        for dim, value in segment.items():
            j = self.dims.index(dim)
            code = self._codes[j].get(value, -1)  # a dict: a list's index scans 100k values per anomaly
            if (j, code) not in self._members:
                self._members[(j, code)] = np.flatnonzero(self.leaf_codes[:, j] == code)
            parts.append((len(self._members[(j, code)]), j, code))
        if not parts:
            return np.arange(len(self.leaf_rows))
        parts.sort()
        found = self._members[parts[0][1:]]
        for _, j, code in parts[1:]:
            found = found[self.leaf_codes[found, j] == code]
        return found

    def _leaf_expectation(self, window: tuple[int, int]):
        """(expected, actual, noise) of every leaf over `window`, computed once per window."""
        if window not in self._expectations:
            from ctxmetrics.explain.rootcause import window_expectation

            rows = self.leaf_rows
            if self.series_set.denominators is None and window[0] >= 7:
                # only the days it reads (the weeks before and the window): not a copy of the cube
                lo = max(window[0] - 7 * _ROOT_CAUSE_WEEKS, 0)
                self._expectations[window] = window_expectation(
                    self.series_set.values[rows, lo : window[1] + 1], window[0] - lo, window[1] - lo, _ROOT_CAUSE_WEEKS
                )
            else:  # rates: numerators against the denominators times the baseline rate
                excess, baseline = self.delta(list(rows), window)
                self._expectations[window] = (baseline, baseline + excess, None)
        return self._expectations[window]

    def _rows(self, base: Mapping[str, str], scope: Mapping[str, tuple[str, ...]]) -> list[int]:
        """Rows of `base` narrowed to every combination of the scope's values on dims it lacks."""
        free = [d for d in scope if d not in base]
        rows = []
        for combo in product(*(scope[d] for d in free)):
            row = self.series_set.row({**base, **dict(zip(free, combo))})
            if row is not None:
                rows.append(row)
        return rows

    def scope_split(self, anomaly: Anomaly, scope) -> tuple[float, float, float | None] | None:
        """For a rollup wider than the scope: (share of the change inside the scope,
        relative change inside, relative change outside)."""
        window = self.window(anomaly)
        whole = self.series_set.row(anomaly.segment)
        inside_rows = self._rows(anomaly.segment, scope)
        if window is None or whole is None:
            return None
        if not inside_rows:
            return 0.0, 0.0, None
        ex_all, base_all = (float(v[0]) for v in self.delta([whole], window))
        ex_in, base_in = (float(v.sum()) for v in self.delta(inside_rows, window))
        if ex_all == 0 or base_in <= 0:
            return 0.0, 0.0, None
        outside = (ex_all - ex_in) / (base_all - base_in) if base_all - base_in > 0 else None
        return ex_in / ex_all, ex_in / base_in, outside

    def outside_change(self, anomaly: Anomaly, scope) -> tuple[float, float] | None:
        """For a segment inside the scope: (its relative change, the relative change of
        the same segment outside the scope), or None when there is no outside."""
        window = self.window(anomaly)
        if window is None:
            return None
        parent = {k: v for k, v in anomaly.segment.items() if k not in scope}
        row, parent_row = self.series_set.row(anomaly.segment), self.series_set.row(parent)
        inside_rows = self._rows(parent, scope)
        if row is None or parent_row is None or not inside_rows:
            return None
        ex, base = (float(v[0]) for v in self.delta([row], window))
        ex_p, base_p = (float(v[0]) for v in self.delta([parent_row], window))
        ex_in, base_in = (float(v.sum()) for v in self.delta(inside_rows, window))
        if base <= 0 or base_p - base_in <= 0:
            return None
        return ex / base, (ex_p - ex_in) / (base_p - base_in)


def _fill_root_causes(anomalies: list[Anomaly], cubes: Mapping[str, _Cube]) -> None:
    """`drivers` and `uniform` of every anomaly whose metric has a cube. A wide cube's
    thousands of rollup anomalies are localized in forked worker processes (each
    localization is independent of the others), after the per-window expectations they
    all read were computed once here."""
    import os

    todo = [a for a in anomalies if a.metric in cubes]
    workers = min(os.cpu_count() or 1, len(todo) // _PARALLEL_MIN_ANOMALIES)
    if workers < 2:
        for anomaly in todo:
            anomaly.drivers, anomaly.uniform = cubes[anomaly.metric].root_cause(anomaly)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    for anomaly in todo:
        cubes[anomaly.metric].prepare(anomaly)
    step = -(-len(todo) // (4 * workers))  # a few parts per worker: even when some parts are slower
    starts = range(0, len(todo), step)
    context = multiprocessing.get_context("fork")  # the workers inherit the cubes; nothing is pickled to them
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_share, initargs=(todo, cubes)) as pool:
        for lo, results in zip(starts, pool.map(_root_causes_of, starts, [lo + step for lo in starts])):
            for anomaly, (drivers, uniform) in zip(todo[lo : lo + step], results):
                anomaly.drivers, anomaly.uniform = drivers, uniform


_shared: tuple[list[Anomaly], Mapping[str, _Cube]] = ([], {})  # a worker's anomalies and cubes


def _share(anomalies: list[Anomaly], cubes: Mapping[str, _Cube]) -> None:
    global _shared
    _shared = (anomalies, cubes)


def _root_causes_of(lo: int, hi: int) -> list[tuple[list[dict[str, Any]], bool]]:
    anomalies, cubes = _shared
    return [cubes[a.metric].root_cause(a) for a in anomalies[lo:hi]]


def _locate_in_cube(anomalies: list[Anomaly], cubes: Mapping[str, _Cube], whole_cube=None) -> None:
    """Fill `cube_drivers` of the anomalies of each start day on which their metric's total
    was not flagged: the root-cause set of the whole cube over the window of that day's most
    important anomaly. Cells whose change is too small for their own series (and for the
    total) stand out in the cube once the time is known from the series that were flagged.
    At most `_CUBE_DAYS` start days per metric, the most important first: the cost stays
    that of a few localizations however many anomalies there are. Only where the leaves at
    hand add up to the total (not a gauge's rollups); where `whole_cube` is given, the
    leaves it returns for those windows (`explain_anomalies`)."""
    for cube, window, group in _cube_days(anomalies, cubes, whole_cube):
        drivers, _ = cube.localize({}, window)
        for anomaly in group:
            anomaly.cube_drivers = drivers


def prepare_cube_days(anomalies: list[Anomaly], cube: _Cube, stop: Callable[[], bool]) -> None:
    """Compute the leaf expectations `_locate_in_cube` would read for `anomalies` (all of
    `cube`'s metric) into `cube`, until `stop()`. A scan calls it beside its workers with
    the anomalies found so far: the windows it guessed are not computed again after them
    (the expectations are the cube's cache), the others are computed then as before."""
    for _, window, _ in _cube_days(anomalies, {cube.series_set.metric: cube}):
        if stop():
            return
        cube._leaf_expectation(window)


def _cube_days(anomalies: list[Anomaly], cubes: Mapping[str, _Cube], whole_cube=None):
    """(cube, window, anomalies of its start day) of each start day `_locate_in_cube`
    localizes, in its order."""
    totals: dict[str, list[Anomaly]] = {}
    days: dict[tuple[str, dt.date], list[Anomaly]] = {}
    for anomaly in anomalies:
        if anomaly.metric in cubes:
            if anomaly.segment:
                days.setdefault((anomaly.metric, anomaly.start), []).append(anomaly)
            else:
                totals.setdefault(anomaly.metric, []).append(anomaly)
    leads = sorted(((max(group, key=_importance), group) for group in days.values()), key=lambda p: -_importance(p[0]))
    candidates = [  # a day whose total was flagged is left out: its drivers are the cube's root cause
        (lead, group, window) for lead, group in leads
        if (window := cubes[lead.metric].window(lead)) is not None
        and not any(_overlap_in_time(total, lead) for total in totals.get(lead.metric, []))
    ]
    wholes = _WholeCubes(cubes, whole_cube)
    done: dict[str, int] = {}
    for i, (lead, group, window) in enumerate(candidates):
        if done.get(lead.metric, 0) >= _CUBE_DAYS:
            continue
        cube, window = wholes.over(lead.metric, window, candidates[i:], done)
        if not cube.whole(window):
            continue
        done[lead.metric] = done.get(lead.metric, 0) + 1
        yield cube, window, group


class _WholeCubes:
    """The whole cube `_locate_in_cube` localizes a window in: the metric's own, or where an
    engine holds the cube elsewhere, its total and leaves over the window's days and the
    weeks before, fetched (`whole_cube`) for the windows next in line in one request."""

    def __init__(self, cubes: Mapping[str, _Cube], fetch):
        self.cubes, self.fetch = cubes, fetch
        self.held: dict[tuple[str, tuple[int, int]], _Cube] = {}
        self.asked: set[tuple[str, tuple[int, int]]] = set()

    def over(self, metric: str, window: tuple[int, int], upcoming, done: dict[str, int]):
        """(cube, the window in its days) of `window`; `upcoming` the (lead, group, window)
        in line from this one on, `done` the days localized per metric so far."""
        key = (metric, self._days(window))
        if self.fetch is not None and key not in self.asked:
            wanted: dict[str, list[tuple[int, int]]] = {}
            for lead, _, later in upcoming:  # each metric's windows it may still localize
                ranges = wanted.setdefault(lead.metric, [])
                if len(ranges) < _CUBE_DAYS - done.get(lead.metric, 0) and (lead.metric, self._days(later)) not in self.asked:
                    ranges.append(self._days(later))
            self.asked |= {(m, r) for m, ranges in wanted.items() for r in ranges}
            self.held.update({k: _Cube(series_set) for k, series_set in self.fetch(wanted).items()})
        if key not in self.held:
            return self.cubes[metric], window
        first = key[1][0]
        return self.held[key], (window[0] - first, window[1] - first)

    @staticmethod
    def _days(window: tuple[int, int]) -> tuple[int, int]:
        """The days a window's localization reads: the weeks of history before it, and it."""
        return max(window[0] - 7 * _ROOT_CAUSE_WEEKS, 0), window[1]


def _overlap_in_time(a: Anomaly, b: Anomaly) -> bool:
    return (b.end is None or a.start <= b.end) and (a.end is None or b.start <= a.end)


def _importance(anomaly: Anomaly) -> float:
    """Size of a change for the business: its score weighted by the volume it moves."""
    return anomaly.score * math.log1p(max(anomaly.volume, 0.0))


def _split_from_drivers(anomaly: Anomaly, scope) -> tuple[float, float, None] | None:
    """Scope share from stored drivers when the series were not rebuilt in this scan."""
    dims = set(scope)
    relevant = [d for d in anomaly.drivers if dims <= set(d["segment"])]
    if not relevant:
        return None
    share = sum(d["share"] for d in relevant if all(d["segment"][k] in v for k, v in scope.items()))
    return share, 1.0, None


# ------------------------------------------------------------------------ funnel and correlated


def _link_funnel(anomalies: list[Anomaly], config: Config) -> None:
    """Same-segment, same-direction anomalies of other funnel stages starting close by."""
    funnel = list(config.funnel)
    if len(funnel) < 2:
        return
    days = config.explain.funnel_lag_days
    by_segment: dict[tuple[str, str], list[Anomaly]] = {}
    for a in anomalies:
        if a.metric in funnel:
            by_segment.setdefault((a.segment_key, a.direction), []).append(a)
    for group in by_segment.values():
        for a in group:
            closest: dict[str, Anomaly] = {}
            for b in group:
                gap = abs((b.start - a.start).days)
                if gap <= days and (b.metric not in closest or gap < abs((closest[b.metric].start - a.start).days)):
                    closest[b.metric] = b
            closest[a.metric] = a
            if len(closest) < 2:
                a.funnel = []
                continue
            moved = sorted(closest.values(), key=lambda b: (b.start, funnel.index(b.metric)))
            a.funnel = [
                {"stage": b.metric, "start": b.start.isoformat(), "direction": b.direction,
                 "change_pct": round(b.change_pct, 1)}
                for b in moved
            ]


def _link_correlated(anomalies: list[Anomaly], config: Config) -> None:
    """Other anomalies starting within ±`correlated_days`: same segment first, then related
    segments of the same metric, then the rest; by business size within each group.

    Near-linear in the number of anomalies: per anomaly only the few best candidates of each
    group are read — through an index by segment (same segment and its rollups), by
    ancestor (its sub-segments) and by start day (the rest), each list by size. Anomalies
    are numbered once (by identity) and every index holds numbers, not objects: a wide
    cube's 22k anomalies read ~1M candidates, and per candidate a list lookup costs far
    less than hashing `id()` into dicts.
    """
    days = config.explain.correlated_days
    number = {id(a): i for i, a in enumerate(anomalies)}  # one number per anomaly object
    ids = [number[id(a)] for a in anomalies]
    items = list(anomalies)
    key = [a.segment_key for a in items]  # built once: a key is built from the segment
    order = [(-abs(a.change_pct) * max(a.volume, 1.0), a.id) for a in items]
    metric = [a.metric for a in items]
    start = [a.start for a in items]
    day_number = [a.start.toordinal() for a in items]  # ints: a distance in days without timedeltas
    ancestors = [rollup_keys(a.segment) for a in items]
    rollups = [set(keys) for keys in ancestors]
    by_day: defaultdict[dt.date, list[int]] = defaultdict(list)
    by_segment: defaultdict[str, list[int]] = defaultdict(list)
    by_ancestor: defaultdict[tuple[str, str], list[int]] = defaultdict(list)
    for i in ids:
        by_day[start[i]].append(i)
        by_segment[key[i]].append(i)
        for ancestor in ancestors[i]:
            by_ancestor[metric[i], ancestor].append(i)
    for group in (*by_segment.values(), *by_ancestor.values()):
        group.sort(key=order.__getitem__)
    windows: dict[dt.date, list[int]] = {}  # per start day: every anomaly near it, by size

    entries: dict[int, dict[str, Any]] = {}  # one entry per anomaly, however often it is listed

    def entry(j: int) -> dict[str, Any]:
        if j not in entries:
            b = items[j]
            entries[j] = {"id": order[j][1], "metric": b.metric, "segment": dict(b.segment),
                          "start": b.start.isoformat(), "change_pct": round(b.change_pct, 1)}
        return entries[j]

    def rank(i: int, j: int) -> int:
        if key[j] == key[i]:
            return 0
        related = key[j] in rollups[i] or key[i] in rollups[j]
        return 1 if metric[j] == metric[i] and related else 2

    for a, i in zip(anomalies, ids):
        found: dict[int, tuple[int, int]] = {}
        day, day_i = start[i], day_number[i]

        def take(candidates, wanted_rank: int) -> None:
            count = 0
            for j in candidates:
                if count >= _MAX_CORRELATED:
                    break
                if items[j] is a or j in found or abs(day_number[j] - day_i) > days:
                    continue
                if (metric[j] != metric[i] or key[j] != key[i]) and rank(i, j) == wanted_rank:
                    found[j] = (wanted_rank, j)
                    count += 1

        take(by_segment.get(key[i], ()), 0)
        for ancestor in ancestors[i]:  # its rollups: a few
            if ancestor in by_segment:
                take(by_segment[ancestor], 1)
        take(by_ancestor.get((metric[i], key[i]), ()), 1)  # its sub-segments
        if day not in windows:
            near = [j for k in range(-days, days + 1) for j in by_day.get(day + dt.timedelta(days=k), ())]
            windows[day] = sorted(near, key=order.__getitem__)
        take(windows[day], 2)
        ranked = sorted(found.values(), key=lambda t: (t[0], order[t[1]]))
        a.correlated = [entry(j) for _, j in ranked[:_MAX_CORRELATED]]


# ------------------------------------------------------------------------ text


def _days(n: int) -> str:
    return f"{n} day{'s' if n != 1 else ''}"


_PERIOD_SLACK = {"day": 0, "week": 6, "month": 30}  # days a weekly/monthly boundary may be from the day it stands for


def _beyond_period(days: int, period: str) -> int:
    """Days between an event's and a change's boundaries beyond what the change's period
    leaves open: a weekly or monthly change is known only to its week or month, so an
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


def _scope_segments(scope: Mapping[str, tuple[str, ...]]) -> list[dict[str, str]]:
    dims = list(scope)
    return [dict(zip(dims, combo)) for combo in product(*(scope[d] for d in dims))] or [{}]
