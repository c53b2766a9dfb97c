"""`ctxmetrics annotate ...` through click's CliRunner, and 20 real concurrent processes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ctxmetrics.timeline.read import load_timeline

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def proj(project_dir):
    return project_dir


@pytest.fixture
def annotate(run):
    """annotate("add", "X", ...) -> click Result of `ctxmetrics --project P annotate add X ...`."""
    return lambda *args: run("annotate", *args)


def add_promo(annotate, *extra):
    return annotate("add", "Spring promo", "--type", "campaign", "--start", "2026-03-01", "--end", "2026-03-14",
                    "--scope", "region=EMEA", "--metric", "leads", "--expect", "up", *extra)


def test_add_writes_one_file_per_event(annotate, proj):
    result = add_promo(annotate)
    path = proj / "annotations" / "2026" / "03" / "spring-promo.yaml"
    assert (result.exit_code, result.output) == (0, f"Added spring-promo ({path})\n")
    assert path.read_text() == (
        "id: spring-promo\ntitle: Spring promo\ntype: campaign\nstart: '2026-03-01'\nend: '2026-03-14'\n"
        "scope:\n  region: [EMEA]\nmetrics: [leads]\nexpect: up\n"
    )
    assert add_promo(annotate).output.startswith("Added spring-promo-2026-03-01 (")


def test_add_errors(annotate):
    result = annotate("add", "X", "--type", "campaign", "--start", "2026-03-40")
    assert result.exit_code == 1
    assert result.output == ("Error: 'start' is not a valid date or datetime: '2026-03-40' (day is out of range "
                             "for month); use 2026-03-01 or 2026-03-01T09:30:00+01:00.\n")
    assert annotate("add", "X", "--start", "2026-03-01").exit_code == 2
    result = annotate("add", "X", "--type", "other", "--start", "2026-03-01", "--scope", "EMEA")
    assert result.exit_code == 2 and "'EMEA' is not of the form dimension=value[,value]." in result.output


def test_list_table_json_and_filters(annotate):
    add_promo(annotate)
    annotate("add", "Offsite", "--type", "offsite", "--start", "2026-04-02", "--end", "2026-04-03")
    result = annotate("list")
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "ID            TYPE      START       END         SCOPE        TITLE",
        "spring-promo  campaign  2026-03-01  2026-03-14  region=EMEA  Spring promo",
        "offsite       offsite   2026-04-02  2026-04-03  all          Offsite",
    ]
    data = json.loads(annotate("list", "--json").output)
    assert data[0] == {"id": "spring-promo", "title": "Spring promo", "type": "campaign", "start": "2026-03-01",
                       "end": "2026-03-14", "scope": {"region": ["EMEA"]}, "metrics": ["leads"], "expect": "up"}
    assert [e["id"] for e in json.loads(annotate("list", "--json", "--since", "2026-03-15").output)] == ["offsite"]
    assert [e["id"] for e in json.loads(annotate("list", "--json", "--type", "campaign").output)] == ["spring-promo"]


def test_list_reports_a_broken_timeline(annotate, proj):
    (proj / "annotations" / "bad.yaml").write_text("id: a\ntitle: A\ntype: other\nstart: someday\n")
    result = annotate("list")
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {proj / 'annotations' / 'bad.yaml'}:4: 'start' is not a valid date")


def test_start_and_end(annotate):
    started = annotate("start", "Sign-up page down", "--type", "outage", "--scope", "channel=web")
    assert started.exit_code == 0
    assert started.output.endswith("; close it with: ctxmetrics annotate end sign-up-page-down\n")
    assert json.loads(annotate("list", "--json").output)[0]["end"] is None
    ended = annotate("end", "sign-up-page-down")
    assert ended.exit_code == 0 and ended.output.startswith("Ended sign-up-page-down at ")
    event = json.loads(annotate("list", "--json").output)[0]
    assert event["end"] >= event["start"] and "T" in event["end"]
    again = annotate("end", "sign-up-page-down")
    assert again.exit_code == 1 and "Error: annotation 'sign-up-page-down' is not open" in again.output


def test_end_at_a_given_day(annotate):
    annotate("start", "Offsite", "--type", "offsite")
    result = annotate("end", "offsite", "--at", "2000-01-01")
    assert result.exit_code == 1 and "'end' 2000-01-01 is before 'start'" in result.output


def test_show(annotate, proj):
    add_promo(annotate)
    result = annotate("show", "spring-promo")
    assert result.exit_code == 0
    assert result.output.splitlines()[:3] == [
        f"# {proj / 'annotations' / '2026' / '03' / 'spring-promo.yaml'}:1", "id: spring-promo", "title: Spring promo"
    ]
    missing = annotate("show", "spring")
    assert (missing.exit_code, missing.output) == (1, "Error: No annotation with id 'spring' (did you mean 'spring-promo'?).\n")


def test_edit(annotate):
    add_promo(annotate, "--owner", "ana")
    result = annotate("edit", "spring-promo", "--end", "2026-03-21", "--scope", "region=EMEA,APAC", "--clear", "owner")
    assert result.exit_code == 0 and result.output.startswith("Updated spring-promo (")
    event = json.loads(annotate("list", "--json").output)[0]
    assert (event["end"], event["scope"], "owner" in event) == ("2026-03-21", {"region": ["EMEA", "APAC"]}, False)
    assert json.loads(annotate("list", "--json").output)[0]["metrics"] == ["leads"]
    assert annotate("edit", "spring-promo", "--end", "open").exit_code == 0
    assert json.loads(annotate("list", "--json").output)[0]["end"] is None
    nothing = annotate("edit", "spring-promo")
    assert nothing.exit_code == 2 and "Nothing to change" in nothing.output


def test_rm(annotate):
    add_promo(annotate)
    result = annotate("rm", "spring-promo")
    assert result.exit_code == 0 and result.output.startswith("Removed spring-promo (")
    assert json.loads(annotate("list", "--json").output) == []
    assert annotate("rm", "spring-promo").exit_code == 1


def test_lint(annotate, proj):
    add_promo(annotate)
    clean = annotate("lint")
    assert (clean.exit_code, clean.stdout, clean.stderr) == (0, "", "Timeline OK.\n")
    bad = proj / "annotations" / "bad.yaml"
    bad.write_text("- {id: spring-promo, title: X, type: other, start: 2026-01-01, metrics: [laeds]}\n"
                   "- {title: Y, tyep: other, start: 2026-01-01}\n")
    result = annotate("lint")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{bad}:1: duplicate id 'spring-promo'; it is also used at "
        f"{proj / 'annotations' / '2026' / '03' / 'spring-promo.yaml'}:1.",
        f"{bad}:2: missing required key 'type'.",
        f"{bad}:2: unknown key 'tyep' (did you mean 'type'?).",
    ]
    assert result.stderr == "3 problems in the timeline.\n"


def test_lint_knows_config_names(annotate, proj):
    (proj / "annotations" / "x.yaml").write_text(
        "id: x\ntitle: X\ntype: other\nstart: 2026-01-01\nscope: {regio: [EMEA]}\nmetrics: [laeds]\n")
    result = annotate("lint")
    assert result.exit_code == 1
    assert [line.split(": ", 1)[1] for line in result.stdout.splitlines()] == [
        "unknown dimension 'regio' (did you mean 'region'?); known: channel, region.",
        "unknown metric 'laeds' (did you mean 'leads'?); known: lead_to_mql, leads, mql, opportunities, sql, "
        "win_rate, won.",
    ]


@pytest.mark.parametrize("args", [
    ["add", "X", "--type", "other", "--start", "2026-01-01", "--scope", "regio=EMEA"],
    ["start", "X", "--type", "outage", "--scope", "regio=EMEA"],
    ["holidays", "--country", "US", "--years", "2026", "--scope", "regio=EMEA"],
])
def test_a_typo_in_a_scope_dimension_is_refused_and_nothing_written(annotate, proj, args):
    # Was written silently: an event scoped to regio=EMEA matches no segment and explains nothing.
    result = annotate(*args)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == ("Error: Unknown dimension 'regio' (did you mean 'region'?); known: channel, region. "
                             "Nothing was written.\n")
    assert not any(p.suffix == ".yaml" for p in (proj / "annotations").rglob("*"))


def test_a_typo_in_a_metric_is_refused_by_add_and_edit(annotate, proj):
    message = ("Error: Unknown metric 'laeds' (did you mean 'leads'?); known: lead_to_mql, leads, mql, opportunities, "
               "sql, win_rate, won. Nothing was written.\n")
    result = annotate("add", "X", "--type", "other", "--start", "2026-01-01", "--metric", "laeds")
    assert (result.exit_code, result.stderr) == (1, message)
    add_promo(annotate)
    path = proj / "annotations" / "2026" / "03" / "spring-promo.yaml"
    before = path.read_text()
    result = annotate("edit", "spring-promo", "--metric", "laeds")
    assert (result.exit_code, result.stderr) == (1, message)
    assert path.read_text() == before


def test_holidays_twice_adds_nothing(annotate, proj):
    first = annotate("holidays", "--country", "US", "--subdiv", "CA", "--years", "2025-2026")
    assert first.exit_code == 0 and first.output.startswith("Added ") and first.output != "Added 0 holidays.\n"
    assert (proj / "annotations" / "holidays" / "us-ca-2025.yaml").is_file()
    assert annotate("holidays", "--country", "US", "--subdiv", "CA", "--years", "2025-2026").output == "Added 0 holidays.\n"
    bad = annotate("holidays", "--country", "US", "--subdiv", "ZZ", "--years", "2025")
    assert bad.exit_code == 1 and bad.output.startswith("Error: no public holidays known for US-ZZ (")


def test_import_twice_adds_nothing(annotate, tmp_path):
    ics = tmp_path / "offsites.ics"
    ics.write_bytes(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:o1\r\n"
                    b"SUMMARY:Offsite\r\nDTSTART;VALUE=DATE:20260402\r\nDTEND;VALUE=DATE:20260404\r\n"
                    b"END:VEVENT\r\nEND:VCALENDAR\r\n")
    assert annotate("import", ics, "--type", "offsite").output == "Imported offsites.ics: 1 added, 0 updated.\n"
    assert annotate("import", ics, "--type", "offsite").output == "Imported offsites.ics: 0 added, 0 updated.\n"
    event = json.loads(annotate("list", "--json").output)[0]
    assert (event["id"], event["type"], event["start"], event["end"]) == ("ics-o1", "offsite", "2026-04-02", "2026-04-03")


def test_every_command_has_an_example(annotate):
    for command in ("add", "start", "end", "list", "show", "edit", "rm", "lint", "holidays", "import"):
        assert "Example:\n" in annotate(command, "--help").output


def test_twenty_concurrent_adds(proj):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "ctxmetrics", "--project", str(proj), "annotate", "add", "Same title",
               "--type", "campaign", "--start", "2026-03-01"]
    procs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(20)]
    outputs = [proc.communicate(timeout=60) for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 20, outputs
    events = load_timeline(proj / "annotations", "UTC")
    assert len({e.id for e in events}) == 20
    assert {e.id for e in events} == {"same-title", "same-title-2026-03-01",
                                      *(f"same-title-2026-03-01-{n}" for n in range(2, 20))}
    lint = subprocess.run([sys.executable, "-m", "ctxmetrics", "--project", str(proj), "annotate", "lint"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert (lint.returncode, lint.stdout) == (0, "")


BAD_DATES_ICS = """BEGIN:VCALENDAR
VERSION:2.0
BEGIN:VEVENT
UID:offsite-1
SUMMARY:Offsite
DTSTART;VALUE=DATE:20260310
DTEND;VALUE=DATE:20260312
END:VEVENT
BEGIN:VEVENT
UID:launch-2
SUMMARY:Launch
DTSTART;VALUE=DATE:20260315
DTEND;VALUE=DATE:2026031X
END:VEVENT
END:VCALENDAR
"""


@pytest.mark.parametrize("bad, field", [("DTEND;VALUE=DATE:2026031X", "DTEND"), ("DTSTART:2026031X", "DTSTART")])
def test_import_of_a_calendar_event_with_a_bad_date_names_the_event_and_writes_nothing(annotate, proj, tmp_path, bad, field):
    # A bad DTEND was "internal error: TypeError: unsupported operand type(s) for -: 'str' and
    # 'datetime.timedelta'"; a bad DTSTART did not say which of the calendar's events it was.
    lines = BAD_DATES_ICS.replace("DTEND;VALUE=DATE:2026031X", bad).splitlines()
    if field == "DTSTART":
        lines.remove("DTSTART;VALUE=DATE:20260315")
    ics = tmp_path / "team.ics"
    ics.write_text("\n".join(lines) + "\n")
    result = annotate("import", ics)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"Error: {ics}: calendar event 'Launch' (UID launch-2): {field} '2026031X' is not a date (YYYYMMDD) "
        "or date-time (YYYYMMDDTHHMMSS).\n"
    )
    assert not list((proj / "annotations").rglob("*.yaml"))
