"""Yearly files end to end: a metric with one row a year (each Jan 1, or each Dec 31) is
stored and scanned one value per calendar year (the eleven months between its rows are no
gap), reported per year, and refused naming the row when its dates change cadence."""
from __future__ import annotations

import datetime as dt
import json

import numpy as np
import polars as pl
import pytest

from ctxmetrics.detect import find_changes
from ctxmetrics.ingest.dates import cadence_change, granularity_of
from ctxmetrics.models import periods
from ctxmetrics.project import Project
from test_quarterly import assert_cadence_change_refused, invoke, stored, write  # the quarterly file's CLI helpers

FIRST = dt.date(1990, 1, 1)
YEARS = 32
STEP_YEAR = 18  # signups step up from 2008 on
HEADER = "date,signups,price"


def year_firsts(n: int, first: dt.date = FIRST) -> list[dt.date]:
    return [periods.first_day(first, i, "yearly") for i in range(n)]


def year_ends(n: int, first: dt.date = FIRST) -> list[dt.date]:
    return [periods.last_day(first, i, "yearly") for i in range(n)]


def yearly_rows(days: list[dt.date]) -> list[tuple[dt.date, int, float]]:
    """A count (~1,000 a year, ~1,400 from `STEP_YEAR` on) and a gauge (a price around 50)."""
    rng = np.random.default_rng(11)
    counts = rng.poisson([1000 if i < STEP_YEAR else 1400 for i in range(len(days))])
    prices = 50 + rng.normal(0, 1, len(days))
    return [(day, int(c), round(float(p), 2)) for day, c, p in zip(days, counts, prices)]


def anomalies(root, metric):
    out = invoke("--project", root, "why", metric, "--since", "1900-01-01", "--until", "2100-01-01", "--json").output
    return [a for a in json.loads(out)["anomalies"] if a["segment"] == {}]


# --- periods and dates ----------------------------------------------------------------
def test_month_marks_a_whole_number_of_years_apart_are_yearly():
    firsts, ends = pl.Series(year_firsts(15)), pl.Series(year_ends(15))
    with_a_missing_year = pl.Series(year_firsts(15)[:6] + year_firsts(15)[7:])
    quarters = pl.Series([periods.first_day(FIRST, i, "quarterly") for i in range(12)])
    assert [granularity_of(s) for s in (firsts, ends, with_a_missing_year, quarters)] == [
        "yearly", "yearly", "yearly", "quarterly"
    ]
    assert cadence_change(firsts) is None and cadence_change(with_a_missing_year) is None


def test_one_date_off_a_yearly_cadence_is_found():
    # was read as monthly data (one step of 17 months) with eleven missing months a year
    days = pl.Series(year_firsts(15) + [dt.date(2005, 6, 1)])
    assert cadence_change(days) == (15, "the dates step a year at a time up to 2004-01-01, then 517 days to this one")


# --- through the CLI ----------------------------------------------------------------
@pytest.mark.parametrize("days", [year_firsts(YEARS), year_ends(YEARS)], ids=["jan1", "dec31"])
def test_a_yearly_file_is_judged_per_year_without_gaps(tmp_path, days):
    rows = yearly_rows(days)
    data = write(tmp_path / "yearly.csv", rows, header=HEADER)
    root = tmp_path / "p"
    assert "Cadence of each metric, from its dates: signups yearly, price yearly." in invoke("init", root, "--from", data).output
    invoke("--project", root, "ingest", data)
    assert (stored(root, "signups"), stored(root, "price")) == ("yearly", "yearly")
    scan = invoke("--project", root, "scan").output
    assert "signups is yearly data: judged one value per year." in scan
    assert "Data gap" not in scan  # was 93 "gaps": the quarters between the years
    found = anomalies(root, "signups")
    expected = find_changes(
        np.array([c for _, c, _ in rows], dtype=float), kind="count", dates=periods.dates(days[0], len(days), "yearly")
    )
    assert len(found) == len(expected) == 1 and found[0]["period"] == "year", found
    assert found[0]["start"] == str(expected[0].start_date) and found[0]["kind"] == expected[0].kind
    assert found[0]["before"] == pytest.approx(expected[0].before) and found[0]["after"] == pytest.approx(expected[0].after)
    why = invoke("--project", root, "why", "signups", "--on", found[0]["start"]).output
    assert "/year before" in why and "/quarter" not in why and "/day" not in why
    digest = invoke("--project", root, "digest", "--since", "1990-01-01").output
    assert " a year) since " in digest and "a quarter" not in digest


