"""Days that a timed file on a regular grid covers only in part (issue-qa9): an export cut
at 14:00, or UTC stamps read in a local zone, left a last (or first) day summed over a few
hours that the scan flagged as a -88% drop. Such an edge day is left out and said; a day
short of an hour in the middle is kept and said; an event log (rows at any time) keeps
every day."""
from __future__ import annotations

import datetime as dt
import json
import random

from test_quarterly import invoke

START = dt.datetime(2026, 3, 1)


def _stored_days(root) -> list[str]:
    sql = "select distinct cast(ts as varchar) as day from observations order by 1"
    return [row["day"] for row in json.loads(invoke("--project", root, "query", sql, "--json").output)]


def _project(tmp_path, data, timezone: str | None = None):
    root = tmp_path / "p"
    invoke("init", root, "--from", data)
    if timezone:
        config = root / "ctxmetrics.yaml"
        config.write_text(config.read_text().replace("timezone: UTC", f"timezone: {timezone}"))
        assert f"timezone: {timezone}" in config.read_text()
    return root


def test_a_half_hour_export_cut_at_14_00_leaves_its_last_day_out_and_says_it(tmp_path):
    data = tmp_path / "demand.csv"
    rows, t = ["timestamp,value"], START
    while t < dt.datetime(2026, 3, 31, 14):
        if not (t.date() == dt.date(2026, 3, 10) and t.hour == 10):  # an hour lost mid-file
            rows.append(f"{t.isoformat()},{50 + t.minute // 30}")
        t += dt.timedelta(minutes=30)
    data.write_text("\n".join(rows) + "\n")
    root = _project(tmp_path, data)
    said = invoke("--project", root, "ingest", data).output
    assert f"{data}: 2026-03-31 has 28 of 48 half-hours: left out" in said
    assert "2026-03-10 has 46 of 48 half-hours (none from 10:00 to 10:30): kept" in said
    days = _stored_days(root)
    assert days[0] == "2026-03-01" and days[-1] == "2026-03-30" and "2026-03-10" in days
    scanned = invoke("--project", root, "scan").output
    assert "Mar 31" not in scanned


def test_utc_hours_read_in_a_local_zone_leave_out_both_partial_edge_days(tmp_path):
    data = tmp_path / "signups.csv"
    hours = [dt.datetime(2026, 5, 1, tzinfo=dt.timezone.utc) + dt.timedelta(hours=h) for h in range(24 * 31)]
    data.write_text("timestamp,signups\n" + "".join(f"{h:%Y-%m-%dT%H:%M:%SZ},{5 + h.hour % 3}\n" for h in hours))
    root = _project(tmp_path, data, "Europe/Berlin")
    said = invoke("--project", root, "ingest", data).output
    assert "2026-05-01 has 22 of 24 hours: left out, since a day cut short at the file's start" in said
    assert "2026-06-01 has 2 of 24 hours: left out, since a day cut short at the file's end" in said
    days = _stored_days(root)
    assert (days[0], days[-1], len(days)) == ("2026-05-02", "2026-05-31", 30)


def test_an_event_log_keeps_its_last_day_however_short(tmp_path):
    data = tmp_path / "leads.csv"
    rng = random.Random(3)
    stamps = sorted(START + dt.timedelta(seconds=rng.randrange(30 * 86_400 + 14 * 3600)) for _ in range(900))
    data.write_text("timestamp,value\n" + "".join(f"{s.isoformat()},1\n" for s in stamps))
    root = _project(tmp_path, data)
    said = invoke("--project", root, "ingest", data).output
    assert "left out" not in said
    assert _stored_days(root)[-1] == "2026-03-31"


def test_a_file_of_dates_and_an_hour_column_leaves_out_a_partial_first_day(tmp_path):
    data = tmp_path / "hourly.csv"
    rows = ["date,hr,rides"] + [
        f"{(START + dt.timedelta(days=d)).date()},{h},{20 + h}" for d in range(10) for h in range(24) if d or h >= 18
    ]
    data.write_text("\n".join(rows) + "\n")
    root = _project(tmp_path, data)
    said = invoke("--project", root, "ingest", data).output
    assert "2026-03-01 has 6 of 24 hours: left out" in said
    assert _stored_days(root)[0] == "2026-03-02"
