"""The annotation timeline: business events curated in YAML under `annotations/`.

Layout: every `*.yaml` (or `*.yml`) file under `annotations/`, recursively, holds one event
(a mapping) or a list of events; files and folders whose name starts with '.' are skipped.
The CLI writes one file per event, `annotations/YYYY/MM/<id>.yaml`, so that analysts adding
events on two branches never get a merge conflict. Every write goes to a temporary file
that is renamed into place, under a lock file (`annotations/.lock`) shared by all writers.

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

import contextlib
import dataclasses
import difflib
import itertools
import json
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping
from zoneinfo import ZoneInfo

import yaml

from ctxmetrics.config import EVENT_TYPES, EXPECTS
from ctxmetrics.errors import TimelineError, UnknownName, located

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_ALIAS_EXPANSION = 10_000  # values reached a second time through aliases, per file
MAX_DEPTH = 20  # an event is at most 4 levels deep; deeper means a broken or hostile file
OPEN_TOO_LONG_DAYS = 30
MAX_SLUG = 60
KEYS = ("id", "title", "type", "start", "end", "scope", "metrics", "expect", "owner", "links", "tags", "notes")
LOCK_NAME = ".lock"
_NULL_TAG = "tag:yaml.org,2002:null"
_ID_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,99}")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_LIST_FIELDS = ("metrics", "links", "tags")
_TEXT_FIELDS = ("owner", "notes")
_REQUIRED_OR_ID = ("id", "title", "type", "start")


@dataclass(frozen=True)
class Annotation:
    """One business event. `end` is None while the event is open (still going on).

    `path` and `line` say where the event is written; they are not part of equality.
    """

    id: str
    title: str
    type: str
    start: date | datetime
    end: date | datetime | None = None
    scope: dict[str, tuple[str, ...]] = field(default_factory=dict)
    metrics: tuple[str, ...] = ()
    expect: str | None = None
    owner: str | None = None
    links: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    notes: str | None = None
    path: Path | None = field(default=None, compare=False)
    line: int | None = field(default=None, compare=False)

    @property
    def is_open(self) -> bool:
        """True while the event has no end (started with `annotate start`, not yet ended)."""
        return self.end is None

    def first_day(self, tz: str) -> date:
        """The first calendar day the event covers in the zone `tz`."""
        return _local_day(self.start, tz)

    def last_day(self, tz: str) -> date | None:
        """The last calendar day (inclusive) the event covers in `tz`; None while open.

        A datetime end at local midnight ends the event on the previous day.
        """
        if self.end is None:
            return None
        day = _local_day(self.end, tz)
        if isinstance(self.end, datetime) and self.end.astimezone(ZoneInfo(tz)).time() == time(0):
            day = max(day - timedelta(days=1), self.first_day(tz))
        return day

    def to_dict(self) -> dict[str, Any]:
        """The YAML mapping of the event: dates as ISO strings, empty optional fields left out."""
        data: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "type": self.type,
            "start": self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
        }
        optional = {
            "scope": {dim: list(values) for dim, values in self.scope.items()},
            "metrics": list(self.metrics),
            "expect": self.expect,
            "owner": self.owner,
            "links": list(self.links),
            "tags": list(self.tags),
            "notes": self.notes,
        }
        data.update((key, value) for key, value in optional.items() if value not in (None, [], {}))
        return data

    def to_yaml(self) -> str:
        """The event as it is written to a file."""
        return _dump(self.to_dict())

    def scope_relation(self, segment: Mapping[str, str]) -> str:
        """How the event's scope relates to a segment (a dict dimension -> value).

        Returns:
            "global": the event has no scope (it affects everything);
            "disjoint": a scoped dimension is set in the segment to a value outside the scope;
            "exact": every scoped dimension is set in the segment, to a value in the scope
            (the segment lies inside the event's reach);
            "partial": otherwise (the segment is wider than the scope, e.g. the total).
        """
        if not self.scope:
            return "global"
        if any(dim in segment and segment[dim] not in values for dim, values in self.scope.items()):
            return "disjoint"
        return "exact" if all(dim in segment for dim in self.scope) else "partial"

    def applies_to(self, segment: Mapping[str, str]) -> bool:
        """True unless the event's scope excludes the segment."""
        return self.scope_relation(segment) != "disjoint"


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


def _local_day(value: date | datetime, tz: str) -> date:
    if isinstance(value, datetime):
        return value.astimezone(ZoneInfo(tz)).date()
    return value


def parse_when(value: Any, tz: str, key: str = "start") -> date | datetime:
    """A date, or a datetime with a fixed UTC offset, from YAML text or Python values.

    Naive datetimes are read as local time in `tz` (see the module's timezone rule).

    Raises:
        TimelineError: the value is not a valid date or ISO datetime.
    """
    if isinstance(value, datetime):
        return _with_offset(value, tz)
    if isinstance(value, date):
        return value
    text = value.strip() if isinstance(value, str) else ""
    try:
        if _DATE_RE.fullmatch(text):
            return date.fromisoformat(text)
        return _with_offset(datetime.fromisoformat(text), tz)
    except ValueError as exc:
        raise TimelineError(
            f"'{key}' is not a valid date or datetime: {value!r} ({exc}); "
            "use 2026-03-01 or 2026-03-01T09:30:00+01:00."
        ) from None


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
    return _local_day(end, tz) < _local_day(start, tz)


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


def _id_candidates(event: Annotation, tz: str) -> Iterator[str]:
    base = slugify(event.title)
    dated = f"{base}-{event.first_day(tz).isoformat()}"
    yield base
    yield dated
    for n in itertools.count(2):
        yield f"{dated}-{n}"


# --- validation ---------------------------------------------------------------------


def _closest(word: str, choices: Iterable[str]) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


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


def _build(data: Mapping[str, Any], tz: str) -> tuple[Annotation | None, list[tuple[str | None, str]]]:
    """Validate one event's mapping (YAML text values or Python values).

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
        "type": lambda v: _choice("type", v, EVENT_TYPES, required=True),
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


def build_annotation(data: Mapping[str, Any], tz: str) -> Annotation:
    """Validate a mapping like `Annotation.to_dict()` (values may be text or Python objects).

    Raises:
        TimelineError: naming every problem found.
    """
    event, problems = _build(data, tz)
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
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise _Invalid(f"not valid YAML: {problem}.", mark.line + 1 if mark else None) from None
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
            return {_key(k): self(v, depth + 1) for k, v in node.value}
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


def _parse_text(path: Path, text: str, tz: str) -> tuple[list[Annotation], list[Problem], list[yaml.Node]]:
    """Events, problems and event nodes of one file's text."""
    try:
        nodes = _event_nodes(_compose(text))
    except _Invalid as exc:
        return [], [Problem(path, exc.line, exc.message)], []
    plain, events, problems = _Plain(), [], []
    for node in nodes:
        line = node.start_mark.line + 1
        try:
            event, found = _parse_event(node, plain, tz)
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


def _parse_event(node: yaml.Node, plain: _Plain, tz: str) -> tuple[Annotation | None, list[tuple[str | None, str]]]:
    if not isinstance(node, yaml.MappingNode):
        return None, [(None, "an event must be a mapping with keys like 'title:', 'type:' and 'start:'.")]
    data: dict[str, Any] = {}
    duplicates = []
    for key_node, value_node in node.value:
        key = _key(key_node)
        if key in data:
            duplicates.append((key, f"key '{key}' is given twice in this event."))
        data[key] = plain(value_node)
    event, problems = _build(data, tz)
    return (None if duplicates else event), duplicates + problems


def _timeline_files(annotations_dir: Path) -> list[Path]:
    if not annotations_dir.is_dir():
        return []
    files = [*annotations_dir.rglob("*.yaml"), *annotations_dir.rglob("*.yml")]
    visible = [p for p in files if not any(part.startswith(".") for part in p.relative_to(annotations_dir).parts)]
    return sorted(visible)


def _scan(annotations_dir: Path, tz: str) -> tuple[list[Annotation], list[Problem]]:
    """Every valid event of the timeline and every problem; duplicates after the first are dropped."""
    events: list[Annotation] = []
    problems: list[Problem] = []
    for path in _timeline_files(annotations_dir):
        try:
            found, file_problems, _ = _parse_text(path, _read_text(path), tz)
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


def load_timeline(annotations_dir: Path, tz: str) -> list[Annotation]:
    """Every event under `annotations_dir`, ordered by start.

    Raises:
        TimelineError: `file:line: message` of the first problem (lint lists them all).
    """
    events, problems = _scan(Path(annotations_dir), tz)
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
) -> list[Problem]:
    """Every problem of the timeline, in file and line order.

    Besides what `load_timeline` refuses (bad YAML, unknown keys, bad dates, end before
    start, duplicate ids, ...), reports metric and dimension names outside the known ones
    (when given) and events left open for more than 30 days.
    """
    events, problems = _scan(Path(annotations_dir), tz)
    today = today or datetime.now(ZoneInfo(tz)).date()
    for event in events:
        problems += _name_problems(event, known_metrics, known_dimensions)
        age = (today - event.first_day(tz)).days
        if event.is_open and age > OPEN_TOO_LONG_DAYS:
            problems.append(Problem(event.path, event.line, (
                f"event '{event.id}' has been open for {age} days (since {event.first_day(tz)}); "
                f"add an 'end:' or run 'ctxmetrics annotate end {event.id}'."
            )))
    return sorted(problems)


