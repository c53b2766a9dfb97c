"""Money metrics (`type: amount`, issue-9am): revenue with cents and refunds, summed across
segments and periods like a count, judged like a gauge, from `init --from` to `why`."""
from __future__ import annotations

import datetime as dt
import json

import numpy as np
import polars as pl
import pytest
import yaml
from click.testing import CliRunner

from ctxmetrics.cli import cli
from ctxmetrics.config import load_config
from ctxmetrics.ingest.amounts import amount_or_gauge
from ctxmetrics.project import Project, init_project
from ctxmetrics.store.series import build_series_set, load_series

FIRST = dt.date(2025, 1, 6)  # a Monday
DAYS = 182
REGIONS = {"EMEA": 5200.0, "NA": 7400.0, "APAC": 2600.0}  # each region's usual revenue a day
PLANTED = ("NA", 140, 147)  # region and days [first, end) of the +60% week: the total +29%
REFUND = ("EMEA", 60)  # a day whose refunds outweigh the sales


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def revenue_rows(seed=9, regions=REGIONS, sparse=()) -> list[tuple[dt.date, str, float]]:
    """Daily revenue in cents per region, a weekday profile and 4% noise; the PLANTED
    region +60% for a week; the REFUND region negative on one day. Regions in `sparse`
    have a row on 40% of days only (no deal on the others)."""
    rng = np.random.default_rng(seed)
    rows = []
    for day in range(DAYS):
        date = FIRST + dt.timedelta(day)
        for region, level in regions.items():
            if region in sparse and rng.random() > 0.4:
                continue
            value = level * (0.7 if date.weekday() >= 5 else 1.0) * (1 + 0.04 * rng.standard_normal())
            if region == PLANTED[0] and PLANTED[1] <= day < PLANTED[2]:
                value *= 1.6
            if (region, day) == REFUND:
                value = -1893.07
            rows.append((date, region, round(value, 2)))
    return rows


def write_revenue(path, rows) -> None:
    path.write_text("date,region,revenue\n" + "".join(f"{d},{r},{v:.2f}\n" for d, r, v in rows))


@pytest.fixture(scope="module")
def revenue_project(tmp_path_factory):
    """`init --from` + `ingest` + `scan` of the revenue file: (project dir, its rows, init's output)."""
    tmp = tmp_path_factory.mktemp("amounts")
    rows = revenue_rows()
    write_revenue(tmp / "revenue.csv", rows)
    init = invoke("init", tmp / "p", "--from", tmp / "revenue.csv")
    assert init.exit_code == 0, init.output
    assert invoke("--project", tmp / "p", "ingest", tmp / "revenue.csv").exit_code == 0
    scan = invoke("--project", tmp / "p", "scan")
    assert scan.exit_code == 0, scan.output
    return tmp / "p", rows, init.output


def test_init_types_revenue_an_amount_and_says_how_to_change_it(revenue_project):
    root, _, output = revenue_project
    text = (root / "ctxmetrics.yaml").read_text()
    assert yaml.safe_load(text)["metrics"] == {"revenue": {"type": "amount"}}
    assert "revenue: {type: amount}  # summed across segments and days: its name reads as money ('revenue')" in text
    assert ("revenue is typed amount (summed across segments and days): its name reads as money ('revenue'). "
            "If its segments do not add up to the total (a price, a rate), write type: gauge for it in "
            "ctxmetrics.yaml.") in output


def test_the_total_of_an_amount_is_the_sum_of_its_regions(revenue_project):
    root, rows, _ = revenue_project
    by_day: dict[dt.date, float] = {}
    for date, _, value in rows:
        by_day[date] = by_day.get(date, 0.0) + value
    project = Project(root)
    with project.store(read_only=True) as store:
        series_set = build_series_set(store, project.config, "revenue")
        total = load_series(store, project.config, "revenue", {})
    assert series_set.kind == "gauge"  # judged as a gauge: cents and a negative day are no Poisson counts
    expected = [by_day[FIRST + dt.timedelta(d)] for d in range(DAYS)]
    np.testing.assert_allclose(series_set.values[series_set.row({})], expected, rtol=1e-9)
    np.testing.assert_allclose(total["value"].to_numpy(), expected, rtol=1e-9)
    refund_day = series_set.values[series_set.row({"region": REFUND[0]}), REFUND[1]]
    assert refund_day == pytest.approx(-1893.07)


