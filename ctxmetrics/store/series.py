"""Series from the store, one point per day, week or month (the metric's stored
granularity): every metric × segment of the dimension cube.

Leaf rows are read once per metric, streamed, and summed into the leaf rows of one dense
(segments × days) matrix; the other rollups (the total, each dimension value, each
combination) are sums of leaf rows done with a sparse indicator matrix, which is far
cheaper than a SQL CUBE over the raw rows.
"""
from __future__ import annotations

import datetime as dt
import mmap
from concurrent.futures import ThreadPoolExecutor
from itertools import combinations
from typing import Mapping, Sequence

import numpy as np
import polars as pl

from ctxmetrics.models import periods
from ctxmetrics.config import Config
from ctxmetrics.errors import CtxError, UnknownName
from ctxmetrics.models.series import SeriesSet
from ctxmetrics.store.database import Store, quote_ident
from ctxmetrics.store.queries import resolve_query
from ctxmetrics.wording import closest_name

NONE_LABEL = "(none)"


def metric_names(store: Store, config: Config, stored: set[str] | None = None) -> list[str]:
    """Every metric that can be scanned: stored ones plus ratio/query metrics of the config.
    `stored`: the store's metric names when the caller has read them already (a whole
    scan of the observations each time)."""
    stored = set(store.metric_names()) if stored is None else stored
    incomplete = incomplete_ratios(config, stored)
    names = stored | {n for n, m in config.metrics.items() if m.type == "query" or (m.type == "ratio" and n not in incomplete)}
    return sorted(names)


def fractional_counts(store: Store, config: Config, metrics: Sequence[str] = ()) -> list[str]:
    """Stored metrics judged as counts (declared so, or not declared at all) whose values
    are not all whole numbers: levels such as a temperature or a share, which a count's
    likelihood misjudges. Only `metrics` when given."""
    counts = [m for m in (metrics or store.metric_names()) if config.metric(m).type == "count"]
    if not counts:
        return []
    _, rows = store.query_rows(
        "select distinct metric from obs where list_contains(?, metric) and value <> floor(value) order by 1", [counts]
    )
    return [row[0] for row in rows]


def incomplete_ratios(config: Config, present: set[str]) -> dict[str, list[str]]:
    """Ratio metrics of the config that cannot be scanned: name -> its parts with no data."""
    ratios = {name: (m.numerator, m.denominator) for name, m in config.metrics.items() if m.type == "ratio"}
    return {name: missing for name, parts in ratios.items() if (missing := [p for p in parts if p not in present])}


def build_series_set(store: Store, config: Config, metric: str, queries_dir=None) -> SeriesSet | None:
    """Every segment's series of `metric` at its stored granularity; None when there is
    no data for it."""
    definition = config.metric(metric)
    if definition.type == "query":
        return _query_set(store, metric, resolve_query(queries_dir, definition.query))
    parts = [definition.numerator, definition.denominator] if definition.type == "ratio" else [metric]
    # a separate rollup (`ingest --as-rollup`) has only its own dimensions, not the store's
    dims = store.rollup_dimensions(parts[0])
    if dims is None:
        dims = store.dimension_names()
    granularity = metric_granularity(store, config, metric)
    leaves = _leaf_labels(store, parts, dims, granularity)
    if leaves is None:
        return None
    labels, start, days = leaves
    groups = [_group_ids(labels, list(g)) for size in range(len(dims) + 1) for g in combinations(dims, size)]
    segments = [seg for seg_list, _ in groups for seg in seg_list]
    # the last group (all dimensions) has one segment per leaf: leaves are summed straight
    # into those rows of the cube, and every other rollup is computed from them
    leaf_rows = len(segments) - len(groups[-1][0]) + groups[-1][1]
    gauge = definition.averaged
    # the gaps query runs on its own cursor while the leaves stream: DuckDB's threads
    # would otherwise idle while this thread adds each batch into the cube
    with store.beside() as other, ThreadPoolExecutor(1) as pool:
        gaps = None if gauge else pool.submit(data_gaps, other, parts, start, days, granularity)
        cubes = _read_leaves(
            store, parts, dims, labels.with_columns(_row=leaf_rows), len(segments), start, days, gauge, granularity
        )
        for cube in cubes:
            _fill_rollups(cube, groups, "mean" if gauge else "sum")
        gaps = None if gaps is None else gaps.result()
    kind = definition.series_kind
    if definition.type == "amount":
        unknown_on_gaps(cubes[0], gaps)
    return SeriesSet(metric, kind, start, segments, cubes[0], cubes[1] if kind == "ratio" else None, gaps, granularity)


