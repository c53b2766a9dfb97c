"""Reading and annotating stored scan results. Deliberately light (no numpy, polars or
ruptures): `why` and `digest` start from here."""
from __future__ import annotations

import datetime as dt
import json

from ctxmetrics.anomaly import Anomaly
from ctxmetrics.store import Store

VERDICTS = ("confirmed", "rejected")


def load_anomalies(
    store: Store, where: str = "", params: list | None = None, order: str = "start_day, metric, segment_key",
    limit: int | None = None,
) -> list[Anomaly]:
    """Stored anomalies (with their causes and drivers), optionally filtered by SQL, in
    `order` (an SQL expression of our own, never user input), at most `limit`."""
    sql = f"select data from anomalies {('where ' + where) if where else ''} order by {order}"
    if limit is not None:
        sql += f" limit {int(limit)}"
    _, rows = store.query_rows(sql, params)
    return [Anomaly.from_json(json.loads(r[0])) for r in rows]


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


def load_gaps(store: Store, metric: str | None = None) -> list[tuple[str, dt.date]]:
    """(metric, day) of every data gap the last scan found, oldest first; [] for a store
    scanned before gaps were recorded."""
    _, found = store.query_rows("select count(*) from information_schema.tables where table_name = 'data_gaps'")
    if not found[0][0]:
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
