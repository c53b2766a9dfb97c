"""Saved queries (`queries/NAME.sql` files run against the store) and exporting a
query's result to a file the user names."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from ctxmetrics.errors import CtxError, UnknownName

if TYPE_CHECKING:
    from ctxmetrics.store.database import Store

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$")


def saved_query_names(queries_dir: Path) -> list[str]:
    return sorted(p.stem for p in queries_dir.glob("*.sql")) if queries_dir.is_dir() else []


def resolve_query(queries_dir: Path, sql_or_name: str) -> str:
    """The SQL to run: the text of queries/NAME.sql when given a bare name, else the SQL itself.

    Raises:
        UnknownName: a bare name (one word, no spaces) with no such file.
        CtxError: SQL of more than one statement.
    """
    text = sql_or_name.strip()
    if not _NAME.match(text):
        return _one_statement(text, "the query")
    path = queries_dir / f"{text}.sql"
    if path.is_file():
        return _one_statement(path.read_text(encoding="utf-8"), str(path))
    names = saved_query_names(queries_dir)
    available = f" Saved queries: {', '.join(names)}." if names else " There are no saved queries yet."
    raise UnknownName(f"No query named '{text}' in {queries_dir}.{available}")


def _one_statement(sql: str, where: str) -> str:
    """`sql`, refused when it holds several statements: DuckDB returns only the last
    one's result, so the others' would be dropped without a word."""
    try:
        count = len(duckdb.extract_statements(sql))
    except duckdb.Error:  # a syntax error: running it reports it with its position
        return sql
    if count > 1:
        raise CtxError(
            f"{where} holds {count} SQL statements; a query shows one result, so run one statement at a time."
        )
    return sql


def write_parquet(store: "Store", sql: str, params: dict[str, Any] | None, target: Path,
                  project_files: tuple[Path, ...] = (), time_limit: float | None = None) -> int:
    """Run `sql` on the (read-only) store and write its result to the Parquet file `target`.

    `project_files` are files and folders of the project that an export must never
    replace (the config, the timeline, the saved queries); `time_limit` as for
    `Store.query_rows`.

    The query runs first, so a refused or failing query writes nothing; the file is then
    written beside `target` and renamed over it, so it is never left half-written.

    Returns:
        The number of rows written.

    Raises:
        CtxError: `target` is the store or another project file, cannot be written, or
            the query has no result.
    """
    import pyarrow.parquet as pq

    target = Path(target)
    if target.resolve() in (store.path.resolve(), Path(f"{store.path}.wal").resolve()):
        raise CtxError(f"--parquet {target}: that is the project's store; name another file.")
    if any(target.resolve() == p.resolve() or p.resolve() in target.resolve().parents for p in project_files):
        raise CtxError(f"--parquet {target}: that is a file of the project; name another file.")
    if not target.parent.is_dir():
        raise CtxError(f"--parquet {target}: folder {target.parent} does not exist.")
    table = store.query_arrow(sql, params, time_limit)
    if table is None:
        raise CtxError(f"--parquet {target}: the query returns no result to write; use a SELECT.")
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        with open(partial, "xb") as sink:
            pq.write_table(table, sink)
        os.replace(partial, target)
    except BaseException as exc:
        partial.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise CtxError(f"--parquet {target}: cannot write it ({exc.strerror or exc}).") from None
        raise
    return table.num_rows