def unknown_on_gaps(values: np.ndarray, gaps: np.ndarray | None) -> None:
    """Set an amount's data gaps to NaN in its (segments × periods) matrix: summed like a
    count (a segment without a row is 0), it is judged as a gauge, whose readers take a
    missing value as NaN; so every reader (the detector, the cube's drivers, `too_small`)
    sees the gap as unknown, on both engines."""
    if gaps is not None and gaps.any():
        values[:, gaps] = np.nan


def metric_granularity(store: Store, config: Config, metric: str) -> str:
    """`daily`, `weekly`, `monthly`, `quarterly` or `yearly`: the granularity of a metric's stored rows (a ratio's
    two counts must agree); query metrics are daily."""
    definition = config.metric(metric)
    if definition.type == "query":
        return "daily"
    parts = [definition.numerator, definition.denominator] if definition.type == "ratio" else [metric]
    found = {store.granularity(p) for p in parts}
    if len(found) > 1:
        raise CtxError(
            f"ratio metric '{metric}' divides {parts[0]} ({store.granularity(parts[0])}) by "
            f"{parts[1]} ({store.granularity(parts[1])}); both must have the same granularity."
        )
    return found.pop()


_GAP_ZERO_CHANCE = 0.01  # a day without rows is a gap when a zero total would be this unlikely


def data_gaps(store: Store, metrics: list[str], start: dt.date, days: int, granularity: str = "daily") -> np.ndarray:
    """Periods (True) in which data is missing for any of `metrics`, not zero.

    A period without a single row in the whole store is a gap. So is a period without rows
    for one metric whose total is too large to be zero by chance (Poisson chance of a
    zero period below 1% at its median period); for a small metric (~3 won a day) such a
    day is a quiet day and stays 0. Segments without a row in a period that has rows are 0.
    """
    in_metrics = ", ".join("?" for _ in metrics)
    _, rows = store.query_rows(
        f"select ts, sum(value) filter (where metric in ({in_metrics})), count(*) filter (where metric in ({in_metrics})) "
        "from obs where ts between ? and ? group by ts",
        [*metrics, *metrics, start, periods.last_day(start, days - 1, granularity)],
    )
    return gaps_from_days(rows, start, days, granularity)


def gaps_from_days(rows, start: dt.date, days: int, granularity: str = "daily") -> np.ndarray:
    """`data_gaps` from (day, the metrics' total, their row count) of every day that has any
    row at all in the data, summed into the `days` periods from `start`; every engine
    judges gaps with this one rule."""
    any_rows, own_rows, total = np.zeros(days, bool), np.zeros(days, bool), np.zeros(days)
    for ts, value, count in rows:
        i = periods.index(ts, start, granularity)
        if 0 <= i < days:
            any_rows[i] = True
            own_rows[i] |= count > 0
            total[i] += value or 0.0
    gaps = ~any_rows
    if any_rows.any() and np.exp(-np.median(total[any_rows])) < _GAP_ZERO_CHANCE:
        gaps |= ~own_rows
    return gaps


def reported_gaps(series_set: SeriesSet) -> np.ndarray | None:
    """The periods `scan` reports as data gaps: `series_set.gaps`, or for a gauge (whose
    missing days are unknown in its series already, NaN, never 0) the periods without a
    row of it, so a gauge's missing days are named as data quality like a count's."""
    if series_set.gaps is not None or series_set.kind != "gauge":
        return series_set.gaps
    return np.isnan(series_set.values[0])  # the total: NaN where no segment has a row


def periods_without_rows(rows, metrics: list[str], start: dt.date, days: int) -> np.ndarray:
    """`reported_gaps` of a daily gauge from (day, metric, total, row count) of every day
    that has any row (the Spark engine's per-day totals)."""
    own = np.zeros(days, bool)
    for ts, metric, _, count in rows:
        i = periods.index(ts, start, "daily")
        if metric in metrics and count and 0 <= i < days:
            own[i] = True
    return ~own


