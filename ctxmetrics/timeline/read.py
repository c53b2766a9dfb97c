"""The annotation timeline: business events curated in YAML under `annotations/`.

Layout: every `*.yaml` (or `*.yml`) file under `annotations/`, recursively, holds one event
(a mapping) or a list of events; files and folders whose name starts with '.' are skipped.
The CLI writes one file per event, `annotations/YYYY/MM/<id>.yaml`, so that analysts adding
events on two branches never get a merge conflict (`timeline.write`). This module reads,
lints and finds events.

Timezone rule: the project timezone is `timezone` in ctxmetrics.yaml (IANA, default UTC).
- A date-only `start`/`end` (2026-03-01) means whole calendar days in that zone; `end` is
  inclusive.
- A datetime with an offset (2026-03-01T09:30:00+01:00) is kept as that instant; a naive
  datetime (2026-03-01T09:30) is read as local time in the project zone.
- `annotate start` / `annotate end` record the current time with the project zone's offset.
- A missing `end` makes an instant event (end = start); `end:` with no value (null) marks
  an event that is still going on (open), as written by `annotate start`.

Safety: files are parsed with a SafeLoader (no Python objects), files over
`MAX_FILE_BYTES` are refused before parsing, and YAML aliases may not expand to more than
`MAX_ALIAS_EXPANSION` values (an "alias bomb" is refused instead of exhausting memory).
"""
from __future__ import annotations

import dataclasses
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Collection, Iterable, Mapping
from zoneinfo import ZoneInfo

import yaml

from ctxmetrics.config import EVENT_TYPES, EXPECTS
from ctxmetrics.errors import TimelineError, UnknownName, located
from ctxmetrics.models.annotation import Annotation, local_day
from ctxmetrics.wording import closest_name
from ctxmetrics.yaml_errors import yaml_problem

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_ALIAS_EXPANSION = 10_000  # values reached a second time through aliases, per file
MAX_DEPTH = 20  # an event is at most 4 levels deep; deeper means a broken or hostile file
OPEN_TOO_LONG_DAYS = 30
FIRST_YEAR, LAST_YEAR = 1900, 2200  # ingest refuses data before 1900; events may be planned years ahead
MAX_SLUG = 60
KEYS = ("id", "title", "type", "start", "end", "scope", "metrics", "expect", "owner", "links", "tags", "notes")
LOCK_NAME = ".lock"
_NULL_TAG = "tag:yaml.org,2002:null"
_ID_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,99}")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_LIST_FIELDS = ("metrics", "links", "tags")
_TEXT_FIELDS = ("owner", "notes")
_REQUIRED_OR_ID = ("id", "title", "type", "start")

@dataclass(frozen=True, order=True)
class Problem:
    """One finding of `lint_timeline`, printed as `file:line: message`."""

    path: Path
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{located(self.path, self.line)}: {self.message}"

class _Invalid(Exception):
    """A problem found while parsing one file or one event (internal)."""

    def __init__(self, message: str, line: int | None = None, key: str | None = None):
        super().__init__(message)
        self.message, self.line, self.key = message, line, key

# --- dates --------------------------------------------------------------------------

def parse_when(value: Any, tz: str, key: str = "start") -> date | datetime:
    """A date, or a datetime with a fixed UTC offset, from YAML text or Python values,
    in the years FIRST_YEAR to LAST_YEAR.

    Naive datetimes are read as local time in `tz` (see the module's timezone rule).

    Raises:
        TimelineError: the value is not a valid date or ISO datetime.
    """
    if isinstance(value, datetime):
        return _in_range(_with_offset(value, tz), key)
    if isinstance(value, date):
        return _in_range(value, key)
    if not isinstance(value, str):  # a list or mapping where a hand-written file needs one date
        kind = {list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)
        raise TimelineError(f"'{key}' must be a date or datetime, not {kind}: {value!r}; use 2026-03-01.")
    text = value.strip()
    try:
        if _DATE_RE.fullmatch(text):
            return _in_range(date.fromisoformat(text), key)
        return _in_range(_with_offset(datetime.fromisoformat(text), tz), key)
    except ValueError as exc:
        raise TimelineError(
            f"'{key}' is not a valid date or datetime: {value!r} ({exc}); "
            "use 2026-03-01 or 2026-03-01T09:30:00+01:00."
        ) from None


