"""Calendars turned into timeline events: public holidays and iCalendar (.ics) files.

Both imports are idempotent: events get stable ids (`holiday-us-ca-2025-07-04`,
`ics-<uid>`), and an id already in the timeline is never added twice.
"""
from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Collection, Iterable, Mapping

from ctxmetrics.config import EVENT_TYPES
from ctxmetrics.errors import TimelineError
from ctxmetrics.models.annotation import Annotation
from ctxmetrics.timeline.read import build_annotation, read_capped, slugify
from ctxmetrics.timeline.write import upsert_annotations

MAX_ICS_BYTES = 20 * 1024 * 1024
# Fields a re-import refreshes from the calendar; analysts' additions (scope, metrics...) stay.
ICS_OWNED_FIELDS = ("title", "start", "end", "notes", "links")


def parse_years(text: str) -> list[int]:
    """'2025-2026' -> [2025, 2026]; also '2025' and '2024,2026'.

    Raises:
        TimelineError: not years, or a range that runs backwards or spans over 50 years.
    """
    years: list[int] = []
    try:
        for part in text.split(","):
            first, _, last = part.strip().partition("-")
            years += range(int(first), int(last or first) + 1)
    except ValueError:
        raise TimelineError(f"years {text!r} must look like 2025, 2025-2026 or 2024,2026.") from None
    if not years or len(years) > 50 or not all(1900 <= y <= 2200 for y in years):
        raise TimelineError(f"years {text!r} must name 1 to 50 years between 1900 and 2200.")
    return sorted(set(years))


def _region_slug(country: str, subdiv: str | None) -> str:
    return slugify(f"{country}-{subdiv}" if subdiv else country)


def holiday_annotations(
    country: str, subdiv: str | None, years: Iterable[int], scope: Mapping[str, Iterable[str]] | None = None
) -> list[Annotation]:
    """Public holidays of a country (and subdivision) as one-day `holiday` events, scoped
    to the segments that observe them (e.g. region=NA for US holidays; default: all).

    Raises:
        TimelineError: the `holidays` package does not know the country or subdivision.
    """
    import holidays

    country = country.upper()
    subdiv = subdiv.upper() if subdiv else None
    try:
        calendar = holidays.country_holidays(country, subdiv=subdiv, years=list(years))
    except NotImplementedError as exc:
        raise TimelineError(f"no public holidays known for {country}{'-' + subdiv if subdiv else ''} ({exc}).") from None
    region = _region_slug(country, subdiv)
    tag = f"{country}-{subdiv}" if subdiv else country
    scoped = {dim: tuple(values) for dim, values in (scope or {}).items()}
    return [
        Annotation(id=f"holiday-{region}-{day.isoformat()}", title=name, type="holiday",
                   start=day, end=day, scope=scoped, tags=("public-holiday", tag))
        for day, name in sorted(calendar.items())
    ]


def add_holidays(
    annotations_dir: Path,
    country: str,
    subdiv: str | None,
    years: Iterable[int],
    tz: str = "UTC",
    scope: Mapping[str, Iterable[str]] | None = None,
    types: Collection[str] = EVENT_TYPES,
) -> list[Annotation]:
    """Write public holidays to `annotations/holidays/<country>[-<subdiv>]-<year>.yaml`.

    Holidays already in the timeline (by id) are left alone, even if edited.

    Returns:
        The holidays added (empty when run a second time).
    """
    events = holiday_annotations(country, subdiv, years, scope)
    region = _region_slug(country, subdiv)
    added: list[Annotation] = []
    for year in sorted({event.start.year for event in events}):
        target = Path(annotations_dir) / "holidays" / f"{region}-{year}.yaml"
        new, _ = upsert_annotations(annotations_dir, [e for e in events if e.start.year == year], target, tz, types=types)
        added += new
    return added


def _ics_id(uid: str, recurrence: date | datetime | None) -> str:
    slug = slugify(uid, max_length=200)
    if slug != uid.lower() or len(slug) > 50:
        # Lossy or long UIDs: a hash keeps ids distinct and stable.
        slug = f"{slug[:40].strip('-')}-{hashlib.sha1(uid.encode()).hexdigest()[:8]}".lstrip("-")
    suffix = f"-{slugify(recurrence.isoformat())}" if recurrence is not None else ""
    return f"ics-{slug}{suffix}"


