"""Scan results in the store: anomalies, causes, verdicts, scan state, data gaps and the
annotation mirror, read and written here only (parameterised SQL). Reading is deliberately
light (no numpy, polars or ruptures): `why` and `digest` start from here."""
from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Iterable

from ctxmetrics.models.anomaly import Anomaly, importance
from ctxmetrics.models.segments import TAGGED_STATE_SUFFIX
from ctxmetrics.store.database import Store

if TYPE_CHECKING:
    from ctxmetrics.config import Config

VERDICTS = ("confirmed", "rejected")


def load_anomalies(store: Store) -> list[Anomaly]:
    """Every stored anomaly (with its causes and drivers), by start day, metric and segment."""
    return _load(store, "", None)


def _load(store: Store, where: str, params: list | None) -> list[Anomaly]:
    sql = f"select data from anomalies {('where ' + where) if where else ''} order by start_day, metric, segment_key"
    _, rows = store.query_rows(sql, params)
    return [Anomaly.from_json(json.loads(r[0])) for r in rows]


def load_anomaly(store: Store, anomaly_id: str) -> Anomaly | None:
    """One stored anomaly by its id; None when the last scan did not keep it."""
    found = _load(store, "id = ?", [anomaly_id])
    return found[0] if found else None


def load_series_anomalies(store: Store, metric: str, segment_key: str, since=None, until=None) -> list[Anomaly]:
    """The stored anomalies of one series (metric, segment key) that overlap since..until
    (either open); a level shift lasts from its start on."""
    return _load(store, *_metric_filter(metric, segment_key, since, until))


def _metric_filter(metric: str, segment_key: str | None, since, until) -> tuple[str, list]:
    """The WHERE clause (and its parameters) of a metric's anomalies overlapping a window,
    in one segment (by key) or in all of them (`segment_key` None)."""
    where, params = ["metric = ?"], [metric]
    if segment_key is not None:
        where.append("segment_key = ?")
        params.append(segment_key)
    # a level shift (end NULL) lasts from its start on
    return _overlapping(where, params, since, until, "(end_day is null or end_day >= ?)")


def load_window(store: Store, since, until) -> list[Anomaly]:
    """Stored anomalies overlapping since..until (either open), all metrics; a level shift
    counts from its start day only (the digest reports what started in the period)."""
    where, params = _overlapping([], [], since, until, "coalesce(end_day, start_day) >= ?")
    return _load(store, where, params or None)


def _overlapping(where: list[str], params: list, since, until, ends_after: str) -> tuple[str, list]:
    if until is not None:
        where.append("start_day <= ?")
        params.append(until)
    if since is not None:
        where.append(ends_after)
        params.append(since)
    return " and ".join(where), params


def most_important(store: Store, metric: str, since, until, limit: int) -> list[Anomaly]:
    """A metric's anomalies in every segment overlapping the window, by `importance`
    (largest first, then segment key), at most `limit` of them."""
    where, params = _metric_filter(metric, None, since, until)
    _, rows = store.query_rows(
        "select segment_key, score, volume, change_pct, "
        "end_day is not null or coalesce(json_extract(data, '$.on_last_period')::boolean, false), "
        "coalesce(json_extract(data, '$.records')::integer = 1, false), data "
        f"from anomalies where {where}", params
    )
    rows.sort(key=lambda r: (-importance(*r[1:6]), r[0]))
    return [Anomaly.from_json(json.loads(r[6])) for r in rows[:limit]]


def scanned_metrics(store: Store) -> set[str]:
    """Metrics with scan results (a scan state or a stored anomaly)."""
    _, rows = store.query_rows("select distinct metric from scan_state union select distinct metric from anomalies")
    return {r[0] for r in rows}


def has_scan_state(store: Store) -> bool:
    _, rows = store.query_rows("select count(*) from scan_state")
    return bool(rows and rows[0][0])


def scanned_segment_keys(store: Store, metric: str) -> list[str]:
    """Segment keys of a metric's scanned series."""
    _, rows = store.query_rows(
        "select distinct segment_key from scan_state where metric = ? and not ends_with(segment_key, ?)",
        [metric, TAGGED_STATE_SUFFIX],
    )
    return [r[0] for r in rows]