def _in_range(value: date | datetime, key: str) -> date | datetime:
    """Refuse a year no data can have (0001, 9999: a typo): an event's window reaches days
    before and after it, which would overflow the calendar in every scan."""
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise TimelineError(f"'{key}' {value.isoformat()} is outside the years {FIRST_YEAR} to {LAST_YEAR}; "
                            "check the year.")
    return value

def _with_offset(value: datetime, tz: str) -> datetime:
    # A fixed offset keeps the instant and compares equal after a write/read round trip.
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=ZoneInfo(tz))
    return value.replace(tzinfo=timezone(value.utcoffset()))

def now_in(tz: str) -> datetime:
    """The current time, to the second, with the offset of the zone `tz`."""
    return _with_offset(datetime.now(ZoneInfo(tz)).replace(microsecond=0), tz)

def _ends_before_start(start: date | datetime, end: date | datetime, tz: str) -> bool:
    if isinstance(start, datetime) and isinstance(end, datetime):
        return end < start
    return local_day(end, tz) < local_day(start, tz)

# --- ids ----------------------------------------------------------------------------

def slugify(text: str, max_length: int = MAX_SLUG) -> str:
    """Lowercase ASCII words joined by hyphens, cut at a word boundary: 'Spring promo, 20%!'
    -> 'spring-promo-20'. Returns 'event' when nothing is left."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > max_length:
        cut = slug[: max_length + 1]
        slug = cut[: cut.rfind("-")] if "-" in cut else cut[:max_length]
    return slug.strip("-") or "event"

def _closest(word: str, choices: Iterable[str]) -> str:
    match = closest_name(word, choices)
    return f" (did you mean '{match}'?)" if match else ""

def _text(key: str, value: Any, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise TimelineError(f"'{key}' must be non-empty text, got {value!r}.")
    return value

def _names(key: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in items):
        raise TimelineError(f"'{key}' must be a list of non-empty names, got {value!r}.")
    return tuple(items)

def _scope(value: Any) -> dict[str, tuple[str, ...]]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TimelineError(f"'scope' must map dimensions to values, like {{region: [EMEA]}}, got {value!r}.")
    scope = {}
    for dim, values in value.items():
        if not isinstance(dim, str) or not dim.strip():
            raise TimelineError(f"'scope' has an empty dimension name: {dim!r}.")
        scope[dim] = _names(f"scope.{dim}", values)
        if not scope[dim]:
            raise TimelineError(f"'scope.{dim}' lists no values; remove it or name the values it covers.")
    return scope

def _choice(key: str, value: Any, choices: tuple[str, ...], required: bool) -> str | None:
    if value is None and not required:
        return None
    if value not in choices:
        hint = _closest(value, choices) if isinstance(value, str) else ""
        raise TimelineError(f"'{key}' is {value!r}{hint}; use one of {', '.join(choices)}.")
    return value

def _event_id(data: Mapping[str, Any]) -> str | None:
    """The explicit id, or the slug of the title for hand-written events without one."""
    if data.get("id") is not None:
        return data["id"] if isinstance(data["id"], str) else None
    title = data.get("title")
    return slugify(title) if isinstance(title, str) and title.strip() else None

def _check_id(value: Any) -> str:
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise TimelineError(
            f"'id' {value!r} is not a valid id; use lowercase letters, digits, '-', '_' or '.' (at most 100)."
        )
    return value

def _build(
    data: Mapping[str, Any], tz: str, types: Collection[str] = EVENT_TYPES
) -> tuple[Annotation | None, list[tuple[str | None, str]]]:
    """Validate one event's mapping (YAML text values or Python values); `types`: the
    project's event types (`Config.event_types`).

    Returns the event (None if invalid) and every problem found as (key, message); a
    missing `end` key makes an instant event, `end: null` an open one.
    """
    problems: list[tuple[str | None, str]] = []
    for key in data:
        if key not in KEYS:
            problems.append((key, f"unknown key '{key}'{_closest(key, KEYS)}."))
    for key in _REQUIRED_OR_ID[1:]:
        if data.get(key) is None:
            problems.append((key if key in data else None, f"missing required key '{key}'."))
    checks: dict[str, Callable[[Any], Any]] = {
        "id": _check_id,
        "title": lambda v: _text("title", v, required=True),
        "type": lambda v: _choice("type", v, tuple(types), required=True),
        "start": lambda v: parse_when(v, tz, "start"),
        "end": lambda v: None if v is None else parse_when(v, tz, "end"),
        "scope": _scope,
        "expect": lambda v: _choice("expect", v, EXPECTS, required=False),
        **{key: (lambda v, k=key: _names(k, v)) for key in _LIST_FIELDS},
        **{key: (lambda v, k=key: _text(k, v)) for key in _TEXT_FIELDS},
    }
    values = {}
    for key, check in checks.items():
        if key not in data or (data[key] is None and key in _REQUIRED_OR_ID):
            continue
        try:
            values[key] = check(data[key])
        except TimelineError as exc:
            problems.append((key, str(exc)))
    if "end" not in data and "start" in values:
        values["end"] = values["start"]
    if "start" in values and values.get("end") is not None and _ends_before_start(values["start"], values["end"], tz):
        problems.append(("end", f"'end' {values['end'].isoformat()} is before 'start' {values['start'].isoformat()}."))
    if problems:
        return None, problems
    values.setdefault("id", _event_id(data))
    return Annotation(**values), []

def build_annotation(data: Mapping[str, Any], tz: str, types: Collection[str] = EVENT_TYPES) -> Annotation:
    """Validate a mapping like `Annotation.to_dict()` (values may be text or Python objects).

    Raises:
        TimelineError: naming every problem found.
    """
    event, problems = _build(data, tz, types)
    if event is None:
        raise TimelineError(" ".join(message for _, message in problems))
    return event

# --- reading ------------------------------------------------------------------------

def read_capped(path: Path, limit: int) -> bytes | None:
    """A file's bytes, or None when it is larger than `limit`; never reads past the limit,
    so a huge file is refused without loading it."""
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    return None if len(data) > limit else data

def _read_text(path: Path) -> str:
    try:
        raw = read_capped(path, MAX_FILE_BYTES)
    except OSError as exc:
        raise _Invalid(f"cannot be read ({exc.strerror}).") from None
    if raw is None:
        raise _Invalid(
            f"file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; annotation files must be "
            "small, split it into several files."
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Invalid(f"is not UTF-8 text (byte {exc.start}).") from None

def _compose(text: str) -> yaml.Node | None:
    loader = yaml.SafeLoader(text)
    try:
        return loader.get_single_node()
    except yaml.YAMLError as exc:
        problem, line = yaml_problem(exc, text)
        raise _Invalid(f"not valid YAML: {problem}.", line) from None
    except RecursionError:
        raise _Invalid("YAML is nested too deeply.") from None
    finally:
        loader.dispose()

class _Plain:
    """Turns YAML nodes into plain values (text, None, lists, dicts), refusing alias bombs.

    Scalars stay text so that `start: 2026-02-30` is reported as a bad date instead of
    failing inside the YAML constructor, and `owner: no` stays the name 'no'.
    """

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.active: set[int] = set()
        self.revisits = 0

    def __call__(self, node: yaml.Node, depth: int = 0) -> Any:
        line = node.start_mark.line + 1
        if id(node) in self.active:
            raise _Invalid("a YAML alias refers to a value that contains it.", line)
        if id(node) in self.seen:
            self.revisits += 1
            if self.revisits > MAX_ALIAS_EXPANSION:
                raise _Invalid("YAML aliases expand to too many values (an alias bomb?); refusing to read.", line)
        if depth > MAX_DEPTH:
            raise _Invalid("YAML is nested too deeply.", line)
        self.seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            return None if node.tag == _NULL_TAG else node.value
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self(item, depth + 1) for item in node.value]
            mapping: dict[str, Any] = {}
            for key_node, value_node in node.value:  # YAML keeps the last of a repeated key: one of two scopes lost
                key = _key(key_node)
                if key in mapping:
                    raise _Invalid(f"key '{key}' is given twice in one mapping; keep one.", key_node.start_mark.line + 1)
                mapping[key] = self(value_node, depth + 1)
            return mapping
        finally:
            self.active.discard(id(node))

def _key(node: yaml.Node) -> str:
    if not isinstance(node, yaml.ScalarNode):
        raise _Invalid("mapping keys must be plain names.", node.start_mark.line + 1)
    return node.value

def _event_nodes(root: yaml.Node | None) -> list[yaml.Node]:
    if root is None:
        return []
    if isinstance(root, yaml.MappingNode):
        return [root]
    if isinstance(root, yaml.SequenceNode):
        return list(root.value)
    raise _Invalid("a timeline file must hold one event (a mapping) or a list of events.", root.start_mark.line + 1)

def _parse_text(
    path: Path, text: str, tz: str, types: Collection[str] = EVENT_TYPES
) -> tuple[list[Annotation], list[Problem], list[yaml.Node]]:
    """Events, problems and event nodes of one file's text."""
    try:
        nodes = _event_nodes(_compose(text))
    except _Invalid as exc:
        return [], [Problem(path, exc.line, exc.message)], []
    plain, events, problems = _Plain(), [], []
    for node in nodes:
        line = node.start_mark.line + 1
        try:
            event, found = _parse_event(node, plain, tz, types)
        except _Invalid as exc:
            return events, [*problems, Problem(path, exc.line or line, exc.message)], nodes
        key_lines = _key_lines(node)
        problems += [Problem(path, key_lines.get(key, line), message) for key, message in found]
        if event is not None:
            events.append(dataclasses.replace(event, path=path, line=line))
    return events, problems, nodes