_READ_BATCH_ROWS = 1 << 21  # rows per Arrow batch: ~32 MB at a time instead of the whole result


def _source_sql(metrics: list[str], dims: list[str]) -> str:
    """Rows of the given metrics with NULL dimension values labelled (params: the metrics)."""
    labelled = "".join(f", coalesce({quote_ident(d)}, '{NONE_LABEL}') as {quote_ident(d)}" for d in dims)
    in_metrics = ", ".join("?" for _ in metrics)
    return f"(select metric, ts, value{labelled} from obs where metric in ({in_metrics}))"


def _leaf_labels(store: Store, metrics: list[str], dims: list[str], granularity: str):
    """(labels, first day, number of periods) of the given metrics; None without data.

    `labels` numbers the leaves (distinct dimension combinations) in `leaf`, in sorted
    order.
    """
    source = _source_sql(metrics, dims)
    # the range of every leaf at once: per-leaf min/max in the group-by doubled its CPU
    start, end = store.query_rows(f"select min(ts), max(ts) from {source}", metrics)[1][0]
    if start is None:
        return None
    if not dims:
        labels = pl.DataFrame({"leaf": [0]}, schema={"leaf": pl.Int64})
    else:
        dim_list = ", ".join(quote_ident(d) for d in dims)
        frame = store.query_df(
            f"select row_number() over (order by {dim_list}) - 1 as leaf, * from "
            f"(select distinct {dim_list} from {source}) order by leaf",
            metrics,
        )
        labels = frame.with_columns(pl.col("leaf").cast(pl.Int64))
    if granularity in periods.MONTHS:
        start = periods.first_day(start, 0, granularity)
    return labels, start, periods.count(start, end, granularity)


def _read_leaves(
    store: Store, metrics: list[str], dims: list[str], labels: pl.DataFrame, rows: int, start, days: int, gauge: bool,
    granularity: str,
):
    """Per metric a (rows × periods) cube whose leaf rows (`labels["_row"]`) hold the summed
    values; the other rows are left for `_fill_rollups`.

    Only a cell number (metric, cube row and day folded into one int64 in SQL) and the
    value cross into Python, streamed in Arrow batches and added as they come: the whole
    result at once took gigabytes at 100k leaves. A missing day is 0 for sums; gauges
    (`gauge`) are NaN where a leaf has no row that day.
    """
    cells = rows * days
    # each metric's own block of cells; one metric needs no CASE per row (~20% of the read's CPU)
    offset, offset_params = "", []
    if len(metrics) > 1:
        which = " ".join(f"when ? then {i * cells}" for i in range(len(metrics)))
        offset, offset_params = f"(case s.metric {which} end) + ", metrics
    if dims:
        join = f"join _ctxmetrics_leaves l using ({', '.join(quote_ident(d) for d in dims)})"
        store.con.register("_ctxmetrics_leaves", labels.select("_row", *dims).to_arrow())
    else:
        join = "cross join (select 0::bigint as _row) l"
    sql = (
        f"select {offset}l._row * {days} + {periods.sql_index('s.ts', granularity)}::bigint as cell, s.value "
        f"from {_source_sql(metrics, dims)} s {join}"
    )
    sums = _populated_zeros(len(metrics) * cells)
    seen = np.zeros(len(metrics) * cells, dtype=np.int32) if gauge else None
    try:
        # the relation API streams; an Arrow reader on an execute() result copies all rows first
        reader = store.con.sql(sql, params=[*offset_params, start, *metrics]).to_arrow_reader(_READ_BATCH_ROWS)
        for batch in reader:
            _accumulate(_column_values(batch.column(0)), _column_values(batch.column(1)), sums, seen)
    finally:
        if dims:
            store.con.unregister("_ctxmetrics_leaves")
    if gauge:  # the mean of a period's rows (one per day, or per week/month); NaN where none
        with np.errstate(invalid="ignore"):
            sums /= seen
    elif not np.isfinite(np.sum(sums)):  # a NaN or infinite sum of a count becomes a number
        np.nan_to_num(sums, copy=False)  # (a full pass over the matrix, so only when needed)
    return [sums[i * cells : (i + 1) * cells].reshape(rows, days) for i in range(len(metrics))]


