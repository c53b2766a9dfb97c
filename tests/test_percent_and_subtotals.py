"""Shapes of the fifth new-user round: a metric written as percentages ("12.5%") is read as
numbers and typed a gauge (it was left out as a label of each date), and a Salesforce
report's subtotal rows per region are skipped and said (read as data they would count
each region twice)."""
from __future__ import annotations

import datetime as dt
import json

import yaml

from test_quarterly import invoke

FIRST = dt.date(2026, 1, 1)


def test_a_percentage_column_is_a_gauge_read_without_its_sign(tmp_path):
    data, root = tmp_path / "conversion.csv", tmp_path / "p"
    lines = ["date,visits,conversion_rate"]
    lines += [f"{FIRST + dt.timedelta(days=i)},{1000 + i % 7},{12 + i % 5}{'.5' if i % 2 else ''}%" for i in range(90)]
    data.write_text("\n".join(lines) + "\n")
    said = invoke("init", root, "--from", data).output
    assert "conversion_rate" not in yaml.safe_load((root / "ctxmetrics.yaml").read_text()).get("ignore_columns", [])
    assert yaml.safe_load((root / "ctxmetrics.yaml").read_text())["metrics"]["conversion_rate"]["type"] == "gauge"
    assert "conversion_rate is typed gauge (averaged across segments): its values are percentages ('12%')" in said
    invoke("--project", root, "ingest", data)
    sql = "select value from observations where metric = 'conversion_rate' and ts = '2026-01-02'"
    assert json.loads(invoke("--project", root, "query", sql, "--json").output) == [{"value": 13.5}]


def test_salesforce_subtotal_rows_are_skipped_and_said(tmp_path):
    data, root = tmp_path / "report.csv", tmp_path / "p"
    lines, totals = ['"Region","Close Date","Opportunity Name","Amount"'], {}
    for region in ("EMEA", "NA"):
        for i in range(60):
            day = FIRST + dt.timedelta(days=i)
            for k in range(1 + i % 3):
                lines.append(f'"{region}","{day:%m/%d/%Y}","Opp {region} {i}-{k}","{1000 * (k + 1)}"')
                totals[region] = totals.get(region, 0) + 1000 * (k + 1)
        lines.append(f'"Subtotal","","","{totals[region]}"')
    lines.append(f'"Grand Total","","","{sum(totals.values())}"')
    data.write_text("\n".join(lines) + "\n")
    said = invoke("init", root, "--from", data).output
    assert f"{data}: lines 122 and 243 are subtotal rows ('Subtotal'), not data; skipped." in said
    assert f"{data}:244: 'Grand Total' is a totals row, not data; skipped." in said
    ingested = invoke("--project", root, "ingest", data).output
    assert "Ingested" in ingested
    config = yaml.safe_load((root / "ctxmetrics.yaml").read_text())
    metric = next(m for m, spec in config["metrics"].items() if spec["type"] == "amount")
    sql = f"select sum(value) as total from observations where metric = '{metric}'"
    assert json.loads(invoke("--project", root, "query", sql, "--json").output) == [{"total": sum(totals.values())}]


def _grouped_report(path) -> dict[str, int]:
    """A Salesforce report in its printable view: `Region: EMEA (N records)` alone on a line
    above each region's opportunities, which have no Region column of their own."""
    lines, totals = ['"Close Date","Opportunity Name","Amount"'], {}
    for region in ("EMEA", "NA"):
        rows = [(FIRST + dt.timedelta(days=i), k) for i in range(60) for k in range(1 + i % 3)]
        lines.append(f'"Region: {region} ({len(rows)} records)",,')
        for day, k in rows:
            lines.append(f'"{day:%m/%d/%Y}","Opp {region} {day}-{k}","{1000 * (k + 1)}"')
            totals[region] = totals.get(region, 0) + 1000 * (k + 1)
    path.write_text("\n".join(lines) + "\n")
    return totals


def test_a_grouped_reports_group_rows_carry_their_region_into_the_rows(tmp_path):
    data, root = tmp_path / "report.csv", tmp_path / "p"
    totals = _grouped_report(data)
    said = invoke("init", root, "--from", data).output
    assert f"{data}: lines 2 and 123 are group rows of a grouped report ('Region: EMEA (120 records)'), not data: " \
           "their values carried into column 'Region' of the rows below." in said
    assert "Region" in yaml.safe_load((root / "ctxmetrics.yaml").read_text())["dimensions"]
    invoke("--project", root, "ingest", data)
    metric = next(m for m, s in yaml.safe_load((root / "ctxmetrics.yaml").read_text())["metrics"].items() if s["type"] == "amount")
    sql = f"select Region, sum(value) as total from observations where metric = '{metric}' group by 1 order by 1"
    assert json.loads(invoke("--project", root, "query", sql, "--json").output) == [
        {"Region": "EMEA", "total": totals["EMEA"]}, {"Region": "NA", "total": totals["NA"]}
    ]
