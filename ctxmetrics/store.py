"""The store: one DuckDB file holding observations, the annotation mirror and scan results.

Observations live in `obs(metric, ts, value, <dimension columns>)` with no primary key:
a multi-column key makes bulk loads ~10x slower, so idempotent re-ingest deletes the
incoming keys and inserts them again inside one transaction instead.
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import duckdb

from ctxmetrics.errors import CtxError, StoreLocked

if TYPE_CHECKING:
    import polars as pl

SCHEMA_VERSION = 1
LOCK_TIMEOUT_ENV = "CTXMETRICS_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 15.0  # seconds a command waits for another process to release the store
BASE_COLUMNS = ("metric", "ts", "value")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

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
]


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


class Store:
    """An open connection to the project's DuckDB file; use as a context manager.

    A read-only store that does not exist yet is created empty first, so reads on a new
    project work. Opening waits up to CTXMETRICS_LOCK_TIMEOUT seconds (default 15) for
    another writer to finish, then raises StoreLocked.
    """

    def __init__(self, path: Path | str, read_only: bool = False, lock_timeout: float | None = None):
        self.path = Path(path)
        self.read_only = read_only
        if lock_timeout is None:
            lock_timeout = float(os.environ.get(LOCK_TIMEOUT_ENV, DEFAULT_LOCK_TIMEOUT))
        self.lock_timeout = lock_timeout
        self.con: duckdb.DuckDBPyConnection | None = None

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
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.02
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=self.read_only)
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower():
                    raise CtxError(f"{self.path}: cannot open the store ({exc}).") from None
                if time.monotonic() >= deadline:
                    holder = re.search(r"PID (\d+)", str(exc))
                    who = f" (process {holder.group(1)})" if holder else ""
                    raise StoreLocked(
                        f"{self.path}: the store is locked by another process{who}; "
                        f"waited {self.lock_timeout:g}s. Try again when it has finished."
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
            except duckdb.Error as exc:
                raise CtxError(f"{self.path}: not a readable ctxmetrics store ({exc}).") from None

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

    def _version(self) -> int | None:
        exists = self.con.execute(
            "select count(*) from information_schema.tables where table_name = 'meta'"
        ).fetchall()[0][0]
        if not exists:
            return None
        rows = self.con.execute("select value from meta where key = 'schema_version'").fetchall()
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
        rows = self.con.execute(
            "select column_name from information_schema.columns where table_name = 'obs' order by ordinal_position"
        ).fetchall()
        return [r[0] for r in rows if r[0] not in BASE_COLUMNS]

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

    def metric_names(self) -> list[str]:
        return [r[0] for r in self.con.execute("select distinct metric from obs order by 1").fetchall()]

    # --- writes ---------------------------------------------------------------
    def upsert_observations(self, frame: "pl.DataFrame") -> tuple[int, int]:
        """Insert observations, replacing rows with the same (metric, ts, dimensions).

        Args:
            frame: columns metric (str), ts (date), value (float) and dimension columns (str).

        Returns:
            (rows added, rows replaced). All or nothing: any error leaves the store as it was.
        """
        dims = [c for c in frame.columns if c not in BASE_COLUMNS]
        with self.transaction():
            self.add_dimensions(dims)
            all_dims = self.dimension_names()
            self.con.register("incoming", frame)
            try:
                replaced = self._delete_existing_keys(dims, all_dims)
                select = ", ".join(
                    [*BASE_COLUMNS, *(quote_ident(d) if d in dims else f"null::varchar as {quote_ident(d)}" for d in all_dims)]
                )
                # Kept in file order: sorting by series costs ~40% of a fresh load, and the
                # scan reads whole metrics at once rather than one series at a time.
                self.con.execute(
                    f"insert into obs ({', '.join(map(quote_ident, [*BASE_COLUMNS, *all_dims]))}) select {select} from incoming"
                )
            finally:
                self.con.unregister("incoming")
        return frame.height - replaced, replaced

    def _delete_existing_keys(self, dims: Sequence[str], all_dims: Sequence[str]) -> int:
        lo, hi = self.con.execute("select min(ts), max(ts) from incoming").fetchall()[0]
        overlapping = self.con.execute(
            "select count(*) from obs where ts between ? and ? and metric in (select distinct metric from incoming)",
            [lo, hi],
        ).fetchall()[0][0]
        if not overlapping:  # a fresh load: skip the join entirely
            return 0
        match = ["obs.metric = incoming.metric", "obs.ts = incoming.ts"]
        for d in all_dims:
            rhs = f"incoming.{quote_ident(d)}" if d in dims else "null"
            match.append(f"obs.{quote_ident(d)} is not distinct from {rhs}")
        return self.con.execute(f"delete from obs using incoming where {' and '.join(match)}").fetchall()[0][0]

    # --- reads ------------------------------------------------------------------
    def query_df(self, sql: str, params: Sequence[Any] | dict | None = None) -> "pl.DataFrame":
        """Run SQL and return a polars DataFrame."""
        try:
            relation = self.con.sql(sql, params=params or None)
            return relation.pl() if relation is not None else None
        except duckdb.Error as exc:
            raise _query_error(exc) from None

    def query_rows(self, sql: str, params: Sequence[Any] | dict | None = None) -> tuple[list[str], list[tuple]]:
        """Run SQL and return (column names, rows) without importing polars."""
        result = self._run(sql, params)
        columns = [d[0] for d in result.description] if result.description else []
        return columns, result.fetchall() if result.description else []

    def _run(self, sql: str, params):
        try:
            return self.con.execute(sql, params) if params else self.con.execute(sql)
        except duckdb.Error as exc:
            raise _query_error(exc) from None


def _query_error(exc: Exception) -> CtxError:
    first_line = str(exc).strip().splitlines()[0]
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
