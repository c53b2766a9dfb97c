"""The store: one DuckDB file holding observations, the annotation mirror and scan results.

Observations live in `obs(metric, ts, value, <dimension columns>)` with no primary key:
a multi-column key makes bulk loads ~10x slower. Idempotent re-ingest instead matches
incoming keys to stored rows (by a key hash, then the keys themselves), updates those in
place and appends the rest, all in one transaction.
"""
from __future__ import annotations

import errno
import re
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, NamedTuple, Sequence

import duckdb

from ctxmetrics.errors import BookingBroken, CtxError, InputError, QueryRefused, StoreLocked
from ctxmetrics.waiting import default_lock_timeout, retry_pauses

if TYPE_CHECKING:
    import polars as pl

SCHEMA_VERSION = 1
BASE_COLUMNS = ("metric", "ts", "value")
_MATCHED = "__ctxmetrics_matched"  # temporary: stored rows matching incoming keys, during an upsert
GRANULARITY_KEY = "granularity:"  # meta key prefix: a metric's period (daily, weekly, monthly)
ROLLUP_KEY = "rollup:"  # meta key prefix: a separate rollup's own dimensions, comma-separated
# meta key prefix: why a daily count is stored weekly or monthly ("booked monthly: values fall
# on the 1st"); a store written before it was recorded has none, and says nothing
BOOKING_KEY = "booking:"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# A read-only connection reads the store and nothing else, whatever SQL it is given:
# no file or URL outside the store (COPY, EXPORT, ATTACH, read_csv, glob…), no extension
# installed or loaded, no secret written, no Python variable scanned; and since the
# configuration is locked from the start, no SET/PRAGMA/RESET can loosen any of it.
READ_ONLY_SETTINGS = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_extension_repositories": "forbidden",
    "allow_persistent_secrets": False,
    "python_enable_replacements": False,
    "lock_configuration": True,
}
# Writers read the user's data files, so they keep file access; the product itself still
# never downloads an extension (the readers it needs are built into DuckDB).
WRITE_SETTINGS = {"autoinstall_known_extensions": False}

_SCHEMA = [
    "create table if not exists meta (key varchar primary key, value varchar)",
    "create table if not exists obs (metric varchar not null, ts date not null, value double not null)",
    # `data` is the anomaly's full JSON (causes, drivers); the other columns are for SQL.
    """create table if not exists anomalies (
        id varchar, metric varchar, segment_key varchar, segment json, kind varchar,
        direction varchar, start_day date, end_day date, before double, after double,
        change_pct double, score double, volume double, explained boolean, data json,
        settings json, scanned_at timestamp)""",
    """create table if not exists anomaly_causes (
        anomaly_id varchar, rank integer, annotation_id varchar, score double, reason varchar)""",
    """create table if not exists verdicts (
        anomaly_id varchar, annotation_id varchar, verdict varchar, recorded_at timestamp)""",
    "create table if not exists scan_state (metric varchar, segment_key varchar, fingerprint varchar)",
    # days on which a metric's data is missing (unknown, not zero), found by the last scan
    "create table if not exists data_gaps (metric varchar, day date)",
]
# Tables added after schema version 1 shipped: created on every writable open, so older
# stores gain them without a migration; readers treat a missing one as empty.
_ADDED_TABLES = {
    # what `notify` delivered: one row per (channel, anomaly), with the explanation it carried
    "notify_sent": "channel varchar, anomaly_id varchar, state varchar, sent_at timestamp",
    # `mute`: kind is anomaly | series | segment; metric/segment_key/anomaly_id as given
    "mutes": "kind varchar, anomaly_id varchar, metric varchar, segment_key varchar, until date, created_at timestamp",
    # `run`: files already ingested from the inbox folders, by path, size and mtime
    "ingested_files": "path varchar, size bigint, mtime double, ingested_at timestamp",
    # `scan`: events whose expected effect no anomaly showed, measured (the digest's JSON entry)
    "missing_effects": "position integer, annotation_id varchar, first_day date, last_day date, finding varchar, data json",
}


