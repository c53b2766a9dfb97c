"""Ingest: formats, idempotency, and every kind of bad input leaving the store unchanged."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap

import polars as pl
import pytest

from ctxmetrics.project import Project

GOOD = textwrap.dedent(
    """\
    date,metric,value,region,channel
    2026-03-01,leads,10,EMEA,paid
    2026-03-01,leads,5,NA,paid
    2026-03-02,leads,7,EMEA,paid
    2026-03-01,mql,3,EMEA,organic
    """
)


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


def sums(run):
    result = run("query", "select metric, sum(value) as total from observations group by all order by 1", "--json")
    assert result.exit_code == 0, result.output
    return {row["metric"]: row["total"] for row in json.loads(result.stdout)}


def snapshot(project_dir):
    with Project(project_dir).store(read_only=True) as store:
        return store.query_rows("select * from obs order by all")


def test_long_csv_sums_are_stable_across_reingest(run, project_dir):
    data = write(project_dir / "data.csv", GOOD)
    first = run("ingest", data)
    assert first.exit_code == 0, first.output
    assert first.stdout == "Ingested 4 rows from 1 file: 4 added, 0 replaced.\n"
    assert sums(run) == {"leads": 22.0, "mql": 3.0}
    again = run("ingest", data)
    assert again.stdout == "Ingested 4 rows from 1 file: 0 added, 4 replaced, all with the same value.\n"
    assert sums(run) == {"leads": 22.0, "mql": 3.0}


def test_reingest_replaces_changed_values(run, project_dir):
    run("ingest", write(project_dir / "a.csv", GOOD))
    changed = write(project_dir / "b.csv", "date,metric,value,region,channel\n2026-03-01,leads,100,EMEA,paid\n")
    result = run("ingest", changed)
    assert result.exit_code == 0
    assert result.stdout == "Ingested 1 row from 1 file: 0 added, 1 replaced, all with a new value (on 2026-03-01).\n"
    assert sums(run)["leads"] == 112.0


def test_wide_format(run, project_dir):
    data = write(
        project_dir / "wide.csv",
        """\
        date,region,leads,mql
        2026-03-01,EMEA,10,4
        2026-03-01,NA,6,
        """,
    )
    result = run("ingest", data, "--format", "wide", "--dims", "region")
    assert result.exit_code == 0, result.output
    assert sums(run) == {"leads": 16.0, "mql": 4.0}


def test_parquet_and_jsonl(run, project_dir):
    frame = pl.DataFrame(
        {"date": [dt.date(2026, 1, 1)] * 2, "metric": ["leads", "mql"], "value": [4, 2], "region": ["NA", "NA"]}
    )
    frame.write_parquet(project_dir / "d.parquet")
    lines = "\n".join(json.dumps(r) for r in [{"date": "2026-01-02", "metric": "leads", "value": 1.5, "region": "NA"}])
    (project_dir / "d.jsonl").write_text(lines + "\n")
    result = run("ingest", project_dir / "d.parquet", project_dir / "d.jsonl")
    assert result.exit_code == 0, result.output
    assert sums(run) == {"leads": 5.5, "mql": 2.0}


def test_events_format_counts_distinct_entities_per_day(run, project_dir):
    data = write(
        project_dir / "crm.csv",
        """\
        entity_id,stage,ts,region
        a,leads,2026-03-01T09:00:00,EMEA
        b,leads,2026-03-01T10:30:00,EMEA
        a,leads,2026-03-01T11:00:00,EMEA
        a,mql,2026-03-03T08:00:00,EMEA
        """,
    )
    result = run("ingest", data, "--format", "events")
    assert result.exit_code == 0, result.output
    rows = json.loads(run("query", "select metric, ts, value from observations order by 1, 2", "--json").stdout)
    assert rows == [
        {"metric": "leads", "ts": "2026-03-01", "value": 2.0},
        {"metric": "mql", "ts": "2026-03-03", "value": 1.0},
    ]


BAD_INPUTS = {
    "missing column": ("date,metric,region\n2026-01-01,leads,EMEA\n", ["x.csv: column 'value' is missing"]),
    "extra column": (
        "date,metric,value,regoin\n2026-01-01,leads,1,EMEA\n",
        ["x.csv: column 'regoin': not a known dimension", "Did you mean 'region'?"],
    ),
    "bad date": ("date,metric,value\n2026-01-01,leads,1\n2026-02-30,leads,1\n", ["x.csv:3: column 'date': '2026-02-30'"]),
    "non-numeric": ("date,metric,value\n2026-01-01,leads,ten\n", ["x.csv:2: column 'value': 'ten' is not a number"]),
    "nan": ("date,metric,value\n2026-01-01,leads,1\n2026-01-02,leads,NaN\n", ["x.csv:3: column 'value': 'NaN' is not a finite number"]),
    "inf": ("date,metric,value\n2026-01-01,leads,inf\n", ["x.csv:2: column 'value': 'inf' is not a finite number"]),
    "duplicate key": (
        "date,metric,value,region\n2026-01-01,leads,1,EMEA\n2026-01-01,leads,2,NA\n2026-01-01,leads,3,EMEA\n",
        ["x.csv:4: duplicate of line 2 (same metric=leads, ts=2026-01-01, region=EMEA)"],
    ),
    "empty file": ("", ["x.csv: the file has no data rows."]),
    "header only": ("date,metric,value\n", ["x.csv: the file has no data rows."]),
    "empty metric": ("date,metric,value\n2026-01-01,,1\n", ["x.csv:2: column 'metric': the value is empty."]),
    "repeated column": (
        "date,metric,value,value\n2026-01-01,leads,1,2\n",
        ["x.csv: the header has an empty or repeated column name."],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_exit_1_and_store_unchanged(run, project_dir, case):
    text, expected = BAD_INPUTS[case]
    run("ingest", write(project_dir / "good.csv", GOOD))
    before = snapshot(project_dir)
    bad = project_dir / "x.csv"
    bad.write_text(text)
    # The good file goes first: a failure in the second file must not keep the first.
    result = run("ingest", project_dir / "good.csv", bad)
    assert result.exit_code == 1
    assert result.stdout == ""
    message = result.stderr.strip()
    assert message.startswith("Error: ") and "\n" not in message and "Traceback" not in message
    for fragment in expected:
        assert fragment.replace("x.csv", str(bad)) in message
    assert snapshot(project_dir) == before


def test_unknown_file_type_and_missing_path(run, project_dir):
    (project_dir / "data.docx").write_text("x")
    result = run("ingest", project_dir / "data.docx")
    assert result.exit_code == 1
    assert f"Error: {project_dir / 'data.docx'}: unknown file type '.docx'" in result.stderr
    missing = run("ingest", project_dir / "nope.csv")
    assert missing.exit_code == 1
    assert missing.stderr == f"Error: {project_dir / 'nope.csv'}: no such file.\n"


def test_unknown_format_option_is_usage_error(run, project_dir):
    result = run("ingest", "x.csv", "--format", "xml")
    assert result.exit_code == 2
    assert "Invalid value for '--format'" in result.stderr


def test_locked_store_is_reported_and_left_unchanged(run, project_dir, monkeypatch):
    data = write(project_dir / "data.csv", GOOD)
    run("ingest", data)
    before = snapshot(project_dir)
    store = project_dir / "ctxmetrics.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb,sys,time; c=duckdb.connect({str(store)!r}); print('ok', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ok"
        monkeypatch.setenv("CTXMETRICS_LOCK_TIMEOUT", "0.3")
        result = run("ingest", data)
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == 1
    assert f"Error: {store}: the store is locked by another process" in result.stderr
    assert "waited 0.3s" in result.stderr
    assert snapshot(project_dir) == before


def test_outside_a_project_says_so(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from ctxmetrics.cli import cli

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["query", "select 1"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: No ctxmetrics.yaml found in ")


# --- the Parquet fast path (DuckDB checks and loads the file) must equal the polars path ---
def _long_frame():
    return pl.DataFrame(
        {
            "date": [dt.date(2026, 1, d) for d in (1, 1, 2, 2, 3)],
            "metric": ["leads", "leads", "leads", "mql", "mql"],
            "value": [1, 2, 3, 4, 5],
            "region": ["EMEA", "NA", "", None, "EMEA"],
        }
    )


def _ingest(tmp_path, name, files, use_fast=True):
    """Ingest each file in turn into a new store: [IngestResult...], sorted rows."""
    import ctxmetrics.ingest.ingest as ingest
    from ctxmetrics.ingest.sources import _source
    from ctxmetrics.store.database import Store

    fast_long = ingest._fast_long if use_fast else (lambda *a: None)
    results = []
    with Store(tmp_path / f"{name}.duckdb") as store:
        for path in files:
            assert (fast_long(store, _source(path), [], []) is not None) == use_fast
            original, ingest._fast_long = ingest._fast_long, fast_long
            try:
                results.append(ingest.ingest_paths(store, [path]))
            finally:
                ingest._fast_long = original
        rows = store.query_rows("select * from obs order by all")[1]
    return results, rows


@pytest.fixture(params=["grouped", "hashed"])
def key_check(request, monkeypatch):
    """Run a fast-path test with each way of checking the keys, whatever the file's density."""
    import ctxmetrics.ingest.fast_parquet as ingest

    monkeypatch.setattr(ingest, "DENSE_ROWS_PER_GROUP", 0 if request.param == "grouped" else 10**18)
    return request.param


