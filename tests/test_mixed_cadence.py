"""Files whose metrics come at different cadences: leads every day beside pipeline value
every Monday (long files) or a weekly column beside daily ones (wide files). Each metric's
cadence is read from its own dates, stored, and scanned at its own frequency."""
from __future__ import annotations

import datetime as dt
import json

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

import ctxmetrics.ingest.cadence as cadence
from ctxmetrics.cli import cli
from ctxmetrics.ingest.cadence import days_by_metric, evident_granularity, first_cadence_change, metric_cadences
from ctxmetrics.project import Project

START = dt.date(2025, 1, 6)  # a Monday
STEP_WEEK = 30  # pipeline value steps up from this week on


def invoke(*args, code=0):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result


def days(*iso):
    return pl.Series([dt.date.fromisoformat(d) for d in iso], dtype=pl.Date)


def daily_and_weekly(days_count=300, regions=("EMEA", "NA"), seed=3) -> pl.DataFrame:
    """Long rows: daily leads and Monday pipeline value per region, the latter stepping up
    by 40% at STEP_WEEK."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(days_count):
        day = START + dt.timedelta(days=i)
        for region in regions:
            rows.append((day, "leads", float(rng.poisson(50)), region))
            if i % 7 == 0:
                level = 1000.0 * (1.4 if i // 7 >= STEP_WEEK else 1.0)
                rows.append((day, "pipeline_value", float(round(level + rng.normal(0, 20))), region))
    return pl.DataFrame(rows, schema=["date", "metric", "value", "region"], orient="row")


def stored(root, metric):
    with Project(root).store(read_only=True) as store:
        return store.granularity(metric)


# --- the inference ------------------------------------------------------------------
def test_days_by_metric_reads_each_metrics_own_days():
    metrics = pl.Series(["a", "b", "a", "a", "b"])
    ts = days("2025-01-06", "2025-01-06", "2025-01-07", "2025-01-06", "2025-01-13")
    found = days_by_metric(metrics, ts, None)
    assert {k: v.to_list() for k, v in found.items()} == {
        "a": [dt.date(2025, 1, 6), dt.date(2025, 1, 7)], "b": [dt.date(2025, 1, 6), dt.date(2025, 1, 13)],
    }


def test_days_by_metric_without_the_bitmap_finds_the_same(monkeypatch):
    frame = daily_and_weekly(days_count=90)
    dense = days_by_metric(frame["metric"], frame["date"], None)
    monkeypatch.setattr(cadence, "DENSE_CELLS", 1)  # the hashing fallback for huge spans
    hashed = days_by_metric(frame["metric"], frame["date"], None)
    assert {k: v.to_list() for k, v in hashed.items()} == {k: v.to_list() for k, v in dense.items()}
    assert dense["pipeline_value"].len() == 13 and dense["leads"].len() == 90


@pytest.mark.parametrize("dates, expected", [
    (["2025-01-06", "2025-01-07"], "daily"),
    (["2025-01-06", "2025-01-13", "2025-01-20", "2025-01-27", "2025-02-03"], "weekly"),  # a month of weeks
    (["2025-01-06", "2025-01-13", "2025-01-20"], None),  # two steps of a week: a sparse daily count too
    (["2025-01-01", "2025-02-01", "2025-03-01", "2025-04-01"], "monthly"),
    (["2025-01-31", "2025-02-28", "2025-03-31"], None),
    (["2025-01-06"], None),
])
def test_evident_granularity(dates, expected):
    assert evident_granularity(days(*dates)) == expected


def test_a_metric_changing_cadence_is_found_unless_declared():
    weekly_then_daily = pl.Series([START + dt.timedelta(days=7 * i) for i in range(6)]
                                  + [START + dt.timedelta(days=36 + i) for i in range(10)])
    clean = days("2025-01-06", "2025-01-13", "2025-01-20", "2025-01-27", "2025-02-03")
    found = first_cadence_change({"pipe": weekly_then_daily, "ok": clean}, set())
    assert found is not None and found[0] == "pipe" and "a week at a time" in found[2]
    assert first_cadence_change({"pipe": weekly_then_daily, "ok": clean}, {"pipe"}) is None
    assert metric_cadences({"ok": clean, "few": clean.head(2)}) == {"ok": "weekly"}


# --- through the CLI ----------------------------------------------------------------
def test_init_ingest_and_scan_judge_a_weekly_metric_weekly_beside_a_daily_one(tmp_path):
    data = tmp_path / "crm.csv"
    daily_and_weekly().with_columns(pl.col("date").cast(pl.Utf8)).write_csv(data)
    root = tmp_path / "p"
    init = invoke("init", root, "--from", data)
    assert "Cadence of each metric, from its dates: leads daily, pipeline_value weekly." in init.output
    invoke("--project", root, "ingest", data)
    assert (stored(root, "leads"), stored(root, "pipeline_value")) == ("daily", "weekly")
    scan = invoke("--project", root, "scan").output
    assert "pipeline_value is weekly data: judged one value per week." in scan
    assert "Data gap" not in scan  # the six days between weekly rows are no gap
    out = invoke("--project", root, "why", "pipeline_value", "--since", "2025-01-01", "--until", "2026-01-01", "--json")
    steps = [a for a in json.loads(out.output)["anomalies"] if a["segment"] == {} and a["kind"] == "level_shift"]
    assert len(steps) == 1 and steps[0]["period"] == "week" and steps[0]["direction"] == "up"
    # a Monday, within a week of the step (find_changes itself dates a clean weekly step a
    # week late: the same series given to it directly starts at STEP_WEEK + 1)
    start = dt.date.fromisoformat(steps[0]["start"])
    assert start.weekday() == 0 and abs((start - START).days // 7 - STEP_WEEK) <= 1
    # per week, the two regions' 1000 each: not spread over seven days with six zeros
    assert 1800 < steps[0]["before"] < 2200


def test_without_init_the_metrics_cadences_come_from_their_own_dates(tmp_path):
    data = tmp_path / "crm.csv"
    daily_and_weekly(days_count=60).with_columns(pl.col("date").cast(pl.Utf8)).write_csv(data)
    root = tmp_path / "p"
    invoke("init", root)
    invoke("--project", root, "ingest", data, "--dims", "region")
    assert (stored(root, "leads"), stored(root, "pipeline_value")) == ("daily", "weekly")


def test_a_wide_file_with_a_weekly_column_beside_daily_ones(tmp_path):
    frame = daily_and_weekly(days_count=70, regions=("all",)).pivot("metric", index="date", values="value")
    data = tmp_path / "wide.csv"
    frame.with_columns(pl.col("date").cast(pl.Utf8)).write_csv(data)
    root = tmp_path / "p"
    assert "pipeline_value weekly" in invoke("init", root, "--from", data).output
    invoke("--project", root, "ingest", data, "--format", "wide")
    assert (stored(root, "leads"), stored(root, "pipeline_value")) == ("daily", "weekly")


def test_declared_granularity_still_wins(tmp_path):
    data = tmp_path / "crm.csv"
    daily_and_weekly(days_count=60).with_columns(pl.col("date").cast(pl.Utf8)).write_csv(data)
    root = tmp_path / "p"
    invoke("init", root)
    config = root / "ctxmetrics.yaml"
    text = config.read_text()
    assert "\nmetrics: {}\n" in text
    config.write_text(text.replace("\nmetrics: {}\n", "\nmetrics:\n  pipeline_value: {granularity: daily}\n"))
    invoke("--project", root, "ingest", data, "--dims", "region")
    assert stored(root, "pipeline_value") == "daily"


def test_one_new_week_of_a_weekly_metric_keeps_its_stored_cadence(tmp_path):
    frame = daily_and_weekly(days_count=70)
    first, latest = tmp_path / "first.csv", tmp_path / "latest.csv"
    frame.filter(pl.col("date") < START + dt.timedelta(days=63)).with_columns(pl.col("date").cast(pl.Utf8)).write_csv(first)
    # the last week: seven days of leads, one Monday of pipeline value (too few dates to tell)
    frame.filter(pl.col("date") >= START + dt.timedelta(days=63)).with_columns(pl.col("date").cast(pl.Utf8)).write_csv(latest)
    root = tmp_path / "p"
    invoke("init", root)
    invoke("--project", root, "ingest", first, "--dims", "region")
    assert invoke("--project", root, "ingest", latest, "--dims", "region").output.startswith("Ingested 16 rows")
    assert stored(root, "pipeline_value") == "weekly"


def test_a_rollup_of_a_mixed_file_keeps_each_metrics_cadence(tmp_path):
    data = tmp_path / "finance.csv"
    daily_and_weekly(days_count=60, regions=("all",)).drop("region").with_columns(pl.col("date").cast(pl.Utf8)).write_csv(data)
    root = tmp_path / "p"
    invoke("init", root)
    invoke("--project", root, "ingest", data, "--as-rollup")
    assert (stored(root, "leads_total"), stored(root, "pipeline_value_total")) == ("daily", "weekly")


# --- the fast Parquet path agrees with the general one ------------------------------
@pytest.mark.parametrize("regions", [("EMEA", "NA"), tuple(f"r{i}" for i in range(60))], ids=["grouped", "hashed"])
def test_parquet_fast_path_agrees_with_the_general_path(tmp_path, monkeypatch, regions):
    import ctxmetrics.ingest.ingest as ingest
    from ctxmetrics.ingest.fast_parquet import _fast_long
    from ctxmetrics.ingest.sources import _source
    from ctxmetrics.store.database import Store

    data = tmp_path / "crm.parquet"
    daily_and_weekly(days_count=120, regions=regions).write_parquet(data)
    found = {}
    for name, fast in (("fast", True), ("general", False)):
        with Store(tmp_path / f"{name}.duckdb") as store:
            if fast:
                assert _fast_long(store, _source(data), [], []) is not None
            else:
                monkeypatch.setattr(ingest, "_fast_long", lambda *a, **k: None)
            ingest.ingest_paths(store, [data])
            found[name] = ({m: store.granularity(m) for m in ("leads", "pipeline_value")},
                           store.query_rows("select * from observations order by all")[1])
    assert found["fast"] == found["general"]
    assert found["fast"][0] == {"leads": "daily", "pipeline_value": "weekly"}


# --- bad input ----------------------------------------------------------------------
def mixed_up(frame: pl.DataFrame) -> pl.DataFrame:
    """The weekly metric's EMEA rows of weeks 6-8 written daily, after six weekly ones."""
    extra = [(START + dt.timedelta(days=42 + i), "pipeline_value", 150.0, "EMEA") for i in range(1, 21) if i % 7]
    return pl.concat([frame, pl.DataFrame(extra, schema=frame.schema, orient="row")]).sort("date", "metric", "region")


