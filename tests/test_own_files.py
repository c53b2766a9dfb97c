"""A new user's own files through `init --from` and `ingest`, in the shapes they come
in: category columns beside the measurements, empty columns, European number formats."""
from __future__ import annotations

import datetime as dt

import yaml
from click.testing import CliRunner

from ctxmetrics.cli import cli
from ctxmetrics.project import Project


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def stored(root, sql="select metric, ts, value from observations order by all"):
    with Project(root).store(read_only=True) as store:
        return store.query_rows(sql)[1]


def _days(count, start=dt.date(2026, 1, 1)):
    return [start + dt.timedelta(days=i) for i in range(count)]


def test_a_series_file_whose_values_are_all_empty_is_refused(tmp_path):
    (tmp_path / "visits.csv").write_text("date,value\n" + "".join(f"{d},\n" for d in _days(5)))
    assert invoke("init", tmp_path / "p").exit_code == 0
    result = invoke("--project", tmp_path / "p", "ingest", tmp_path / "visits.csv")
    assert result.exit_code == 1
    assert result.output.strip().endswith(
        "visits.csv: column 'value': every cell is empty or NaN; there is no value to ingest."
    )
    assert "Traceback" not in result.output and stored(tmp_path / "p") == []


def test_a_wide_file_whose_metric_columns_are_all_empty_is_refused(tmp_path):
    (tmp_path / "w.csv").write_text("date,a,b\n" + "".join(f"{d},,NaN\n" for d in _days(3)))
    assert invoke("init", tmp_path / "p").exit_code == 0
    result = invoke("--project", tmp_path / "p", "ingest", tmp_path / "w.csv", "--format", "wide")
    assert result.exit_code == 1
    assert "every cell of the metric columns (a, b) is empty or NaN" in result.output
    assert stored(tmp_path / "p") == []


def _init(tmp_path, text):
    (tmp_path / "data.csv").write_text(text)
    result = invoke("init", tmp_path / "p", "--from", tmp_path / "data.csv")
    assert result.exit_code == 0, result.output
    return result.output, yaml.safe_load((tmp_path / "p" / "ctxmetrics.yaml").read_text())


def test_a_category_code_of_one_row_a_day_is_left_out_and_said(tmp_path):
    # bike sharing's day.csv: weathersit is the day's weather class 1-3, not a count of anything
    rows = "".join(f"{d},{1 + i % 3 if i % 7 else 2},{100 + i % 13}\n" for i, d in enumerate(_days(90)))
    output, config = _init(tmp_path, "dteday,weathersit,cnt\n" + rows)
    assert "weathersit" in config["ignore_columns"] and "weathersit" not in config["metrics"]
    assert config["dimensions"] == [] and config["metrics"]["cnt"] == {"type": "count"}
    assert "'weathersit' holds only the whole numbers 1, 2, 3: a category code, not a count" in output
    result = invoke("--project", tmp_path / "p", "ingest", tmp_path / "data.csv")
    assert result.exit_code == 0, result.output
    assert {m for (m,) in stored(tmp_path / "p", "select distinct metric from observations")} == {"cnt"}


def test_a_small_count_that_is_sometimes_zero_stays_a_count(tmp_path):
    rows = "".join(f"{d},{i % 4}\n" for i, d in enumerate(_days(90)))
    _, config = _init(tmp_path, "date,won\n" + rows)
    assert config["metrics"]["won"] == {"type": "count"} and "ignore_columns" not in config


def test_small_whole_numbers_beside_repeated_dates_are_still_measured(tmp_path):
    # rows repeat each date (one per region): 5-8 orders a day cannot be told from a code there
    rows = "".join(f"{d},{region},{5 + i % 4}\n" for i, d in enumerate(_days(40)) for region in ("EU", "US"))
    _, config = _init(tmp_path, "date,region,orders\n" + rows)
    assert config["dimensions"] == ["region"] and config["metrics"] == {"orders": {"type": "count"}}


def test_text_labels_of_each_day_and_an_empty_column_are_left_out(tmp_path):
    weather = ("sunny", "rain", "cloudy")
    rows = "".join(
        f"{d},{weather[i % 3]},{'promo' if i % 30 == 0 else ''},{200 + i % 11},\n" for i, d in enumerate(_days(60))
    )
    output, config = _init(tmp_path, "date,weather,note,visits,refunds\n" + rows)
    assert sorted(config["ignore_columns"]) == ["note", "refunds", "weather"]
    assert config["dimensions"] == [] and list(config["metrics"]) == ["visits"]
    assert "'weather' is a label of each date (one row per date), not a segment" in output
    assert "'refunds' is empty: left out (ignore_columns)." in output
    result = invoke("--project", tmp_path / "p", "ingest", tmp_path / "data.csv")
    assert result.exit_code == 0, result.output
    assert stored(tmp_path / "p", "select count(*) from observations") == [(60,)]


def test_one_label_on_every_row_stays_a_dimension(tmp_path):
    # a file of one region now; the next file may bring the others
    rows = "".join(f"{d},EMEA,{10 + i % 5}\n" for i, d in enumerate(_days(30)))
    _, config = _init(tmp_path, "date,region,value\n" + rows)
    assert config["dimensions"] == ["region"]


GERMAN = "Datum;Besucher;Umsatz\n" + "".join(
    f"{d};{visits};{revenue}\n"
    for d, visits, revenue in zip(_days(40), ["39.230", "987", "1.004"] * 14, ["1.234,5", "12,25", "7"] * 14)
)


