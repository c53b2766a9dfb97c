"""Counts booked on a moving day of the month (the last or first business day) or on one
weekday (payroll on Fridays) are read as monthly or weekly data; ingest records why in the
store, and `scan`, `why` and `init --from` say it; a sparse daily count stays daily."""
from __future__ import annotations

import datetime as dt
import json

import duckdb
import numpy as np
import polars as pl
import pytest

from ctxmetrics.ingest.cadence import Booking, booking_of
from ctxmetrics.project import Project
from test_quarterly import invoke, stored  # the quarterly file's CLI helpers

FIRST = dt.date(2024, 1, 1)  # a Monday
DAYS = 700
CLOSES_STEP = dt.date(2025, 3, 1)  # closes step up from this month on
PAYROLL_STEP = dt.date(2024, 6, 7)  # a Friday: payroll steps up from this week on


def last_business_day(day: dt.date) -> bool:
    following = day + dt.timedelta(days=1)
    while following.weekday() >= 5:
        following += dt.timedelta(days=1)
    return day.weekday() < 5 and following.month != day.month


def booked_file(path, days: int = DAYS, first: dt.date = FIRST, payroll_on: int = 4):
    """`visits` (~300 every day), `closes` (~80 on each month's last business day, ~130
    from `CLOSES_STEP` on) and `payroll` (~500 on each `payroll_on` weekday, ~700 from
    `PAYROLL_STEP` on), zeros on their other days."""
    rng = np.random.default_rng(7)
    rows = []
    for i in range(days):
        day = first + dt.timedelta(days=i)
        closes = int(rng.poisson(80 if day < CLOSES_STEP else 130)) if last_business_day(day) else 0
        payroll = int(rng.poisson(500 if day < PAYROLL_STEP else 700)) if day.weekday() == payroll_on else 0
        rows += [(day, "visits", int(rng.poisson(300))), (day, "closes", closes), (day, "payroll", payroll)]
    return write_long(rows, path)


def write_long(rows: list[tuple[dt.date, str, int]], path):
    """(day, metric, value) rows as a long CSV (`date` column) or Parquet file (`ts`: the fast path's)."""
    frame = pl.DataFrame(rows, schema={"date": pl.Date, "metric": pl.Utf8, "value": pl.Int64}, orient="row")
    if path.suffix == ".parquet":
        frame.rename({"date": "ts"}).write_parquet(path)
    else:
        frame.write_csv(path)
    return path


def days(*isos: str) -> pl.Series:
    return pl.Series([dt.date.fromisoformat(d) for d in isos], dtype=pl.Date)


def whole_series_anomalies(root, metric):
    out = invoke("--project", root, "why", metric, "--since", "2000-01-01", "--until", "2100-01-01", "--json").output
    answer = json.loads(out)
    return [a for a in answer["anomalies"] if a["segment"] == {}], answer


# --- the rule -------------------------------------------------------------------------
def test_moving_booking_days_are_monthly():
    last_business = days("2024-01-31", "2024-02-29", "2024-03-29", "2024-04-30", "2024-05-31", "2024-06-28")
    assert booking_of(last_business) == Booking("monthly", "the last business day")
    first_business = days("2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01", "2024-06-03")  # no May booking
    assert booking_of(first_business) == Booking("monthly", "the first business day")
    near_start = days("2024-01-02", "2024-02-05", "2024-03-04", "2024-04-03")
    assert booking_of(near_start) == Booking("monthly", "one day from the 2nd to the 5th")
    near_end = days("2024-01-29", "2024-02-25", "2024-03-27", "2024-04-26")  # 2, 4, 4 and 4 days before the end
    assert booking_of(near_end) == Booking("monthly", "one of the last 5 days")
    assert booking_of(days("2024-01-02", "2024-02-05", "2024-03-04")) is None  # three months: too few to tell


def test_days_all_over_the_month_or_months_mostly_empty_are_not_monthly():
    assert booking_of(days("2024-01-02", "2024-02-20", "2024-03-04", "2024-04-03")) is False  # 2nd to 20th
    # one a month near the start, but in 4 months of 7
    assert booking_of(days("2024-01-02", "2024-03-04", "2024-05-03", "2024-07-02")) is False


