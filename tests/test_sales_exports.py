"""Files as a sales team exports them from a CRM or a spreadsheet, through `init --from`
and `ingest` (issue-qa6): a title line above the header, empty trailing columns, a totals
row, numbers with thousands separators, months by name, ISO weeks, one JSON object. Each
test is a shape that failed, lost data or said something wrong before."""
from __future__ import annotations

import codecs
import datetime as dt
import json

import duckdb
from click.testing import CliRunner

from ctxmetrics.cli import cli

FIRST = dt.date(2026, 1, 1)


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def stored(root, sql="select ts, value from observations order by all"):
    with duckdb.connect(str(root / "ctxmetrics.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def nothing_stored(root):
    return not (root / "ctxmetrics.duckdb").exists() or stored(root, "select count(*) from observations") == [(0,)]


def write(tmp_path, name, lines, encoding_prefix=b""):
    data = tmp_path / name
    data.write_bytes(encoding_prefix + "".join(f"{line}\n" for line in lines).encode())
    return data


def days(count=60):
    return [FIRST + dt.timedelta(d) for d in range(count)]


def init_and_ingest(tmp_path, data):
    root = tmp_path / "p"
    made = invoke("init", root, "--from", data)
    assert made.exit_code == 0, made.output
    ingested = invoke("--project", root, "ingest", data)
    assert ingested.exit_code == 0, ingested.output
    return root, made, ingested


def test_a_report_title_above_the_header_is_skipped_and_said(tmp_path):
    # Was: "crm_title.csv:2: has 2 fields, the header 1." from init and ingest alike.
    data = write(tmp_path, "leads.csv", ["Leads report exported 2026-03-01 by the CRM", "date,leads"]
                 + [f"{d},{40 + d.day}" for d in days()])
    root, made, ingested = init_and_ingest(tmp_path, data)
    assert "line 1 is above the header: a title, not data; skipped." in made.output
    assert "line 1 is above the header" in ingested.output
    assert stored(root, "select count(*), sum(value) from observations") == [(60, sum(40 + d.day for d in days()))]


def test_a_bad_cell_below_a_title_names_its_own_line(tmp_path):
    rows = [f"{d},{40 + d.day}" for d in days(10)]
    rows[4] = "2026-01-05,forty"
    data = write(tmp_path, "leads.csv", ["Leads report", "", "date,leads", *rows])
    root = tmp_path / "p"
    assert invoke("init", root).exit_code == 0
    result = invoke("--project", root, "ingest", data, "--format", "wide")
    assert result.exit_code == 1
    assert "leads.csv:8: column 'leads': 'forty'" in result.output  # lines 1-2 title, 3 header
    assert nothing_stored(root)


def test_a_european_crm_export_with_title_bom_totals_and_empty_columns(tmp_path):
    # A BOM, a title, `;` separators, decimal commas with dots between thousands, dates
    # 31.01.2026, empty trailing columns and a totals row: every one at once.
    # Was: "crm.csv:3: has 2 fields, the header 1." (the separator read off the title).
    lines = ["Export: pipeline by day", "Date;Region;Pipeline;;"]
    total = 0
    for d in days():
        for region in ("EMEA", "NA"):
            value = 1000 + d.day
            total += value
            lines.append(f"{d:%d.%m.%Y};{region};{value // 1000}.{value % 1000:03d},50;;")
    lines.append(f"Total;;{total};;")
    data = write(tmp_path, "crm.csv", lines, codecs.BOM_UTF8)
    root, made, ingested = init_and_ingest(tmp_path, data)
    assert "crm.csv:123: 'Total' is a totals row, not data; skipped." in made.output
    assert "'Total' is a totals row" in ingested.output
    assert stored(root, "select count(*), sum(value) from observations") == [(120, total + 120 * 0.5)]
    assert stored(root, "select distinct region from observations order by 1") == [("EMEA",), ("NA",)]


def test_empty_trailing_columns_are_dropped_not_written_into_the_config(tmp_path):
    # Was: init wrote `ignore_columns: ['', _duplicated_0, _duplicated_1]`, which ingest
    # then refused as a bad project file.
    data = write(tmp_path, "leads.csv", ["date,leads,,,"] + [f"{d},{40 + d.day},,," for d in days()])
    root, made, ingested = init_and_ingest(tmp_path, data)
    assert "_duplicated_" not in (root / "ctxmetrics.yaml").read_text()
    assert stored(root, "select count(*) from observations") == [(60,)]


def test_a_nameless_column_with_values_is_still_refused(tmp_path):
    data = write(tmp_path, "leads.csv", ["date,leads,"] + [f"{d},{40 + d.day},7" for d in days(10)])
    root = tmp_path / "p"
    assert invoke("init", root).exit_code == 0
    result = invoke("--project", root, "ingest", data, "--format", "wide")
    assert result.exit_code == 1
    assert "empty or repeated column name" in result.output
    assert nothing_stored(root)


def test_a_totals_row_is_skipped_only_at_the_end(tmp_path):
    data = write(tmp_path, "leads.csv", ["date,leads"] + [f"{d},{40 + d.day}" for d in days()] + ["Grand total:,2000"])
    root, made, _ = init_and_ingest(tmp_path, data)
    assert "leads.csv:62: 'Grand total:' is a totals row" in made.output
    assert stored(root, "select count(*) from observations") == [(60,)]
    # The same label mid-file is a bad date, named with its line, as before.
    rows = [f"{d},{40 + d.day}" for d in days(10)]
    rows[3] = "Total,160"
    middle = write(tmp_path, "middle.csv", ["date,leads", *rows])
    result = invoke("--project", root, "ingest", middle)
    assert result.exit_code == 1
    assert "middle.csv:5: column 'date': 'Total'" in result.output


def test_init_names_the_line_of_a_date_it_cannot_read(tmp_path):
    # Was: "leads.csv: column 'date': 'soon' is not ..." without the line.
    rows = [f"{d},{40 + d.day}" for d in days(10)]
    rows[6] = "soon,12"
    data = write(tmp_path, "leads.csv", ["date,leads", *rows])
    result = invoke("init", tmp_path / "p", "--from", data)
    assert result.exit_code == 1
    assert "leads.csv:8: column 'date': 'soon'" in result.output
    assert not (tmp_path / "p" / "ctxmetrics.yaml").exists()


def test_init_names_a_number_with_a_thousands_separator(tmp_path):
    # Was: "no column of numbers besides 'date'; nothing to measure."
    data = write(tmp_path, "revenue.csv", ["date,revenue"] + [f'{d},"{1000 + d.day:,}"' for d in days(10)])
    result = invoke("init", tmp_path / "p", "--from", data)
    assert result.exit_code == 1
    assert "revenue.csv:2: column 'revenue': '1,001' is not a number" in result.output
    assert not (tmp_path / "p" / "ctxmetrics.yaml").exists()


def test_months_written_by_name_are_read_as_monthly(tmp_path):
    # Was: "no date column found" from init; ingest said "is not an ISO 8601 date ... %m/%d/%Y".
    months = [dt.date(2023 + m // 12, m % 12 + 1, 1) for m in range(30)]
    data = write(tmp_path, "bookings.csv", ["month,bookings"] + [f"{m:%b %Y},{400 + m.month}" for m in months])
    root, made, _ = init_and_ingest(tmp_path, data)
    assert "bookings monthly" in made.output
    assert "date_format: '%B %Y'" in (root / "ctxmetrics.yaml").read_text()
    assert stored(root)[:2] == [(dt.date(2023, 1, 1), 401.0), (dt.date(2023, 2, 1), 402.0)]


def test_iso_weeks_are_read_as_weekly_on_their_mondays(tmp_path):
    weeks = [dt.date(2025, 1, 6) + dt.timedelta(weeks=w) for w in range(40)]
    data = write(tmp_path, "deals.csv", ["week,deals"] + [
        f"{w.isocalendar()[0]}-W{w.isocalendar()[1]:02d},{50 + i % 3}" for i, w in enumerate(weeks)
    ])
    root, made, _ = init_and_ingest(tmp_path, data)
    assert "deals weekly" in made.output
    assert [row[0] for row in stored(root)] == weeks


def test_ingest_says_how_to_read_iso_weeks_and_month_names(tmp_path):
    root = tmp_path / "p"
    assert invoke("init", root).exit_code == 0
    weeks = write(tmp_path, "w.csv", ["date,value", "2026-W01,3", "2026-W02,4"])
    result = invoke("--project", root, "ingest", weeks)
    assert result.exit_code == 1
    assert "w.csv:2: column 'date': '2026-W01' is an ISO week; pass --date-format %G-W%V" in result.output
    assert invoke("--project", root, "ingest", weeks, "--date-format", "%G-W%V").exit_code == 0
    months = write(tmp_path, "m.csv", ["date,value", "Mar 2026,3"])
    result = invoke("--project", root, "ingest", months)
    assert result.exit_code == 1
    assert "is a month; pass --date-format '%B %Y'" in result.output


def test_one_json_object_is_said_to_be_one_object_not_bad_json(tmp_path):
    # A TCPD dataset: metadata and its series in one pretty-printed object.
    # Was: "nile.json:1: not valid JSON."
    data = tmp_path / "nile.json"
    data.write_text(json.dumps({"name": "nile", "time": {"format": "%Y", "raw": ["1871", "1872"]},
                                "series": [{"label": "V1", "raw": [1120, 1160]}]}, indent="\t"))
    result = invoke("init", tmp_path / "p", "--from", data)
    assert result.exit_code == 1
    assert "nile.json: one JSON object (keys name, time, series), not records" in result.output


def test_excel_date_times_across_a_dst_change_land_on_local_days(tmp_path):
    # `03/29/2026 01:00` as Excel writes local times; the night of 2026-03-29 has 23 hours
    # in Berlin. Was: init said "no date column found".
    from zoneinfo import ZoneInfo

    zone, hour = ZoneInfo("Europe/Berlin"), dt.datetime(2026, 3, 27, tzinfo=dt.timezone.utc)
    lines, per_day = ["Date Time,signups"], {}
    for i in range(24 * 5):
        local = (hour + dt.timedelta(hours=i)).astimezone(zone)
        lines.append(f"{local:%m/%d/%Y %H:%M},{i % 5}")
        per_day[local.date()] = per_day.get(local.date(), 0) + i % 5
    data = write(tmp_path, "signups.csv", lines)
    root = tmp_path / "p"
    made = invoke("init", root, "--from", data)
    assert made.exit_code == 0, made.output
    config = root / "ctxmetrics.yaml"
    assert "date_format: '%m/%d/%Y %H:%M'" in config.read_text()
    config.write_text(config.read_text().replace("timezone: UTC", "timezone: Europe/Berlin"))
    ingested = invoke("--project", root, "ingest", data)
    assert ingested.exit_code == 0, ingested.output
    # Was "Ingested 6 rows from 1 file" for 120 hourly rows, as if most were lost. The UTC
    # hours start at 01:00 and end at 01:00 in Berlin: those two partial days are left out
    # (issue-qa9), while Mar 29, 23 hours long there, is whole.
    assert "Ingested 4 rows from 1 file (120 values with a time of day, combined per day)" in ingested.output
    assert "2026-03-27 has 23 of 24 hours: left out" in ingested.output
    assert "2026-04-01 has 2 of 24 hours: left out" in ingested.output
    whole = {day: total for day, total in per_day.items() if day not in (dt.date(2026, 3, 27), dt.date(2026, 4, 1))}
    assert stored(root) == sorted((day, float(total)) for day, total in whole.items())


def test_excels_separator_line_is_read_as_a_title(tmp_path):
    # `sep=;` above the header, as Excel writes it; was read as the header.
    data = write(tmp_path, "leads.csv", ["sep=;", "date;leads"] + [f"{d};{40 + d.day}" for d in days()])
    root, made, _ = init_and_ingest(tmp_path, data)
    assert "line 1 is above the header" in made.output
    assert stored(root, "select count(*) from observations") == [(60,)]