def test_dots_between_thousands_of_a_semicolon_file_are_refused_not_misread(tmp_path):
    # was stored as 39.23 beside 987: a thousand times too small on every day above 999
    (tmp_path / "visits.csv").write_text("Datum;Besucher\n" + "".join(
        f"{d};{v}\n" for d, v in zip(_days(4), ["39.230", "987", "1.004", "2.000"])
    ))
    assert invoke("init", tmp_path / "p").exit_code == 0
    result = invoke("--project", tmp_path / "p", "ingest", tmp_path / "visits.csv", "--format", "wide", "--date-col", "Datum")
    assert result.exit_code == 1
    assert result.output.startswith(
        f"Error: {tmp_path / 'visits.csv'}:2: column 'Besucher': '39.230' is ambiguous in a semicolon-separated file"
    )
    assert "Pass --decimal-comma if dots separate thousands" in result.output and stored(tmp_path / "p") == []


def test_a_decimal_point_settles_a_semicolon_files_dots(tmp_path):
    (tmp_path / "rates.csv").write_text("date;value\n2026-01-01;1.250\n2026-01-02;0.125\n2026-01-03;9.5\n")
    assert invoke("init", tmp_path / "p").exit_code == 0
    result = invoke("--project", tmp_path / "p", "ingest", tmp_path / "rates.csv", "--metric", "rate")
    assert result.exit_code == 0, result.output
    assert [v for _, _, v in stored(tmp_path / "p")] == [1.25, 0.125, 9.5]


def test_decimal_comma_numbers_read_when_asked_and_init_says_so(tmp_path):
    (tmp_path / "umsatz.csv").write_text(GERMAN)
    result = invoke("init", tmp_path / "p", "--from", tmp_path / "umsatz.csv")
    assert result.exit_code == 0, result.output
    config = yaml.safe_load((tmp_path / "p" / "ctxmetrics.yaml").read_text())
    assert config["decimal_comma"] is True
    # money in cents (12,25), summed across segments: an amount, not a gauge's mean
    assert config["metrics"] == {"Besucher": {"type": "count"}, "Umsatz": {"type": "amount"}}
    result = invoke("--project", tmp_path / "p", "ingest", tmp_path / "umsatz.csv")
    assert result.exit_code == 0, result.output
    first_days = stored(tmp_path / "p", "select metric, value from observations where ts <= '2026-01-02' order by all")
    assert first_days == [("Besucher", 987.0), ("Besucher", 39230.0), ("Umsatz", 12.25), ("Umsatz", 1234.5)]


def test_with_decimal_comma_a_decimal_point_is_refused_by_its_line(tmp_path):
    (tmp_path / "v.csv").write_text("date;value\n2026-01-01;12,5\n2026-01-02;9.59\n")
    assert invoke("init", tmp_path / "p").exit_code == 0
    result = invoke("--project", tmp_path / "p", "ingest", tmp_path / "v.csv", "--decimal-comma")
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {tmp_path / 'v.csv'}:3: column 'value': '9.59' is not a number written with a decimal comma "
        "(12,5 or 1.234,5).\n"
    )
    assert stored(tmp_path / "p") == []


def test_a_gauges_missing_days_are_reported_as_data_gaps(tmp_path):
    # a log-value series with days missing (Peyton Manning's page views): scan named none
    days = [d for i, d in enumerate(_days(120)) if i not in (40, 41, 90)]
    (tmp_path / "views.csv").write_text("ds,y\n" + "".join(f"{d},{8 + (i % 7) / 10:.2f}\n" for i, d in enumerate(days)))
    assert invoke("init", tmp_path / "p", "--from", tmp_path / "views.csv").exit_code == 0
    assert invoke("--project", tmp_path / "p", "ingest", tmp_path / "views.csv").exit_code == 0
    result = invoke("--project", tmp_path / "p", "scan")
    assert result.exit_code == 0, result.output
    assert "Data gap: no data for views on 2026-02-10 to 2026-02-11, 2026-04-01 (unknown days, not zeros)." in result.output
    assert stored(tmp_path / "p", "select count(*) from anomalies") == [(0,)]


def test_init_writes_the_date_format_that_alone_reads_every_date(tmp_path):
    rows = "".join(f"{d:%d/%m/%Y},{30 + i % 5}\n" for i, d in enumerate(_days(40, dt.date(2026, 11, 1))))
    _, config = _init(tmp_path, "date,value\n" + rows)  # 27/11/2026: day first, nothing else reads it
    assert config["date_format"] == "%d/%m/%Y"
    result = invoke("--project", tmp_path / "p", "ingest", tmp_path / "data.csv")
    assert result.exit_code == 0, result.output
    assert stored(tmp_path / "p", "select min(ts), max(ts) from observations") == [
        (dt.date(2026, 11, 1), dt.date(2026, 12, 10))
    ]


def test_a_month_column_is_read_as_monthly_dates(tmp_path):
    rows = "".join(f"2025-{m:02d},{1000 + 7 * m}\n" for m in range(1, 13))
    output, config = _init(tmp_path, "month,visits\n" + rows)
    assert config["columns"] == {"date": "month"} and config["date_format"] == "%Y-%m"
    assert config["metrics"]["visits"] == {"type": "count", "granularity": "monthly"}
    assert "visits monthly" in output
    assert invoke("--project", tmp_path / "p", "ingest", tmp_path / "data.csv").exit_code == 0
    assert stored(tmp_path / "p", "select count(*), min(ts) from observations") == [(12, dt.date(2025, 1, 1))]


def test_dates_either_order_reads_are_still_refused_by_init(tmp_path):
    (tmp_path / "data.csv").write_text("date,value\n01/02/2026,5\n02/03/2026,6\n")
    result = invoke("init", tmp_path / "p", "--from", tmp_path / "data.csv")
    assert result.exit_code == 1
    assert "'01/02/2026' is ambiguous (day/month order)" in result.output and "Traceback" not in result.output