def test_one_weekday_over_eight_weeks_is_weekly():
    fridays = [FIRST + dt.timedelta(days=4 + 7 * i) for i in range(12)]
    assert booking_of(pl.Series(fridays)) == Booking("weekly", "Fridays", 4)
    assert booking_of(pl.Series(fridays[:7])) is None  # seven weeks: too few to tell
    assert booking_of(pl.Series([*fridays, fridays[-1] + dt.timedelta(days=1)])) is False  # and a Saturday
    assert Booking("weekly", "Fridays", 4).reason == "booked weekly: values fall on Fridays"
    # the first Monday of each month is one day a month before it is one weekday
    first_mondays = days(*(d for m in range(1, 11) for d in [f"2024-{m:02d}-{_first_monday(2024, m):02d}"]))
    assert booking_of(first_mondays).granularity == "monthly"


def _first_monday(year: int, month: int) -> int:
    return next(d for d in range(1, 8) if dt.date(year, month, d).weekday() == 0)


def test_a_sparse_daily_count_is_not_booked():
    rng = np.random.default_rng(3)
    all_days = pl.Series([FIRST + dt.timedelta(days=i) for i in range(700)])
    nonzero = all_days.filter(pl.Series(rng.poisson(0.05, 700) > 0))
    months = (nonzero.dt.year() * 12 + nonzero.dt.month()).value_counts()["count"]
    # what tells it from a monthly booking: months with two or more, and months without any
    assert months.max() >= 2 and months.len() < 23
    assert booking_of(nonzero) is False


# --- through the CLI ----------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])  # the polars path and the Parquet fast path
def test_last_business_day_and_fridays_end_to_end(tmp_path, suffix):
    data = booked_file(tmp_path / f"booked{suffix}")
    root = tmp_path / "p"
    said = invoke("init", root, "--from", data).output
    assert "closes monthly, payroll weekly, visits daily." in said
    assert "closes is booked monthly: values fall on the last business day." in said
    assert "payroll is booked weekly: values fall on Fridays." in said
    invoke("--project", root, "ingest", data)
    assert (stored(root, "closes"), stored(root, "payroll"), stored(root, "visits")) == ("monthly", "weekly", "daily")
    with Project(root).store(read_only=True) as store:
        # payroll is stored as a weekly file of Fridays would be: its zeros of the other days left out
        weekdays = store.query_rows("select distinct dayofweek(ts) from obs where metric = 'payroll'")[1]
        closes_rows = store.query_rows("select count(*) from obs where metric = 'closes'")[1][0][0]
    assert weekdays == [(5,)] and closes_rows == DAYS  # closes keeps its daily rows (summed per month)
    scan = invoke("--project", root, "scan").output
    assert "closes is booked monthly: values fall on the last business day (one value per month" in scan
    assert "payroll is booked weekly: values fall on Fridays (one value per week, not a daily series" in scan
    assert "Data gap" not in scan
    series = Project(root).series("closes")  # what the digest's charts draw: one value per month
    assert series.height == 23 and series["ts"][0] == FIRST and series["value"].min() > 50
    closes, answer = whole_series_anomalies(root, "closes")
    assert answer["booking"] == "booked monthly: values fall on the last business day"
    assert len(closes) == 1 and closes[0]["period"] == "month" and closes[0]["start"] == str(CLOSES_STEP), closes
    payroll, _ = whole_series_anomalies(root, "payroll")
    assert len(payroll) == 1 and payroll[0]["period"] == "week", payroll
    assert payroll[0]["start"] == str(PAYROLL_STEP)  # dated to its booking day, as a weekly file's week is
    assert 450 < payroll[0]["before"] < 550 and 650 < payroll[0]["after"] < 750
    text = invoke("--project", root, "why", "payroll").output
    assert text.rstrip().endswith("payroll is booked weekly: values fall on Fridays.")
    assert "booking" not in json.loads(invoke("--project", root, "why", "visits", "--json").output)
    digest = json.loads(invoke("--project", root, "digest", "--since", "2024-01-01", "--format", "json").output)
    assert any(a["metric"] == "payroll" and a["period"] == "week" for a in digest["anomalies"])
    assert digest["bookings"] == {
        "closes": "booked monthly: values fall on the last business day", "payroll": "booked weekly: values fall on Fridays",
    }
    markdown = invoke("--project", root, "digest", "--since", "2024-01-01").output
    assert "_payroll is booked weekly: values fall on Fridays._" in markdown
    html = tmp_path / "digest.html"
    invoke("--project", root, "digest", "--since", "2024-01-01", "--format", "html", "-o", html)
    assert "<p class=\"meta\">payroll is booked weekly: values fall on Fridays.</p>" in html.read_text()


