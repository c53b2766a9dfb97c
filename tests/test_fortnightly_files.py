"""Fortnightly files, points 14-21 days apart (a brent_spot-shaped price, our own draw) and
counts booked every other Friday: read, stored and scanned one value per fortnight, not
as weekly data with every other week a gap or a zero, nor as daily data with gaps."""
from __future__ import annotations

import datetime as dt
import json

import numpy as np
import polars as pl
import pytest

from ctxmetrics.ingest.cadence import Booking, booking_of
from ctxmetrics.ingest.dates import granularity_of
from test_booking_days import days, write_long
from test_quarterly import invoke, stored

FIRST = dt.date(2023, 1, 2)  # a Monday


def read_as_fortnightly(tmp_path, data, metric: str, annotate=()) -> tuple:
    """`init --from`, `ingest` and `scan` of `data` in a new project (`annotate`: the
    arguments of an `annotate add` before the scan); checks that `metric` is stored and
    scanned fortnightly. Returns (root, init's output, scan's output)."""
    root = tmp_path / "p"
    said = invoke("init", root, "--from", data).output
    invoke("--project", root, "ingest", data)
    assert stored(root, metric) == "fortnightly"
    if annotate:
        invoke("--project", root, "annotate", "add", *annotate)
    scan = invoke("--project", root, "scan").output
    assert f"{metric} is fortnightly data: judged one value per fortnight." in scan
    return root, said, scan


def whole_series(root, metric):
    out = invoke("--project", root, "why", metric, "--since", "2000-01-01", "--until", "2100-01-01", "--json").output
    return json.loads(out)["anomalies"]


def test_every_other_monday_and_points_14_to_21_days_apart_are_fortnightly():
    assert granularity_of(pl.Series([FIRST + dt.timedelta(days=14 * i) for i in range(10)])) == "fortnightly"
    rng = np.random.default_rng(0)
    irregular = np.cumsum(rng.choice([14, 14, 14, 15, 17, 21], 40))
    assert granularity_of(pl.Series([FIRST + dt.timedelta(days=int(d)) for d in irregular])) == "fortnightly"
    # two points in one fortnight (a 13-day step after a start on its fortnight's first day): not one a fortnight
    assert granularity_of(days("2023-01-02", "2023-01-16", "2023-01-29", "2023-02-12", "2023-02-26")) == "daily"
    assert granularity_of(pl.Series([FIRST + dt.timedelta(days=7 * i) for i in range(10)])) == "weekly"


def test_a_fortnightly_file_end_to_end(tmp_path):
    rng = np.random.default_rng(1)
    step = 35
    rows = [(FIRST + dt.timedelta(days=14 * i), "hours", int(rng.poisson(500 if i < step else 650))) for i in range(60)]
    data = write_long(rows, tmp_path / "hours.csv")
    launch = rows[step][0] + dt.timedelta(days=9)  # within the fortnight the change is known to
    root, said, scan = read_as_fortnightly(
        tmp_path, data, "hours", ("Rota change", "--type", "other", "--start", launch, "--metric", "hours", "--expect", "up"))
    assert "hours fortnightly." in said
    assert "1 anomaly, 1 linked to context" in scan
    assert "Data gap" not in scan  # weekly, every other week was a gap
    found = whole_series(root, "hours")
    assert len(found) == 1 and found[0]["period"] == "fortnight", found
    assert found[0]["start"] == str(rows[step][0]) and 450 < found[0]["before"] < 550 and 600 < found[0]["after"] < 700
    assert "/fortnight before" in invoke("--project", root, "why", "hours").output
    digest = invoke("--project", root, "digest", "--since", "2024-01-01", "--format", "html").output
    assert "4-fortnight average" in digest  # the chart of a fortnightly change


