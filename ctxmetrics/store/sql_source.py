"""Query results from a database, read through Arrow (ADBC drivers) for `ingest --sql`.

The query runs as the user wrote it, in a read-only transaction where the database
supports one; its result then goes through the same validation as a file.
"""
from __future__ import annotations

from urllib.parse import urlsplit

import polars as pl

from ctxmetrics.errors import CtxError, InputError

# URL scheme -> (ADBC driver module, pip extra that installs it)
DRIVERS = {
    "postgresql": ("adbc_driver_postgresql", "postgres"),
    "postgres": ("adbc_driver_postgresql", "postgres"),
}


def read_query(url: str, sql: str) -> pl.DataFrame:
    """Run `sql` against the database at `url` and return its result.

    Raises:
        CtxError: the driver is not installed or the URL's scheme has none.
        InputError: the database refused the connection or the query.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme not in DRIVERS:
        raise CtxError(
            f"--db: no driver for '{scheme or url}' URLs; supported: {', '.join(sorted(DRIVERS))}://…"
        )
    module, extra = DRIVERS[scheme]
    try:
        dbapi = __import__(f"{module}.dbapi", fromlist=["connect"])
    except ImportError:
        raise CtxError(f"--db: reading {scheme} needs the ADBC driver; pip install 'ctxmetrics[{extra}]'.") from None
    try:
        with dbapi.connect(url) as con, con.cursor() as cur:
            cur.execute("begin transaction read only")
            cur.execute(sql)
            table = cur.fetch_arrow_table()
            cur.execute("rollback")
    except Exception as exc:  # the drivers raise their own DB-API error classes
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"query failed: {first_line}") from None
    return pl.from_arrow(table)