def test_parquet_fast_path_matches_polars_path(tmp_path, key_check):
    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    _long_frame().write_parquet(first)
    # Lacks the 'region' dimension, on days without stored rows (on stored days it would
    # double count them and is refused).
    pl.DataFrame(
        {"date": [dt.date(2026, 1, 7), dt.date(2026, 1, 8), dt.date(2026, 1, 9)], "metric": ["leads"] * 3, "value": [9.5, 8.0, 7.0]}
    ).write_parquet(second)
    fast = _ingest(tmp_path, "fast", [first, first, second])
    slow = _ingest(tmp_path, "slow", [first, first, second], use_fast=False)
    assert fast == slow
    results, rows = fast
    assert [(r.added, r.replaced) for r in results] == [(5, 0), (0, 5), (3, 0)]
    assert ("leads", dt.date(2026, 1, 2), 3.0, "(none)") in rows and ("mql", dt.date(2026, 1, 2), 4.0, "(none)") in rows
    assert ("leads", dt.date(2026, 1, 7), 9.5, None) in rows


def test_partial_reingest_replaces_matching_keys_and_adds_the_rest(tmp_path):
    path = tmp_path / "a.parquet"
    _long_frame().write_parquet(path)
    again = tmp_path / "again.parquet"
    _long_frame().with_columns(pl.col("value") * 10).vstack(
        pl.DataFrame({"date": [dt.date(2026, 1, 4)], "metric": ["mql"], "value": [6], "region": ["NA"]})
    ).write_parquet(again)
    results, rows = _ingest(tmp_path, "s", [path, again, again])
    assert [(r.added, r.replaced) for r in results] == [(5, 0), (1, 5), (0, 6)]
    assert len(rows) == 6 and sum(r[2] for r in rows) == 10 * 15 + 6