def _ics_end(event: Any, start: date | datetime) -> date | datetime:
    if "DTEND" in event:
        end = _ics_when(event, "DTEND")
    elif "DURATION" in event:
        end = start + event.decoded("DURATION")
    else:
        return start
    if not isinstance(start, datetime):
        # An all-day DTEND is exclusive; the timeline's end day is inclusive.
        end = max(start, end - timedelta(days=1))
    return end


def _ics_when(event: Any, name: str) -> date | datetime:
    """DTSTART or DTEND as a date or datetime (icalendar hands back the text of a bad one)."""
    value = event.decoded(name)
    if not isinstance(value, (date, datetime)):
        raise TimelineError(f"{name} {value!r} is not a date (YYYYMMDD) or date-time (YYYYMMDDTHHMMSS).")
    return value


def _ics_event(event: Any, event_type: str, tz: str, types: Collection[str]) -> Annotation:
    title = str(event.get("SUMMARY") or "").strip()
    if "DTSTART" not in event:
        raise TimelineError(f"calendar event {title or event.get('UID')!r} has no DTSTART.")
    try:
        start = _ics_when(event, "DTSTART")
        uid = str(event.get("UID") or f"{title}|{start.isoformat()}")
        recurrence = event.decoded("RECURRENCE-ID") if "RECURRENCE-ID" in event else None
        return build_annotation({
            "id": _ics_id(uid, recurrence),
            "title": title or "(untitled calendar event)",
            "type": event_type,
            "start": start,
            "end": _ics_end(event, start),
            "notes": str(event.get("DESCRIPTION") or "").strip() or None,
            "links": [str(event["URL"])] if event.get("URL") else None,
        }, tz, types)
    except TimelineError as exc:  # name the event: a calendar holds many
        uid_text = f" (UID {event['UID']})" if event.get("UID") else ""
        raise TimelineError(f"calendar event {title or '(untitled)'!r}{uid_text}: {exc}") from None


def ics_annotations(
    data: bytes, event_type: str = "other", tz: str = "UTC", types: Collection[str] = EVENT_TYPES
) -> list[Annotation]:
    """The events (VEVENT) of an iCalendar file as timeline events; cancelled ones are skipped.

    Recurring events are imported once, at their first occurrence (RRULE is not expanded);
    a modified occurrence (RECURRENCE-ID) becomes its own event.

    Raises:
        TimelineError: not an iCalendar file, or an event without a start.
    """
    from icalendar import Calendar

    try:
        calendar = Calendar.from_ical(data)
    except ValueError as exc:
        raise TimelineError(f"not a valid iCalendar file ({exc}).") from None
    return [
        _ics_event(event, event_type, tz, types)
        for event in calendar.walk("VEVENT")
        if str(event.get("STATUS", "")).upper() != "CANCELLED"
    ]


def import_ics(
    annotations_dir: Path, ics_path: Path, event_type: str = "other", tz: str = "UTC", types: Collection[str] = EVENT_TYPES
) -> tuple[list[Annotation], list[Annotation]]:
    """Import an .ics file into `annotations/imported/<file name>.yaml`.

    Re-importing adds nothing; events changed in the calendar are updated in place.

    Returns:
        The added and the updated events.

    Raises:
        TimelineError: the file is missing, too large or not valid iCalendar.
    """
    ics_path = Path(ics_path)
    try:
        data = read_capped(ics_path, MAX_ICS_BYTES)
    except OSError as exc:
        raise TimelineError(f"{ics_path}: cannot be read ({exc.strerror}).") from None
    if data is None:
        raise TimelineError(f"{ics_path}: larger than {MAX_ICS_BYTES // (1024 * 1024)} MB; export a shorter period.")
    try:
        events = ics_annotations(data, event_type, tz, types)
    except TimelineError as exc:
        raise TimelineError(f"{ics_path}: {exc}") from None
    target = Path(annotations_dir) / "imported" / f"{slugify(ics_path.stem)}.yaml"
    return upsert_annotations(annotations_dir, events, target, tz, owned_fields=ICS_OWNED_FIELDS, types=types)
