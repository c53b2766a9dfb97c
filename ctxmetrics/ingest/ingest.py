"""The ingest API: data files and query results validated, then stored as observations.

Every file is read and validated completely before anything is written, and all files
of one call are stored in one transaction, so a bad row leaves the store untouched.
Errors name the file, the line (CSV/JSON lines, counting the header as line 1) or row
(Parquet), and the column.

The steps live beside this module: `sources` finds and reads the files, `layouts` turns
long, wide and funnel-event tables into observations using `columns` (which column plays
which role) and `cells` (each column parsed and checked), and `fast_parquet` lets DuckDB
vouch for a long-format Parquet file without the polars path.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import duckdb
import polars as pl

from ctxmetrics.config import Config
from ctxmetrics.errors import BookingBroken, InputError
from ctxmetrics.ingest.cadence import Booking
from ctxmetrics.ingest.fast_parquet import _fast_long
from ctxmetrics.ingest.layouts import _parse, _Read, _read_one
from ctxmetrics.ingest.settings import _settings
from ctxmetrics.ingest.sources import ROW, _Source, check_files
from ctxmetrics.store.database import BASE_COLUMNS, Corrections, Store
from ctxmetrics.wording import closest_name

NEAR_NAME_CUTOFF = 0.8  # difflib ratio from which a new metric name looks like a typo


@dataclass(frozen=True)
class IngestResult:
    files: int
    rows: int
    added: int
    replaced: int
    warnings: tuple[str, ...] = ()
    rollups: tuple[str, ...] = ()  # metrics stored as separate rollups (`as_rollup`)
    timed_rows: int = 0  # values of rows with a time of day that `rows` combines per day
    corrected: Corrections = Corrections()  # replaced stored values that got another value


def ingest_paths(
    store: Store,
    paths: Sequence[Path | str | _Source],
    *,
    fmt: str | None = None,
    dims: Sequence[str] = (),
    known_dimensions: Sequence[str] | None = None,
    config: Config | None = None,
    columns: Mapping[str, str] | None = None,
    metric: str | None = None,
    date_format: str | None = None,
    decimal_comma: bool = False,
    sheet: str | None = None,
    strict: bool = False,
    as_rollup: bool = False,
) -> IngestResult:
    """Validate every file, then upsert all of them in one transaction.

    Args:
        store: an open, writable store.
        paths: CSV, Excel, Parquet or JSON-lines files (or what `check_files` returned for them).
        fmt: `long` (date, metric, value, dimensions…; without a metric column the file is
            one metric's series), `wide` (date plus one column per metric; dimension columns
            named in `dims`) or `events` (entity_id, stage, ts, dimensions…; counted into
            daily stage counts). Default: the config's `format`, else long.
        dims: dimension columns (required for `wide`; allowed extra dimensions otherwise).
        known_dimensions: the project's declared dimensions (default: the config's); when
            non-empty, any other column is an error unless listed in `dims`.
        config: the project's settings: time zone, metric types, `columns`, `date_format`.
        columns: the date, metric and value columns by role (overrides the config's).
        metric: the metric name of a file without a metric column (default: the file's name).
        date_format: strftime codes of the date column (default: ISO 8601 only).
        decimal_comma: numbers are written with a decimal comma and dots between
            thousands (1.234,5), as European spreadsheets export them.
        sheet: the sheet of an Excel workbook to read (default: the config's `sheet`, else its first).
        strict: a new metric name close to a known one is an error, not a warning.
        as_rollup: store each file's rows as separate rollups (`rollup_metric`), never
            summed with the metric's own rows: for totals next to a stored breakdown.

    Raises:
        InputError: the first problem found, naming file, line/row and column.
    """
    settings = _settings(
        config, fmt=fmt, dims=dims, known=known_dimensions, columns=columns, metric=metric, date_format=date_format,
        decimal_comma=decimal_comma, sheet=sheet,
    )
    sources = check_files(paths, settings.sheet)
    if (settings.fmt == "long" and len(sources) == 1 and not settings.columns and not settings.config.ignore_columns
            and not settings.config.rename_columns and not any(spec.cents for spec in settings.config.metrics.values())
            and settings.metric is None and not as_rollup):
        declared = {m: spec.granularity for m, spec in settings.config.metrics.items() if spec.granularity}
        not_counts = frozenset(m for m, spec in settings.config.metrics.items() if spec.type != "count")
        fast = _fast_long(store, sources[0], settings.dims, settings.known, declared, not_counts)
        if fast is not None:
            warnings = _near_names(store, settings.config, [(sources[0], fast.metrics)], strict) + _renamed(
                store, settings.config, [(sources[0], fast.metrics, fast.span[0])], strict
            )
            try:
                granularities = _granularities(store, settings.config, fast.metrics, fast.granularity, fast.cadences)
                added, replaced = _located(sources, lambda: store.upsert_from(
                    fast.sql, fast.params, fast.dims, fast.rows, span=fast.span, metrics=fast.metrics,
                    granularities=granularities, bookings=_booking_reasons(fast.bookings, granularities),
                ))
            except (duckdb.Error, BookingBroken):
                # rolled back (a value it does not take, the file changed since checked, or a
                # booking broken, whose line only the careful path knows): the careful path
                pass
            else:
                return IngestResult(
                    files=1, rows=fast.rows, added=added, replaced=replaced, warnings=warnings, corrected=store.corrected
                )
    reads = [_read_one(src, settings) for src in sources]
    rollups: dict[str, list[str]] = {}
    if as_rollup:
        reads = [_as_rollup(read, rollups) for read in reads]
    # Each file's metrics, found once (a distinct pass over 10M rows costs ~0.07 s).
    found = [r.frame["metric"].unique().to_list() if r.metrics is None else r.metrics for r in reads]
    warnings = tuple(note for r in reads for note in r.notes) + _near_names(
        store, settings.config, list(zip(sources, found)), strict
    ) + _renamed(
        store, settings.config, [(src, m, r.frame["ts"].min()) for src, m, r in zip(sources, found, reads)], strict
    )
    granularities: dict[str, str] = {}
    for read, metrics in zip(reads, found):
        granularities.update(_granularities(store, settings.config, metrics, read.granularity, read.cadences))
    bookings = _booking_reasons({m: b for r in reads for m, b in r.bookings.items()}, granularities)
    frame, overlaps = _combine([r.frame for r in reads], [src.path for src in sources])
    warnings += overlaps
    added, replaced = _located(
        sources,
        lambda: store.upsert_observations(frame, granularities, rollups, metrics=sorted(set().union(*found)), bookings=bookings),
        reads,
    )
    return IngestResult(
        files=len(reads), rows=frame.height, added=added, replaced=replaced, warnings=warnings,
        rollups=tuple(sorted(rollups)), timed_rows=sum(r.timed_rows for r in reads), corrected=store.corrected,
    )


def ingest_frame(
    store: Store, frame: pl.DataFrame, label: str, *, config: Config | None = None, strict: bool = False,
    as_rollup: bool = False, **options
) -> IngestResult:
    """Validate and upsert an in-memory table (a database query's result) like a file.

    Args:
        label: how errors name the source (rows are numbered from 1).
        options: `fmt`, `dims`, `columns`, `metric`, `date_format`, `decimal_comma`, as for `ingest_paths`.
    """
    settings = _settings(config, **options)
    src = _Source(Path(label), "sql")
    if frame.height == 0:
        raise InputError(f"{label}: the query returned no rows.")
    read = _parse(src, frame.with_row_index(ROW), settings)
    rollups: dict[str, list[str]] = {}
    if as_rollup:
        read = _as_rollup(read, rollups)
    metrics = read.frame["metric"].unique().to_list()
    warnings = _near_names(store, settings.config, [(src, metrics)], strict)
    granularities = _granularities(store, settings.config, metrics, read.granularity, read.cadences)
    bookings = _booking_reasons(read.bookings, granularities)
    added, replaced = _located(
        [src], lambda: store.upsert_observations(read.frame, granularities, rollups, metrics=metrics, bookings=bookings)
    )
    return IngestResult(
        files=1, rows=read.frame.height, added=added, replaced=replaced, warnings=warnings, rollups=tuple(sorted(rollups)),
        timed_rows=read.timed_rows, corrected=store.corrected,
    )


def rollup_metric(metric: str, dims: Sequence[str]) -> str:
    """The metric under which `--as-rollup` stores rows of `metric` broken down by `dims`:
    `leads_by_region` (`leads_total` without dimensions). It is a series of its own, so
    it is never summed with the rows of `metric`."""
    return f"{metric}_by_{'_'.join(sorted(dims))}" if dims else f"{metric}_total"


def _as_rollup(read: _Read, rollups: dict[str, list[str]]) -> _Read:
    """The rows renamed to their rollup metrics; `rollups` gains each one's dimensions."""
    dims = sorted(c for c in read.frame.columns if c not in BASE_COLUMNS)
    names = {m: rollup_metric(m, dims) for m in read.frame["metric"].unique().to_list()}
    rollups.update({name: dims for name in names.values()})
    frame = read.frame.with_columns(pl.col("metric").replace_strict(names, return_dtype=pl.Utf8))
    cadences = None if read.cadences is None else {names[m]: c for m, c in read.cadences.items()}
    bookings = {names[m]: b for m, b in read.bookings.items()}
    return replace(read, frame=frame, metrics=None, cadences=cadences, bookings=bookings)  # its notes kept


def _located(sources: list[_Source], write, reads: Sequence[_Read] = ()):
    """Run a store write; the store's refusal of the rows names the source when there is
    one, and the line of the day that breaks a booking when the reads know it."""
    try:
        return write()
    except BookingBroken as exc:
        line = _line_of(sources, reads, exc.metric, exc.day)
        if line is not None:
            raise InputError(f"{line}: {exc}") from None
        if len(sources) != 1:
            raise
        # still a BookingBroken: the fast Parquet path then retries on the careful one, which knows lines
        raise BookingBroken(f"{sources[0].path}: {exc}", exc.metric, exc.day) from None
    except InputError as exc:
        if len(sources) != 1:
            raise
        raise InputError(f"{sources[0].path}: {exc}") from None


def _line_of(sources: Sequence[_Source], reads: Sequence[_Read], metric: str, day) -> str | None:
    """`file:line` of the last source's row of `metric` on `day` (a later file wins, as
    `_combine` keeps it); None when no read kept its lines."""
    for src, read in reversed(list(zip(sources, reads))):
        if read.lines is None:
            continue
        rows = read.lines.filter((pl.col("metric") == metric) & (pl.col("ts") == day))[ROW]
        if rows.len():
            return src.where(int(rows[0]))
    return None


def _granularities(
    store: Store, config: Config, metrics: Sequence[str], found: str | None, cadences: Mapping[str, str] | None
) -> dict[str, str]:
    """Each metric's period: declared in the config, else what its own dates show clearly
    (`cadences`; None: every metric has the file's), else what the store holds for it (a
    weekly metric's one new week beside a month of daily rows), else what the file's dates
    show, else daily."""
    if cadences is None:
        return {m: config.metric(m).granularity or found or "daily" for m in metrics}
    return {
        m: config.metric(m).granularity or cadences.get(m) or store.stored_granularity(m) or found or "daily"
        for m in metrics
    }


def _booking_reasons(bookings: Mapping[str, Booking], granularities: Mapping[str, str]) -> dict[str, str]:
    """Why each booked count is stored at its granularity ("booked monthly: values fall on
    the 1st"), recorded beside it in the store for `scan`, `why` and the digest to say."""
    return {m: b.reason for m, b in bookings.items() if granularities.get(m) == b.granularity}


def _near_names(store: Store, config: Config, found: list[tuple[_Source, Sequence[str]]], strict: bool) -> tuple[str, ...]:
    """Warnings for new metric names that look like typos of known ones (errors if strict)."""
    known = set(store.metric_names()) | set(config.metrics)
    warnings = []
    for src, metrics in found:
        for name in sorted(set(metrics) - known):
            close = closest_name(name, known, cutoff=NEAR_NAME_CUTOFF)
            if close:
                message = f"{src.path}: metric '{name}' is new; did you mean '{close}'?"
                if strict:
                    raise InputError(f"{message} (--strict refuses new names close to known ones.)")
                warnings.append(message)
    return tuple(warnings)


def _renamed(store: Store, config: Config, found: list[tuple[_Source, Sequence[str], Any]], strict: bool) -> tuple[str, ...]:
    """A warning (an error if strict) for a file whose one metric is new and starts the day
    after the one stored metric that the call brings no rows of ends: most likely that
    metric renamed in the export (`leads` now `new_leads`), which scan would judge as two
    half series. A metric listed in ctxmetrics.yaml is known: not said."""
    known = set(store.metric_names()) | set(config.metrics)
    brought = {m for _, metrics, _ in found for m in metrics}
    if not known or known & brought:
        return ()
    _, rows = store.query_rows("select metric, max(ts) from obs group by metric order by metric")
    warnings = []
    for src, metrics, first_day in found:
        ended = [(m, last) for m, last in rows if first_day is not None and last < first_day]
        # a name close to a known one is said as a likely typo instead (`_near_names`)
        if (len(metrics) != 1 or len(ended) != 1 or (first_day - ended[0][1]).days != 1
                or closest_name(metrics[0], known, cutoff=NEAR_NAME_CUTOFF)):
            continue
        (new,), (old, last) = metrics, ended[0]
        message = (
            f"{src.path}: metric '{new}' is new and starts the day after '{old}', which the file does not hold, ends "
            f"({last}): if it is {old} renamed in the export, name it {old} again (a column: rename_columns: "
            f"{{{new}: {old}}} in ctxmetrics.yaml), or scan judges two half series; if it is a new metric, list it "
            f"under 'metrics:' there."
        )
        if strict:
            raise InputError(f"{message} (--strict refuses it.)")
        warnings.append(message)
    return tuple(warnings)


def _combine(frames: list[pl.DataFrame], paths: list[Path]) -> tuple[pl.DataFrame, tuple[str, ...]]:
    """The files' rows as one frame, and what to say of days that several files hold
    (monthly exports overlapping by a few days): a later file replaces an earlier one, as
    separate ingests would, and each file that did so is said with the values it changed."""
    if len(frames) == 1:
        return frames[0], ()
    combined = pl.concat([f.with_columns(pl.lit(i).alias(_FILE)) for i, f in enumerate(frames)], how="diagonal_relaxed")
    dims = [c for c in combined.columns if c not in BASE_COLUMNS and c != _FILE]
    key = ["metric", "ts", *dims]
    kept = combined.unique(subset=key, keep="last", maintain_order=True)
    return kept.drop(_FILE), _overlap_notes(combined, kept, key, paths)


_FILE = "__ctxmetrics_file"  # which file of a call a row came from


def _overlap_notes(combined: pl.DataFrame, kept: pl.DataFrame, key: list[str], paths: list[Path]) -> tuple[str, ...]:
    """'b.csv holds 4 days an earlier file holds too (2026-01-29 to 2026-02-01): its values
    kept, 1 of them different (on 2026-01-30).' for each file that replaced rows."""
    dropped = combined.join(kept.select(*key, _FILE), on=key, how="inner", suffix="_kept", nulls_equal=True).filter(
        pl.col(_FILE) != pl.col(f"{_FILE}_kept")
    )
    if dropped.height == 0:
        return ()
    replaced = dropped.join(kept.select(*key, pl.col("value").alias("kept_value")), on=key, nulls_equal=True)
    notes = []
    for (index,), rows in replaced.group_by(f"{_FILE}_kept", maintain_order=True):
        days = rows["ts"].unique().sort()
        changed = rows.filter(pl.col("value") != pl.col("kept_value"))["ts"].unique().sort()
        span = f"{days[0]}" if days.len() == 1 else f"{days[0]} to {days[-1]}"
        which = "all with the same value" if changed.len() == 0 else (
            f"{changed.len()} day{'s' if changed.len() != 1 else ''} with a different value (first {changed[0]})")
        notes.append(
            f"{paths[index]} holds {days.len()} day{'s' if days.len() != 1 else ''} an earlier file of this call holds "
            f"too ({span}): its values kept, {which}."
        )
    return tuple(notes)