PARQUET_BAD = {
    "duplicate": (
        {"date": [dt.date(2026, 1, 1)] * 3, "metric": ["a", "b", "a"], "value": [1.0, 2.0, 3.0]},
        "x.parquet: row 3: duplicate of row 1 (same metric=a, ts=2026-01-01).",
    ),
    "nan": (
        {"date": [dt.date(2026, 1, 1), dt.date(2026, 1, 2)], "metric": ["a", "a"], "value": [1.0, float("nan")]},
        "x.parquet: row 2: column 'value': nan is not a finite number.",
    ),
    "null value": (
        {"date": [dt.date(2026, 1, 1), dt.date(2026, 1, 2)], "metric": ["a", "a"], "value": [1.0, None]},
        "x.parquet: row 2: column 'value': the value is empty.",
    ),
    "blank metric": (
        {"date": [dt.date(2026, 1, 1), dt.date(2026, 1, 2)], "metric": ["a", " "], "value": [1.0, 2.0]},
        "x.parquet: row 2: column 'metric': the value is empty.",
    ),
}


@pytest.mark.parametrize("case", sorted(PARQUET_BAD))
def test_bad_parquet_gets_the_precise_message_and_store_unchanged(run, project_dir, case):
    data, expected = PARQUET_BAD[case]
    run("ingest", write(project_dir / "good.csv", GOOD))
    before = snapshot(project_dir)
    bad = project_dir / "x.parquet"
    pl.DataFrame(data).write_parquet(bad)
    result = run("ingest", bad)
    assert result.exit_code == 1
    assert result.stderr == f"Error: {expected.replace('x.parquet', str(bad))}\n"
    assert snapshot(project_dir) == before


