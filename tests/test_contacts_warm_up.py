"""A contacts export that starts on a day (contacts created since Jan 1) holds no contact who
was a lead before it, so the later stages' first days count only the early leads that moved
on fast: MQL read -77% from Jan 2 to Jan 4 and led the digest, customers +3,700% "since Jan
20". Those days are left out at ingest and said, as the thin edge days of event logs are
(issue-qab)."""
from __future__ import annotations

import datetime as dt
import json

import numpy as np

from test_quarterly import invoke

FIRST = dt.date(2026, 1, 1)
DAYS = 120
STAGES = (("Marketing Qualified Lead", 0.5, (1, 8)), ("Sales Qualified Lead", 0.5, (2, 10)), ("Customer", 0.4, (5, 20)))


def _contacts(path) -> None:
    """~60 new leads a day; each moves on with some odds after a few days; the export is
    taken at the end of day DAYS, so no stage date is later."""
    rng = np.random.default_rng(3)
    end = dt.datetime.combine(FIRST + dt.timedelta(days=DAYS), dt.time(0))
    lines = ["Record ID,Email,Became a Lead Date,Became a Marketing Qualified Lead Date,"
             "Became a Sales Qualified Lead Date,Became a Customer Date,Original Source"]
    cid = 0
    for i in range(DAYS):
        for _ in range(rng.poisson(60)):
            cid += 1
            dates = [dt.datetime.combine(FIRST + dt.timedelta(days=i), dt.time(8)) + dt.timedelta(minutes=int(rng.integers(0, 720)))]
            for _, odds, lag in STAGES:
                if rng.random() > odds:
                    break
                dates.append(dates[-1] + dt.timedelta(days=int(rng.integers(*lag))))
            cells = [f"{d:%Y-%m-%d %H:%M}" for d in dates if d < end]
            lines.append(",".join([str(cid), f"c{cid}@example.com", *cells, *[""] * (4 - len(cells)),
                                   str(rng.choice(["Paid Social", "Organic Search"]))]))
    path.write_text("\n".join(lines) + "\n")


def _first_days(root) -> dict[str, str]:
    got = json.loads(invoke("--project", root, "query", "select metric, min(ts)::varchar as first from observations group by 1",
                            "--json").output)
    return {row["metric"]: row["first"] for row in got}


def test_the_later_stages_first_days_of_a_contacts_export_are_left_out_and_said(tmp_path):
    data, root = tmp_path / "contacts.csv", tmp_path / "p"
    _contacts(data)
    invoke("init", root, "--from", data)
    said = invoke("--project", root, "ingest", data).output
    assert "mql: its first " in said and "before 2026-01-01" in said, said
    first = _first_days(root)
    assert first["leads"] == "2026-01-01"
    assert "2026-01-03" < first["mql"] < first["sql"] < first["customers"] < "2026-02-28", first
    invoke("--project", root, "scan")
    digest = json.loads(invoke("--project", root, "digest", "--format", "json").output)
    early = [a["id"] for a in digest["anomalies"] if a["start"] < "2026-02-01"]
    assert not early, early
