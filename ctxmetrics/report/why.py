"""`why`: the stored explanation of a metric's changes in one segment.

Reads scan results only — it never detects, so it never imports numpy, polars, scipy or
ruptures and answers in a fresh process in a few hundred milliseconds on a large store.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ctxmetrics.config import log_factor
from ctxmetrics.models.anomaly import Anomaly, Cause
from ctxmetrics.errors import CtxError, UnknownName
from ctxmetrics.explain.places import change_places
from ctxmetrics.store.results import (
    data_span_of_window, gap_text, load_gaps, load_series_anomalies, most_important, record_verdict, save_causes,
    scanned_metrics, scanned_segment_keys, was_scanned,
)
from ctxmetrics.models.segments import segment_from_key, segment_key, segment_label
from ctxmetrics.report.flat_runs import flat_days
from ctxmetrics.wording import (
    anomaly_head, day_text, flat_text, kind_text, level_text, never_varied, one_line, only_case_differs, pct_text,
    tag_command, tagged_text, terminal_text, when_text, where_text,
)

if TYPE_CHECKING:
    from ctxmetrics.project import Project
    from ctxmetrics.store.database import Store

__all__ = ["WhyAnswer", "why", "record", "headline", "tag_command", "format_answer"]

# The most important anomalies of a window that `elsewhere` reads its places from.
_PLACES_FROM = 200
NO_SCAN = "No scan results yet in {store}; run 'ctxmetrics scan' first."


@dataclass
class WhyAnswer:
    """The anomalies of one metric × segment in a window, with their stored explanations."""

    metric: str
    segment: dict[str, str]
    since: dt.date | None
    until: dt.date | None
    metric_type: str  # count | ratio | gauge | query
    anomalies: list[Anomaly]
    # Where the window's changes sit instead, one place per root cause: [(segment key, anomalies)].
    elsewhere: list[tuple[str, int]] = field(default_factory=list)
    gap_days: list[dt.date] = field(default_factory=list)  # days without data (unknown) in the window
    # why ingest stored the metric's daily rows weekly or monthly ("booked monthly: values fall on the 1st")
    booking: str | None = None
    scale: str | None = None  # log | log10: the metric's values are logarithms
    flat_days: dict[str, int] = field(default_factory=dict)  # anomaly id -> days its series held one value before it
    # (days with data, days of the metric's span) in the window, when most of them are gaps
    mostly_gaps: tuple[int, int] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"anomalies": [a.to_json() for a in self.anomalies]}
        if not self.anomalies:  # where in the cube the changes of the window are instead
            out["elsewhere"] = [{"segment": segment_from_key(k), "anomalies": n} for k, n in self.elsewhere]
        if self.booking:
            out["booking"] = self.booking
        if self.mostly_gaps:  # the text's "only N of its M days have data": no anomalies says little
            out["mostly_gaps"] = {"days_with_data": self.mostly_gaps[0], "days": self.mostly_gaps[1]}
        return out


def _window(on, since, until) -> tuple[dt.date | None, dt.date | None]:
    if on is not None:
        if since is not None or until is not None:
            raise ValueError("use either 'on' or 'since'/'until', not both.")
        return on, on
    if since is not None and until is not None and until < since:
        raise CtxError(f"--until {until} is before --since {since}.")
    return since, until


def _known_metrics(store: "Store", project: "Project") -> tuple[set[str], set[str]]:
    """(metrics with scan results, every metric name we know of)."""
    scanned = scanned_metrics(store)
    return scanned, scanned | set(project.config.metrics)


def _check_names(
    store: "Store", project: "Project", metric: str, segment: dict[str, str]
) -> tuple[str, dict[str, str]]:
    """`metric` and `segment` as stored: a name that differs from one known name only in
    case (`Leads` for `leads`, `region=emea` for `EMEA`) is that name, since a user types
    what the digest shows; refused naming the known names otherwise."""
    scanned, known = _known_metrics(store, project)
    if not scanned:
        raise CtxError(NO_SCAN.format(store=project.store_path.name))
    metric = only_case_differs(metric, known)
    dims = store.dimension_names()
    segment = {only_case_differs(dim, dims): value for dim, value in segment.items()}
    if metric not in known:
        if store.has_metric(metric):
            raise CtxError(f"Metric '{metric}' has data but no scan results yet; run 'ctxmetrics scan'.")
        from ctxmetrics.timeline.read import _closest

        raise UnknownName(f"Unknown metric '{metric}'{_closest(metric, known)}; known metrics: {', '.join(sorted(known))}.")
    if metric not in scanned:  # declared in ctxmetrics.yaml only: "No anomalies" would claim it was checked
        definition = project.config.metric(metric)
        parts = [definition.numerator, definition.denominator] if definition.type == "ratio" else [metric]
        missing = [p for p in parts if definition.type != "query" and not store.has_metric(p)]
        if missing:
            raise CtxError(f"Metric '{metric}' was not scanned: no data for {' or '.join(missing)}.")
        raise CtxError(f"Metric '{metric}' has no scan results yet; run 'ctxmetrics scan'.")
    for dim in segment:
        if dim not in dims:
            from ctxmetrics.timeline.read import _closest

            raise UnknownName(
                f"'{dim}' is not a dimension of the store{_closest(dim, dims)}; dimensions: {', '.join(dims) or 'none'}."
            )
    if metric in scanned and segment:
        if not was_scanned(store, metric, segment_key(segment)):
            keys = scanned_segment_keys(store, metric)
            for dim, value in list(segment.items()):
                values = sorted({segment_from_key(k).get(dim) for k in keys} - {None})
                segment[dim] = value = only_case_differs(value, values)
                if value not in values:
                    from ctxmetrics.timeline.read import _closest

                    raise UnknownName(
                        f"{metric} has no series {dim}={value}{_closest(value, values)}; "
                        f"values of {dim}: {', '.join(values[:20]) or 'none'}."
                    )
    return metric, segment


def why(
    project: "Project",
    metric: str,
    segment: dict[str, str] | None = None,
    on: dt.date | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> WhyAnswer:
    """The stored anomalies of `metric` in `segment` ({} = the total) that overlap the
    window (`on` one day, or `since`..`until`, either open), with causes and drivers.

    Raises:
        UnknownName: unknown metric, dimension or segment value.
        CtxError: no scan results yet.
    """
    segment = dict(segment or {})
    since, until = _window(on, since, until)
    with project.store(read_only=True) as store:
        metric, segment = _check_names(store, project, metric, segment)
        if since is not None or until is not None:  # the data's span costs a scan of the store: only for a window
            data_span_of_window(store, since, until, *(("--on", "--on") if on is not None else ()))
        anomalies = load_series_anomalies(store, metric, segment_key(segment), since, until)
        elsewhere: list[tuple[str, int]] = []
        if not anomalies:
            ranked = most_important(store, metric, since, until, _PLACES_FROM)
            order = {d: i for i, d in enumerate(store.dimension_names())}
            elsewhere = [(segment_key(place, order), n) for place, n in change_places(ranked)]
        gap_days = [
            day for _, day in load_gaps(store, metric)
            if (since is None or day >= since) and (until is None or day <= until)
        ]
        booking = store.bookings([metric]).get(metric)
        mostly_gaps = _mostly_gaps(store, metric, since, until, gap_days) if gap_days and not anomalies else None
        averaged = project.config.metric(metric).averaged
        flat = {a.id: flat_days(store, metric, segment, a.start, averaged) for a in anomalies if never_varied(a)}
    return WhyAnswer(
        metric, segment, since, until, project.config.metric(metric).type, anomalies, elsewhere, gap_days, booking,
        project.config.metric(metric).scale, flat, mostly_gaps,
    )


def _mostly_gaps(store, metric: str, since, until, gap_days: list[dt.date]) -> tuple[int, int] | None:
    """(days with data, days) of the metric's stored span within the window, when fewer
    than half of them have data: "no anomalies" then says little, and `why` says so."""
    if not store.has_metric(metric):
        return None  # a ratio or a query: its span is its parts'
    _, rows = store.query_rows("select min(ts), max(ts) from obs where metric = ?", [metric])
    first, last = rows[0]
    first, last = max(first, since or first), min(last, until or last)
    days = (last - first).days + 1
    known = days - sum(first <= day <= last for day in gap_days)
    return (known, days) if days > 0 and 2 * known < days else None


def record(
    project: "Project",
    metric: str,
    segment: dict[str, str] | None,
    annotation_id: str,
    verdict: str,
    on: dt.date | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> tuple[Anomaly, str]:
    """Record that `annotation_id` is (`confirmed`) or is not (`rejected`) the cause of the
    one anomaly of `metric`/`segment` in the window. The stored anomaly is updated at once
    and every later scan honours the verdict.

    Returns:
        The updated anomaly and the annotation's title.

    Raises:
        CtxError: not exactly one anomaly in the window.
        UnknownName: no annotation with that id in the timeline.
    """
    from ctxmetrics.timeline.read import find_annotation

    answer = why(project, metric, segment, on, since, until)
    where = f"{metric} {segment_label(answer.segment)}" + _window_text(answer.since, answer.until)
    if len(answer.anomalies) != 1:
        if not answer.anomalies:
            raise CtxError(f"No anomaly of {where} to {verdict[:-2]}; pick its day with --on.")
        days = ", ".join(a.start.isoformat() for a in answer.anomalies)
        raise CtxError(
            f"{len(answer.anomalies)} anomalies of {where} (starting {days}); narrow it to one with --on DAY."
        )
    event = find_annotation(project.annotations_dir, annotation_id, project.config.timezone, project.config.event_types)
    anomaly = answer.anomalies[0]
    others = [c for c in anomaly.causes if c.annotation_id != annotation_id]
    if verdict == "confirmed":
        anomaly.causes = [Cause(event.id, event.title, event.type, 1.0, "confirmed by a person", "confirmed"), *others]
    else:
        anomaly.causes = others
    with project.store() as store:
        with store.transaction():
            record_verdict(store, anomaly.id, annotation_id, verdict)
            save_causes(store, anomaly)
    return anomaly, event.title


# ------------------------------------------------------------------------ plain text


def _window_text(since, until) -> str:
    if since and until:
        return f" on {since}" if since == until else f" between {since} and {until}"
    if since:
        return f" since {since}"
    if until:
        return f" until {until}"
    return ""


def headline(anomaly: Anomaly) -> str:
    """'Leads EMEA/paid +68% from Apr 17 to Apr 30, 2025 (temporary shift)'."""
    return f"{anomaly_head(anomaly)} {when_text(anomaly.start, anomaly.end)} ({kind_text(anomaly)})"


def format_anomaly(
    anomaly: Anomaly, metric_type: str = "count", scale: str | None = None, flat_days: int | None = None
) -> list[str]:
    """The lines `why` prints of one anomaly; `flat_days`: how long a series that never
    varied before it held its value (said instead of a score over no noise)."""
    ratio = metric_type == "ratio"
    unit = "" if metric_type in ("ratio", "gauge") else f"/{anomaly.period}"  # a gauge's level is not per day
    during = "after" if anomaly.end is None else "during"
    levels = (
        f"  {flat_text(anomaly, ratio, unit, flat_days or 0)}" if never_varied(anomaly) and scale is None else
        f"  {level_text(anomaly.before, ratio)}{unit} before, {level_text(anomaly.after, ratio)}{unit} "
        f"{during}{_log_note(anomaly, scale)}; {anomaly.score:.1f}× the usual noise"
    )
    lines = [headline(anomaly), levels]
    if anomaly.found_by == "cube":
        lines.append("  Found by checking the cube's latest days as a whole: no series of its own was flagged.")
    tagged = tagged_text(anomaly)
    if tagged:
        lines.append(f"  {tagged[0].upper()}{tagged[1:]}; the search of every window did not flag it.")
    if anomaly.causes:
        lines.append("  Likely causes:")
        for rank, cause in enumerate(anomaly.causes, 1):
            mark = " [confirmed]" if cause.verdict == "confirmed" else ""
            lines.append(f"    {rank}. {one_line(cause.title)} ({cause.type}, {cause.annotation_id}) — {cause.score:.2f}{mark}")
            lines.append(f"       {one_line(cause.reason)}")
    else:
        lines.append("  No known context.")
    where = where_text(anomaly)
    if where:
        lines.append(f"  Where: {where}")
    if anomaly.funnel:
        first, *rest = anomaly.funnel
        then = "; then " + ", ".join(
            f"{s['stage']} {day_text(dt.date.fromisoformat(s['start']), False)} ({pct_text(s['change_pct'])})" for s in rest
        ) if rest else ""
        lines.append(
            f"  Funnel: {first['stage']} moved first ({day_text(dt.date.fromisoformat(first['start']), False)}, "
            f"{pct_text(first['change_pct'])}){then}"
        )
    if anomaly.correlated:
        same = ", ".join(
            f"{c['metric']} {segment_label(c['segment'])} {pct_text(c['change_pct'])}" for c in anomaly.correlated
        )
        lines.append(f"  At the same time: {same}")
    if not anomaly.causes:
        lines.append("  To tag it:")
        lines.append(f"    {tag_command(anomaly)}")
    return lines


def format_answer(answer: WhyAnswer) -> str:
    """Plain-language text of a `why` answer, as a manager would read it."""
    where = f"{answer.metric} {segment_label(answer.segment)}{_window_text(answer.since, answer.until)}"
    if not answer.anomalies:
        lines = [f"No anomalies in {where}." if answer.mostly_gaps is None else (
            f"No anomalies in {where}, but only {answer.mostly_gaps[0]} of its {answer.mostly_gaps[1]} days "
            f"{'has' if answer.mostly_gaps[0] == 1 else 'have'} data: too few to show a change."
        )]
        if answer.elsewhere:
            places = ", ".join(f"{segment_label(segment_from_key(k))} ({_flagged(n)})" for k, n in answer.elsewhere)
            lines.append(f"Where {answer.metric} changed then: {places}.")
        return "\n".join(lines) + _gap_note(answer) + _booking_note(answer)
    blocks = [
        "\n".join(format_anomaly(a, answer.metric_type, answer.scale, answer.flat_days.get(a.id))) for a in answer.anomalies
    ]
    return terminal_text("\n\n".join(blocks)) + _gap_note(answer) + _booking_note(answer)


def _log_note(anomaly: Anomaly, scale: str | None) -> str:
    """' (natural logs: the underlying value ×6.4)' for a metric whose values are logarithms."""
    if scale is None:
        return ""
    times = log_factor(anomaly.before, anomaly.after, scale)
    words = "natural logs" if scale == "log" else "base-10 logs"
    return f" ({words}: the underlying value ×{times:.2g})" if times < 10 else f" ({words}: the underlying value ×{times:,.0f})"


def _booking_note(answer: WhyAnswer) -> str:
    """Why the metric's daily rows are judged per week or month ("" for other metrics)."""
    return f"\n\n{answer.metric} is {answer.booking}." if answer.booking else ""


def _flagged(n: int) -> str:
    """How a place of `elsewhere` was found: by n anomalies, or only in the whole cube."""
    return f"{n} anomal{'y' if n == 1 else 'ies'}" if n else "in the cube, not flagged on its own"


def _gap_note(answer: WhyAnswer) -> str:
    """A data-quality line for days without data in the window ("" when there are none)."""
    if not answer.gap_days:
        return ""
    return f"\n\nData quality: {gap_text(answer.metric, answer.gap_days)} (unknown days, not zeros)."