def _populated_zeros(size: int) -> np.ndarray:
    """np.zeros(size), its 4 KB pages mapped by the kernel in one call (every cell is
    written anyway). numpy advises huge pages for a large array, and where memory is
    fragmented their first touch compacts it: the 100k cube's first adds took 0.6-1.2 s
    of the build in huge pages against ~0.2 s populated."""
    if size == 0 or not hasattr(mmap, "MAP_POPULATE"):
        return np.zeros(size)
    pages = mmap.mmap(-1, size * 8, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | mmap.MAP_POPULATE)  # zeroed
    return np.frombuffer(pages, dtype=np.float64)


# Arrow types of the read's two columns (the cell number and the value) and their numpy dtypes
_PLAIN_ARROW = {"int64": np.int64, "double": np.float64}


def _column_values(column) -> np.ndarray:
    """An Arrow column of the read as numpy: a view of its data buffer, the very array
    `to_numpy()` returns for a column without nulls, without its first call importing
    pandas (pyarrow's conversion layer: ~0.3-0.4 s of CPU, ~0.7 s wall, in the cube build
    before the workers fork). Other columns take `to_numpy()`."""
    dtype = _PLAIN_ARROW.get(str(column.type))
    if dtype is None or column.null_count:
        return column.to_numpy()
    size = np.dtype(dtype).itemsize
    return np.frombuffer(column.buffers()[1], dtype=dtype, count=len(column), offset=column.offset * size)


def _accumulate(cell: np.ndarray, value: np.ndarray, sums: np.ndarray, seen: np.ndarray | None) -> None:
    """Add one batch of (cell, value) rows into `sums` (and row counts into `seen`).

    np.add.at, not bincount: DuckDB's parallel scan interleaves row groups, so every
    batch spans nearly the whole matrix and a bincount per batch would build (and add) a
    matrix-sized array each time, 4x slower at 100k leaves.
    """
    np.add.at(sums, cell, value)
    if seen is not None:
        np.add.at(seen, cell, 1)


def _group_ids(labels: pl.DataFrame, group: list[str]) -> tuple[list[dict[str, str]], np.ndarray]:
    """Segments of `group` (one per distinct value combination) and each leaf's segment number."""
    if not group:
        return [{}], np.zeros(labels.height, dtype=np.int64)
    ids = labels.select(pl.struct(group).rank("dense").cast(pl.Int64).sub(1).alias("g"), *group)
    names = ids.unique("g").sort("g")
    return [dict(zip(group, row)) for row in names.select(group).iter_rows()], ids["g"].to_numpy()


def _fill_rollups(cube: np.ndarray, groups, agg: str) -> None:
    """Fill every group's rows of `cube` but the last (the leaves, already filled):
    sums (`agg="sum"`) or means over the present leaves (`"mean"`) of each segment's leaves."""
    from scipy import sparse

    leaf_segments, leaf_row = groups[-1]
    leaves = cube[len(cube) - len(leaf_segments) :]
    if agg == "mean":
        present = (~np.isnan(leaves)).astype(float)
        leaves = np.nan_to_num(leaves)
    row = 0
    for segments, gid in groups[:-1]:
        # segment x leaf-row indicator: leaf i (label order) sits in leaf row leaf_row[i]
        indicator = sparse.csr_matrix((np.ones(len(gid)), (gid, leaf_row)), shape=(len(segments), len(leaves)))
        out = cube[row : row + len(segments)]
        if agg == "sum":
            out[:] = indicator @ leaves
        else:
            totals, counts = indicator @ leaves, indicator @ present
            with np.errstate(invalid="ignore", divide="ignore"):
                out[:] = np.where(counts > 0, totals / counts, np.nan)
        row += len(segments)


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
    """One series (ts, value) of a metric rolled up to `segment`, one row per day (or week
    or month: its granularity), without building the whole cube: what notebooks and
    charts need."""
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
    if definition.type == "amount":
        return _without_unrecorded_periods(store, metric, _segment_sums(store, metric, segment))
    return _segment_sums(store, metric, segment, agg="avg" if definition.averaged else "sum")


