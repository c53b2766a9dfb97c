"""Spark SQL for the cube of segments: the same series the local engine builds
(ctxmetrics.store.series), one dense row per segment.

Leaves (one per distinct combination of every dimension, NULL labelled "(none)") are
summed per day first; the rollups are GROUPING SETS over the leaves, one set per
combination of dimensions as the local scan builds them (the total, each dimension, each
pair, ...). Counts, amounts and ratio parts are sums of leaves, gauges the mean of the
leaves that have a value that day. Each segment is then pivoted to one array over the metric's date
range (in the Python workers: a lookup per day in a Spark map is a scan of its keys): a
missing day is 0 for sums and NaN for gauges, as locally.
"""
from __future__ import annotations

import datetime as dt
from itertools import combinations

from ctxmetrics.store.series import NONE_LABEL

DIM_PREFIX = "d_"  # dimension columns are renamed d_0, d_1, ...: any name in the data is safe


def quote(name: str) -> str:
    """A Spark SQL identifier."""
    return "`" + name.replace("`", "``") + "`"


def dim_columns(dims: list[str]) -> list[str]:
    return [f"{DIM_PREFIX}{i}" for i in range(len(dims))]


def cube_sql(
    view: str, dims: list[str], metrics: list[tuple[str, str, list[str], dt.date, int]], ends_only: bool = False
) -> tuple[str, dict]:
    """One row per metric and segment: `metric`, the d_i columns (NULL where the segment
    does not fix that dimension), `segment_key` as `segments.segment_key` writes it, and
    `cells`: the days that have data, as (day index, value, denominator) structs, which
    `bucket_detect.matrices` spreads into the dense series.

    `metrics`: (name, kind, parts, first day, days) per metric, kind as
    `MetricJob.rollup_kind` (gauges averaged, the rest summed); parts are the stored
    metrics it reads (a ratio's numerator and denominator); only those days are read.
    `ends_only`: the total and the leaves, not the rollups between (what the checks of the
    whole cube read). Returns (sql, named parameters). All metrics go through one
    aggregation, so the cost does not grow with their number.
    """
    cols = dim_columns(dims)
    labelled = "".join(f", coalesce(cast({quote(d)} as string), '{NONE_LABEL}') as {c}" for d, c in zip(dims, cols))
    args: dict[str, str] = {}
    sources, starts, lengths = [], [], []
    for i, (name, kind, parts, start, days) in enumerate(metrics):
        args[f"m{i}"] = name
        if kind == "ratio":
            args[f"n{i}"], args[f"d{i}"] = parts
            v = f"case when metric = :n{i} then value else 0d end"
            den = f"case when metric = :d{i} then value else 0d end"
            where = f"metric in (:n{i}, :d{i})"
        else:
            args[f"n{i}"] = parts[0]
            v, den, where = "value", "0d", f"metric = :n{i}"
        last = start + dt.timedelta(days=days - 1)
        where += f" and ts between date'{start.isoformat()}' and date'{last.isoformat()}'"
        sources.append(f"select :m{i} as metric, ts, {v} as v, {den} as den{labelled} from {view} where {where}")
        starts.append(f"when :m{i} then date'{start.isoformat()}'")
        lengths.append(f"when :m{i} then {days}")
    gauges = _among([f":m{i}" for i, m in enumerate(metrics) if m[1] == "gauge"])
    keys = "".join(f", {c}" for c in cols)
    source = " union all ".join(sources)
    leaves = (
        f"select metric{keys}, datediff(ts, case metric {' '.join(starts)} end) as day, sum(v) as v, sum(den) as den "
        f"from ({source}) s group by metric{keys}, ts"
    )
    groups = [g for size in range(len(cols) + 1) for g in combinations(cols, size)]
    if ends_only:
        groups = list(dict.fromkeys([(), tuple(cols)]))  # one set when there is no dimension
    sets = ", ".join("(" + ", ".join(["metric", "day", *group]) + ")" for group in groups)
    # a gauge's rollup is the mean of the leaves with a value that day; the rest are sums
    cells = (
        f"select metric{keys}, day, if(metric {gauges}, sum(v) / count(v), sum(v)) as v, sum(den) as den "
        f"from ({leaves}) l group by grouping sets ({sets})"
    )
    # segment_key: "dim=value" of the fixed dimensions, sorted by name, comma-joined
    by_name = sorted(range(len(dims)), key=lambda i: dims[i])
    pairs = ", ".join(f"if({cols[i]} is null, null, concat('{_literal(dims[i])}=', {cols[i]}))" for i in by_name)
    key = f"concat_ws(',', {pairs})" if dims else "''"
    sql = (
        f"select metric{keys}, {key} as segment_key, collect_list(struct(day, v, den)) as cells "
        f"from ({cells}) c group by metric{keys}"
    )
    return sql, args


def _among(params: list[str]) -> str:
    """`in (...)` over the given parameters; never true for none."""
    return f"in ({', '.join(params)})" if params else "in (null)"


def span_sql(view: str) -> str:
    """Per metric: first day, last day (the date range of its series)."""
    return f"select metric, min(ts) as first, max(ts) as last from {view} group by metric"


def _literal(text: str) -> str:
    """Text inside a single-quoted Spark SQL string literal."""
    return text.replace("\\", "\\\\").replace("'", "\\'")
