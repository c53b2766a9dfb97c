"""Naming, in the user's terms, what a read-only store connection refused to do.

DuckDB's own settings (store.READ_ONLY_SETTINGS) do the refusing; this module only words
the error afterwards, reading the statement kinds with DuckDB's parser. It never decides
what runs.
"""
from __future__ import annotations

import re

import duckdb

_PREFIX = "query is read-only: "
_OUTSIDE = "query reads only the store: "
# Statement kinds whose refusal is about the statement itself, in DuckDB's own names.
_KIND_REASONS = {
    "EXPORT": "EXPORT DATABASE writes files",
    "ATTACH": "ATTACH opens another database",
    "LOAD": "INSTALL and LOAD add extensions",
}
_PATH = re.compile(r'Cannot access (?:file|directory) "([^"]*)"')
_LOCKED = re.compile(r'Cannot change configuration option "([^"]*)"')
_WRITE = re.compile(r'Cannot execute statement of type "([^"]*)".*read-only mode')
# a write to a view (observations) fails on the view before read-only mode is reached
_VIEW_WRITE = re.compile(r"Can only (?:update|delete from) base table|is not an? table")
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
# COPY table FROM 'file', after any leading comments
_COPY_FROM = re.compile(r"(?:\s+|--[^\n]*\n|/\*.*?\*/)*copy\s+[^\s(]+\s+from\s", re.IGNORECASE | re.DOTALL)


def refusal(sql: str, exc: duckdb.Error) -> str | None:
    """One line saying what `sql` tried that a read-only query may not do, or None when
    `exc` is an ordinary SQL error (a typo, an unknown column).

    Args:
        sql: the SQL that was run (all of its statements).
        exc: the error DuckDB raised while running it.
    """
    message = str(exc)
    if locked := _LOCKED.search(message):
        return f"{_PREFIX}it cannot change the setting {locked.group(1)}"
    if write := _WRITE.search(message):
        return f"{_PREFIX}{write.group(1)} changes the store"
    if _VIEW_WRITE.search(message) and (written := _first_statement(sql, ("INSERT", "UPDATE", "DELETE"))):
        return f"{_PREFIX}{written[0]} changes the store"
    if "Persistent secrets are disabled" in message:
        return f"{_PREFIX}a persistent secret is written to disk"
    if "Cannot launch in-memory database in read-only mode" in message:
        return _PREFIX + _KIND_REASONS["ATTACH"]
    if not isinstance(exc, duckdb.PermissionException):
        return None
    path_match = _PATH.search(message)
    path = path_match.group(1) if path_match else None
    statement = _first_statement(sql, ("COPY", *_KIND_REASONS))
    if statement is not None:
        kind, text = statement
        if kind == "COPY":
            reason = "COPY … FROM reads a file" if _COPY_FROM.match(text) else "COPY … TO writes a file"
        else:
            reason = _KIND_REASONS[kind]
        return _PREFIX + reason + (f" ({path})" if path and kind != "LOAD" else "")
    if path is None:  # e.g. an extension that a function or ATTACH would need
        return _PREFIX + _KIND_REASONS["LOAD"]
    if _URL.match(path):
        return f"{_OUTSIDE}it cannot fetch {path}"
    return f"{_OUTSIDE}{path} is outside it"


def _first_statement(sql: str, kinds: tuple[str, ...]) -> tuple[str, str] | None:
    """(kind, text) of the first statement of one of `kinds` (COPY, EXPORT, ATTACH,
    INSTALL/LOAD… for one that reaches outside the store); statements run in order, so it
    is the one refused."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error:
        return None
    for statement in statements:
        try:
            kind = statement.type.name
        except ValueError:  # a kind the Python enum does not list (e.g. UPDATE EXTENSIONS)
            continue
        if kind in kinds:
            return kind, statement.query
    return None
