"""Times written with a UTC offset that follows a zone's daylight-saving change
("2026-03-29T01:30:00+01:00", then +02:00): `init --from` writes that zone as the
project's timezone and says so, so each row counts on its local day (the project was
left in UTC, which put every local day's first one or two hours on the day before)."""
from __future__ import annotations

import datetime as dt
import json
import zoneinfo

import yaml

from test_quarterly import invoke

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def test_offsets_of_a_dst_change_name_the_zone_and_days_are_local(tmp_path):
    data, root = tmp_path / "signups.csv", tmp_path / "p"
    lines, t = ["timestamp,signups"], dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
    while t < dt.datetime(2026, 4, 15, tzinfo=dt.timezone.utc):
        local = t.astimezone(BERLIN)
        lines.append(f"{local.isoformat()},{1 + local.hour}")
        t += dt.timedelta(hours=1)
    data.write_text("\n".join(lines) + "\n")
    said = invoke("init", root, "--from", data).output
    assert yaml.safe_load((root / "ctxmetrics.yaml").read_text())["timezone"] == "Europe/Berlin"
    assert (f"{data}: its times carry the UTC offsets +01:00 and +02:00 of Europe/Berlin's clocks on their dates: "
            "timezone: Europe/Berlin, so each row counts on its local day; write your own zone there if it is another "
            "with the same clocks.") in said
    invoke("--project", root, "ingest", data)
    sql = "select ts::varchar as day, value from observations where ts in ('2026-03-28', '2026-03-29') order by 1"
    rows = json.loads(invoke("--project", root, "query", sql, "--json").output)
    # a whole local day sums 1..24; Mar 29 lost its 2 o'clock hour (3 is missing from 1 + hour)
    assert rows == [{"day": "2026-03-28", "value": 300.0}, {"day": "2026-03-29", "value": 297.0}]


def test_utc_stamps_keep_utc(tmp_path):
    data, root = tmp_path / "signups.csv", tmp_path / "p"
    start = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
    data.write_text("timestamp,signups\n" + "".join(
        f"{(start + dt.timedelta(hours=h)).isoformat()},{h % 50}\n" for h in range(24 * 40)))
    said = invoke("init", root, "--from", data).output
    assert yaml.safe_load((root / "ctxmetrics.yaml").read_text())["timezone"] == "UTC"
    assert "offsets" not in said
