"""Daily series from the store: every metric × segment of the dimension cube.

Leaf rows are read once per metric and pivoted into a dense (segments × days) matrix;
rollups (the total, each dimension value, each combination) are sums of leaf rows done
with a sparse indicator matrix, which is far cheaper than a SQL CUBE over the raw rows.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from itertools import combinations
from typing import Mapping

import numpy as np
import polars as pl

from ctxmetrics.config import Config
from ctxmetrics.errors import UnknownName
from ctxmetrics.queries import resolve_query
from ctxmetrics.segments import segment_key
from ctxmetrics.store import Store, quote_ident

NONE_LABEL = "(none)"


@dataclass
class SeriesSet:
    """All daily series of one metric. Row i is segment `segments[i]`; column j is day
    `start + j`. For ratios `values` holds numerators and `denominators` the denominators."""

    metric: str
    kind: str  # count | ratio | gauge
    start: dt.date
    segments: list[dict[str, str]]
    values: np.ndarray
    denominators: np.ndarray | None = None

    def __post_init__(self):
        self.keys = [segment_key(s) for s in self.segments]
        self._rows = {k: i for i, k in enumerate(self.keys)}

    @property
    def days(self) -> int:
        return self.values.shape[1]

    def day(self, index: int) -> dt.date:
        return self.start + dt.timedelta(days=int(index))

    def day_index(self, day: dt.date) -> int:
        return (day - self.start).days

    def row(self, segment: Mapping[str, str]) -> int | None:
        return self._rows.get(segment_key(segment))

    def level(self, row: int) -> np.ndarray:
        """The series as a person reads it: counts, or the rate for a ratio."""
        if self.denominators is None:
            return self.values[row]
        with np.errstate(divide="ignore", invalid="ignore"):
            den = self.denominators[row]
            return np.where(den > 0, self.values[row] / np.where(den > 0, den, 1), np.nan)


def metric_names(store: Store, config: Config) -> list[str]:
    """Every metric that can be scanned: stored ones plus ratio/query metrics of the config."""
    stored = set(store.metric_names())
    names = set(stored)
    for name, metric in config.metrics.items():
        if metric.type == "ratio" and {metric.numerator, metric.denominator} <= stored:
            names.add(name)
        elif metric.type == "query":
            names.add(name)
    return sorted(names)


def build_series_set(store: Store, config: Config, metric: str, queries_dir=None) -> SeriesSet | None:
    """Every segment's daily series of `metric`; None when there is no data for it."""
    definition = config.metric(metric)
    if definition.type == "query":
        return _query_set(store, metric, resolve_query(queries_dir, definition.query))
    dims = store.dimension_names()
    parts = [definition.numerator, definition.denominator] if definition.type == "ratio" else [metric]
    leaves = _read_leaves(store, parts, dims)
    if leaves is None:
        return None
    labels, which, leaf, day, value, start, days = leaves
    agg = "mean" if definition.type == "gauge" else "sum"
    cubes = []
    for part in range(len(parts)):
        chosen = which == part
        cubes.append(_cube(labels, dims, _dense(leaf[chosen], day[chosen], value[chosen], labels.height, days), agg))
    kind = {"ratio": "ratio", "gauge": "gauge"}.get(definition.type, "count")
    return SeriesSet(metric, kind, start, cubes[0][0], cubes[0][1], cubes[1][1] if kind == "ratio" else None)


def _read_leaves(store: Store, metrics: list[str], dims: list[str]):
    """Leaf labels and (metric, leaf, day, value) arrays of the given metrics.

    Leaves are numbered in SQL so that only numbers cross into Python: with 100k
    segments, shipping their labels on every row would dominate the scan. Rows are not
    grouped in SQL either; `_dense` sums repeated keys far faster.
    """
    labelled = "".join(f", coalesce({quote_ident(d)}, '{NONE_LABEL}') as {quote_ident(d)}" for d in dims)
    dim_list = ", ".join(quote_ident(d) for d in dims)
    in_metrics = ", ".join("?" for _ in metrics)
    source = f"(select metric, ts, value{labelled} from obs where metric in ({in_metrics}))"
    start, end = store.query_rows(f"select min(ts), max(ts) from {source}", metrics)[1][0]
    if start is None:
        return None
    if dims:
        leaves_sql = (
            f"select row_number() over (order by {dim_list}) - 1 as leaf, * from (select distinct {dim_list} from {source})"
        )
        join = f"join leaves using ({dim_list})"
        labels = store.query_df(f"{leaves_sql} order by leaf", metrics)
    else:
        leaves_sql, join = "select 0 as leaf", "cross join leaves"
        labels = store.query_df(f"{leaves_sql}")
    arrays = store.con.execute(
        f"with leaves as ({leaves_sql}) select (case s.metric {' '.join(f'when ? then {i}' for i in range(len(metrics)))} end) as which, "
        f"leaves.leaf::bigint as leaf, (s.ts - ?::date)::bigint as day, s.value from {source} s {join}",
        [*(metrics if dims else []), *metrics, start, *metrics],
    ).fetchnumpy()
    return (
        labels,
        np.asarray(arrays["which"], dtype=np.int64),
        np.asarray(arrays["leaf"], dtype=np.int64),
        np.asarray(arrays["day"], dtype=np.int64),
        np.asarray(arrays["value"], dtype=np.float64),
        start,
        (end - start).days + 1,
    )


