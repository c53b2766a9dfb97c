"""Quarterly files end to end: a metric dated on each quarter's first day is stored and
scanned one value per calendar quarter (the two months between its rows are no gap),
beside daily metrics of the same file; months then quarters for one metric are refused."""
from __future__ import annotations

import datetime as dt
import json

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

from ctxmetrics.cli import cli
from ctxmetrics.ingest.dates import cadence_change, granularity_of
from ctxmetrics.models import periods
from ctxmetrics.project import Project

FIRST = dt.date(2019, 1, 1)
STEP_QUARTER = 12  # bookings step up from 2022-01-01 on


def invoke(*args, code=0):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result


def quarter_firsts(n: int, first: dt.date = FIRST) -> list[dt.date]:
    return [periods.first_day(first, i, "quarterly") for i in range(n)]


def bookings(n: int = 24) -> list[tuple[dt.date, int]]:
    """Six years of quarterly bookings, ~400 a quarter, ~650 from `STEP_QUARTER` on."""
    noise = np.random.default_rng(5).integers(-15, 16, n)
    return [(day, (400 if i < STEP_QUARTER else 650) + int(e)) for i, (day, e) in enumerate(zip(quarter_firsts(n), noise))]


def write(path, rows, header="date,bookings"):
    path.write_text(header + "\n" + "".join(",".join(map(str, row)) + "\n" for row in rows))
    return path


def stored(root, metric):
    with Project(root).store(read_only=True) as store:
        return store.granularity(metric)


def level_shifts(root, metric):
    out = invoke("--project", root, "why", metric, "--since", "1900-01-01", "--until", "2100-01-01", "--json").output
    return [a for a in json.loads(out)["anomalies"] if a["segment"] == {} and a["kind"] == "level_shift"]


# --- periods and dates ----------------------------------------------------------------
@pytest.mark.parametrize(
    "granularity, start, expected",
    [
        # a quarter's middle month: its quarter is Jan-Mar
        ("quarterly", dt.date(2024, 2, 1), dict(
            first=dt.date(2024, 1, 1), last=dt.date(2024, 3, 31), fourth=dt.date(2024, 10, 1), fifth_last=dt.date(2025, 3, 31),
            index=(dt.date(2025, 6, 30), 5), count=(dt.date(2024, 12, 31), 4),
            dates=["2024-01-01", "2024-04-01", "2024-07-01"], columns=[0] * 91 + [1] * 91, unit="quarter",
        )),
        # a mid-year mark: its year is 2024
        ("yearly", dt.date(2024, 7, 1), dict(
            first=dt.date(2024, 1, 1), last=dt.date(2024, 12, 31), fourth=dt.date(2027, 1, 1), fifth_last=dt.date(2028, 12, 31),
            index=(dt.date(2026, 12, 31), 2), count=(dt.date(2030, 1, 1), 7),
            dates=["2024-01-01", "2025-01-01", "2026-01-01"], columns=[0] * 366 + [1] * 365, unit="year",
        )),
    ],
)
def test_periods_are_calendar_quarters_and_years(granularity, start, expected):
    assert periods.first_day(start, 0, granularity) == expected["first"]
    assert periods.last_day(start, 0, granularity) == expected["last"]
    assert periods.first_day(start, 3, granularity) == expected["fourth"]
    assert periods.last_day(start, 4, granularity) == expected["fifth_last"]
    day, index = expected["index"]
    assert periods.index(day, start, granularity) == index
    until, count = expected["count"]
    assert periods.count(start, until, granularity) == count
    assert periods.dates(start, 3, granularity).astype(str).tolist() == expected["dates"]
    assert periods.day_columns(expected["first"], 2, granularity).tolist() == expected["columns"]
    assert periods.unit(granularity) == expected["unit"]


def test_month_marks_a_whole_number_of_quarters_apart_are_quarterly():
    firsts = pl.Series(quarter_firsts(8))
    ends = pl.Series([periods.last_day(FIRST, i, "quarterly") for i in range(8)])
    with_a_missing_quarter = pl.Series(quarter_firsts(8)[:3] + quarter_firsts(8)[4:])
    months = pl.Series([periods.first_day(FIRST, i, "monthly") for i in range(12)])
    assert [granularity_of(s) for s in (firsts, ends, with_a_missing_quarter, months)] == [
        "quarterly", "quarterly", "quarterly", "monthly"
    ]
    assert cadence_change(firsts) is None and cadence_change(with_a_missing_quarter) is None