def was_scanned(store: Store, metric: str, segment_key: str) -> bool:
    _, found = store.query_rows(
        "select 1 from scan_state where metric = ? and segment_key = ? limit 1", [metric, segment_key]
    )
    return bool(found)


def data_span_of_window(store: Store, since, until, since_flag: str = "--since", until_flag: str = "--until"):
    """The stored data's (first day, last day covered: a monthly metric's last month to its
    end), None for an empty store, after refusing a report window wholly outside it: such a
    window could only say "nothing" (or point at changes of other days as if they were its
    own).

    Raises:
        CtxError: the window starts after the last day of data or ends before the first.
    """
    from ctxmetrics.errors import CtxError

    span = store.covered_span()
    if span and since and since > span[1]:
        raise CtxError(f"{since_flag} {since} is after the last day of data ({span[1]}); nothing to report.")
    if span and until and until < span[0]:
        raise CtxError(f"{until_flag} {until} is before the first day of data ({span[0]}); nothing to report.")
    return span


def load_verdicts(store: Store) -> dict[tuple[str, str], str]:
    """The latest verdict per (anomaly id, annotation id)."""
    _, rows = store.query_rows(
        "select anomaly_id, annotation_id, arg_max(verdict, recorded_at) from verdicts group by all"
    )
    return {(a, b): v for a, b, v in rows}


def load_state(store: Store) -> dict[tuple[str, str], str]:
    _, rows = store.query_rows("select metric, segment_key, fingerprint from scan_state")
    return {(m, k): f for m, k, f in rows}


def record_verdict(store: Store, anomaly_id: str, annotation_id: str, verdict: str) -> None:
    """Remember that a person confirmed or rejected a link; the next scan honours it."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}, not {verdict!r}")
    store.con.execute(
        "insert into verdicts values (?, ?, ?, ?)",
        [anomaly_id, annotation_id, verdict, dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)],
    )


def save_causes(store: Store, anomaly: Anomaly) -> None:
    """Rewrite one stored anomaly's causes (its JSON, `explained` and `anomaly_causes`)."""
    store.con.execute(
        "update anomalies set data = ?, explained = ? where id = ?",
        [json.dumps(anomaly.to_json()), anomaly.explained, anomaly.id],
    )
    store.con.execute("delete from anomaly_causes where anomaly_id = ?", [anomaly.id])
    rows = [[anomaly.id, rank, c.annotation_id, c.score, c.reason] for rank, c in enumerate(anomaly.causes, 1)]
    if rows:
        store.con.executemany("insert into anomaly_causes values (?, ?, ?, ?, ?)", rows)


def save_scan(store: Store, anomalies: list[Anomaly], metrics: list[str], state: list[tuple[str, str, str]],
              config: "Config") -> None:
    """Replace the stored anomalies and causes, and the scan state of the scanned `metrics`
    ((metric, segment key, fingerprint) rows); call inside a transaction."""
    import polars as pl

    con = store.con
    con.execute("delete from anomalies")
    con.execute("delete from anomaly_causes")
    con.execute("delete from scan_state where list_contains(?, metric)", [metrics])
    state_rows = pl.DataFrame(state, schema=[("metric", pl.Utf8), ("segment_key", pl.Utf8), ("fingerprint", pl.Utf8)], orient="row")
    for table, frame in (*result_frames(anomalies, config).items(), ("scan_state", state_rows)):
        con.register("_rows", frame)
        con.execute(f"insert into {table} select * from _rows")
        con.unregister("_rows")


