"""A report whose last rows are two totals ('Grand Total' of the values, then of a count, as
report builders write them): `init` refused the file at the second-to-last one, "'Grand
Total' is not an ISO 8601 date" (issue-qab)."""
from __future__ import annotations

import datetime as dt
import json

from test_quarterly import invoke

FIRST = dt.date(2026, 1, 1)


def test_every_totals_row_at_the_end_is_left_out_and_said(tmp_path):
    data, root = tmp_path / "leads.csv", tmp_path / "p"
    rows = [f"{FIRST + dt.timedelta(days=i)},{region},{40 + i % 5}" for i in range(30) for region in ("NA", "EMEA")]
    data.write_text("\n".join(["Date,Region,Leads", *rows, "Grand Total,,2520", "Grand Total,,"]) + "\n")
    said = invoke("init", root, "--from", data).output
    assert f"{data}:62: 'Grand Total' is a totals row, not data; skipped." in said
    assert f"{data}:63: 'Grand Total' is a totals row, not data; skipped." in said
    invoke("--project", root, "ingest", data)
    got = json.loads(invoke("--project", root, "query", "select sum(value) as s from observations", "--json").output)
    assert got[0]["s"] == 2 * sum(40 + i % 5 for i in range(30))