def _dense(leaf: np.ndarray, day: np.ndarray, value: np.ndarray, leaves: int, days: int) -> np.ndarray:
    """(leaves × days) matrix of summed values; NaN where a leaf has no row that day."""
    flat = leaf * days + day
    sums = np.bincount(flat, weights=value, minlength=leaves * days)
    seen = np.bincount(flat, minlength=leaves * days)
    return np.where(seen > 0, sums, np.nan).reshape(leaves, days)


def _cube(labels: pl.DataFrame, dims: list[str], matrix: np.ndarray, agg: str):
    """Every rollup of the leaf matrix: the total, each dimension value, each combination."""
    if agg == "sum":  # a missing day of a count is a day with nothing in it
        matrix = np.nan_to_num(matrix, nan=0.0)
    segments, blocks = [], []
    for size in range(len(dims) + 1):
        for group in combinations(dims, size):
            seg, block = _rollup(labels, matrix, list(group), agg)
            segments += seg
            blocks.append(block)
    return segments, np.vstack(blocks)


def _rollup(labels: pl.DataFrame, matrix: np.ndarray, group: list[str], agg: str):
    """Aggregate leaf rows into one row per distinct value combination of `group`."""
    from scipy import sparse

    if group:
        ids = labels.select(pl.struct(group).rank("dense").cast(pl.Int64).sub(1).alias("g"), *group)
        names = ids.unique("g").sort("g")
        gid = ids["g"].to_numpy()
        segments = [dict(zip(group, row)) for row in names.select(group).iter_rows()]
    else:
        gid = np.zeros(labels.height, dtype=np.int64)
        segments = [{}]
    indicator = sparse.csr_matrix((np.ones(len(gid)), (gid, np.arange(len(gid)))), shape=(len(segments), len(gid)))
    if agg == "sum":
        return segments, np.asarray(indicator @ matrix)
    present = ~np.isnan(matrix)
    totals = np.asarray(indicator @ np.nan_to_num(matrix))
    counts = np.asarray(indicator @ present.astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        return segments, np.where(counts > 0, totals / counts, np.nan)


def _query_set(store: Store, metric: str, sql: str) -> SeriesSet | None:
    """A metric defined by SQL returning `ts, value` and optional dimension columns;
    each distinct dimension combination is one series, taken as given (no rollup)."""
    frame = store.query_df(sql)
    missing = {"ts", "value"} - set(frame.columns)
    if missing:
        raise UnknownName(f"query metric '{metric}': its SQL must return columns ts and value (missing {', '.join(sorted(missing))}).")
    if frame.height == 0:
        return None
    dims = [c for c in frame.columns if c not in ("ts", "value")]
    frame = frame.with_columns(pl.col("ts").cast(pl.Date), pl.col("value").cast(pl.Float64), *(pl.col(d).cast(pl.Utf8) for d in dims))
    start, end = frame["ts"].min(), frame["ts"].max()
    keyed = frame.with_columns(
        (pl.struct(dims).rank("dense").cast(pl.Int64) - 1 if dims else pl.lit(0, pl.Int64)).alias("_row"),
        (pl.col("ts") - pl.lit(start)).dt.total_days().cast(pl.Int64).alias("_day"),
    )
    labels = keyed.select("_row", *dims).unique("_row").sort("_row")
    matrix = np.full((labels.height, (end - start).days + 1), np.nan)
    matrix[keyed["_row"].to_numpy(), keyed["_day"].to_numpy()] = keyed["value"].to_numpy()
    segments = [dict(zip(dims, row)) for row in labels.select(dims).iter_rows()]
    return SeriesSet(metric, "gauge", start, segments, matrix)


def load_series(store: Store, config: Config, metric: str, segment: Mapping[str, str]) -> pl.DataFrame:
    """One daily series (ts, value) of a metric rolled up to `segment`, without building
    the whole cube: what notebooks and charts need."""
    definition = config.metric(metric)
    dims = store.dimension_names()
    unknown = [d for d in segment if d not in dims]
    if unknown:
        raise UnknownName(f"'{unknown[0]}' is not a dimension of the store (dimensions: {', '.join(dims) or 'none'}).")
    if definition.type == "ratio":
        num = _segment_sums(store, definition.numerator, segment)
        den = _segment_sums(store, definition.denominator, segment)
        frame = den.join(num, on="ts", how="left", suffix="_num").fill_null(0.0)
        return frame.select("ts", pl.when(pl.col("value") > 0).then(pl.col("value_num") / pl.col("value")).alias("value"))
    if definition.type == "query":
        raise UnknownName(f"'{metric}' is a query metric; read it with project.query('{definition.query}').")
    return _segment_sums(store, metric, segment, agg="avg" if definition.type == "gauge" else "sum")


def _segment_sums(store: Store, metric: str, segment: Mapping[str, str], agg: str = "sum") -> pl.DataFrame:
    where = ["metric = ?"] + [f"coalesce({quote_ident(d)}, '{NONE_LABEL}') = ?" for d in segment]
    frame = store.query_df(
        f"select ts, {agg}(value) as value from obs where {' and '.join(where)} group by ts order by ts",
        [metric, *segment.values()],
    )
    if frame.height == 0:
        return frame
    days = pl.DataFrame({"ts": pl.date_range(frame["ts"].min(), frame["ts"].max(), eager=True)})
    filled = days.join(frame, on="ts", how="left")
    return filled.fill_null(0.0) if agg == "sum" else filled
