"""Public holidays and .ics import: stable ids, inclusive ends, idempotent re-runs."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from ctxmetrics.timeline.calendars import add_holidays, holiday_annotations, ics_annotations, import_ics, parse_years
from ctxmetrics.errors import TimelineError
from ctxmetrics.timeline.read import find_annotation, load_timeline
from ctxmetrics.timeline.write import edit_annotation

ICS = """\
BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:offsite-2026@example.com
SUMMARY:Company offsite
DTSTART;VALUE=DATE:20260402
DTEND;VALUE=DATE:20260404
DESCRIPTION:Everyone in Lisbon
URL:https://wiki.example/offsite
END:VEVENT
BEGIN:VEVENT
UID:deploy-1
SUMMARY:Pricing deploy
DTSTART;TZID=Europe/Berlin:20260305T100000
DTEND;TZID=Europe/Berlin:20260305T113000
END:VEVENT
BEGIN:VEVENT
UID:one-day
SUMMARY:Webinar
DTSTART;VALUE=DATE:20260410
END:VEVENT
BEGIN:VEVENT
UID:call
SUMMARY:Call
DTSTART:20260411T090000Z
DURATION:PT2H
END:VEVENT
BEGIN:VEVENT
UID:gone
SUMMARY:Cancelled thing
STATUS:CANCELLED
DTSTART;VALUE=DATE:20260412
END:VEVENT
END:VCALENDAR
"""


@pytest.fixture
def adir(tmp_path):
    return tmp_path / "annotations"


def write_ics(path: Path, text: str = ICS) -> Path:
    path.write_text(text.replace("\n", "\r\n"), encoding="utf-8")
    return path


def test_parse_years():
    assert parse_years("2025-2026") == [2025, 2026]
    assert parse_years("2025") == [2025]
    assert parse_years("2024, 2026") == [2024, 2026]
    with pytest.raises(TimelineError, match="years 'soon' must look like 2025, 2025-2026 or 2024,2026."):
        parse_years("soon")
    with pytest.raises(TimelineError, match="must name 1 to 50 years"):
        parse_years("2026-2025")


def test_holiday_annotations_have_stable_ids():
    events = {e.id: e for e in holiday_annotations("us", "ca", [2025])}
    july4 = events["holiday-us-ca-2025-07-04"]
    assert (july4.title, july4.type, july4.start, july4.end) == ("Independence Day", "holiday", date(2025, 7, 4),
                                                                 date(2025, 7, 4))
    assert july4.tags == ("public-holiday", "US-CA")


def test_unknown_country_is_a_clear_error():
    with pytest.raises(TimelineError, match="no public holidays known for XX"):
        holiday_annotations("XX", None, [2025])


def test_add_holidays_is_idempotent_and_keeps_edits(adir):
    added = add_holidays(adir, "US", None, [2025, 2026])
    assert (adir / "holidays" / "us-2025.yaml").is_file() and (adir / "holidays" / "us-2026.yaml").is_file()
    assert len(added) == len(load_timeline(adir, "UTC")) > 20
    edit_annotation(adir, "holiday-us-2025-12-25", scope={"region": ["AMER"]})
    assert add_holidays(adir, "US", None, [2025, 2026]) == []
    assert find_annotation(adir, "holiday-us-2025-12-25", "UTC").scope == {"region": ("AMER",)}
    assert len(add_holidays(adir, "US", None, [2027])) > 10


def test_ics_events(adir):
    events = {e.id: e for e in ics_annotations(ICS.encode(), "offsite", "UTC")}
    assert sorted(events) == ["ics-call", "ics-deploy-1", "ics-offsite-2026-example-com-447a1895", "ics-one-day"]
    offsite = events["ics-offsite-2026-example-com-447a1895"]
    assert (offsite.start, offsite.end) == (date(2026, 4, 2), date(2026, 4, 3))  # DTEND is exclusive
    assert (offsite.notes, offsite.links, offsite.type) == ("Everyone in Lisbon", ("https://wiki.example/offsite",),
                                                            "offsite")
    deploy = events["ics-deploy-1"]
    assert deploy.start == datetime(2026, 3, 5, 9, tzinfo=timezone.utc)
    assert deploy.start.utcoffset() == timedelta(hours=1)
    assert events["ics-one-day"].end == date(2026, 4, 10)
    assert events["ics-call"].end == datetime(2026, 4, 11, 11, tzinfo=timezone.utc)


def test_import_twice_adds_nothing_and_updates_changed_events(adir, tmp_path):
    ics = write_ics(tmp_path / "Team Calendar.ics")
    added, updated = import_ics(adir, ics, "other", "UTC")
    assert (len(added), updated) == (4, [])
    assert (adir / "imported" / "team-calendar.yaml").is_file()
    assert import_ics(adir, ics, "other", "UTC") == ([], [])
    edit_annotation(adir, "ics-one-day", scope={"region": ["EMEA"]})
    write_ics(ics, ICS.replace("SUMMARY:Webinar", "SUMMARY:Webinar (moved)").replace("20260410", "20260417"))
    added, updated = import_ics(adir, ics, "other", "UTC")
    assert added == [] and [e.id for e in updated] == ["ics-one-day"]
    webinar = find_annotation(adir, "ics-one-day", "UTC")
    assert (webinar.title, webinar.start, webinar.scope) == ("Webinar (moved)", date(2026, 4, 17), {"region": ("EMEA",)})
    assert len(load_timeline(adir, "UTC")) == 4


def test_invalid_ics_is_a_clear_error(adir, tmp_path):
    bad = tmp_path / "bad.ics"
    bad.write_text("hello", encoding="utf-8")
    with pytest.raises(TimelineError, match=f"{bad}: not a valid iCalendar file"):
        import_ics(adir, bad)


def test_holidays_can_be_scoped_to_the_segments_that_observe_them(tmp_path):
    from ctxmetrics.timeline.calendars import add_holidays
    from ctxmetrics.timeline.read import load_timeline

    added = add_holidays(tmp_path, "US", None, [2026], scope={"region": ["NA"]})
    assert added and all(e.scope == {"region": ("NA",)} for e in added)
    loaded = load_timeline(tmp_path, "UTC")
    assert all(e.scope_relation({"region": "APAC"}) == "disjoint" for e in loaded)
