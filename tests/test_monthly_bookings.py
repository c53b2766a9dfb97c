"""A daily count booked once a month (invoices on the 1st, renewals on the 15th; zero or
no row on every other day) is read as monthly data, not as a daily series of one spike a
month; a sparse daily count (0.5 events a day) stays daily."""
from __future__ import annotations

import datetime as dt
import json

import numpy as np
import polars as pl
import pytest

from ctxmetrics.ingest.cadence import Booking, booking_of, with_bookings
from ctxmetrics.project import Project
from ctxmetrics.store import parquet_file
from ctxmetrics.store.database import Store
from test_booking_days import booked_file, write_long
from test_quarterly import invoke, stored  # the quarterly file's CLI helpers

FIRST = dt.date(2024, 1, 1)
DAYS = 700
STEP = dt.date(2025, 3, 1)  # invoices step up from here


def daily_file(
    path, booking_day: int | None = 1, rows_every_day: bool = True, days: int = DAYS, first=FIRST, sparse_rate: float = 0.5
):
    """`invoices` (~120 on `booking_day` of each month, ~170 from `STEP` on; None: a sparse
    daily count of `sparse_rate` a day) and `visits` (~300 every day)."""
    rng = np.random.default_rng(4)
    rows = []
    for i in range(days):
        day = first + dt.timedelta(days=i)
        if booking_day is None:
            invoices = int(rng.poisson(sparse_rate))
        elif day.day == booking_day:
            invoices = int(rng.poisson(120 if day < STEP else 170))
        else:
            invoices = None if not rows_every_day else 0
        rows += [(day, "visits", int(rng.poisson(300)))] + ([(day, "invoices", invoices)] if invoices is not None else [])
    return write_long(rows, path)


def anomalies(root, metric):
    out = invoke("--project", root, "why", metric, "--since", "2000-01-01", "--until", "2100-01-01", "--json").output
    return json.loads(out)["anomalies"]


# --- the rule -------------------------------------------------------------------------
def days(*isos: str) -> pl.Series:
    return pl.Series([dt.date.fromisoformat(d) for d in isos], dtype=pl.Date)


def test_non_zero_days_on_one_day_a_month_are_booked_monthly():
    assert booking_of(days("2024-01-15", "2024-02-15", "2024-03-15", "2024-05-15")) == Booking("monthly", "the 15th")
    assert booking_of(days("2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30")) == Booking("monthly", "the last day")
    assert booking_of(days("2024-01-15", "2024-02-15", "2024-02-16", "2024-04-15")) is False  # two in February
    assert booking_of(days("2024-01-15", "2024-02-15")) is None  # too few to tell
    assert booking_of(days()) is None  # no non-zero value at all


def test_booking_words():
    assert booking_of(days(*(f"2024-{m:02d}-01" for m in range(1, 5)))).reason == "booked monthly: values fall on the 1st"
    assert booking_of(days(*(f"2024-{m:02d}-22" for m in range(1, 5)))).day == "the 22nd"
    assert booking_of(days(*(f"2024-{m:02d}-13" for m in range(1, 5)))).day == "the 13th"


def test_with_bookings_makes_booked_counts_monthly_and_leaves_unclear_ones_out():
    cadences = {"invoices": "daily", "renewals": "daily", "visits": "daily", "pipeline": "weekly"}
    nonzero = {
        "invoices": days("2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"),
        "renewals": days("2024-01-15"),
        "visits": days("2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"),
    }
    assert with_bookings(cadences, nonzero, ["invoices", "renewals", "visits"]) == (
        {"invoices": "monthly", "visits": "daily", "pipeline": "weekly"},
        {"invoices": Booking("monthly", "the 1st")},
    )


