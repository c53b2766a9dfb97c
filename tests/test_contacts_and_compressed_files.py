"""Shapes of the seventh new-user round (issue-qa10): a HubSpot-like contacts export with a
date column per lifecycle stage, a gzip-compressed CSV, Excel's UTF-16 "Unicode text"
(tab-separated, .txt), monthly exports overlapping by a few days, and month-first dates that
read two ways because no day is above 12."""
from __future__ import annotations

import datetime as dt
import gzip
import json

import numpy as np
import yaml

from test_quarterly import invoke

FIRST = dt.date(2026, 1, 1)


def _config(root) -> dict:
    return yaml.safe_load((root / "ctxmetrics.yaml").read_text())


def _query(root, sql: str) -> list[dict]:
    return json.loads(invoke("--project", root, "query", sql, "--json").output)


# The later stages' first days lack the contacts that were leads before the export and are
# left out at ingest (test_contacts_warm_up.py): the stages are compared from this day on.
COUNTED_FROM = FIRST + dt.timedelta(days=9)


def _contacts(path, days: int = 40) -> dict[str, int]:
    """One row per contact; each reaches the next stage with some odds, a few days later;
    how many reached each stage from `COUNTED_FROM` on."""
    rng = np.random.default_rng(7)
    header = ["Record ID", "Email", "Lifecycle Stage", "Became a Lead Date", "Became a Marketing Qualified Lead Date",
              "Became a Sales Qualified Lead Date", "Became a Customer Date", "Original Source"]
    lines, counts, cid = [",".join(header)], {"leads": 0, "mql": 0, "sql": 0, "customers": 0}, 0
    for i in range(days):
        for _ in range(rng.poisson(20)):
            cid += 1
            when = dt.datetime.combine(FIRST + dt.timedelta(days=i), dt.time(9)) + dt.timedelta(minutes=int(rng.integers(0, 600)))
            dates, stage = [when], "Lead"
            for name in ("Marketing Qualified Lead", "Sales Qualified Lead", "Customer"):
                if rng.random() > 0.5:
                    break
                dates.append(dates[-1] + dt.timedelta(days=int(rng.integers(1, 4))))
                stage = name
            for metric, day in zip(counts, dates):
                counts[metric] += day.date() >= COUNTED_FROM
            cells = [f"{d:%Y-%m-%d %H:%M}" for d in dates] + [""] * (4 - len(dates))
            lines.append(",".join([str(cid), f"c{cid}@example.com", stage, *cells, str(rng.choice(["Paid Social", "Organic Search"]))]))
    path.write_text("\n".join(lines) + "\n")
    return counts


def test_a_contacts_export_is_read_as_the_funnel_of_its_lifecycle_dates(tmp_path):
    data, root = tmp_path / "contacts.csv", tmp_path / "p"
    counts = _contacts(data)
    said = invoke("init", root, "--from", data).output
    config = _config(root)
    assert config["format"] == "records" and config["funnel"] == ["leads", "mql", "sql", "customers"]
    assert config["records"]["metrics"]["mql"] == {"date": "Became a Marketing Qualified Lead Date"}
    assert config["rename_columns"] == {"Original Source": "original_source"} and config["dimensions"] == ["original_source"]
    assert "'Lifecycle Stage' is each record's stage at export time" in said and "Lifecycle Stage" in config["ignore_columns"]
    invoke("--project", root, "ingest", data)
    got = _query(root, f"select metric, sum(value)::int as n from observations where ts >= '{COUNTED_FROM}' group by 1 order by 1")
    assert {row["metric"]: row["n"] for row in got} == counts


def test_a_gzip_compressed_csv_is_read_as_its_text(tmp_path):
    data, root = tmp_path / "leads.csv.gz", tmp_path / "p"
    rows = "".join(f"{FIRST + dt.timedelta(days=i)},{region},{30 + i % 7}\n" for i in range(30) for region in ("NA", "EMEA"))
    data.write_bytes(gzip.compress(("Leads export\ndate,region,leads\n" + rows).encode()))
    said = invoke("init", root, "--from", data).output
    assert _config(root)["dimensions"] == ["region"], said
    out = invoke("--project", root, "ingest", data).output
    assert "leads.csv.gz: line 1 is above the header: a title, not data; skipped." in out and "60 added" in out
    assert _query(root, "select sum(value)::int as n from observations") == [{"n": 2 * sum(30 + i % 7 for i in range(30))}]
    (tmp_path / "broken.csv.gz").write_bytes(b"not gzip at all")
    assert "broken.csv.gz: cannot be decompressed as gzip" in invoke("--project", root, "ingest", tmp_path / "broken.csv.gz", code=1).output


def test_excel_unicode_text_is_read_from_a_txt_file(tmp_path):
    data, root = tmp_path / "signups.txt", tmp_path / "p"
    lines = ["Date\tChannel\tSignups"] + [
        f"{FIRST + dt.timedelta(days=i):%m/%d/%Y}\t{channel}\t{50 + i % 5}" for i in range(40) for channel in ("Web", "App")
    ]
    data.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-16"))
    invoke("init", root, "--from", data)
    assert _config(root)["date_format"] == "%m/%d/%Y"
    invoke("--project", root, "ingest", data)
    assert _query(root, "select count(distinct ts) as days, max(ts)::varchar as last from observations") == [
        {"days": 40, "last": str(FIRST + dt.timedelta(days=39))}
    ]


def test_overlapping_exports_of_one_call_say_which_file_won_and_what_changed(tmp_path):
    first, second, root = tmp_path / "jan.csv", tmp_path / "feb.csv", tmp_path / "p"
    first.write_text("date,opportunities\n" + "".join(f"{FIRST + dt.timedelta(days=i)},{40 + i % 5}\n" for i in range(34)))
    second.write_text("date,opportunities\n" + "".join(
        f"{FIRST + dt.timedelta(days=i)},{40 + i % 5 + (3 if i == 30 else 0)}\n" for i in range(28, 59)))
    invoke("init", root, "--from", first, second)
    out = invoke("--project", root, "ingest", first, second).output
    assert (f"{second} holds 6 days an earlier file of this call holds too (2026-01-29 to 2026-02-03): its values kept, "
            "1 day with a different value (first 2026-01-31).") in out
    assert _query(root, "select value::int as v from observations where ts = '2026-01-31'") == [{"v": 43 + 30 % 5}]


def test_month_first_dates_that_read_two_ways_are_refused_until_the_format_is_named(tmp_path):
    data, root = tmp_path / "won.csv", tmp_path / "p"
    days = [FIRST + dt.timedelta(days=i) for i in range(120) if (FIRST + dt.timedelta(days=i)).day <= 12]
    data.write_text("Close Date,Won\n" + "".join(f"{d:%m/%d/%Y},{9 + d.day % 4}\n" for d in days))
    out = invoke("init", root, "--from", data, code=1).output
    assert "column 'Close Date': every date reads both as %d/%m/%Y and as %m/%d/%Y (no day above 12, e.g. '01/01/2026')" in out
    assert "--date-format '%m/%d/%Y' (month first, as in the US) or '%d/%m/%Y'" in out
    invoke("init", root, "--from", data, "--date-format", "%m/%d/%Y")
    assert _config(root)["date_format"] == "%m/%d/%Y"
    invoke("--project", root, "ingest", data)
    assert _query(root, "select max(ts)::varchar as last from observations") == [{"last": "2026-04-12"}]