def _takes_fast_path(path) -> bool:
    import ctxmetrics.ingest.fast_parquet as ingest
    from ctxmetrics.ingest.sources import _source
    from ctxmetrics.store.database import Store

    with Store(path.with_suffix(".probe.duckdb")) as store:
        return ingest._fast_long(store, _source(path), [], []) is not None


# Values the row-group statistics cannot show (NaN never counts in them; a file may have
# none): the fast path takes the file, the insert meets the value and rolls back, and the
# polars path reports it.
PARQUET_BAD_VALUE_IN_INSERT = {
    "nan": ({"value": [1.0, float("nan")]}, {}, "row 2: column 'value': nan is not a finite number."),
    "negative, no statistics": (
        {"value": [1.0, -3.0]}, {"statistics": False},
        "row 2: column 'value': -3 is negative, and 'a' is a count; declare it in ctxmetrics.yaml "
        "as {type: amount} (money, refunds) or {type: gauge} (a level) if it can go below zero.",
    ),
}


@pytest.mark.parametrize("case", sorted(PARQUET_BAD_VALUE_IN_INSERT))
def test_parquet_values_the_statistics_miss_are_refused_by_the_insert(run, project_dir, case):
    values, options, expected = PARQUET_BAD_VALUE_IN_INSERT[case]
    run("ingest", write(project_dir / "good.csv", GOOD))
    before = snapshot(project_dir)
    bad = project_dir / "x.parquet"
    pl.DataFrame({"date": [dt.date(2026, 1, 1), dt.date(2026, 1, 2)], "metric": ["a", "a"], **values}).write_parquet(bad, **options)
    assert _takes_fast_path(bad)
    result = run("ingest", bad)
    assert (result.exit_code, result.stderr) == (1, f"Error: {bad}: {expected}\n")
    assert snapshot(project_dir) == before


@pytest.mark.parametrize("blank", [None, "(none)"])
def test_parquet_keys_equal_only_as_stored_are_left_to_the_polars_path(tmp_path, blank, key_check):
    # An empty dimension cell is stored as "(none)": next to a null or a literal "(none)"
    # on the same metric and day it is the same key.
    path = tmp_path / "a.parquet"
    pl.DataFrame(
        {"date": [dt.date(2026, 1, 1)] * 3, "metric": ["a"] * 3, "value": [1.0, 2.0, 3.0], "region": ["EU", "", blank]}
    ).write_parquet(path)
    assert not _takes_fast_path(path)
    pl.DataFrame(
        {"date": [dt.date(2026, 1, 1)] * 3, "metric": ["a"] * 3, "value": [1.0, 2.0, 3.0], "region": ["EU", "", "NA"]}
    ).write_parquet(path)
    assert _takes_fast_path(path)


def test_parquet_repeated_key_is_left_to_the_polars_path(tmp_path, key_check):
    path = tmp_path / "a.parquet"
    days = [dt.date(2026, 1, 1) + dt.timedelta(days=d) for d in range(40)]
    frame = pl.DataFrame({"date": days * 2, "metric": ["a"] * 40 + ["b"] * 40, "value": [1.0] * 80, "region": ["EU"] * 80})
    frame.write_parquet(path)
    assert _takes_fast_path(path)
    frame.vstack(frame.slice(5, 1)).write_parquet(path)  # row 81 repeats row 6's key
    assert not _takes_fast_path(path)