# --- through the CLI ----------------------------------------------------------------
def test_a_quarterly_file_is_judged_per_quarter_without_gaps(tmp_path):
    data = write(tmp_path / "bookings.csv", bookings())
    root = tmp_path / "p"
    assert "Cadence of each metric, from its dates: bookings quarterly." in invoke("init", root, "--from", data).output
    invoke("--project", root, "ingest", data)
    assert stored(root, "bookings") == "quarterly"
    scan = invoke("--project", root, "scan").output
    assert "bookings is quarterly data: judged one value per quarter." in scan
    assert "Data gap" not in scan  # was 46 "gaps": the months between quarters
    steps = level_shifts(root, "bookings")
    assert len(steps) == 1 and steps[0]["period"] == "quarter" and steps[0]["direction"] == "up", steps
    start = dt.date.fromisoformat(steps[0]["start"])
    assert start in quarter_firsts(24)[STEP_QUARTER - 1:STEP_QUARTER + 2]
    assert 370 < steps[0]["before"] < 430 and 620 < steps[0]["after"] < 680  # per quarter
    why = invoke("--project", root, "why", "bookings", "--on", steps[0]["start"]).output
    assert "/quarter before" in why and "/month" not in why and "/day" not in why


def test_a_missing_quarter_is_a_gap(tmp_path):
    rows = bookings()
    data = write(tmp_path / "bookings.csv", rows[:6] + rows[7:])
    root = tmp_path / "p"
    invoke("init", root, "--from", data)
    invoke("--project", root, "ingest", data)
    scan = invoke("--project", root, "scan").output
    assert f"Data gap: no data for bookings on {rows[6][0]} (unknown days, not zeros)." in scan


def test_a_quarterly_metric_beside_a_daily_one_in_one_file(tmp_path):
    daily = [(FIRST + dt.timedelta(days=i), "visits", 100 + i % 7) for i in range((quarter_firsts(25)[-1] - FIRST).days)]
    quarterly = [(day, "bookings", value) for day, value in bookings()]
    data = write(tmp_path / "mixed.csv", sorted(daily + quarterly), header="date,metric,value")
    root = tmp_path / "p"
    init = invoke("init", root, "--from", data).output
    assert "Cadence of each metric, from its dates: bookings quarterly, visits daily." in init
    invoke("--project", root, "ingest", data)
    assert (stored(root, "bookings"), stored(root, "visits")) == ("quarterly", "daily")
    scan = invoke("--project", root, "scan").output
    assert "bookings is quarterly data: judged one value per quarter." in scan and "Data gap" not in scan
    steps = level_shifts(root, "bookings")
    assert len(steps) == 1 and steps[0]["period"] == "quarter"


@pytest.mark.parametrize("rows, line, words", [
    # a year of months, then quarters: was read as monthly data with two months missing each quarter
    ([periods.first_day(FIRST, i, "monthly") for i in range(12)] + quarter_firsts(8, dt.date(2020, 1, 1)), 15,
     "2020-04-01: the dates step a month at a time up to 2020-01-01, then a quarter at a time from this row on"),
    (quarter_firsts(9) + [periods.first_day(dt.date(2021, 1, 1), i, "monthly") for i in range(1, 10)], 11,
     "2021-02-01: the dates step a quarter at a time up to 2021-01-01, then a month at a time from this row on"),
])
def test_months_then_quarters_for_one_metric_are_refused_naming_the_row(tmp_path, rows, line, words):
    assert_cadence_change_refused(tmp_path / "bookings.csv", rows, line, words)


def assert_cadence_change_refused(data, rows, line, words):
    """Ingesting `rows` into a new project is refused in one line naming `line`, with nothing stored."""
    write(data, [(day, 10) for day in rows], header="date,value")
    root = data.parent / "p"
    invoke("init", root)
    result = invoke("--project", root, "ingest", data, code=1)
    assert result.output.startswith(f"Error: {data}:{line}: column 'date': {words}; a metric keeps one cadence")
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    with Project(root).store(read_only=True) as store:  # nothing half-written
        assert store.metric_names() == []


def test_monthly_data_with_missing_months_is_still_monthly(tmp_path):
    months = [periods.first_day(FIRST, i, "monthly") for i in range(24)]
    data = write(tmp_path / "bookings.csv", [(day, 10) for day in months[:5] + months[8:]], header="date,value")
    root = tmp_path / "p"
    invoke("init", root)
    invoke("--project", root, "ingest", data)
    assert stored(root, "bookings") == "monthly"
