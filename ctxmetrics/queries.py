"""Saved queries: `queries/NAME.sql` files run against the store."""
from __future__ import annotations

import re
from pathlib import Path

from ctxmetrics.errors import UnknownName

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$")


def saved_query_names(queries_dir: Path) -> list[str]:
    return sorted(p.stem for p in queries_dir.glob("*.sql")) if queries_dir.is_dir() else []


def resolve_query(queries_dir: Path, sql_or_name: str) -> str:
    """The SQL to run: the text of queries/NAME.sql when given a bare name, else the SQL itself.

    Raises:
        UnknownName: a bare name (one word, no spaces) with no such file.
    """
    text = sql_or_name.strip()
    if not _NAME.match(text):
        return text
    path = queries_dir / f"{text}.sql"
    if path.is_file():
        return path.read_text(encoding="utf-8")
    names = saved_query_names(queries_dir)
    available = f" Saved queries: {', '.join(names)}." if names else " There are no saved queries yet."
    raise UnknownName(f"No query named '{text}' in {queries_dir}.{available}")