def test_a_price_every_14_to_21_days_end_to_end(tmp_path):
    rng = np.random.default_rng(2)
    day, rows = dt.date(2015, 1, 6), []
    for i in range(150):
        rows.append((day, "brent", round(60 + (20 if i >= 90 else 0) + rng.normal(0, 2), 2)))
        day += dt.timedelta(days=int(rng.choice([14] * 8 + [15, 16, 17, 21])))
    frame = pl.DataFrame(rows, schema={"date": pl.Date, "metric": pl.Utf8, "value": pl.Float64}, orient="row")
    data = tmp_path / "brent.csv"
    frame.write_csv(data)
    root, said, scan = read_as_fortnightly(tmp_path, data, "brent")
    assert "brent fortnightly." in said
    gaps = scan.split("Data gap: no data for brent on ")[1].split(" (unknown")[0].split(", ")
    assert 0 < len(gaps) < 20  # the fortnights a 15-21 day step skipped, not hundreds of days
    found = whole_series(root, "brent")
    assert len(found) == 1 and found[0]["period"] == "fortnight", found
    # dated by the fortnight holding the first higher price (its first day)
    start = dt.date.fromisoformat(found[0]["start"])
    assert 0 <= (rows[90][0] - start).days < 14


def test_payroll_every_other_friday_is_a_fortnightly_booking():
    fridays = [dt.date(2024, 1, 12) + dt.timedelta(days=14 * i) for i in range(8)]
    assert booking_of(pl.Series(fridays)) == Booking("fortnightly", "every other Friday", 4, fridays[0])
    weekly = [dt.date(2024, 1, 12) + dt.timedelta(days=7 * i) for i in range(8)]
    assert booking_of(pl.Series(weekly)).granularity == "weekly"
    assert booking_of(pl.Series(fridays[:7])) is None  # too few to tell


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])  # the polars path and the Parquet fast path
def test_fortnightly_bookings_end_to_end(tmp_path, suffix):
    rng = np.random.default_rng(7)
    first_pay, step = dt.date(2024, 1, 12), dt.date(2024, 8, 9)  # Fridays
    rows = []
    for i in range(500):
        day = dt.date(2024, 1, 1) + dt.timedelta(days=i)
        booked = day >= first_pay and (day - first_pay).days % 14 == 0
        pay = int(rng.poisson(500 if day < step else 700)) if booked else 0
        rows += [(day, "visits", int(rng.poisson(300))), (day, "payroll", pay)]
    root, said, scan = read_as_fortnightly(tmp_path, write_long(rows, tmp_path / f"pay{suffix}"), "payroll")
    assert "payroll fortnightly, visits daily." in said
    assert "payroll is booked fortnightly: values fall on every other Friday." in said
    assert "payroll is booked fortnightly: values fall on every other Friday (one value per fortnight" in scan
    assert "Data gap" not in scan
    found = whole_series(root, "payroll")
    assert len(found) == 1 and found[0]["period"] == "fortnight" and found[0]["start"] == str(step), found
    assert 450 < found[0]["before"] < 550 and 650 < found[0]["after"] < 750


def test_a_fortnightly_export_a_day_late_is_kept_and_a_day_early_is_refused(tmp_path):
    def exported(shift: int):
        dates = [FIRST + dt.timedelta(days=14 * i + (shift if i == 10 else 0)) for i in range(20)]
        return write_long([(d, "hours", 500 + i) for i, d in enumerate(dates)], tmp_path / f"hours{shift}.csv")

    late, early = exported(1), exported(-1)  # the Tuesday stays in its fortnight; the Sunday shares the one before
    root = tmp_path / "p"
    invoke("init", root)
    invoke("--project", root, "ingest", late)
    assert stored(root, "hours") == "fortnightly"
    other = tmp_path / "q"
    invoke("init", other)
    refused = invoke("--project", other, "ingest", early, code=1).output
    assert f"{early.name}:12: column 'date': 2023-05-21" in refused
    assert "the dates step a fortnight at a time up to 2023-05-08, then 13 days to this one" in refused
