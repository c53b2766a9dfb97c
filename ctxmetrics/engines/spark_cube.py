"""Spark SQL for the cube of segments: the same series the local engine builds
(ctxmetrics.series), one dense row per segment.

Leaves (one per distinct combination of every dimension, NULL labelled "(none)") are
summed per day first; the rollups are GROUPING SETS over the leaves, one set per
combination of dimensions as the local scan builds them (the total, each dimension, each
pair, ...). Counts and ratio parts are sums of leaves, gauges the mean of the leaves that
have a value that day. Each segment is then pivoted to one array over the metric's date
range: a missing day is 0 for sums and NaN for gauges, as locally.
"""
from __future__ import annotations

import datetime as dt
from itertools import combinations

from ctxmetrics.series import NONE_LABEL

DIM_PREFIX = "d_"  # dimension columns are renamed d_0, d_1, ...: any name in the data is safe


def quote(name: str) -> str:
    """A Spark SQL identifier."""
    return "`" + name.replace("`", "``") + "`"


def dim_columns(dims: list[str]) -> list[str]:
    return [f"{DIM_PREFIX}{i}" for i in range(len(dims))]


def cube_sql(view: str, dims: list[str], kind: str, start: dt.date, days: int) -> str:
    """One row per segment: the d_i columns (NULL where the segment does not fix that
    dimension), `segment_key` as `segments.segment_key` writes it, `values` and, for
    ratios, `denominators` (arrays of `days` doubles from `start`).

    Parameters (named): `num` (the metric, or a ratio's numerator) and, for ratios, `den`.
    """
    cols = dim_columns(dims)
    labelled = "".join(f", coalesce(cast({quote(d)} as string), '{NONE_LABEL}') as {c}" for d, c in zip(dims, cols))
    parts = ":num, :den" if kind == "ratio" else ":num"
    source = f"select metric, ts, value{labelled} from {view} where metric in ({parts})"
    leaf_keys = "".join(f"{c}, " for c in cols)
    day = f"datediff(ts, date'{start.isoformat()}')"
    if kind == "ratio":
        leaf_values = (
            "sum(case when metric = :num then value else 0d end) as v, "
            "sum(case when metric = :den then value else 0d end) as den"
        )
    else:
        leaf_values = "sum(value) as v"
    leaves = f"select {leaf_keys}{day} as day, {leaf_values} from ({source}) s group by {leaf_keys}ts"
    sets = ", ".join(
        "(" + ", ".join(["day", *group]) + ")" for size in range(len(cols) + 1) for group in combinations(cols, size)
    )
    agg = "avg(v)" if kind == "gauge" else "sum(v)"
    cell_values = f"{agg} as v" + (", sum(den) as den" if kind == "ratio" else "")
    cells = f"select {leaf_keys}day, {cell_values} from ({leaves}) l group by grouping sets ({sets})"
    fill = "double('NaN')" if kind == "gauge" else "0d"

    def dense(column: str) -> str:
        return (
            f"transform(sequence(0, {days - 1}), i -> coalesce(try_element_at("
            f"map_from_entries(collect_list(struct(day, {column}))), i), {fill}))"
        )

    # segment_key: "dim=value" of the fixed dimensions, sorted by name, comma-joined
    by_name = sorted(range(len(dims)), key=lambda i: dims[i])
    pairs = ", ".join(f"if({cols[i]} is null, null, concat('{_literal(dims[i])}=', {cols[i]}))" for i in by_name)
    key = f"concat_ws(',', {pairs})" if dims else "''"
    arrays = f"{dense('v')} as `values`" + (f", {dense('den')} as denominators" if kind == "ratio" else "")
    group = f" group by {', '.join(cols)}" if cols else ""
    return f"select {leaf_keys}{key} as segment_key, {arrays} from ({cells}) c{group}"


def span_sql(view: str) -> str:
    """Per metric: first day, last day (the date range of its series)."""
    return f"select metric, min(ts) as first, max(ts) as last from {view} group by metric"


def _literal(text: str) -> str:
    """Text inside a single-quoted Spark SQL string literal."""
    return text.replace("\\", "\\\\").replace("'", "\\'")