def test_parquet_key_check_follows_the_rows_per_group(tmp_path):
    # Every day of 128 for two metrics: 128 rows per (metric, 64-day block); the same
    # metrics on one day of each block: 1 row per group.
    import ctxmetrics.ingest.fast_parquet as ingest
    from ctxmetrics.store import parquet_file
    from ctxmetrics.store.database import Store

    start = dt.date(2026, 1, 1) - dt.timedelta(days=(dt.date(2026, 1, 1) - dt.date(1970, 1, 1)).days % 64)
    dense, sparse = tmp_path / "dense.parquet", tmp_path / "sparse.parquet"
    days = [start + dt.timedelta(days=d) for d in range(128)]
    pl.DataFrame({"date": days * 2, "metric": ["a"] * 128 + ["b"] * 128, "value": [1.0] * 256}).write_parquet(dense)
    pl.DataFrame({"date": [start, start + dt.timedelta(days=64)] * 2, "metric": ["a", "a", "b", "b"], "value": [1.0] * 4}).write_parquet(sparse)
    first = (start - dt.date(1970, 1, 1)).days
    with Store(tmp_path / "s.duckdb") as store:
        found = {p.stem: (parquet_file.labels(store, p, "date", ["metric"]), parquet_file.date_span(store, p, "date"))
                 for p in (dense, sparse)}
    assert (found["dense"][0].rows, found["sparse"][0].rows) == (256, 4)
    assert (found["dense"][1], found["sparse"][1]) == ((first, first + 127), (first, first + 64))
    assert ingest._many_rows_per_group(*found["dense"]) and not ingest._many_rows_per_group(*found["sparse"])
    assert not ingest._many_rows_per_group(found["dense"][0], None)  # no statistics: hashing


def test_parquet_without_statistics_has_no_date_span(tmp_path):
    from ctxmetrics.store import parquet_file
    from ctxmetrics.store.database import Store

    path = tmp_path / "a.parquet"
    pl.DataFrame({"date": [dt.date(2026, 1, 1)], "metric": ["a"], "value": [1.0]}).write_parquet(path, statistics=False)
    with Store(tmp_path / "s.duckdb") as store:
        assert parquet_file.date_span(store, path, "date") is None


def test_empty_parquet_is_left_to_the_polars_path(tmp_path):
    path = tmp_path / "a.parquet"
    pl.DataFrame({"date": [dt.date(2026, 1, 1)], "metric": ["a"], "value": [1.0]}).clear().write_parquet(path)
    assert not _takes_fast_path(path)


def test_parquet_fast_path_finds_the_days_across_day_blocks(tmp_path, key_check):
    # Weekly rows over 1970-01-01 (day 0) and several 64-day blocks, one key repeated in
    # another block: the fast path stores what the polars path does, as weekly data.
    days = [dt.date(1969, 10, 4) + dt.timedelta(weeks=w) for w in range(40)]
    path = tmp_path / "w.parquet"
    pl.DataFrame({"date": days * 2, "metric": ["a"] * 40 + ["b"] * 40, "value": [float(i) for i in range(80)]}).write_parquet(path)
    fast = _ingest(tmp_path, "fast", [path])
    assert fast == _ingest(tmp_path, "slow", [path], use_fast=False)
    assert len(fast[1]) == 80
    from ctxmetrics.store.database import Store

    with Store(tmp_path / "fast.duckdb", read_only=True) as store:
        assert store.granularity("a") == "weekly"


def test_parquet_labels_needing_cleaning_are_cleaned(tmp_path):
    path = tmp_path / "a.parquet"
    pl.DataFrame({"date": [dt.date(2026, 1, 1)] * 2, "metric": [" leads", "mql "], "value": [1.0, 2.0], "region": ["EU ", "  "]}).write_parquet(path)
    _, rows = _ingest(tmp_path, "s", [path], use_fast=False)  # the fast path declines: labels need cleaning
    assert rows == [("leads", dt.date(2026, 1, 1), 1.0, "EU"), ("mql", dt.date(2026, 1, 1), 2.0, "(none)")]


