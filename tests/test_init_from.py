"""`ctxmetrics init`: a minimal config, or one fitted to the user's files with --from."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from click.testing import CliRunner

from ctxmetrics.cli import cli
from ctxmetrics.config import (
    COLUMN_ROLES, PROJECT_KEYS, DetectionSettings, EventWindow, ExplainSettings, MetricDef, SparkSettings, load_config,
)

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_plain_init_is_minimal_not_the_demo(tmp_path):
    assert invoke("init", tmp_path / "p").exit_code == 0
    config = load_config(tmp_path / "p" / "ctxmetrics.yaml")
    assert (config.dimensions, config.funnel, config.metrics) == ((), (), {})
    assert "added automatically" not in (tmp_path / "p" / "ctxmetrics.yaml").read_text()


def test_long_file_with_dimensions_funnel_and_gauge(tmp_path):
    data = tmp_path / "crm.csv"
    data.write_text(
        "date,metric,value,region\n"
        "2025-03-01,won,2,EU\n2025-03-01,leads,40,EU\n2025-03-01,mql,10,EU\n"
        "2025-03-02,won,1,EU\n2025-03-02,leads,42,EU\n2025-03-02,mql,12,EU\n"
    )
    assert invoke("init", tmp_path / "p", "--from", data).exit_code == 0
    config = load_config(tmp_path / "p" / "ctxmetrics.yaml")
    assert config.dimensions == ("region",)
    assert config.funnel == ("leads", "mql", "won")
    assert {m.name: m.type for m in config.metrics.values()} == {"won": "count", "leads": "count", "mql": "count"}
    assert invoke("--project", tmp_path / "p", "ingest", data).exit_code == 0


def test_wide_file_types_and_no_funnel_for_other_names(tmp_path):
    data = tmp_path / "shop.csv"
    data.write_text("day,store,orders,avg_basket,margin\n2025-03-01,A,5,31.5,-2\n2025-03-02,A,7,29.0,3\n")
    result = invoke("init", tmp_path / "p", "--from", data)
    assert result.exit_code == 0, result.output
    text = (tmp_path / "p" / "ctxmetrics.yaml").read_text()
    config = load_config(tmp_path / "p" / "ctxmetrics.yaml")
    assert (config.file_format, config.dimensions, config.funnel) == ("wide", ("store",), ())
    assert {m.name: m.type for m in config.metrics.values()} == {"orders": "count", "avg_basket": "gauge", "margin": "gauge"}
    assert text.count("#") >= 5  # commented for the user to check
    ingested = invoke("--project", tmp_path / "p", "ingest", data)
    assert ingested.stdout == "Ingested 6 rows from 1 file: 6 added, 0 replaced.\n"


def test_mapped_column_names_are_written_as_columns(tmp_path):
    data = tmp_path / "w.csv"
    data.write_text("when,amount\n2025-03-01,5\n2025-03-08,6\n2025-03-15,2\n")
    assert invoke("init", tmp_path / "p", "--from", data).exit_code == 0
    config = load_config(tmp_path / "p" / "ctxmetrics.yaml")
    # 'amount' is the only numeric column: a wide file with one metric, dated by 'when'.
    assert (config.columns.get("date", "when"), config.metrics["amount"].granularity) == ("when", "weekly")
    assert invoke("--project", tmp_path / "p", "ingest", data).exit_code == 0


def test_init_from_a_file_without_dates_says_so(tmp_path):
    data = tmp_path / "x.csv"
    data.write_text("name,value\na,1\n")
    result = invoke("init", tmp_path / "p", "--from", data)
    assert (result.exit_code, result.stderr) == (
        1, f"Error: {data}: no date column found (looked for date, ts, timestamp, ds, day and ISO dates).\n"
    )
    assert not (tmp_path / "p").exists()


def test_every_project_file_field_is_documented_in_the_readme():
    classes = (MetricDef, DetectionSettings, ExplainSettings, EventWindow, SparkSettings)
    nested = [f.name for cls in classes for f in dataclasses.fields(cls)]
    table = README[README.index("### The project file"):]
    table = table[:table.index("\n## ")]
    documented = {word for code in re.findall(r"`([^`]+)`", table) for word in re.findall(r"\w+", code)}
    missing = [n for n in [*PROJECT_KEYS, *COLUMN_ROLES, *nested] if n != "name" and n not in documented]
    assert missing == []
    # the detection row names exactly the settings there are
    row = next(line for line in table.splitlines() if line.startswith("| `detection` |"))
    assert re.findall(r"`(\w+)`", row.split("|")[2]) == [f.name for f in dataclasses.fields(DetectionSettings)]


def _daily_sums(root):
    from ctxmetrics.project import Project

    with Project(root).store(read_only=True) as store:
        return dict(store.query_rows("select ts::varchar, value from observations order by ts")[1])


def test_raw_half_hourly_file_init_then_ingest_stores_daily_sums(tmp_path):
    import datetime as dt

    import polars as pl

    start = dt.datetime(2025, 3, 1)
    stamps = [start + dt.timedelta(minutes=30 * i) for i in range(48 * 5 + 7)]
    data = tmp_path / "demand.csv"
    pl.DataFrame({"timestamp": stamps, "value": [(i * 7) % 23 for i in range(len(stamps))]}).write_csv(data)
    assert invoke("init", tmp_path / "p", "--from", data).exit_code == 0
    assert load_config(tmp_path / "p" / "ctxmetrics.yaml").metrics["demand"].type == "count"
    result = invoke("--project", tmp_path / "p", "ingest", data)
    assert result.exit_code == 0, result.output
    expected = pl.read_csv(data, try_parse_dates=True).group_by(pl.col("timestamp").dt.date().cast(pl.Utf8)).agg(pl.col("value").sum())
    # the file's last day has 7 of its 48 half-hours: left out, as a drop it is not (issue-qa9)
    assert "2025-03-06 has 7 of 48 half-hours: left out" in result.output
    whole = expected.filter(pl.col("timestamp") != "2025-03-06")
    assert _daily_sums(tmp_path / "p") == dict(zip(whole["timestamp"], whole["value"].cast(pl.Float64)))


def test_date_and_hour_columns_init_then_ingest_stores_daily_sums_and_means(tmp_path):
    # bike sharing's hour.csv shape: a day column, an hour column, measurements; the hour
    # was a metric and every day's 24 rows were refused as duplicates.
    rows = ["dteday,hr,temp,cnt"] + [f"2025-03-0{d},{h},{0.1 * h:.1f},{d * 10 + h}" for d in (1, 2) for h in range(24)]
    data = tmp_path / "hour.csv"
    data.write_text("\n".join(rows) + "\n")
    assert invoke("init", tmp_path / "p", "--from", data).exit_code == 0
    config = load_config(tmp_path / "p" / "ctxmetrics.yaml")
    assert config.columns == {"date": "dteday", "hour": "hr"} and set(config.metrics) == {"temp", "cnt"}
    result = invoke("--project", tmp_path / "p", "ingest", data)
    assert result.exit_code == 0, result.output
    from ctxmetrics.project import Project

    with Project(tmp_path / "p").store(read_only=True) as store:
        stored = store.query_rows("select metric, ts::varchar, round(value, 6) from observations order by 1, 2")[1]
    assert stored == [("cnt", "2025-03-01", 24 * 10 + 276.0), ("cnt", "2025-03-02", 24 * 20 + 276.0),
                      ("temp", "2025-03-01", 1.15), ("temp", "2025-03-02", 1.15)]


def test_row_numbers_and_calendar_fields_are_ignored_not_measured(tmp_path):
    # bike sharing's day.csv shape: 'yr' stepping 0 -> 1 on New Year was a metric's +inf change.
    rows = ["instant,dteday,yr,mnth,weekday,cnt,value_added"]
    rows += [f"{i + 1},2025-12-{i + 20},0,12,{i % 7},{100 + i},{i % 3}" for i in range(12)]
    rows += [f"{i + 13},2026-01-0{i + 1},1,1,{(i + 12) % 7},{90 + i},{i % 3}" for i in range(9)]
    data = tmp_path / "day.csv"
    data.write_text("\n".join(rows) + "\n")
    assert invoke("init", tmp_path / "p", "--from", data).exit_code == 0
    config = load_config(tmp_path / "p" / "ctxmetrics.yaml")
    assert config.ignore_columns == ("instant", "mnth", "weekday", "yr")
    assert set(config.metrics) == {"cnt", "value_added"}
    result = invoke("--project", tmp_path / "p", "ingest", data)
    assert result.exit_code == 0, result.output
    from ctxmetrics.project import Project

    with Project(tmp_path / "p").store(read_only=True) as store:
        assert store.metric_names() == ["cnt", "value_added"]


def test_ignored_columns_of_a_long_file_are_not_dimensions(tmp_path):
    assert invoke("init", tmp_path / "p").exit_code == 0
    config = tmp_path / "p" / "ctxmetrics.yaml"
    base = config.read_text()
    config.write_text(base + "ignore_columns: [row_id]\n")
    data = tmp_path / "funnel.csv"
    data.write_text("row_id,date,metric,value,region\n1,2026-01-01,leads,3,NA\n2,2026-01-01,leads,4,EMEA\n")
    result = invoke("--project", tmp_path / "p", "ingest", data)
    assert result.exit_code == 0, result.output
    from ctxmetrics.project import Project

    with Project(tmp_path / "p").store(read_only=True) as store:
        assert store.dimension_names() == ["region"]
    events = tmp_path / "crm.csv"
    events.write_text("row_id,entity_id,stage,ts,region\n1,o1,won,2026-01-02,NA\n2,o2,won,2026-01-02,EMEA\n")
    result = invoke("--project", tmp_path / "p", "ingest", events, "--format", "events")
    assert result.exit_code == 0, result.output
    with Project(tmp_path / "p").store(read_only=True) as store:
        assert store.dimension_names() == ["region"]
    config.write_text(base + "ignore_columns: row_id\n")  # in place of the list (a key twice is refused)
    result = invoke("--project", tmp_path / "p", "ingest", data)
    assert result.exit_code == 1 and "'ignore_columns' must be a list of names like [instant, weekday]" in result.output


def test_an_hour_outside_the_day_is_named_with_its_row(tmp_path):
    data = tmp_path / "hour.csv"
    assert invoke("init", tmp_path / "p").exit_code == 0
    data.write_text("dteday,hr,cnt\n2025-03-01,0,5\n2025-03-01,24,6\n")
    result = invoke("--project", tmp_path / "p", "ingest", data, "--format", "wide", "--date-col", "dteday",
                    "--hour-col", "hr")
    assert (result.exit_code, result.output) == (1, f"Error: {data}:3: column 'hr': '24' is not an hour of the day (0-23).\n")


def test_ds_y_file_init_then_ingest(tmp_path):
    data = tmp_path / "visits.csv"
    data.write_text("ds,y\n2025-03-01,10.5\n2025-03-02,-1\n2025-03-03,4\n")
    assert invoke("init", tmp_path / "p", "--from", data).exit_code == 0
    assert load_config(tmp_path / "p" / "ctxmetrics.yaml").metrics["visits"].type == "gauge"
    assert invoke("--project", tmp_path / "p", "ingest", data).exit_code == 0
    assert _daily_sums(tmp_path / "p") == {"2025-03-01": 10.5, "2025-03-02": -1.0, "2025-03-03": 4.0}


def test_capitalised_spreadsheet_header_init_then_ingest(tmp_path):
    # 'Date,Metric,Value' used to become a wide file with a dimension 'Metric' and a metric
    # 'Value', which the very next ingest refused.
    data = tmp_path / "export.csv"
    data.write_text("Date,Metric,Value,Region\n2025-03-01,leads,10,EMEA\n2025-03-02,leads,4,EMEA\n")
    assert invoke("init", tmp_path / "p", "--from", data).exit_code == 0
    config = load_config(tmp_path / "p" / "ctxmetrics.yaml")
    assert (config.file_format, config.columns, config.dimensions, list(config.metrics)) == (
        "long", {"date": "Date", "metric": "Metric", "value": "Value"}, ("Region",), ["leads"])
    assert invoke("--project", tmp_path / "p", "ingest", data).exit_code == 0
    assert _daily_sums(tmp_path / "p") == {"2025-03-01": 10.0, "2025-03-02": 4.0}


def test_init_from_several_files(tmp_path):
    (tmp_path / "a.csv").write_text("date,metric,value\n2025-03-01,leads,4\n2025-03-02,leads,5\n")
    (tmp_path / "b.csv").write_text("date,metric,value\n2025-03-01,mql,1.5\n2025-03-02,mql,2\n")
    result = invoke("init", tmp_path / "p", "--from", tmp_path / "a.csv", tmp_path / "b.csv")
    assert result.exit_code == 0, result.output
    config = load_config(tmp_path / "p" / "ctxmetrics.yaml")
    assert {m.name: m.type for m in config.metrics.values()} == {"leads": "count", "mql": "gauge"}
    stray = invoke("init", tmp_path / "q", tmp_path / "a.csv")
    assert stray.exit_code == 2 and "Files after the folder are the --from files" in stray.output