def _name_problems(event: Annotation, metrics: set[str] | None, dimensions: set[str] | None) -> list[Problem]:
    checks = [("metric", event.metrics, metrics), ("dimension", event.scope, dimensions)]
    return [
        Problem(event.path, event.line, f"unknown {kind} '{name}'{_closest(name, known)}; known: {', '.join(sorted(known))}.")
        for kind, names, known in checks
        if known is not None
        for name in names
        if name not in known
    ]


def _find(events: list[Annotation], annotation_id: str) -> Annotation:
    for event in events:
        if event.id == annotation_id:
            return event
    raise UnknownName(f"No annotation with id '{annotation_id}'{_closest(annotation_id, [e.id for e in events])}.")


def find_annotation(annotations_dir: Path, annotation_id: str, tz: str) -> Annotation:
    """The event with this id (other files' problems do not hide it).

    Raises:
        UnknownName: no valid event has this id.
    """
    return _find(_scan(Path(annotations_dir), tz)[0], annotation_id)


# --- writing ------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(annotations_dir: Path) -> Iterator[None]:
    """Serialise writers of one timeline across processes (read ids, then write)."""
    annotations_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(annotations_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _lock_fd(fd)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _lock_fd(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
    else:
        fcntl.flock(fd, fcntl.LOCK_EX)


def _write_atomic(path: Path, text: str, exclusive: bool = False) -> None:
    """Write through a temporary file renamed into place; `exclusive` never replaces a file.

    Raises:
        FileExistsError: `exclusive` and `path` exists.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if exclusive:
            os.link(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


class _Dumper(yaml.SafeDumper):
    """Block mappings, lists of names on one line (`metrics: [leads, mql]`), notes as `|` blocks."""


_Dumper.add_representer(
    list,
    lambda dumper, data: dumper.represent_sequence(
        "tag:yaml.org,2002:seq", data, flow_style=all(isinstance(item, str) for item in data)
    ),
)



def _string_style(text: str) -> str | None:
    if any(ch in text for ch in "\x85\u2028\u2029"):
        return '"'  # YAML line breaks other than \n survive only as escapes
    return "|" if "\n" in text else None


_Dumper.add_representer(
    str, lambda dumper, data: dumper.represent_scalar("tag:yaml.org,2002:str", data, style=_string_style(data))
)


def _dump(data: Any, flow: bool = False) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=flow, width=10_000)


def _dump_events(events: list[Annotation], as_list: bool = True) -> str:
    if not as_list and len(events) == 1:
        return _dump(events[0].to_dict())
    return _dump([event.to_dict() for event in events])


def _event_path(annotations_dir: Path, event: Annotation, tz: str) -> Path:
    day = event.first_day(tz)
    return annotations_dir / f"{day.year:04d}" / f"{day.month:02d}" / f"{event.id}.yaml"


def add_annotation(
    annotations_dir: Path,
    *,
    title: str,
    type: str,  # noqa: A002 - the YAML key
    start: Any,
    end: Any = None,
    open_ended: bool = False,
    id: str | None = None,  # noqa: A002 - the YAML key
    scope: Mapping[str, Iterable[str]] | None = None,
    metrics: Iterable[str] = (),
    expect: str | None = None,
    owner: str | None = None,
    links: Iterable[str] = (),
    tags: Iterable[str] = (),
    notes: str | None = None,
    tz: str = "UTC",
) -> Annotation:
    """Write a new event to its own file `annotations/YYYY/MM/<id>.yaml`.

    Without `id`, the id is the slug of the title, then the slug plus the start day, then
    that plus -2, -3...: the first one no event uses. Safe under concurrent processes.

    Args:
        start, end: dates or datetimes, as objects or ISO text; `end` None makes an
            instant event, or an open one when `open_ended`.

    Raises:
        TimelineError: an invalid field, or `id` is already used.
    """
    data: dict[str, Any] = {
        "title": title, "type": type, "start": start,
        "scope": {dim: list(values) for dim, values in (scope or {}).items()} or None,
        "metrics": list(metrics) or None, "expect": expect, "owner": owner,
        "links": list(links) or None, "tags": list(tags) or None, "notes": notes,
    }
    if id is not None:
        data["id"] = id
    if open_ended or end is not None:
        data["end"] = end
    draft = build_annotation(data, tz)
    annotations_dir = Path(annotations_dir)
    with _locked(annotations_dir):
        # Lenient read: a colleague's broken file must not stop anyone from tagging.
        taken = {event.id: event for event in _scan(annotations_dir, tz)[0]}
        if id is not None and id in taken:
            where = located(taken[id].path, taken[id].line)
            raise TimelineError(f"id '{id}' is already used at {where}; choose another id.")
        for candidate in [id] if id is not None else _id_candidates(draft, tz):
            if candidate in taken:
                continue
            event = dataclasses.replace(draft, id=candidate)
            path = _event_path(annotations_dir, event, tz)
            try:
                _write_atomic(path, _dump(event.to_dict()), exclusive=True)
            except FileExistsError:
                if id is not None:
                    raise TimelineError(f"{path} already exists; choose another id.") from None
                continue
            return dataclasses.replace(event, path=path, line=1)
    raise AssertionError("unreachable: the id candidates never run out")


def _splice(text: str, node: yaml.Node, event: Annotation | None) -> str:
    """The file text with one event's mapping replaced (or its lines removed), comments kept."""
    start = node.start_mark.index
    end = node.end_mark.index if node.flow_style else node.value[-1][1].end_mark.index
    while end > start and text[end - 1] in " \t\r\n":
        end -= 1
    if event is None:
        first = text.rfind("\n", 0, start) + 1
        last = text.find("\n", end)
        return text[:first] + ("" if last < 0 else text[last + 1:])
    body = _dump(event.to_dict(), flow=bool(node.flow_style)).rstrip("\n")
    return text[:start] + body.replace("\n", "\n" + " " * node.start_mark.column) + text[end:]


def _rewrite_file(path: Path, tz: str, target_id: str, replacement: Annotation | None) -> None:
    """Replace (or with None remove) one event of a file, keeping the others and their comments."""
    text = _read_text(path)
    events, problems, nodes = _parse_text(path, text, tz)
    if problems:
        raise TimelineError(f"{problems[0]}; fix {path} before changing events in it.")
    index = [event.id for event in events].index(target_id)
    expected = events[:index] + ([replacement] if replacement else []) + events[index + 1:]
    if not expected:
        path.unlink()
        return
    new_text = _splice(text, nodes[index], replacement)
    if _parse_text(path, new_text, tz)[:2] != (expected, []):
        # Unusual layouts (flow lists, items sharing lines) are rewritten whole; comments are lost.
        new_text = _dump_events(expected, as_list=isinstance(_compose(text), yaml.SequenceNode))
    _write_atomic(path, new_text)


def _mutate(
    annotations_dir: Path, annotation_id: str, tz: str, change: Callable[[Annotation], Annotation | None]
) -> Annotation | None:
    annotations_dir = Path(annotations_dir)
    with _locked(annotations_dir):
        events = _scan(annotations_dir, tz)[0]
        old = _find(events, annotation_id)
        new = change(old)
        if new is not None and new.id != old.id and new.id in {e.id for e in events}:
            raise TimelineError(f"id '{new.id}' is already used; choose another id.")
        _rewrite_file(old.path, tz, old.id, new)
        if new is not None and new.id != old.id and old.path.stem == old.id:
            renamed = old.path.with_name(f"{new.id}.yaml")
            os.link(old.path, renamed)  # raises instead of replacing another file
            old.path.unlink()
            return dataclasses.replace(new, path=renamed, line=old.line)
    return None if new is None else dataclasses.replace(new, path=old.path, line=old.line)


def edit_annotation(annotations_dir: Path, annotation_id: str, tz: str = "UTC", **fields: Any) -> Annotation:
    """Change fields of an event in place (in a one-event or a list file).

    A field set to None is removed; `end=None` makes the event open.

    Raises:
        UnknownName: no event has this id.
        TimelineError: an unknown field, an invalid value, or a new id already used.
    """
    unknown = sorted(set(fields) - set(KEYS))
    if unknown:
        raise TimelineError(f"unknown field '{unknown[0]}'{_closest(unknown[0], KEYS)}; fields: {', '.join(KEYS)}.")

    def apply(old: Annotation) -> Annotation:
        data = old.to_dict()
        if old.end == old.start and "start" in fields:
            del data["end"]  # an instant event stays an instant when it moves
        return build_annotation({**data, **fields}, tz)

    return _mutate(annotations_dir, annotation_id, tz, apply)


def end_annotation(annotations_dir: Path, annotation_id: str, when: Any, tz: str = "UTC") -> Annotation:
    """Close an open event at `when` (a date or datetime, object or ISO text).

    Raises:
        UnknownName: no event has this id.
        TimelineError: the event is not open, or `when` is before its start.
    """

    def close(old: Annotation) -> Annotation:
        if not old.is_open:
            raise TimelineError(
                f"annotation '{old.id}' is not open (it ends {old.end.isoformat()}); "
                f"use 'ctxmetrics annotate edit {old.id} --end D' to change its end."
            )
        return build_annotation({**old.to_dict(), "end": when}, tz)

    return _mutate(annotations_dir, annotation_id, tz, close)


def remove_annotation(annotations_dir: Path, annotation_id: str, tz: str = "UTC") -> None:
    """Delete an event: its file, or its entry in a list file (the other events stay).

    Raises:
        UnknownName: no event has this id.
    """
    _mutate(annotations_dir, annotation_id, tz, lambda old: None)


def upsert_annotations(
    annotations_dir: Path,
    incoming: Iterable[Annotation],
    target: Path,
    tz: str = "UTC",
    owned_fields: tuple[str, ...] = (),
) -> tuple[list[Annotation], list[Annotation]]:
    """Add events whose id is new to the list file `target`; update `owned_fields` of known ones.

    Re-running with the same events changes nothing. Fields not in `owned_fields` (e.g. a
    scope an analyst added to an imported event) are never overwritten.

    Returns:
        The added events and the updated events.
    """
    annotations_dir, target = Path(annotations_dir), Path(target)
    with _locked(annotations_dir):
        known = {event.id: event for event in _scan(annotations_dir, tz)[0]}
        added: dict[str, Annotation] = {}
        updated = []
        for event in incoming:
            if event.id in known:
                old = known[event.id]
                merged = dataclasses.replace(old, **{f: getattr(event, f) for f in owned_fields})
                if merged != old:
                    _rewrite_file(old.path, tz, old.id, merged)
                    updated.append(merged)
            else:
                added.setdefault(event.id, event)
        if added:
            _append_events(target, list(added.values()), tz)
    return list(added.values()), updated


def _append_events(target: Path, events: list[Annotation], tz: str) -> None:
    existing: list[Annotation] = []
    if target.exists():
        existing, problems, _ = _parse_text(target, _read_text(target), tz)
        if problems:
            raise TimelineError(f"{problems[0]}; fix {target} before adding events to it.")
    _write_atomic(target, _dump_events(existing + events))


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