def test_a_metric_whose_own_dates_mix_cadences_is_refused_naming_file_row_and_field(tmp_path):
    frame = mixed_up(daily_and_weekly(days_count=90))
    data = tmp_path / "crm.csv"
    frame.with_columns(pl.col("date").cast(pl.Utf8)).write_csv(data)
    root = tmp_path / "p"
    invoke("init", root)
    result = invoke("--project", root, "ingest", data, "--dims", "region", code=1)
    line = 2 + frame.with_row_index().filter(
        (pl.col("metric") == "pipeline_value") & (pl.col("date") == START + dt.timedelta(days=43)))["index"][0]
    assert result.output == (
        f"Error: {data}:{line}: column 'date': 2025-02-18: the dates step a week at a time up to 2025-02-17, "
        "then a day at a time from this row on; a metric keeps one cadence: ingest the parts as separate metrics "
        "(--metric NAME), or declare metrics.pipeline_value.granularity in ctxmetrics.yaml.\n"
    )
    with Project(root).store(read_only=True) as store:
        assert store.metric_names() == []


def test_parquet_with_a_metric_mixing_cadences_names_the_row(tmp_path):
    data = tmp_path / "crm.parquet"
    mixed_up(daily_and_weekly(days_count=90)).write_parquet(data)
    root = tmp_path / "p"
    invoke("init", root)
    result = invoke("--project", root, "ingest", data, "--dims", "region", code=1)
    assert result.output.startswith(f"Error: {data}: row ")
    assert "metrics.pipeline_value.granularity" in result.output and "Traceback" not in result.output


def test_a_wide_column_mixing_cadences_is_refused(tmp_path):
    rows = ["date,leads,pipeline_value"]
    for i in range(60):
        day = START + dt.timedelta(days=i)
        weekly = i < 35 and i % 7 == 0 or i >= 35  # weekly for five weeks, then daily
        rows.append(f"{day},{50 + i % 3},{1000 if weekly else ''}")
    data = tmp_path / "wide.csv"
    data.write_text("\n".join(rows) + "\n")
    root = tmp_path / "p"
    invoke("init", root)
    result = invoke("--project", root, "ingest", data, "--format", "wide", code=1)
    assert result.output.startswith(f"Error: {data}:38: column 'date': 2025-02-11: the dates step a week at a time")
    assert "metrics.pipeline_value.granularity" in result.output
