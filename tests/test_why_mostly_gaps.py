"""`why` on a metric whose days are mostly unknown (a CTR exported on 2 days of 56) said
"No anomalies in ctr total." as if the series had been judged; it now says how few days
have data. A metric with a gap or two reads as before."""
from __future__ import annotations

import datetime as dt
import json

from test_quarterly import invoke

FIRST = dt.date(2026, 1, 1)


def test_why_says_a_metric_of_mostly_unknown_days_is_too_thin_to_judge(tmp_path):
    data, root = tmp_path / "metrics.csv", tmp_path / "p"
    rows = [f"{FIRST + dt.timedelta(days=i)},leads,{40 + i % 7}" for i in range(90) if i != 30]
    rows += [f"{FIRST + dt.timedelta(days=5)},ctr,0.031", f"{FIRST + dt.timedelta(days=60)},ctr,0.029"]
    data.write_text("date,metric,value\n" + "\n".join(rows) + "\n")
    invoke("init", root, "--from", data)
    invoke("--project", root, "ingest", data)
    invoke("--project", root, "scan")
    said = invoke("--project", root, "why", "ctr").output
    assert said.startswith("No anomalies in ctr total, but only 2 of its 56 days have data: too few to show a change.\n")
    assert "Data quality: no data for ctr on 2026-01-07 to 2026-03-01" in said
    assert invoke("--project", root, "why", "leads").output.startswith("No anomalies in leads total.\n")


def test_why_json_carries_the_note_that_most_days_are_unknown(tmp_path):
    data, root = tmp_path / "metrics.csv", tmp_path / "p"
    rows = [f"{FIRST + dt.timedelta(days=i)},leads,{40 + i % 7}" for i in range(90)]
    rows += [f"{FIRST + dt.timedelta(days=5)},ctr,0.031", f"{FIRST + dt.timedelta(days=60)},ctr,0.029"]
    data.write_text("date,metric,value\n" + "\n".join(rows) + "\n")
    invoke("init", root, "--from", data)
    invoke("--project", root, "ingest", data)
    invoke("--project", root, "scan")
    thin = json.loads(invoke("--project", root, "why", "ctr", "--json").output)
    assert thin["anomalies"] == [] and thin["mostly_gaps"] == {"days_with_data": 2, "days": 56}, thin
    assert "mostly_gaps" not in json.loads(invoke("--project", root, "why", "leads", "--json").output)