def cadence_rows(first: str, steps: list[int]) -> list[tuple[dt.date, int]]:
    """(day, value) rows from `first`, each next day `steps[i]` days after the one before."""
    day = dt.date.fromisoformat(first)
    rows = [(day, 10)]
    for i, step in enumerate(steps):
        day += dt.timedelta(days=step)
        rows.append((day, 10 + i % 5))
    return rows


def write_series(path, rows):
    path.write_text("date,value\n" + "".join(f"{d},{v}\n" for d, v in rows))
    return path


@pytest.mark.parametrize("steps, line, words", [
    # 60 days, then weekly totals: was read as daily data with 6 gap days between weekly spikes
    ([1] * 59 + [7] * 9, 62,
     "2024-03-07: the dates step a day at a time up to 2024-02-29, then a week at a time from this row on"),
    ([7] * 9 + [1] * 30, 12,
     "2024-03-05: the dates step a week at a time up to 2024-03-04, then a day at a time from this row on"),
    # weekly totals, one week dated a day early: the whole file was read as daily data with gaps
    ([7] * 6 + [6, 8] + [7] * 5, 9, "2024-02-18: the dates step a week at a time up to 2024-02-12, then 6 days to this one"),
])
def test_a_metric_whose_cadence_changes_is_refused_naming_the_row(run, project_dir, steps, line, words):
    data = write_series(project_dir / "signups.csv", cadence_rows("2024-01-01", steps))
    result = run("ingest", data)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"Error: {data}:{line}: column 'date': {words}; a metric keeps one cadence: ingest the parts "
        "as separate metrics (--metric NAME), or declare metrics.signups.granularity in ctxmetrics.yaml.\n"
    )
    assert snapshot(project_dir)[1] == []


def test_a_parquet_file_whose_cadence_changes_names_the_row_too(run, project_dir):
    rows = cadence_rows("2024-01-01", [1] * 59 + [7] * 9)
    data = project_dir / "signups.parquet"
    pl.DataFrame({"date": [d for d, _ in rows], "metric": "signups", "value": [float(v) for _, v in rows]}).write_parquet(data)
    result = run("ingest", data)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {data}: row 61: column 'date': 2024-03-07: the dates step a day")
    assert snapshot(project_dir)[1] == []


def test_a_declared_granularity_takes_a_file_whose_cadence_changes(run, project_dir):
    config = project_dir / "ctxmetrics.yaml"
    config.write_text(config.read_text().replace("metrics:\n", "metrics:\n  signups: {granularity: weekly}\n", 1))
    data = write_series(project_dir / "signups.csv", cadence_rows("2024-01-01", [1] * 59 + [7] * 9))
    result = run("ingest", data)
    assert result.exit_code == 0, result.output
    with Project(project_dir).store(read_only=True) as store:
        assert store.granularity("signups") == "weekly"


@pytest.mark.parametrize("steps", [
    [1] * 30 + [15] + [1] * 30,  # a daily export with two weeks missing
    [1] * 30 + [7, 7, 7] + [1] * 30,  # three weekly readings: too few to be a cadence
    [7] * 20,  # weekly throughout
    [7] * 6 + [14] + [7] * 5,  # weekly with a week missing
    [3, 2, 4, 3, 8, 7, 7, 7, 7, 2],  # sparse daily counts (days without any left out)
])
def test_one_cadence_with_gaps_is_not_a_change(run, project_dir, steps):
    result = run("ingest", write_series(project_dir / "signups.csv", cadence_rows("2024-01-01", steps)))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("text, cell", [
    ("date;revenue\n2024-01-01;12,5\n", "12,5"),  # a semicolon export's decimal comma
    ('date,revenue\n2024-01-01,"1,234"\n', "1,234"),  # or a thousands separator: not guessed either way
])
def test_a_number_with_a_comma_says_why_it_is_refused(run, project_dir, text, cell):
    # Was "'12,5' is not a number." with nothing on what to change in the export.
    data = project_dir / "revenue.csv"
    data.write_text(text)
    result = run("ingest", data, "--value-col", "revenue")
    assert (result.exit_code, result.stdout) == (1, "")
    hint = " or, if the file writes decimal commas (12,5 or 1.234,5), pass --decimal-comma" if ";" in text else ""
    assert result.stderr == (
        f"Error: {data}:2: column 'revenue': '{cell}' is not a number: a comma is read neither as a decimal point nor "
        f"as a thousands separator; export the numbers with a decimal point and no separators (12.5, 1234){hint}.\n"
    )
    assert snapshot(project_dir)[1] == []