def _key_lines(node: yaml.Node) -> dict[str, int]:
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {k.value: k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.ScalarNode)}

def _parse_event(
    node: yaml.Node, plain: _Plain, tz: str, types: Collection[str]
) -> tuple[Annotation | None, list[tuple[str | None, str]]]:
    if not isinstance(node, yaml.MappingNode):
        return None, [(None, "an event must be a mapping with keys like 'title:', 'type:' and 'start:'.")]
    data: dict[str, Any] = {}
    duplicates = []
    for key_node, value_node in node.value:
        key = _key(key_node)
        if key in data:
            duplicates.append((key, f"key '{key}' is given twice in this event."))
        data[key] = plain(value_node)
    event, problems = _build(data, tz, types)
    return (None if duplicates else event), duplicates + problems

def _timeline_files(annotations_dir: Path) -> list[Path]:
    if not annotations_dir.is_dir():
        return []
    files = [*annotations_dir.rglob("*.yaml"), *annotations_dir.rglob("*.yml")]
    visible = [p for p in files if not any(part.startswith(".") for part in p.relative_to(annotations_dir).parts)]
    return sorted(visible)

def _scan(annotations_dir: Path, tz: str, types: Collection[str] = EVENT_TYPES) -> tuple[list[Annotation], list[Problem]]:
    """Every valid event of the timeline and every problem; duplicates after the first are dropped."""
    events: list[Annotation] = []
    problems: list[Problem] = []
    for path in _timeline_files(annotations_dir):
        try:
            found, file_problems, _ = _parse_text(path, _read_text(path), tz, types)
        except _Invalid as exc:
            found, file_problems = [], [Problem(path, exc.line, exc.message)]
        events += found
        problems += file_problems
    first: dict[str, Annotation] = {}
    unique = []
    for event in events:
        if event.id in first:
            where = located(first[event.id].path, first[event.id].line)
            problems.append(Problem(event.path, event.line, f"duplicate id '{event.id}'; it is also used at {where}."))
        else:
            first[event.id] = event
            unique.append(event)
    return unique, sorted(problems)