def test_a_planted_week_of_one_region_is_found_there_and_driven_by_it(revenue_project):
    root, _, _ = revenue_project
    first = FIRST + dt.timedelta(PLANTED[1])
    last = FIRST + dt.timedelta(PLANTED[2] - 1)
    result = invoke("--project", root, "why", "revenue", "--since", first, "--until", last, "--json")
    assert result.exit_code == 0, result.output
    anomalies = json.loads(result.stdout)["anomalies"]
    total = [a for a in anomalies if a["segment"] == {} and a["direction"] == "up"]
    assert total, anomalies
    # additive like a count's: the region carries (nearly) all of the total's excess
    assert total[0]["drivers"][0]["segment"] == {"region": "NA"} and total[0]["drivers"][0]["share"] > 0.8
    asked = invoke("--project", root, "why", "revenue", "--segment", "region=NA", "--since", first, "--until", last,
                   "--json")
    region = [a for a in json.loads(asked.stdout)["anomalies"] if a["direction"] == "up"]
    assert region and region[0]["start"] <= str(first + dt.timedelta(1)) and region[0]["after"] > 1.4 * region[0]["before"]
    text = invoke("--project", root, "why", "revenue", "--since", first, "--until", last)
    assert "/day before" in text.output  # a daily revenue is an amount per day, unlike a gauge's level


def test_a_refund_day_has_no_percentage_but_its_direction(revenue_project):
    root, _, _ = revenue_project
    day = FIRST + dt.timedelta(REFUND[1])
    result = invoke("--project", root, "why", "revenue", "--segment", f"region={REFUND[0]}", "--on", day, "--json")
    refund = json.loads(result.stdout)["anomalies"]
    assert [(a["start"], a["direction"], a["change_pct"]) for a in refund] == [(str(day), "down", None)]
    assert refund[0]["after"] < 0
    text = invoke("--project", root, "why", "revenue", "--on", day).output
    assert "nan" not in text


def ingested_amount(tmp_path, rows):
    """A project of `rows` as revenue (`type: amount`): (its folder, the cube, the total's `load_series`)."""
    write_revenue(tmp_path / "revenue.csv", rows)
    root = init_project(tmp_path / "p", "format: wide\ndimensions: [region]\nmetrics:\n  revenue: {type: amount}\n")
    assert invoke("--project", root, "ingest", tmp_path / "revenue.csv").exit_code == 0
    project = Project(root)
    with project.store(read_only=True) as store:
        return root, build_series_set(store, project.config, "revenue"), load_series(store, project.config, "revenue", {})


def test_a_sparse_region_leaves_the_total_a_sum_and_its_change_found(tmp_path):
    # as a gauge's mean, the total jumped between the 3- and 4-region means every day and
    # the planted week was not found on it (main at 3e8fc80)
    rows = revenue_rows(regions={**REGIONS, "LATAM": 900.0}, sparse=("LATAM",))
    root, series_set, _ = ingested_amount(tmp_path, rows)
    without_latam = sorted({d for d, _, _ in rows} - {d for d, r, _ in rows if r == "LATAM"})
    day = (without_latam[0] - FIRST).days
    assert series_set.values[series_set.row({}), day] == pytest.approx(sum(v for d, _, v in rows if d == without_latam[0]))
    assert invoke("--project", root, "scan").exit_code == 0
    first, last = FIRST + dt.timedelta(PLANTED[1]), FIRST + dt.timedelta(PLANTED[2] - 1)
    result = invoke("--project", root, "why", "revenue", "--since", first, "--until", last, "--json")
    total = [a for a in json.loads(result.stdout)["anomalies"] if a["direction"] == "up"]
    assert total and total[0]["drivers"][0]["segment"] == {"region": PLANTED[0]}


def test_a_day_without_rows_of_an_amount_is_unknown_not_zero(tmp_path):
    root, series_set, total = ingested_amount(tmp_path, [r for r in revenue_rows() if r[0] != FIRST + dt.timedelta(30)])
    assert np.isnan(series_set.values[:, 30]).all() and series_set.gaps[30]
    assert total.filter(pl.col("ts") == FIRST + dt.timedelta(30))["value"].to_list() == [None]
    scan = invoke("--project", root, "scan")
    assert scan.exit_code == 0, scan.output
    assert str(FIRST + dt.timedelta(30)) in scan.output  # named as a data gap


def test_a_segment_without_a_row_on_a_day_others_have_adds_zero(tmp_path):
    rows = [r for r in revenue_rows() if (r[1], r[0]) != ("APAC", FIRST + dt.timedelta(10))]
    _, series_set, _ = ingested_amount(tmp_path, rows)
    assert series_set.values[series_set.row({"region": "APAC"}), 10] == 0
    day_ten = sum(v for d, _, v in rows if d == FIRST + dt.timedelta(10))
    assert series_set.values[series_set.row({}), 10] == pytest.approx(day_ten)