# --- through the CLI ----------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])  # the polars path and the Parquet fast path
def test_a_count_booked_on_the_first_is_read_monthly(tmp_path, suffix):
    data = daily_file(tmp_path / f"invoices{suffix}")
    root = tmp_path / "p"
    invoke("init", root)
    invoke("--project", root, "ingest", data)
    assert (stored(root, "invoices"), stored(root, "visits")) == ("monthly", "daily")
    scan = invoke("--project", root, "scan").output
    assert "invoices is monthly data: judged one value per month." in scan
    assert "invoices is booked monthly: values fall on the 1st (one value per month, not a daily series" in scan
    found = [a for a in anomalies(root, "invoices") if a["segment"] == {}]
    # was 8 daily spikes here (12-16 in a user's file), one a month
    assert len(found) == 1 and found[0]["period"] == "month" and found[0]["kind"] == "level_shift", found
    assert found[0]["start"] == str(STEP) and 100 < found[0]["before"] < 140 and 150 < found[0]["after"] < 190


def test_init_from_writes_a_booked_count_monthly(tmp_path):
    data = daily_file(tmp_path / "invoices.csv")
    out = invoke("init", tmp_path / "p", "--from", data).output
    assert "invoices monthly, visits daily." in out
    assert "invoices: {type: count, granularity: monthly}" in (tmp_path / "p" / "ctxmetrics.yaml").read_text()


def test_rows_only_on_the_15th_are_monthly(tmp_path):
    data = daily_file(tmp_path / "invoices.csv", booking_day=15, rows_every_day=False)
    root = tmp_path / "p"
    invoke("init", root)
    invoke("--project", root, "ingest", data)
    assert stored(root, "invoices") == "monthly"
    scan = invoke("--project", root, "scan").output
    assert "invoices is booked monthly: values fall on the 15th" in scan
    assert "Data gap" not in scan


@pytest.mark.parametrize("rate", [0.5, 0.05])  # 0.05: months with two events and months without any
def test_a_sparse_daily_count_stays_daily(tmp_path, rate):
    data = daily_file(tmp_path / "tickets.csv", booking_day=None, sparse_rate=rate)
    root = tmp_path / "p"
    assert "invoices daily" in invoke("init", tmp_path / "from", "--from", data).output
    invoke("init", root)
    invoke("--project", root, "ingest", data)
    assert stored(root, "invoices") == "daily"
    assert "booked" not in invoke("--project", root, "scan").output


@pytest.mark.parametrize("make, metric, reason, more", [
    (daily_file, "invoices", "booked monthly: values fall on the 1st", 31),  # a single non-zero day
    (booked_file, "payroll", "booked weekly: values fall on Fridays", 21),  # three Fridays
])
def test_a_short_next_daily_file_keeps_a_booked_count_and_its_reason(tmp_path, make, metric, reason, more):
    root = tmp_path / "p"
    invoke("init", root)
    invoke("--project", root, "ingest", make(tmp_path / "first.csv", days=365))
    # too few booking days to tell: the stored cadence decides, and its reason stands
    invoke("--project", root, "ingest", make(tmp_path / "next.csv", days=more, first=FIRST + dt.timedelta(days=366)))
    assert stored(root, metric) == ("weekly" if "weekly" in reason else "monthly")
    with Project(root).store(read_only=True) as store:
        assert store.bookings([metric, "visits"]) == {metric: reason}


def test_a_declared_daily_granularity_wins(tmp_path):
    root = tmp_path / "p"
    invoke("init", root)
    (root / "ctxmetrics.yaml").write_text("metrics:\n  invoices: {type: count, granularity: daily}\n")
    invoke("--project", root, "ingest", daily_file(tmp_path / "invoices.csv"))
    assert stored(root, "invoices") == "daily"


def test_the_parquet_files_non_zero_days(tmp_path):
    data = daily_file(tmp_path / "invoices.parquet", days=95)
    firsts = [dt.date(2024, 1, 1), dt.date(2024, 2, 1), dt.date(2024, 3, 1), dt.date(2024, 4, 1)]
    with Store(tmp_path / "s.duckdb") as store:
        found = dict(parquet_file.nonzero_metric_days(store, data, "ts", ["invoices"]))
    assert sorted(dt.date(1970, 1, 1) + dt.timedelta(days=d) for d in found["invoices"]) == firsts