def check_store_folder(path: Path) -> None:
    """Refuse a store whose folder is missing (DuckDB said only "Cannot open file ... No
    such file or directory", as if the store itself were missing)."""
    if not path.parent.is_dir():
        raise CtxError(f"{path}: the store's folder {path.parent} does not exist; create it, or change 'store:' in the project file.")


def quote_ident(name: str) -> str:
    """Quote a column name for SQL; dimension names come from user files."""
    return '"' + name.replace('"', '""') + '"'


def check_dimension_name(name: str) -> str:
    if not _IDENTIFIER.match(name) or name.lower() in BASE_COLUMNS + ("date",):
        raise CtxError(
            f"'{name}' cannot be a dimension name; use letters, digits and underscores, "
            "not starting with a digit, and not metric/ts/value/date."
        )
    return name


class Corrections(NamedTuple):
    """Stored values an upsert replaced with another value: how many, on how many days,
    and the first of those days."""

    values: int = 0
    days: int = 0
    first_days: tuple = ()


class Store:
    """An open connection to the project's DuckDB file; use as a context manager.

    A read-only store that does not exist yet is created empty first, so reads on a new
    project work. Opening waits up to CTXMETRICS_LOCK_TIMEOUT seconds (default 15) for
    another writer to finish, then raises StoreLocked.
    """

    def __init__(self, path: Path | str, read_only: bool = False, lock_timeout: float | None = None):
        self.path = Path(path)
        self.read_only = read_only
        self.lock_timeout = default_lock_timeout() if lock_timeout is None else lock_timeout
        self.con: duckdb.DuckDBPyConnection | None = None
        # The last upsert's replaced rows whose value changed (`_corrected_values`).
        self.corrected = Corrections()

    # --- connection ----------------------------------------------------------
    def __enter__(self) -> "Store":
        if self.read_only and not self.path.exists():
            with Store(self.path, read_only=False, lock_timeout=self.lock_timeout):
                pass
        self.con = self._connect()
        if not self.read_only:
            self._ensure_schema()
        else:
            self._check_version()
        return self

    def __exit__(self, *exc) -> None:
        if self.con is not None:
            self.con.close()
            self.con = None

    def _connect(self) -> duckdb.DuckDBPyConnection:
        check_store_folder(self.path)
        pauses = retry_pauses(self.lock_timeout)
        while True:
            try:
                settings = READ_ONLY_SETTINGS if self.read_only else WRITE_SETTINGS
                return duckdb.connect(str(self.path), read_only=self.read_only, config=dict(settings))
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower():
                    raise CtxError(f"{self.path}: cannot open the store ({exc}).") from None
                if not next(pauses, False):
                    holder = re.search(r"PID (\d+)", str(exc))
                    who = f" (process {holder.group(1)})" if holder else ""
                    raise StoreLocked(
                        f"{self.path}: the store is locked by another process{who}; "
                        f"waited {self.lock_timeout:g}s. Try again when it has finished."
                    ) from None
            except duckdb.Error as exc:
                raise CtxError(f"{self.path}: not a readable ctxmetrics store ({exc}).") from None

    @contextmanager
    def beside(self):
        """A second handle on the same open database (its own DuckDB cursor), for a query
        run in another thread while this one streams a result."""
        other = Store(self.path, self.read_only, self.lock_timeout)
        other.con = self.con.cursor()
        try:
            yield other
        finally:
            other.con.close()

    def _ensure_schema(self) -> None:
        found = self._version()
        if found is not None and found != SCHEMA_VERSION:
            raise CtxError(f"{self.path}: store schema version {found}, this ctxmetrics expects {SCHEMA_VERSION}.")
        if found is None:
            with self.transaction():
                for statement in _SCHEMA:
                    self.con.execute(statement)
                self.con.execute("insert or replace into meta values ('schema_version', ?)", [str(SCHEMA_VERSION)])
                self._refresh_view()
        for name, columns in _ADDED_TABLES.items():
            self.con.execute(f"create table if not exists {name} ({columns})")

    def _version(self) -> int | None:
        # Read directly: a first query on information_schema costs ~20 ms of a cold `why`.
        try:
            rows = self.con.execute("select value from meta where key = 'schema_version'").fetchall()
        except duckdb.CatalogException:  # no meta table: a new, empty file
            return None
        return int(rows[0][0]) if rows else None

    def _check_version(self) -> None:
        found = self._version()
        if found != SCHEMA_VERSION:
            raise CtxError(f"{self.path}: store schema version {found}, this ctxmetrics expects {SCHEMA_VERSION}.")

    def transaction(self):
        """Context manager: commit on success, roll back everything on any error."""
        return _Transaction(self.con)

    # --- schema of observations ------------------------------------------------
    def dimension_names(self) -> list[str]:
        """Dimension columns of the store, in the order they were added."""
        columns = self.con.execute("select * from obs limit 0").description  # no catalog view to build
        return [c[0] for c in columns if c[0] not in BASE_COLUMNS]

    def add_dimensions(self, names: Iterable[str]) -> None:
        existing = set(self.dimension_names())
        added = False
        for name in names:
            if name not in existing:
                check_dimension_name(name)
                self.con.execute(f"alter table obs add column {quote_ident(name)} varchar")
                existing.add(name)
                added = True
        if added:
            self._refresh_view()

    def _refresh_view(self) -> None:
        self.con.execute("create or replace view observations as select * from obs")

    def has_dimension_value(self, dimension: str, value: str) -> bool:
        """True when some observation has `value` in the dimension column `dimension`
        (one of `dimension_names()`)."""
        sql = f"select 1 from obs where {quote_ident(dimension)} = ? limit 1"
        return bool(self.con.execute(sql, [value]).fetchall())

    def dimension_values(self, dimension: str) -> list[str]:
        """The values observations have in the dimension column `dimension` (one of
        `dimension_names()`), sorted; empty cells left out."""
        sql = f"select distinct {quote_ident(dimension)} from obs where {quote_ident(dimension)} is not null order by 1"
        return [r[0] for r in self.con.execute(sql).fetchall()]

    def metric_names(self) -> list[str]:
        return [r[0] for r in self.con.execute("select distinct metric from obs order by 1").fetchall()]

    def has_metric(self, metric: str) -> bool:
        """True when some observation of `metric` is stored."""
        return bool(self.con.execute("select 1 from obs where metric = ? limit 1", [metric]).fetchall())

    def observation_span(self) -> tuple | None:
        """(first day, last day) of the stored observations; None for an empty store."""
        lo, hi = self.con.execute("select min(ts), max(ts) from obs").fetchall()[0]
        return None if lo is None else (lo, hi)

    def covered_span(self) -> tuple | None:
        """(first day, last calendar day) the stored observations cover: a weekly or monthly
        metric's last row stands for its whole period (a month's row is dated the 1st), so
        the span runs to that period's end. None for an empty store."""
        from ctxmetrics.models.periods import last_day

        span = self.observation_span()
        if span is None:
            return None
        ends = self.con.execute("select metric, max(ts)::date from obs group by metric").fetchall()
        last = max(last_day(day, 0, self.granularity(metric)) for metric, day in ends)
        return span[0], max(span[1], last)

    def observations_df(self) -> "pl.DataFrame":
        """Every stored observation at leaf level, by metric and day."""
        return self.con.sql("select * from observations order by metric, ts").pl()

    def observations_reader(self, batch_rows: int = 1 << 20):
        """Every stored observation as a streamed pyarrow RecordBatchReader (nothing copied
        first: the relation API streams)."""
        return self.con.sql("select * from obs").to_arrow_reader(batch_rows)

    # --- writes ---------------------------------------------------------------
    def upsert_observations(
        self,
        frame: "pl.DataFrame",
        granularities: Mapping[str, str] | None = None,
        rollups: Mapping[str, Sequence[str]] | None = None,
        metrics: Sequence[str] | None = None,
        bookings: Mapping[str, str] | None = None,
    ) -> tuple[int, int]:
        """Insert observations, replacing rows with the same (metric, ts, dimensions).

        Args:
            frame: columns metric (str), ts (date), value (float) and dimension columns (str).
            granularities: the period of each metric's rows (default daily).
            rollups: metrics that are separate rollups, with their own dimensions.
            metrics: the frame's distinct metrics when the caller knows them already.
            bookings: why a booked count has its granularity (`upsert_from`).

        Returns:
            (rows added, rows replaced). All or nothing: any error leaves the store as it was.
        """
        import polars as pl

        dims = [c for c in frame.columns if c not in BASE_COLUMNS]
        span = (frame["ts"].min(), frame["ts"].max())
        if metrics is None:
            metrics = frame["metric"].unique().drop_nulls().to_list()
        # Arrow string views: handed over without the copy to large_string (~0.4 s/10M rows).
        self.con.register("incoming_frame", frame.to_arrow(compat_level=pl.CompatLevel.newest()))
        try:
            return self.upsert_from(
                "select * from incoming_frame", [], dims, frame.height, span=span, metrics=metrics,
                granularities=granularities, rollups=rollups, bookings=bookings,
            )
        finally:
            self.con.unregister("incoming_frame")

    def upsert_from(
        self,
        source: str,
        params: Sequence[Any],
        dims: Sequence[str],
        rows: int,
        *,
        span: tuple[Any, Any] | None = None,
        metrics: Sequence[str] | None = None,
        granularities: Mapping[str, str] | None = None,
        rollups: Mapping[str, Sequence[str]] | None = None,
        bookings: Mapping[str, str] | None = None,
    ) -> tuple[int, int]:
        """Upsert the rows of a validated SQL source in one transaction.

        Args:
            source: a SELECT yielding metric, ts, value and the `dims` columns, with unique
                keys (a file reader, a temporary table or a registered frame); it is read
                up to three times.
            params: parameters of `source`.
            dims: dimension columns of `source`; other store dimensions get null.
            rows: the number of rows of `source`.
            span, metrics: min/max ts and distinct metrics of `source` when already known.
            granularities: the period of each metric's rows (default daily); a metric
                stored with another period is refused.
            rollups: metrics that are separate rollups, with their own dimensions (the
                cube of such a metric has only those; `rollup_dimensions`).
            bookings: why a count whose rows read daily has its granularity, by metric
                ("booked monthly: values fall on the 1st"; `booking`); a metric's reason
                is replaced by the next file that shows one, and kept by one too short to.

        Returns:
            (rows added, rows replaced). All or nothing: any error leaves the store as it was.

        Raises:
            InputError: rows that would double count stored ones, or a changed granularity.
            CtxError: the disk is full or another OS error (the store is left as it was).
        """
        dims = list(dims)
        self.corrected = Corrections()
        try:
            with self.transaction():
                self.add_dimensions(dims)
                all_dims = self.dimension_names()
                if span is None or metrics is None:
                    span, metrics = self._span_and_metrics(source, params)
                self._record_granularities(metrics, granularities or {}, (source, params))
                for metric, own in (rollups or {}).items():
                    self.con.execute("insert or replace into meta values (?, ?)", [ROLLUP_KEY + metric, ",".join(own)])
                for metric, reason in (bookings or {}).items():
                    self.con.execute("insert or replace into meta values (?, ?)", [BOOKING_KEY + metric, reason])
                self._check_same_dimensions(source, params, dims, all_dims, (span, metrics))
                replaced = self._replace_existing_keys(source, params, dims, all_dims, span, metrics)
                if replaced < rows:
                    self._insert_new_keys(source, params, dims, all_dims, replaced)
                # On an error the rollback drops it (DDL is transactional in DuckDB).
                self.con.execute(f"drop table if exists temp.{_MATCHED}")
        except (duckdb.IOException, OSError) as exc:
            raise _write_error(exc) from None
        finally:
            self.con.execute("reset preserve_insertion_order")
        return rows - replaced, replaced

    def granularity(self, metric: str) -> str:
        """The period of a metric's stored rows: `daily` (the default), `weekly` or `monthly`."""
        return self.stored_granularity(metric) or "daily"

    def stored_granularity(self, metric: str) -> str | None:
        """The period recorded for a metric's rows; None before its first ingest."""
        rows = self.con.execute("select value from meta where key = ?", [GRANULARITY_KEY + metric]).fetchall()
        return rows[0][0] if rows else None

    def bookings(self, metrics: Sequence[str]) -> dict[str, str]:
        """Why each of `metrics` that ingest read as booked once a month or week has its
        granularity ("booked monthly: values fall on the 1st"); the others are left out."""
        if not metrics:
            return {}
        rows = self.con.execute(
            "select value, key from meta where key in (select unnest(?::varchar[]))", [[BOOKING_KEY + m for m in metrics]]
        ).fetchall()
        return {key[len(BOOKING_KEY):]: reason for reason, key in rows}

    def rollup_dimensions(self, metric: str) -> list[str] | None:
        """The dimensions of a metric stored as a separate rollup (`ingest --as-rollup`);
        None for any other metric."""
        rows = self.con.execute("select value from meta where key = ?", [ROLLUP_KEY + metric]).fetchall()
        return [d for d in rows[0][0].split(",") if d] if rows else None

    def _record_granularities(self, metrics: Sequence[str], granularities: Mapping[str, str], incoming) -> None:
        """Record each new metric's granularity; refuse rows of another granularity than
        the stored one. `incoming`: the rows' (source, params), read to name the day that
        breaks a count's booking (`_second_booking`)."""
        for metric in metrics:
            new = granularities.get(metric, "daily")
            stored = self.con.execute("select value from meta where key = ?", [GRANULARITY_KEY + metric]).fetchall()
            if stored and stored[0][0] != new:
                booking = self.bookings([metric]).get(metric)
                why = "" if booking is None else f" ({booking})"
                day, where = (None, "") if booking is None else self._second_booking(metric, stored[0][0], *incoming)
                message = (
                    f"metric '{metric}' is stored as {stored[0][0]} data{why} and these rows are {new}{where}; "
                    "ingest them under another metric name."
                )
                raise InputError(message) if day is None else BookingBroken(message, metric, day)
            if not stored:
                self.con.execute("insert into meta values (?, ?)", [GRANULARITY_KEY + metric, new])

    def _second_booking(self, metric: str, granularity: str, source: str, params: Sequence[Any]) -> tuple[Any, str]:
        """Where incoming rows of a count booked once a `granularity` period break it: the
        first day with a second non-zero value in one period, and that in words ((None, "") if none)."""
        from ctxmetrics.models.periods import sql_index, unit  # numpy: not for every reader of the store

        start = self.con.execute("select min(ts) from obs where metric = ?", [metric]).fetchall()[0][0]
        found = self.con.execute(
            f"""select ts, value from (
                  select ts, value, row_number() over (partition by period order by ts) as nth
                  from (select ts, value, {sql_index("ts", granularity)} as period from ({source}) i
                        where metric = ? and value != 0))
                where nth = 2 order by ts limit 1""",
            [start, *params, metric],
        ).fetchall()
        if not found:
            return None, ""
        day, value = found[0]
        return day, f": {day} is a second non-zero value ({value:g}) in one {unit(granularity)}"

    def _check_same_dimensions(self, source: str, params: Sequence[Any], dims: Sequence[str], all_dims: Sequence[str], scope) -> None:
        """Refuse rows whose days already hold rows of the same metric broken down by other
        dimensions: a total next to its own breakdown would be summed twice. `scope` is
        the incoming rows' ((first day, last day), metrics)."""
        (lo, hi), metrics = scope
        if lo is None or not metrics or not all_dims:
            return
        differs = " or ".join(
            f"o.{quote_ident(d)} is null" if d in dims else f"o.{quote_ident(d)} is not null" for d in all_dims
        )
        found = self.con.execute(
            f"""select o.metric, o.ts, {", ".join(f"o.{quote_ident(d)} is not null" for d in all_dims)}
                from obs o
                where o.ts between ? and ? and o.metric in (select unnest(?::varchar[])) and ({differs})
                  and exists (select 1 from ({source}) i where i.metric = o.metric and i.ts = o.ts)
                order by o.ts, o.metric limit 1""",
            [lo, hi, list(metrics), *params],
        ).fetchall()
        if not found:
            return
        metric, day, *present = found[0]
        stored = {d for d, has in zip(all_dims, present) if has}
        if stored - set(dims):
            what = f"are broken down by {', '.join(sorted(stored - set(dims)))}, which these rows lack"
        else:
            what = f"lack {', '.join(sorted(set(dims) - stored))}, which these rows have"
        raise InputError(
            f"the stored rows of {metric} on {day} {what}; storing both would count that day twice. "
            "Ingest the file with the same dimension columns as the stored rows, "
            "or with --as-rollup to keep it as a separate series."
        )

    def _span_and_metrics(self, source: str, params: Sequence[Any]) -> tuple[tuple[Any, Any], list[str]]:
        lo, hi, metrics = self.con.execute(
            f"select min(ts), max(ts), list(distinct metric) from ({source}) i", list(params)
        ).fetchall()[0]
        return (lo, hi), metrics or []

    @staticmethod
    def _keys(alias: str, dims: Sequence[str], all_dims: Sequence[str]) -> list[str]:
        """Key expressions (metric, ts, every store dimension) of `alias`; a dimension the
        incoming rows lack is null, as it will be stored."""
        return [
            f"{alias}.metric",
            f"{alias}.ts",
            *(f"{alias}.{quote_ident(d)}" if d in dims else "null::varchar" for d in all_dims),
        ]

    def _replace_existing_keys(
        self,
        source: str,
        params: Sequence[Any],
        dims: Sequence[str],
        all_dims: Sequence[str],
        span: tuple[Any, Any],
        metrics: Sequence[str],
    ) -> int:
        """Give stored rows whose key comes in again the incoming value; returns how many.

        Matching joins on one hash of the key (a 5-column join costs ~2.5x more), then
        compares the keys themselves, so a hash collision can never match the wrong row;
        the matches are kept in a temporary table for `_insert_new_keys`. The stored rows
        are then updated in place rather than deleted and appended again: deleting a
        scattered tenth of the table makes DuckDB's checkpoint compact every row group it
        touched, while an update rewrites only the value column. Same result either way:
        one row per key, with the new value.
        """
        lo, hi = span
        if lo is None or not metrics:
            return 0
        scope = "o.ts between ? and ? and o.metric in (select unnest(?::varchar[]))"
        scope_params = [lo, hi, list(metrics)]
        if not self.con.execute(f"select count(*) from obs o where {scope}", scope_params).fetchall()[0][0]:
            return 0  # nothing stored in that range: a fresh load skips the join entirely
        obs_keys, in_keys = self._keys("o", all_dims, all_dims), self._keys("i", dims, all_dims)
        same = " and ".join(f"{a} is not distinct from {b}" for a, b in zip(obs_keys, in_keys))
        self.con.execute(
            f"""create temp table {_MATCHED} as
                select o.rowid as obs_row, i.value, i.__key_hash, ({same}) as same
                from obs o
                join (select *, hash({", ".join(in_keys)}) as __key_hash from ({source}) i) i
                  on hash({", ".join(obs_keys)}) = i.__key_hash
                where {scope}""",
            [*params, *scope_params],
        )
        self.corrected = self._corrected_values()
        return self.con.execute(
            f"update obs set value = m.value from {_MATCHED} m where obs.rowid = m.obs_row and m.same"
        ).fetchall()[0][0]

    def _corrected_values(self, days_said: int = 6) -> "Corrections":
        """Of the stored rows an upsert is about to replace, those that get another value:
        a newer export that corrects a few values of the days it overlaps says which (read
        before the update)."""
        changed = f"from obs o join {_MATCHED} m on o.rowid = m.obs_row where m.same and o.value is distinct from m.value"
        values, days = self.con.execute(f"select count(*), count(distinct o.ts) {changed}").fetchall()[0]
        if not values:
            return Corrections()
        first = self.con.execute(f"select distinct o.ts {changed} order by 1 limit ?", [days_said]).fetchall()
        return Corrections(values, days, tuple(day for (day,) in first))

    def _insert_new_keys(
        self, source: str, params: Sequence[Any], dims: Sequence[str], all_dims: Sequence[str], replaced: int
    ) -> None:
        columns = ", ".join(map(quote_ident, [*BASE_COLUMNS, *all_dims]))
        select = ", ".join(["i.metric", "i.ts", "i.value", *self._keys("i", dims, all_dims)[2:]])
        where = ""
        if replaced:  # only rows whose key matched nothing stored
            in_keys = self._keys("i", dims, all_dims)
            key_hash = f"hash({', '.join(in_keys)})"
            distinct, total = self.con.execute(
                f"select count(distinct {key_hash}), count(*) from ({source}) i", list(params)
            ).fetchall()[0]
            if distinct == total:
                # Incoming hashes are unique, so a row matched iff its hash did.
                where = f" where {key_hash} not in (select __key_hash from {_MATCHED} where same)"
            else:  # two incoming keys share a hash (~never): compare the keys with the store
                match = " and ".join(f"{a} is not distinct from {b}" for a, b in zip(self._keys("o", all_dims, all_dims), in_keys))
                where = f" where not exists (select 1 from obs o where {match})"
        # Insertion order is not kept: obs is a set (every read orders or groups), and an
        # ordered insert of a multi-row-group file leaves a part-filled row group per
        # batch that every later checkpoint pays to compact (~1.5 s per 10M rows); an
        # unordered one writes full row groups straight to disk, in parallel.
        # upsert_from resets the setting once the transaction is over (even if aborted).
        self.con.execute("set preserve_insertion_order = false")
        self.con.execute(f"insert into obs ({columns}) select {select} from ({source}) i{where}", list(params))

    # --- notify, mute and run state ------------------------------------------------
    def has_table(self, name: str) -> bool:
        """True when the store has the table (older stores lack the ones added since)."""
        # Tried directly: a first query on the catalog views costs ~20 ms of a cold `why`.
        try:
            self.con.execute(f"select 1 from {quote_ident(name)} limit 0")
        except duckdb.CatalogException:
            return False
        return True

    def notified(self, channel: str) -> dict[str, str]:
        """anomaly id -> the state last delivered to `channel` (see `notify.alert_state`)."""
        if not self.has_table("notify_sent"):
            return {}
        rows = self.con.execute(
            "select anomaly_id, arg_max(state, sent_at) from notify_sent where channel = ? group by 1", [channel]
        ).fetchall()
        return dict(rows)

    def record_notified(self, channel: str, sent: Iterable[tuple[str, str]], when) -> None:
        """Remember (anomaly id, state) pairs as delivered to `channel`."""
        rows = [[channel, anomaly_id, state, when] for anomaly_id, state in sent]
        if rows:
            self.con.executemany("insert into notify_sent values (?, ?, ?, ?)", rows)

    def add_mute(self, kind: str, anomaly_id: str | None, metric: str | None, segment_key: str | None,
                 until, when) -> None:
        self.con.execute("insert into mutes values (?, ?, ?, ?, ?, ?)", [kind, anomaly_id, metric, segment_key, until, when])

    def remove_mutes(self, kind: str, anomaly_id: str | None, metric: str | None, segment_key: str | None) -> int:
        """Delete the mutes with exactly these fields; returns how many."""
        return self.con.execute(
            "delete from mutes where kind = ? and anomaly_id is not distinct from ? and metric is not distinct from ? "
            "and segment_key is not distinct from ?", [kind, anomaly_id, metric, segment_key]
        ).fetchall()[0][0]

    def mutes(self, today) -> list[tuple]:
        """(kind, anomaly_id, metric, segment_key, until) of the mutes still in force on `today`."""
        if not self.has_table("mutes"):
            return []
        sql = "select kind, anomaly_id, metric, segment_key, until from mutes"
        return self.con.execute(sql + " where until >= ? order by until, created_at", [today]).fetchall()

    def ingested_files(self) -> set[tuple[str, int, float]]:
        if not self.has_table("ingested_files"):
            return set()
        return set(self.con.execute("select path, size, mtime from ingested_files").fetchall())

    def record_ingested(self, files: Iterable[tuple[str, int, float]], when) -> None:
        rows = [[path, size, mtime, when] for path, size, mtime in files]
        if rows:
            self.con.executemany("insert into ingested_files values (?, ?, ?, ?)", rows)

    # --- reads ------------------------------------------------------------------
    def query_df(self, sql: str, params: Sequence[Any] | dict | None = None) -> "pl.DataFrame":
        """Run SQL and return a polars DataFrame (None for a statement with no result)."""
        return self._converted(sql, params, lambda relation: relation.pl())

    def query_arrow(self, sql: str, params: Sequence[Any] | dict | None = None, time_limit: float | None = None):
        """Run SQL and return a pyarrow Table (None for a statement with no result);
        `time_limit`: see `query_rows`."""
        return self._converted(sql, params, lambda relation: relation.to_arrow_table(), time_limit)

    def _converted(self, sql: str, params, convert, time_limit: float | None = None):
        def work():
            with _user_errors(sql, params):
                relation = self.con.sql(sql, params=params or None)
                return convert(relation) if relation is not None else None

        return work() if time_limit is None else _stoppable(self.con, work, time_limit)

    def query_numpy(self, sql: str, params: Sequence[Any] | None = None) -> dict:
        """Run SQL and return {column: numpy array}."""
        with _user_errors(sql):
            return self.con.execute(sql, params or []).fetchnumpy()

    def query_rows(self, sql: str, params: Sequence[Any] | dict | None = None,
                   time_limit: float | None = None) -> tuple[list[str], list[tuple]]:
        """Run SQL and return (column names, rows) without importing polars.

        `time_limit`: seconds after which the query is stopped (QueryStopped); given, Ctrl-C
        stops it too (a user's query: the CLI's `query`).
        """
        def work():
            with _user_errors(sql, params):
                result = self.con.execute(sql, params) if params else self.con.execute(sql)
                if result is None:  # DuckDB runs nothing for an empty query (or only comments)
                    raise CtxError("the query is empty: there is no SQL statement to run.")
                if not result.description:
                    return [], []
                return [d[0] for d in result.description], result.fetchall()

        return work() if time_limit is None else _stoppable(self.con, work, time_limit)


