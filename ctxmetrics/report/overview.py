"""`ctxmetrics status`: what a project holds and what to run next, read from the store and
the timeline without changing either: a new user's question after `init` and `ingest`
("did my file go in, as what, and is it scanned?")."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ctxmetrics.errors import CtxError

if TYPE_CHECKING:
    from ctxmetrics.project import Project

NO_DATA = "No data yet: load some with 'ctxmetrics ingest FILE'."


def project_status(project: "Project") -> list[str]:
    """The lines `status` prints: the project, each metric's rows, dimensions, the
    timeline, the last scan, and the next command to run."""
    lines = [f"Project {project.root} (timezone {project.config.timezone}, store {project.config.store})"]
    lines.append(_timeline_line(project))
    if not project.store_path.exists():
        return lines + [NO_DATA]
    with project.store(read_only=True) as store:
        if store.observation_span() is None:
            return lines + [NO_DATA]
        return lines + _data_lines(store) + _scan_lines(store)


def _timeline_line(project: "Project") -> str:
    from ctxmetrics.timeline.read import load_timeline

    try:
        events = load_timeline(project.annotations_dir, project.config.timezone, project.config.event_types)
    except CtxError:
        return "Timeline: has problems; 'ctxmetrics annotate lint' lists them."
    if not events:
        return "Timeline: no events yet; tag them with 'ctxmetrics annotate add'."
    return f"Timeline: {len(events):,} event{'s' if len(events) != 1 else ''} in {project.annotations_dir.name}/."


def _data_lines(store) -> list[str]:
    _, rows = store.query_rows(
        "select metric, count(*), min(ts), max(ts) from obs group by metric order by metric"
    )
    lines = [f"Data: {len(rows):,} metric{'s' if len(rows) != 1 else ''}:"]
    for metric, count, first, last in rows:
        rollup = store.rollup_dimensions(metric)
        kept = "" if rollup is None else f", a rollup by {', '.join(rollup) or 'nothing (a total)'}"
        lines.append(
            f"  {metric}: {store.granularity(metric)}, {count:,} row{'s' if count != 1 else ''}, "
            f"{first} to {last}{kept}"
        )
    dims = store.dimension_names()
    if dims:
        # Names, not values: identifiers cannot be parameters (ingest checked each name).
        distinct = ", ".join(f'count(distinct "{dim.replace(chr(34), chr(34) * 2)}")' for dim in dims)
        _, values = store.query_rows(f"select {distinct} from observations")
        shown = (f"{dim} ({n:,} value{'s' if n != 1 else ''})" for dim, n in zip(dims, values[0]))
        lines.append(f"Dimensions: {', '.join(shown)}.")
    return lines


def _scan_lines(store) -> list[str]:
    from ctxmetrics.store.results import has_scan_state

    if not has_scan_state(store):
        return ["Not scanned yet: run 'ctxmetrics scan'."]
    _, rows = store.query_rows(
        "select count(*), count(*) filter (where not explained), max(scanned_at) from anomalies"
    )
    anomalies, unexplained, scanned_at = rows[0]
    _, gaps = store.query_rows("select count(*) from data_gaps") if store.has_table("data_gaps") else (None, [(0,)])
    when = "" if scanned_at is None else f" ({scanned_at:%Y-%m-%d %H:%M})"
    lines = [
        f"Last scan{when}: {anomalies:,} anomal{'y' if anomalies == 1 else 'ies'}, {unexplained:,} with no known "
        f"context; {gaps[0][0]:,} day{'s' if gaps[0][0] != 1 else ''} of data gaps."
    ]
    if anomalies:
        lines.append("Next: 'ctxmetrics digest' for the report, 'ctxmetrics why METRIC --on DATE' for one change.")
    return lines