def test_a_price_stays_a_gauge_averaged_across_regions(tmp_path):
    lines = [f"{FIRST + dt.timedelta(d)},{r},{p + d % 3 * 0.25:.2f}"
             for d in range(40) for r, p in (("EMEA", 19.99), ("NA", 24.49))]
    (tmp_path / "prices.csv").write_text("date,region,price\n" + "\n".join(lines) + "\n")
    init = invoke("init", tmp_path / "p", "--from", tmp_path / "prices.csv")
    assert init.exit_code == 0, init.output
    assert yaml.safe_load((tmp_path / "p" / "ctxmetrics.yaml").read_text())["metrics"] == {"price": {"type": "gauge"}}
    assert "price is typed gauge (averaged across segments): its name reads as a level ('price')." in init.output
    assert invoke("--project", tmp_path / "p", "ingest", tmp_path / "prices.csv").exit_code == 0
    project = Project(tmp_path / "p")
    with project.store(read_only=True) as store:
        series_set = build_series_set(store, project.config, "price")
    emea, na = (series_set.values[series_set.row({"region": r}), 0] for r in ("EMEA", "NA"))
    assert series_set.values[series_set.row({}), 0] == pytest.approx((emea + na) / 2)


def test_a_store_ingested_as_a_gauge_reads_summed_once_declared_an_amount(tmp_path):
    # the type lives in the project file only: an old store needs no migration
    rows = revenue_rows()[:60]
    write_revenue(tmp_path / "revenue.csv", rows)
    root = init_project(tmp_path / "p", "format: wide\ndimensions: [region]\nmetrics:\n  revenue: {type: gauge}\n")
    assert invoke("--project", root, "ingest", tmp_path / "revenue.csv").exit_code == 0
    first_day = [v for d, _, v in rows if d == FIRST]
    for declared, expected in (("gauge", np.mean(first_day)), ("amount", sum(first_day))):
        config = load_config_text(root, f"format: wide\ndimensions: [region]\nmetrics:\n  revenue: {{type: {declared}}}\n")
        with Project(root).store(read_only=True) as store:
            series_set = build_series_set(store, config, "revenue")
        assert series_set.values[series_set.row({}), 0] == pytest.approx(expected)


def load_config_text(root, text):
    (root / "ctxmetrics.yaml").write_text("store: ctxmetrics.duckdb\n" + text)
    return load_config(root / "ctxmetrics.yaml")


def test_weekly_periods_of_an_amount_are_sums_of_its_days(tmp_path):
    rows = revenue_rows()[: 3 * 28]  # four weeks, three regions
    write_revenue(tmp_path / "revenue.csv", rows)
    root = init_project(tmp_path / "p", "format: wide\ndimensions: [region]\nmetrics:\n  revenue: {type: amount, granularity: weekly}\n")
    result = invoke("--project", root, "ingest", tmp_path / "revenue.csv")
    assert result.exit_code == 0, result.output
    project = Project(root)
    with project.store(read_only=True) as store:
        series_set = build_series_set(store, project.config, "revenue")
    assert series_set.granularity == "weekly"
    first_week = sum(v for d, _, v in rows if d < FIRST + dt.timedelta(7))
    assert series_set.values[series_set.row({}), 0] == pytest.approx(first_week)


@pytest.mark.parametrize("name, values, expected", [
    ("revenue", [10.5, -3.25], "amount"),
    ("Pipeline value", [10530.5, 9980.0], "amount"),
    ("avg_revenue", [10.55, 12.31], "gauge"),
    ("revenue_per_user", [10.55, 12.31], "gauge"),
    ("unitPrice", [9.99, 12.49], "gauge"),
    ("conversion_rate", [0.12, 0.31], "gauge"),
    ("temperature", [21.37, 19.02], "gauge"),
    ("y", [7.0423, 8.1156], "gauge"),  # log values: many decimals
    ("reading", [21.5, 19.5], "gauge"),  # one decimal: no cents
    ("reading", [0.25, 0.75], "gauge"),  # a share
    ("closed", [1523.37, 988.05], "amount"),  # cents, no name to go by
])
def test_amount_or_gauge_reads_the_name_first_then_cents(name, values, expected):
    assert amount_or_gauge(name, pl.Series(values)).type == expected