def _stoppable(connection, work, time_limit: float):
    from ctxmetrics.store.interrupt import run_stoppable

    return run_stoppable(connection, work, time_limit)


def _write_error(exc: Exception) -> CtxError:
    text = str(exc)
    if getattr(exc, "errno", None) == errno.ENOSPC or "No space left on device" in text:
        return CtxError("disk full while writing the store; nothing was changed.")
    first_line = (text.strip().splitlines() or [type(exc).__name__])[0]
    return CtxError(f"cannot write the store ({first_line}); nothing was changed.")


@contextmanager
def _user_errors(sql: str, params=None):
    """Turn DuckDB's error on the user's SQL (run with `params`) into one CtxError line."""
    try:
        yield
    except duckdb.Error as exc:
        raise _query_error(sql, exc, params) from None


def _query_error(sql: str, exc: duckdb.Error, params=None) -> CtxError:
    from ctxmetrics.store.refusals import refusal

    reason = refusal(sql, exc)
    if reason is not None:
        return QueryRefused(reason)
    if isinstance(params, dict) and params and "Expected 0, got" in str(exc):
        # SQL without parameters given a value: DuckDB says only "count mismatch ... Expected 0, got 1"
        first = sorted(params)[0]
        return CtxError(f"query failed: a value is given for ${first}, but the SQL has no ${first}.")
    first_line = str(exc).strip().splitlines()[0]
    missing = re.search(r"Values were not provided for the following parameters: (.+)$", first_line)
    if missing:  # DuckDB names them without their $ and without the option that gives them
        names = ", ".join(f"${name.strip()}" for name in missing.group(1).split(","))
        return CtxError(f"query failed: the SQL uses {names}; give each a value with --param NAME=VALUE.")
    return CtxError(f"query failed: {first_line}")


class _Transaction:
    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

    def __enter__(self):
        self.con.execute("begin transaction")
        return self.con

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.con.execute("commit")
        else:
            self.con.execute("rollback")
        return False