def test_a_missing_year_is_one_gap(tmp_path):
    rows = yearly_rows(year_firsts(YEARS))
    data = write(tmp_path / "yearly.csv", rows[:9] + rows[10:], header=HEADER)
    root = tmp_path / "p"
    invoke("init", root, "--from", data)
    invoke("--project", root, "ingest", data)
    scan = invoke("--project", root, "scan").output
    assert f"Data gap: no data for signups on {rows[9][0]} (unknown days, not zeros)." in scan
    assert f"Data gap: no data for price on {rows[9][0]} (unknown days, not zeros)." in scan


def test_a_yearly_metric_beside_a_quarterly_one_in_one_file(tmp_path):
    quarterly = [(day, "bookings", 400 + i % 4) for i, day in enumerate(periods.first_day(FIRST, i, "quarterly") for i in range(40))]
    yearly = [(day, "signups", c) for day, c, _ in yearly_rows(year_firsts(YEARS))]
    data = write(tmp_path / "mixed.csv", sorted(quarterly + yearly), header="date,metric,value")
    root = tmp_path / "p"
    assert "bookings quarterly, signups yearly." in invoke("init", root, "--from", data).output
    invoke("--project", root, "ingest", data)
    assert (stored(root, "bookings"), stored(root, "signups")) == ("quarterly", "yearly")
    scan = invoke("--project", root, "scan").output
    assert "signups is yearly data: judged one value per year." in scan and "Data gap" not in scan


def test_a_declared_yearly_granularity_is_accepted_and_a_misspelt_one_refused(tmp_path):
    root = tmp_path / "p"
    invoke("init", root)
    # two rows a year apart are too few to tell a cadence from; the declaration decides
    data = write(tmp_path / "yearly.csv", [(day, c) for day, c, _ in yearly_rows(year_firsts(2))], header="date,signups")
    config = root / "ctxmetrics.yaml"
    config.write_text("format: wide\nmetrics:\n  signups: {type: count, granularity: annual}\n")
    refused = invoke("--project", root, "ingest", data, code=1).output
    assert "granularity 'annual'" in refused and "yearly" in refused and len(refused.strip().splitlines()) == 1
    config.write_text("format: wide\nmetrics:\n  signups: {type: count, granularity: yearly}\n")
    invoke("--project", root, "ingest", data)
    assert stored(root, "signups") == "yearly"


@pytest.mark.parametrize("rows, line, words", [
    # years, then quarters: was read as quarterly data with three quarters missing each year
    (year_firsts(20) + [periods.first_day(dt.date(2009, 1, 1), i, "quarterly") for i in range(1, 9)], 22,
     "2009-04-01: the dates step a year at a time up to 2009-01-01, then a quarter at a time from this row on"),
    ([periods.first_day(FIRST, i, "quarterly") for i in range(21)] + year_firsts(6, dt.date(1996, 1, 1)), 23,
     "1996-01-01: the dates step a quarter at a time up to 1995-01-01, then a year at a time from this row on"),
    (year_firsts(12) + [dt.date(2001, 6, 1)], 14,
     "2001-06-01: the dates step a year at a time up to 2001-01-01, then 151 days to this one"),
])
def test_a_yearly_metric_changing_cadence_is_refused_naming_the_row(tmp_path, rows, line, words):
    assert_cadence_change_refused(tmp_path / "signups.csv", rows, line, words)


def test_init_from_reads_a_year_column_of_whole_numbers_as_the_dates(tmp_path):
    # a yearly export as public data sets come (TCPD, World Bank): no date column, years as numbers
    rows = [(day.year, c) for day, c, _ in yearly_rows(year_firsts(YEARS))]
    data = write(tmp_path / "gdp.csv", rows, header="year,gdp")
    root = tmp_path / "p"
    assert "Cadence of each metric, from its dates: gdp yearly." in invoke("init", root, "--from", data).output
    config = (root / "ctxmetrics.yaml").read_text()
    assert "columns: {date: year}" in config and "date_format: '%Y'" in config
    invoke("--project", root, "ingest", data)
    assert stored(root, "gdp") == "yearly"
    with Project(root).store(read_only=True) as store:
        assert store.observation_span() == (FIRST, year_firsts(YEARS)[-1])