def test_a_store_from_before_the_reason_was_recorded_still_scans(tmp_path):
    root = tmp_path / "p"
    invoke("init", root)
    invoke("--project", root, "ingest", booked_file(tmp_path / "first.csv", days=385))
    assert "payroll is booked weekly" in invoke("--project", root, "scan").output
    # a store written before the reason was recorded: no reason, no line, the same scan
    store_path = Project(root).store_path
    with duckdb.connect(str(store_path)) as con:
        con.execute("delete from meta where key like 'booking:%'")
    scan = invoke("--project", root, "scan").output
    assert "booked" not in scan and "payroll is weekly data: judged one value per week." in scan
    assert "booking" not in json.loads(invoke("--project", root, "why", "payroll", "--json").output)
    digest = json.loads(invoke("--project", root, "digest", "--format", "json").output)
    assert any(a["metric"] == "payroll" for a in digest["anomalies"]) and "bookings" not in digest


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_second_value_in_a_booked_week_is_refused_naming_the_day(tmp_path, suffix):
    root = tmp_path / "p"
    invoke("init", root)
    invoke("--project", root, "ingest", booked_file(tmp_path / "first.csv", days=364))
    frame = pl.read_csv(booked_file(tmp_path / "next.csv", days=21, first=FIRST + dt.timedelta(days=364)), try_parse_dates=True)
    tuesday = dt.date(2025, 1, 7)  # payroll is booked on Fridays; the week of Friday 2025-01-03 gets a Tuesday's 12 too
    frame = frame.with_columns(
        value=pl.when((pl.col("metric") == "payroll") & (pl.col("date") == tuesday)).then(12).otherwise(pl.col("value"))
    )
    data = tmp_path / f"next{suffix}"
    frame.rename({"date": "ts"}).write_parquet(data) if suffix == ".parquet" else frame.write_csv(data)
    result = invoke("--project", root, "ingest", data, code=1)
    where = f"{data}:28" if suffix == ".csv" else f"{data}: row 27"  # 8 days of 3 rows, then payroll's row
    assert result.output == (
        f"Error: {where}: metric 'payroll' is stored as weekly data (booked weekly: values fall on Fridays) and these "
        "rows are daily: 2025-01-07 is a second non-zero value (12) in one week; ingest them under another metric name.\n"
    )
    with Project(root).store(read_only=True) as store:  # nothing of the refused file was written
        assert store.query_rows("select max(ts) from obs")[1][0][0] == FIRST + dt.timedelta(days=363)


def test_a_wide_file_and_a_rollup_keep_their_bookings(tmp_path):
    long = pl.read_csv(booked_file(tmp_path / "long.csv", days=120), try_parse_dates=True)
    long.pivot(on="metric", index="date", values="value").write_csv(tmp_path / "wide.csv")
    root = tmp_path / "p"
    invoke("init", root)
    invoke("--project", root, "ingest", tmp_path / "wide.csv", "--format", "wide")
    invoke("--project", root, "ingest", tmp_path / "long.csv", "--as-rollup")
    with Project(root).store(read_only=True) as store:
        assert store.bookings(["closes", "payroll", "visits", "payroll_total"]) == {
            "payroll": "booked weekly: values fall on Fridays", "payroll_total": "booked weekly: values fall on Fridays",
        }  # closes: three months of 120 days are too few to tell
        assert (store.granularity("payroll_total"), store.granularity("closes")) == ("weekly", "daily")
        fridays = store.query_rows("select count(*) from obs where metric = 'payroll' and dayofweek(ts) = 5")[1][0][0]
        assert store.query_rows("select count(*) from obs where metric = 'payroll'")[1][0][0] == fridays == 17