def load_timeline(annotations_dir: Path, tz: str, types: Collection[str] = EVENT_TYPES) -> list[Annotation]:
    """Every event under `annotations_dir`, ordered by start; `types`: the event types
    allowed (the project's are `Config.event_types`).

    Raises:
        TimelineError: `file:line: message` of the first problem (lint lists them all).
    """
    events, problems = _scan(Path(annotations_dir), tz, types)
    if problems:
        more = f" ({len(problems) - 1} more; run 'ctxmetrics annotate lint')" if len(problems) > 1 else ""
        raise TimelineError(f"{problems[0]}{more}")
    return sorted(events, key=lambda e: (e.first_day(tz), e.id))

def lint_timeline(
    annotations_dir: Path,
    tz: str,
    known_metrics: set[str] | None = None,
    known_dimensions: set[str] | None = None,
    today: date | None = None,
    types: Collection[str] = EVENT_TYPES,
    known_values: Mapping[str, set[str]] | None = None,
) -> list[Problem]:
    """Every problem of the timeline, in file and line order.

    Besides what `load_timeline` refuses (bad YAML, unknown keys, bad dates, end before
    start, duplicate ids, ...), reports metric and dimension names and scope values
    outside the known ones (when given) and events left open for more than 30 days.
    """
    events, problems = _scan(Path(annotations_dir), tz, types)
    today = today or datetime.now(ZoneInfo(tz)).date()
    for event in events:
        problems += name_problems(event, known_metrics, known_dimensions, known_values)
        age = (today - event.first_day(tz)).days
        if event.is_open and age > OPEN_TOO_LONG_DAYS:
            problems.append(Problem(event.path, event.line, (
                f"event '{event.id}' has been open for {age} days (since {event.first_day(tz)}); "
                f"add an 'end:' or run 'ctxmetrics annotate end {event.id}'."
            )))
    return sorted(problems)

