"""A new user's own files and tags, end to end through the CLI (issue 9's "data as it
really comes"): each test is a shape a user brought that was read wrong before."""
from __future__ import annotations

import datetime as dt
import json

import duckdb
import numpy as np
from click.testing import CliRunner

from ctxmetrics.cli import cli
from ctxmetrics.config import load_config


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def stored(root, sql="select ts, value from observations order by all"):
    with duckdb.connect(str(root / "ctxmetrics.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def data_file(tmp_path, name, header, rows):
    data = tmp_path / name
    data.write_text(header + "\n" + "".join(f"{row}\n" for row in rows))
    return data


def daily_values(tmp_path, name, value_of, days=90):
    """A `date,value` file of `days` days from 2026-01-01, day d holding value_of(d)."""
    return data_file(tmp_path, name, "date,value", (f"{dt.date(2026, 1, 1) + dt.timedelta(d)},{value_of(d)}" for d in range(days)))


def nothing_stored(root):
    return not (root / "ctxmetrics.duckdb").exists() or stored(root, "select count(*) from observations") == [(0,)]


def init_and_ingest(tmp_path, data):
    root = tmp_path / "p"
    made = invoke("init", root, "--from", data)
    assert made.exit_code == 0, made.output
    ingested = invoke("--project", root, "ingest", data)
    return root, made, ingested


def test_a_months_long_closure_tagged_the_day_after_the_drop_explains_it(tmp_path):
    # Visits drop to a fifth for 120 days (longer than max_temporary_days, so the detector
    # reports a lasting drop and a lasting recovery); the closure is tagged from the day
    # after the drop. It used to be refused: "an outage that ended does not explain a
    # lasting change", although the level came back when it ended.
    rng = np.random.default_rng(3)
    first = dt.date(2025, 1, 1)
    rows = [f"{first + dt.timedelta(i)},{rng.poisson(200 if 200 <= i < 320 else 1000)}" for i in range(420)]
    data = tmp_path / "visits.csv"
    data.write_text("date,visits\n" + "\n".join(rows) + "\n")
    root, _, ingested = init_and_ingest(tmp_path, data)
    assert ingested.exit_code == 0, ingested.output
    closed, reopened = first + dt.timedelta(200), first + dt.timedelta(319)
    tagged = invoke("--project", root, "annotate", "add", "Store closed", "--type", "outage",
                    "--start", closed + dt.timedelta(1), "--end", reopened)
    assert tagged.exit_code == 0, tagged.output
    assert invoke("--project", root, "scan").exit_code == 0
    why = invoke("--project", root, "why", "visits", "--since", first, "--until", "2026-03-01", "--json")
    anomalies = json.loads(why.stdout)["anomalies"]
    drop = [a for a in anomalies if a["direction"] == "down" and abs(dt.date.fromisoformat(a["start"]) - closed).days <= 2]
    assert drop and drop[0]["causes"][0]["annotation_id"] == "store-closed", anomalies


def test_a_numeric_store_id_with_several_rows_per_date_is_a_dimension(tmp_path):
    data = tmp_path / "orders.csv"
    lines = [f"{dt.date(2026, 1, 1) + dt.timedelta(d)},{store},{20 + (d * 7 + store) % 40}"
             for d in range(60) for store in (1001, 1002, 1003)]
    data.write_text("date,store_id,orders\n" + "\n".join(lines) + "\n")
    root, made, ingested = init_and_ingest(tmp_path, data)
    config = load_config(root / "ctxmetrics.yaml")
    assert config.dimensions == ("store_id",) and list(config.metrics) == ["orders"]
    assert "'store_id' holds 3 whole numbers that tell apart the rows of one date: a dimension" in made.output
    assert ingested.exit_code == 0, ingested.output
    assert stored(root, "select store_id, count(*) from observations group by 1 order by 1") == [
        ("1001", 60), ("1002", 60), ("1003", 60)
    ]


def test_a_count_beside_a_text_dimension_stays_a_count(tmp_path):
    data = tmp_path / "orders.csv"
    lines = [f"{dt.date(2026, 1, 1) + dt.timedelta(d)},{region},{(d * 7 + len(region)) % 3}"
             for d in range(60) for region in ("EMEA", "APAC")]
    data.write_text("date,region,orders\n" + "\n".join(lines) + "\n")
    root, made, _ = init_and_ingest(tmp_path, data)
    config = load_config(root / "ctxmetrics.yaml")
    assert config.dimensions == ("region",) and list(config.metrics) == ["orders"]


def test_midnight_timestamps_with_an_offset_are_the_dates_written(tmp_path):
    data = data_file(tmp_path, "sales.csv", "timestamp,sales",
                     (f"{dt.date(2026, 11, 1) + dt.timedelta(d)}T00:00:00+10:00,{10 + d % 4}" for d in range(30)))
    root, made, ingested = init_and_ingest(tmp_path, data)
    assert ingested.exit_code == 0, ingested.output
    assert "sub-daily" not in (root / "ctxmetrics.yaml").read_text()
    rows = stored(root)
    assert rows[0] == (dt.date(2026, 11, 1), 10.0) and rows[-1] == (dt.date(2026, 11, 30), 11.0) and len(rows) == 30


def test_times_of_day_with_an_offset_still_land_on_the_project_day(tmp_path):
    data = tmp_path / "sales.csv"
    data.write_text("timestamp,value\n2026-11-27T00:00:00+10:00,1\n2026-11-27T09:00:00+10:00,2\n")
    root, _, ingested = init_and_ingest(tmp_path, data)  # a UTC project: both are Nov 26 there
    assert ingested.exit_code == 0, ingested.output
    assert stored(root) == [(dt.date(2026, 11, 26), 3.0)]


def test_a_json_array_of_records_and_json_lines_in_a_json_file_are_read(tmp_path):
    records = [{"date": str(dt.date(2026, 1, 1) + dt.timedelta(d)), "signups": 5 + d % 3} for d in range(30)]
    array = tmp_path / "signups.json"
    array.write_text(json.dumps(records, indent=2))
    root, _, ingested = init_and_ingest(tmp_path, array)
    assert ingested.output == "Ingested 30 rows from 1 file: 30 added, 0 replaced.\n"
    lines = tmp_path / "more.json"
    lines.write_text("".join(json.dumps(r) + "\n" for r in records))
    again = invoke("--project", root, "ingest", lines, "--metric", "signups")
    assert again.output == "Ingested 30 rows from 1 file: 0 added, 30 replaced, all with the same value.\n"


def test_json_that_is_not_records_is_refused_by_row(tmp_path):
    root = tmp_path / "p"
    assert invoke("init", root).exit_code == 0
    cases = {
        "wrapped.json": ('{"data": [{"date": "2026-01-01", "value": 1}]}',
                         "one JSON object whose 'data' holds the records; save that list alone"),
        "mixed.json": ('[{"date": "2026-01-01", "value": 1}, 5]', "row 2: not a JSON object"),
        "flag.json": ('[{"date": "2026-01-01", "value": true}]', "row 1: column 'value': true is true/false"),
        "empty.json": ("[]", "the file has no data rows"),
    }
    for name, (content, expected) in cases.items():
        (tmp_path / name).write_text(content)
        result = invoke("--project", root, "ingest", tmp_path / name)
        assert result.exit_code == 1 and expected in result.output and "Traceback" not in result.output, result.output
        assert result.output.count("\n") == 1
    assert nothing_stored(root)


def test_one_stray_negative_keeps_a_count_and_names_its_row(tmp_path):
    data = daily_values(tmp_path, "orders.csv", lambda d: -3 if d == 40 else 10 + d % 7)
    root, made, ingested = init_and_ingest(tmp_path, data)
    assert load_config(root / "ctxmetrics.yaml").metrics["orders"].type == "count"
    assert f"{data}:42: column 'value': -3 is a negative among whole numbers: 'orders' is typed a count" in made.output
    assert ingested.exit_code == 1 and ingested.output.startswith(f"Error: {data}:42: column 'value': -3 is negative")
    assert nothing_stored(root)


def test_a_column_often_negative_is_a_gauge(tmp_path):
    data = daily_values(tmp_path, "margin.csv", lambda d: d % 5 - 2)
    root, made, _ = init_and_ingest(tmp_path, data)
    assert load_config(root / "ctxmetrics.yaml").metrics["margin"].type == "gauge"
    assert "is a negative" not in made.output


def test_exports_concatenated_with_their_headers_and_blank_lines_are_read(tmp_path):
    first = [f"{dt.date(2025, 1, 1) + dt.timedelta(d)},{30 + d % 9}" for d in range(40)]
    second = [f"{dt.date(2025, 2, 10) + dt.timedelta(d)},{30 + d % 5}" for d in range(40)]
    data = tmp_path / "orders.csv"
    data.write_text("date,orders\n" + "\n".join(first) + "\ndate , orders\n" + "\n".join(second) + "\n\n\n")
    root, made, ingested = init_and_ingest(tmp_path, data)
    assert made.exit_code == 0 and ingested.output == "Ingested 80 rows from 1 file: 80 added, 0 replaced.\n"
    assert stored(root, "select count(*), min(ts), max(ts) from observations") == [
        (80, dt.date(2025, 1, 1), dt.date(2025, 3, 21))
    ]


def test_a_tag_type_in_capitals_is_its_type_and_an_unknown_one_is_refused(tmp_path):
    root = tmp_path / "p"
    assert invoke("init", root).exit_code == 0
    added = invoke("--project", root, "annotate", "add", "Site down", "--type", "Outage", "--start", "2026-03-10")
    assert added.exit_code == 0, added.output
    assert "type: outage" in (root / "annotations" / "2026" / "03" / "site-down.yaml").read_text()
    refused = invoke("--project", root, "annotate", "add", "Lockdown", "--type", "policy", "--start", "2026-03-10")
    assert refused.exit_code == 2 and "'policy' is not one of" in refused.output
    assert not (root / "annotations" / "2026" / "03" / "lockdown.yaml").exists()


def test_a_quarterly_file_is_scanned_and_one_anomaly_is_said_so(tmp_path):
    data = data_file(tmp_path, "bookings.csv", "date,bookings",
                     (f"{dt.date(2020 + q // 4, 3 * (q % 4) + 1, 1)},{(800 if q >= 16 else 500) + (q * 17) % 50}" for q in range(24)))
    root, _, ingested = init_and_ingest(tmp_path, data)
    assert ingested.exit_code == 0, ingested.output
    scanned = invoke("--project", root, "scan")
    assert scanned.exit_code == 0 and ": 1 anomaly, 0 linked to context." in scanned.output, scanned.output