def test_a_number_with_both_marks_reads_one_way_only(run, project_dir):
    # `1.234,5`: the later mark is the decimal one (issue-qab; refused before, as `12,5` still is)
    data = project_dir / "revenue.csv"
    data.write_text("date;revenue\n2024-01-01;1.234,5\n2024-01-02;12,5\n")
    assert run("ingest", data, "--value-col", "revenue").exit_code == 0
    assert [row[2] for row in snapshot(project_dir)[1]] == [1234.5, 12.5]


def test_monthly_data_dated_at_each_month_end_is_monthly(run, project_dir):
    # Was read as daily data with a month-long gap after every value (scan listed 35 gaps).
    import calendar

    rows = [(dt.date(y, m, calendar.monthrange(y, m)[1]), 100 + m) for y in (2023, 2024) for m in range(1, 13)]
    result = run("ingest", write_series(project_dir / "sales.csv", rows))
    assert result.exit_code == 0, result.output
    with Project(project_dir).store(read_only=True) as store:
        assert store.granularity("sales") == "monthly"


def test_a_year_month_date_names_the_format_that_reads_it(run, project_dir):
    # The hint was "--date-format %m/%d/%Y", a day-month order the cell does not have.
    data = project_dir / "sales.csv"
    data.write_text("month,value\n2024-01,5\n2024-02,6\n")
    result = run("ingest", data, "--date-col", "month")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"Error: {data}:2: column 'month': '2024-01' is a month, not a date; "
        "pass --date-format %Y-%m to read it as the month's first day.\n"
    )
    assert run("ingest", data, "--date-col", "month", "--date-format", "%Y-%m").exit_code == 0
    with Project(project_dir).store(read_only=True) as store:
        assert store.granularity("sales") == "monthly"


@pytest.mark.parametrize("content", [b"", b"\n\n  \n", b"\xef\xbb\xbf"])
def test_an_empty_json_lines_file_says_it_has_no_rows(run, project_dir, content):
    # Was "cannot be read as jsonl (Cannot infer NDJSON types on empty reader because empty string is not ...)".
    data = project_dir / "leads.jsonl"
    data.write_bytes(content)
    result = run("ingest", data)
    assert (result.exit_code, result.stderr) == (1, f"Error: {data}: the file has no data rows.\n")


@pytest.mark.parametrize("command", [["ingest", "leads.csv"], ["scan"], ["query", "select 1"]])
def test_a_store_in_a_missing_folder_names_the_folder(run, project_dir, command):
    # Was DuckDB's 'Cannot open file ".../data/x.duckdb": No such file or directory' (for scan,
    # about its lock file), which read as if the store itself had to exist.
    config = project_dir / "ctxmetrics.yaml"
    config.write_text(config.read_text().replace("store: ctxmetrics.duckdb", "store: data/x.duckdb"))
    (project_dir / "leads.csv").write_text("date,value\n2026-01-01,3\n")
    result = run(*[project_dir / arg if arg.endswith(".csv") else arg for arg in command])
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"Error: {project_dir / 'data' / 'x.duckdb'}: the store's folder {project_dir / 'data'} does not exist; "
        "create it, or change 'store:' in the project file.\n"
    )
    assert not (project_dir / "data").exists()