def name_problems(event: Annotation, metrics: set[str] | None, dimensions: set[str] | None,
                  values: Mapping[str, set[str]] | None) -> list[Problem]:
    """`unknown_names` of one event, each at the event's file and line."""
    return [Problem(event.path, event.line, text)
            for text in unknown_names(event.metrics, event.scope, metrics, dimensions, values)]


def unknown_names(named_metrics, named_scope, metrics: set[str] | None, dimensions: set[str] | None,
                  values: Mapping[str, set[str]] | None = None) -> list[str]:
    """One message per metric or scope dimension outside the known ones, and per scope
    value that looks like a typo of a known one (None: not checked; `values`: each
    dimension's values in the data, a dimension without any not checked). A mistyped
    value (`region: [emea]`) scopes the event to nothing, so it would explain nothing; a
    value like no known one is a segment the data does not have yet (a region being
    launched), which `new_scope_values` names instead of refusing."""
    checks = [("metric", named_metrics, metrics), ("dimension", named_scope, dimensions)]
    problems = [
        f"unknown {kind} '{name}'{_closest(name, known)}; known: {_listed(known)}."
        for kind, names, known in checks
        if known is not None
        for name in names
        if name not in known
    ]
    for dim, name, known in _values_without_data(named_scope, values):
        if closest_name(name, known):
            problems.append(f"unknown {dim} value '{name}'{_closest(name, known)}; known: {_listed(known)}.")
    return problems


def new_scope_values(named_scope, values: Mapping[str, set[str]] | None) -> list[str]:
    """A note per scope value that no stored data has and that is no typo of a known one:
    the event is kept, and explains changes there once the data has that segment."""
    return [f"no stored data has {dim} '{name}' yet; the event will explain changes there once it does."
            for dim, name, known in _values_without_data(named_scope, values) if not closest_name(name, known)]


def _values_without_data(named_scope, values: Mapping[str, set[str]] | None):
    """(dimension, value, the dimension's known values) for each scope value outside the
    data's values of a dimension the data has."""
    for dim, names in named_scope.items():
        known = (values or {}).get(dim)
        if known:
            yield from ((dim, name, known) for name in names if name not in known)


def _listed(names: set[str], most: int = 20) -> str:
    shown = sorted(names)
    return ", ".join(shown[:most]) + (f" and {len(shown) - most} more" if len(shown) > most else "")

def _find(events: list[Annotation], annotation_id: str) -> Annotation:
    for event in events:
        if event.id == annotation_id:
            return event
    raise UnknownName(f"No annotation with id '{annotation_id}'{_closest(annotation_id, [e.id for e in events])}.")

def find_annotation(annotations_dir: Path, annotation_id: str, tz: str, types: Collection[str] = EVENT_TYPES) -> Annotation:
    """The event with this id (other files' problems do not hide it).

    Raises:
        UnknownName: no valid event has this id.
    """
    return _find(_scan(Path(annotations_dir), tz, types)[0], annotation_id)

# --- the store mirror ---------------------------------------------------------------

def _instant(value: date | datetime, tz: str, next_day: bool = False) -> datetime:
    """A date as the local midnight starting it (or, `next_day`, ending it), in UTC."""
    if not isinstance(value, datetime):
        value = datetime.combine(value + timedelta(days=int(next_day)), time(0), ZoneInfo(tz))
    return value.astimezone(timezone.utc)

def mirror_row(event: Annotation, tz: str) -> tuple:
    """The `annotations` table row of an event; `end_ts` is the end instant (NULL while open):
    for a date end, the midnight after that day."""
    return (
        event.id, event.title, event.type,
        _instant(event.start, tz),
        None if event.end is None else _instant(event.end, tz, next_day=True),
        event.first_day(tz), event.last_day(tz),
        json.dumps({dim: list(values) for dim, values in event.scope.items()}),
        list(event.metrics), event.expect, event.owner, list(event.links), list(event.tags), event.notes,
        None if event.path is None else str(event.path), event.line,
    )