def _without_unrecorded_periods(store: Store, metric: str, frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` (an amount's sums) with null, not 0, in the periods without a row of the
    metric in any segment: an amount has no natural zero day (a refund can even make a
    day negative), so a period nothing was recorded in is unknown."""
    if frame.height == 0:
        return frame
    part = _CALENDAR_PERIOD.get(store.granularity(metric))
    period = "ts" if part is None else f"date_trunc('{part}', ts)::date"
    _, rows = store.query_rows(f"select distinct {period} from obs where metric = ?", [metric])
    recorded = pl.DataFrame({"ts": [row[0] for row in rows], "_recorded": True}, schema={"ts": pl.Date, "_recorded": pl.Boolean})
    joined = frame.join(recorded, on="ts", how="left")
    return joined.select("ts", pl.when(pl.col("_recorded")).then(pl.col("value")).alias("value"))


def check_metric(store: Store, config: Config, metric: str) -> None:
    """Refuse a metric that neither the store nor the config has (with the closest name),
    or a declared ratio whose part has no data: asked for by a user, its series would be
    an empty frame, read as "no data" rather than as the typo it is. (An event may name a
    metric with no data yet, so `load_series` itself does not refuse.)"""
    known = metric_names(store, config)
    if metric in known:
        return
    missing = incomplete_ratios(config, set(store.metric_names())).get(metric)
    if missing:  # declared, but a part has no data: "not a metric of the config" would be untrue
        raise CtxError(f"Ratio metric '{metric}' cannot be read: no data for {' or '.join(missing)}.")
    close = closest_name(metric, known)
    hint = f" Did you mean '{close}'?" if close else f" Metrics: {', '.join(known) or 'none'}."
    raise UnknownName(f"'{metric}' is not a metric of the store or the config.{hint}")


def check_segment_values(store: Store, config: Config, metric: str, segment: Mapping[str, str]) -> None:
    """Refuse a segment value that none of the metric's rows has (a ratio's: its two
    parts'): asked for by a user, its series would be an empty frame, read as "no data"
    rather than as the typo it is. (An event's scope may name a value with no data yet,
    so `load_series` itself does not refuse.)"""
    definition = config.metric(metric)
    if definition.type == "query":
        return
    parts = [definition.numerator, definition.denominator] if definition.type == "ratio" else [metric]
    for dim, value in segment.items():
        label = f"coalesce({quote_ident(dim)}, '{NONE_LABEL}')"
        values = store.query_df(f"select distinct {label} as v from obs where list_contains(?, metric) order by 1", [parts])["v"]
        if value not in values:
            close = closest_name(value, values)
            hint = f" (did you mean '{close}'?)" if close else ""
            raise UnknownName(f"{metric} has no series {dim}={value}{hint}; values of {dim}: {', '.join(values[:20]) or 'none'}.")


_CALENDAR_PERIOD = {"monthly": "month", "quarterly": "quarter", "yearly": "year"}  # SQL date_trunc parts


def _segment_sums(store: Store, metric: str, segment: Mapping[str, str], agg: str = "sum") -> pl.DataFrame:
    where = ["metric = ?"] + [f"coalesce({quote_ident(d)}, '{NONE_LABEL}') = ?" for d in segment]
    granularity = store.granularity(metric)
    # a calendar period's rows combined under its first day, as the cube does: a count booked
    # on the 15th, or on each day, is stored as daily rows of a monthly metric
    part = _CALENDAR_PERIOD.get(granularity)
    period = "ts" if part is None else f"date_trunc('{part}', ts)::date"
    frame = store.query_df(
        f"select {period} as ts, {agg}(value) as value from obs where {' and '.join(where)} group by 1 order by 1",
        [metric, *segment.values()],
    )
    if frame.height == 0:
        return frame
    step = {"daily": "1d", "weekly": "1w", "fortnightly": "2w", "monthly": "1mo", "quarterly": "1q", "yearly": "1y"}[granularity]
    days = pl.DataFrame({"ts": pl.date_range(frame["ts"].min(), frame["ts"].max(), step, eager=True)})
    filled = days.join(frame, on="ts", how="left")
    return filled.fill_null(0.0) if agg == "sum" else filled