def result_frames(anomalies: list[Anomaly], config: "Config") -> dict:
    """The rows of the `anomalies` and `anomaly_causes` tables, as polars frames."""
    from dataclasses import asdict

    import polars as pl

    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    settings = {m: json.dumps(asdict(config.detection_for(m))) for m in {a.metric for a in anomalies}}
    anomaly_rows = pl.DataFrame(
        [
            (
                a.id, a.metric, a.segment_key, json.dumps(a.segment), a.kind, a.direction, a.start, a.end,
                a.before, a.after, a.change_pct, a.score, a.volume, a.explained, json.dumps(a.to_json()),
                settings[a.metric], now,
            )
            for a in anomalies
        ],
        schema=[
            ("id", pl.Utf8), ("metric", pl.Utf8), ("segment_key", pl.Utf8), ("segment", pl.Utf8), ("kind", pl.Utf8),
            ("direction", pl.Utf8), ("start_day", pl.Date), ("end_day", pl.Date), ("before", pl.Float64),
            ("after", pl.Float64), ("change_pct", pl.Float64), ("score", pl.Float64), ("volume", pl.Float64),
            ("explained", pl.Boolean), ("data", pl.Utf8), ("settings", pl.Utf8), ("scanned_at", pl.Datetime("us")),
        ],
        orient="row",
    )
    cause_rows = pl.DataFrame(
        [(a.id, rank, c.annotation_id, c.score, c.reason) for a in anomalies for rank, c in enumerate(a.causes, 1)],
        schema=[("anomaly_id", pl.Utf8), ("rank", pl.Int32), ("annotation_id", pl.Utf8), ("score", pl.Float64), ("reason", pl.Utf8)],
        orient="row",
    )
    return {"anomalies": anomaly_rows, "anomaly_causes": cause_rows}


def save_gaps(store: Store, metrics: list[str], gaps: dict[str, list[dt.date]]) -> None:
    """Replace the stored data gaps (metric -> days without data) of the scanned metrics."""
    store.con.execute("delete from data_gaps where list_contains(?, metric)", [metrics])
    rows = [(metric, day) for metric, days in gaps.items() for day in days]
    if rows:
        store.con.executemany("insert into data_gaps values (?, ?)", rows)


def save_effects(store: Store, entries: list[dict]) -> None:
    """Replace the stored expected effects not seen (`scan.effects.expected_effects`)."""
    store.con.execute("delete from missing_effects")
    rows = [[i, e["annotation_id"], e["window"][0], e["window"][1], e["finding"], json.dumps(e)] for i, e in enumerate(entries)]
    if rows:
        store.con.executemany("insert into missing_effects values (?, ?, ?, ?, ?, ?)", rows)


def load_effects(store: Store) -> list[dict]:
    """The expected effects not seen that the last scan found, in timeline order; [] for a
    store scanned before they were stored."""
    if not store.has_table("missing_effects"):
        return []
    _, rows = store.query_rows("select data from missing_effects order by position")
    return [json.loads(r[0]) for r in rows]


_MIRROR_DDL = """
create or replace table annotations (
    id VARCHAR, title VARCHAR, type VARCHAR, start_ts TIMESTAMPTZ, end_ts TIMESTAMPTZ,
    first_day DATE, last_day DATE, scope JSON, metrics VARCHAR[], expect VARCHAR,
    owner VARCHAR, links VARCHAR[], tags VARCHAR[], notes VARCHAR, path VARCHAR, line INTEGER
)"""


def save_annotation_mirror(store: Store, rows: Iterable[tuple]) -> None:
    """Replace the table `annotations` (rows from `timeline.mirror_row`), in its own transaction."""
    rows = list(rows)
    with store.transaction() as con:
        con.execute(_MIRROR_DDL)
        if rows:
            con.executemany(f"insert into annotations values ({', '.join('?' * len(rows[0]))})", rows)


def load_gaps(store: Store, metric: str | None = None) -> list[tuple[str, dt.date]]:
    """(metric, day) of every data gap the last scan found, oldest first; [] for a store
    scanned before gaps were recorded."""
    if not store.has_table("data_gaps"):
        return []
    where, params = ("where metric = ?", [metric]) if metric else ("", [])
    _, rows = store.query_rows(f"select metric, day from data_gaps {where} order by day, metric", params)
    return [(m, d) for m, d in rows]


def gap_text(metric: str, days: list[dt.date]) -> str:
    """One data-quality line: "no data for leads on 2026-02-11" (runs of days joined)."""
    runs: list[list[dt.date]] = []
    for day in sorted(days):
        if runs and (day - runs[-1][-1]).days == 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    spans = [f"{r[0]}" if len(r) == 1 else f"{r[0]} to {r[-1]}" for r in runs]
    return f"no data for {metric} on {', '.join(spans)}"
