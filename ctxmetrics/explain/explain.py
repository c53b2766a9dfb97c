"""Linking anomalies to the timeline, and the data's own drivers: the entry points.

For every anomaly the candidates are the annotations whose window — first day minus the
type's `lead` to last day plus its `lag` (open events run to the data end) — meets the
anomaly (`events`); each is scored and ranked (`causes`). Causes below `min_cause_score`
are dropped: an empty list means "unexplained", which is better than a wrong
explanation. The data's own drivers come from the cube (`drivers`), and anomalies are
linked to the funnel stages and the anomalies that moved with them (`related`).
"""
from __future__ import annotations

import datetime as dt
from itertools import product
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from ctxmetrics.config import Config
from ctxmetrics.explain.causes import _causes, _scope_text
from ctxmetrics.explain.cube import _Cube
from ctxmetrics.explain.drivers import _fill_root_causes, _locate_in_cube, _split_from_drivers
from ctxmetrics.explain.events import _data_end, _Event
from ctxmetrics.explain.related import _link_correlated, _link_funnel
from ctxmetrics.models.anomaly import Anomaly
from ctxmetrics.models.segments import is_within

if TYPE_CHECKING:
    from ctxmetrics.models.series import SeriesSet
    from ctxmetrics.models.annotation import Annotation

__all__ = ["explain_anomalies", "link_anomalies", "linking_cubes", "missing_effects"]


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
    `explain_anomalies`). Funnel stages and correlated anomalies (Python, reading no cube)
    are linked while the whole cube's windows are localized (`_locate_in_cube`)."""

    def link() -> None:
        _link_funnel(anomalies, config)
        _link_correlated(anomalies, config)

    _locate_in_cube(anomalies, cubes, whole_cube, beside=link)


def linking_cubes(sets: Mapping[str, "SeriesSet"], built: Mapping[str, "_Cube"] | None = None) -> dict[str, "_Cube"]:
    """`linking_cube` of every metric of `sets`: those `built` already, the others built here."""
    return {metric: (built or {}).get(metric) or _Cube(series_set) for metric, series_set in sets.items()}


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
        type_info = config.event_type(event.type)
        if event.expect is None and not type_info.intended:
            continue
        first, last = event.first_day(tz), event.last_day(tz)
        if last is None or first < first_data or last > last_data:
            continue
        metrics = _effect_metrics(event, config, present)
        if not metrics:
            continue
        window = type_info.window
        lo = first - dt.timedelta(days=window.lead)
        hi = min(last + dt.timedelta(days=window.lag), last_data)
        expected = event.expect or type_info.usual_direction
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



def _scope_segments(scope: Mapping[str, tuple[str, ...]]) -> list[dict[str, str]]:
    dims = list(scope)
    return [dict(zip(dims, combo)) for combo in product(*(scope[d] for d in dims))] or [{}]
