"""Shapes of the sixth new-user round (issue-qa9): a Google Analytics export (comment lines
starting with `#` above the header, dates written 20260301), an ad platform's (`--` for no
data, costs written as money, a cost per click; Meta's `Campaign name` telling each day's
rows apart) and a Stripe-like payments export (`created` in Unix seconds, a `type` of
charge or refund on rows at any time of day)."""
from __future__ import annotations

import calendar
import datetime as dt
import json

import yaml

from test_quarterly import invoke

FIRST = dt.date(2026, 1, 1)


def _config(root) -> dict:
    return yaml.safe_load((root / "ctxmetrics.yaml").read_text())


def _query(root, sql: str) -> list[dict]:
    return json.loads(invoke("--project", root, "query", sql, "--json").output)


def test_a_google_analytics_export_with_comment_lines_and_compact_dates(tmp_path):
    data, root = tmp_path / "ga4.csv", tmp_path / "p"
    head = "# ----\n# Reports snapshot\n# Account: Acme, Inc.\n# Start date: 20260101\n# End date: 20260331\n\n"
    rows = "".join(f"{FIRST + dt.timedelta(days=i):%Y%m%d},{1200 + i % 7 * 10},{480 + i % 5}\n" for i in range(90))
    data.write_text(head + "Date,Active users,New users\n" + rows)
    said = invoke("init", root, "--from", data).output
    assert "lines 1-6 are above the header" in said
    assert _config(root)["date_format"] == "%Y%m%d"
    invoke("--project", root, "ingest", data)
    assert _query(root, "select min(ts)::varchar as first, count(*) as n from observations") == [{"first": "2026-01-01", "n": 180}]
    invoke("init", tmp_path / "q")  # a project file without the date format: ingest says which one
    refused = invoke("--project", tmp_path / "q", "ingest", data, "--format", "wide", code=1)
    assert "'20260101' is a date written without dashes; pass --date-format %Y%m%d" in refused.output


def test_an_ads_export_reads_money_and_no_data_marks(tmp_path):
    data, root = tmp_path / "ads.csv", tmp_path / "p"
    lines = ["Campaign performance report", '"January 1, 2026 - March 31, 2026"', "Day,Campaign,Clicks,Cost,Avg. CPC"]
    cost = 0.0
    for i in range(90):
        day = FIRST + dt.timedelta(days=i)
        lines.append(f'{day},Brand,300,"$1,{200 + i % 9}.50",$4.{10 + i % 9}')
        lines.append(f"{day},Generic,0,$0.00,--" if i % 30 == 7 else f'{day},Generic,150,"${300 + i % 5}.25",$2.0{i % 5}')
        cost += 1200 + i % 9 + 0.5 + (0 if i % 30 == 7 else 300 + i % 5 + 0.25)
    data.write_text("\n".join(lines) + "\n")
    invoke("init", root, "--from", data)
    metrics = _config(root)["metrics"]
    assert metrics["Cost"]["type"] == "amount" and metrics["Avg. CPC"]["type"] == "gauge"
    invoke("--project", root, "ingest", data)
    got = _query(root, "select metric, sum(value) as total, count(*) as n from observations group by 1 order by 1")
    assert {r["metric"]: r["n"] for r in got} == {"Avg. CPC": 177, "Clicks": 180, "Cost": 180}  # `--`: no reading
    assert next(r["total"] for r in got if r["metric"] == "Cost") == round(cost, 2)


def test_a_campaign_name_column_is_renamed_to_a_dimension_when_it_tells_the_rows_apart(tmp_path):
    data, root = tmp_path / "meta.csv", tmp_path / "p"
    lines = ["Reporting starts,Reporting ends,Campaign name,Amount spent (EUR),Link clicks"]
    for i in range(60):
        day = FIRST + dt.timedelta(days=i)
        lines += [f"{day},{day},Spring sale,{160 + i % 4}.40,{200 + i % 6}", f"{day},{day},Retarget,{80 + i % 3}.10,{90 + i % 5}"]
    data.write_text("\n".join(lines) + "\n")
    said = invoke("init", root, "--from", data).output
    assert "'Campaign name' tells the rows of each Reporting starts apart" in said and "read as 'campaign_name'" in said
    config = _config(root)
    assert config["rename_columns"] == {"Campaign name": "campaign_name"} and config["dimensions"] == ["campaign_name"]
    assert "Reporting ends" in config["ignore_columns"]  # a second date of each row: no segment
    invoke("--project", root, "ingest", data)  # before: "meta.csv:3: duplicate of line 2 (same ts=2026-01-01)"
    got = _query(root, "select campaign_name, count(*) as n from observations where metric = 'Link clicks' group by 1 order by 1")
    assert got == [{"campaign_name": "Retarget", "n": 60}, {"campaign_name": "Spring sale", "n": 60}]


def test_a_payments_export_in_unix_seconds_keeps_charges_and_refunds_apart(tmp_path):
    data, root = tmp_path / "payments.csv", tmp_path / "p"
    lines, net = ["id,created,amount,currency,type"], 0
    for i in range(60):
        midnight = calendar.timegm((FIRST + dt.timedelta(days=i)).timetuple())
        for k in range(6):
            lines.append(f"ch_{i}_{k},{midnight + 3600 * (2 + 3 * k)},{2900 + 1000 * k},usd,charge")
            net += 2900 + 1000 * k
        if i % 4 == 0:
            lines.append(f"re_{i},{midnight + 80_000},-2900,usd,refund")
            net -= 2900
    data.write_text("\n".join(lines) + "\n")
    said = invoke("init", root, "--from", data).output
    config = _config(root)
    assert config["date_format"] == "%s" and "type" in config["dimensions"], said
    invoke("--project", root, "ingest", data)
    got = _query(root, "select type, sum(value) as total from observations group by 1 order by 1")
    # Stripe's amounts are cents (issue-qa10): stored in dollars
    assert got == [{"type": "charge", "total": (net + 15 * 2900) / 100}, {"type": "refund", "total": -15 * 29}]


def test_rename_columns_must_map_names_to_names(tmp_path):
    root = tmp_path / "p"
    invoke("init", root)
    config = root / "ctxmetrics.yaml"
    config.write_text(config.read_text() + "\nrename_columns: [Campaign name]\n")
    refused = invoke("--project", root, "status", code=1).output
    assert "'rename_columns' must map a file's column to its new name" in refused and "Traceback" not in refused
