"""Random CSV, JSON-lines and Parquet files thrown at `ingest`: each is either refused with
one line, exit 1 and a byte-identical store, or stored with sums equal to the file's."""
from __future__ import annotations

import datetime as dt
import json
import math
import shutil
import string
from pathlib import Path

import duckdb
import polars as pl
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ctxmetrics.cli import cli
from ctxmetrics.project import init_project

# Mostly good cells, so that many files are stored and their sums compared; the rest are
# the kinds of bad cell users bring.
GOOD_DAY = st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2025, 12, 31)).map(str)
DATES = st.one_of(
    GOOD_DAY, GOOD_DAY, GOOD_DAY,
    st.dates(min_value=dt.date(1890, 1, 1), max_value=dt.date(2030, 1, 1)).map(str),
    st.sampled_from(["06/01/2025", "2025-6-1", "", None, "2025-06-01T21:00:00-04:00", "2025-06-02 03:00", "0001-01-01", "x"]),
)
GOOD_LABEL = st.sampled_from(["leads", "mql", " leads", "EMEA", "NA"])
LABELS = st.one_of(GOOD_LABEL, GOOD_LABEL, GOOD_LABEL, st.text(string.printable + "\x00\x1b", max_size=6))
GOOD_VALUE = st.integers(0, 1000)
VALUES = st.one_of(
    GOOD_VALUE, GOOD_VALUE, GOOD_VALUE, GOOD_VALUE,
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, True, "ten", None, "NaN", [1], {"a": 1}]),
)
ROWS = st.lists(st.fixed_dictionaries({"date": DATES, "metric": LABELS, "value": VALUES, "region": LABELS}), min_size=0, max_size=8)


def _write(path: Path, kind: str, rows: list[dict]) -> bool:
    """Write `rows` as `kind`; False when that format cannot hold them (skipped)."""
    if kind == "jsonl":
        path.write_text("".join(json.dumps(r, allow_nan=True) + "\n" for r in rows))
        return True
    if any(isinstance(r["value"], (list, dict)) for r in rows):
        return False
    text_rows = [{k: ("" if v is None else str(v)) for k, v in r.items()} for r in rows]
    frame = pl.DataFrame(text_rows, schema={k: pl.Utf8 for k in ("date", "metric", "value", "region")})
    if kind == "csv":
        frame.write_csv(path)
    else:
        frame.write_parquet(path)
    return True


def _file_sum(path: Path, kind: str) -> float:
    """The sum of the file's values, read independently of ctxmetrics."""
    if kind == "jsonl":
        values = [json.loads(line)["value"] for line in path.read_text().splitlines()]
    elif kind == "csv":
        values = pl.read_csv(path, infer_schema=False)["value"].to_list()
    else:
        values = pl.read_parquet(path)["value"].to_list()
    return sum(float(v) for v in values)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=ROWS, kind=st.sampled_from(["csv", "jsonl", "parquet"]))
def test_random_files_are_refused_cleanly_or_stored_exactly(tmp_path_factory, rows, kind):
    folder = tmp_path_factory.mktemp("h")
    root = init_project(folder / "p", "timezone: America/New_York\n")
    seed = root / "seed.csv"
    # A stored row the random files cannot name (labels are at most 6 characters).
    seed.write_text("date,metric,value,region\n2025-06-01,stored_seed,3,EMEA\n")
    assert CliRunner().invoke(cli, ["--project", str(root), "ingest", str(seed)]).exit_code == 0
    path = folder / f"x.{kind}"
    if not _write(path, kind, rows):
        return
    store = root / "ctxmetrics.duckdb"
    before = store.read_bytes()
    result = CliRunner().invoke(cli, ["--project", str(root), "ingest", str(path)])
    assert "internal error" not in result.output and "Traceback" not in result.output
    event("refused" if result.exit_code else "stored")
    if result.exit_code != 0:
        assert result.exit_code == 1 and result.stdout == ""
        assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
        assert store.read_bytes() == before
        return
    copy = folder / "read.duckdb"
    shutil.copyfile(store, copy)
    with duckdb.connect(str(copy), read_only=True) as con:
        stored, seed_rows = con.execute(
            "select coalesce(sum(value) filter (metric != 'stored_seed'), 0), count(*) filter (metric = 'stored_seed') from obs"
        ).fetchone()
    assert seed_rows == 1
    assert math.isclose(stored, _file_sum(path, kind), rel_tol=1e-9, abs_tol=1e-9)
