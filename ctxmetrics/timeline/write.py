"""Locked writing of the timeline: every change goes to a temporary file renamed into place,
under the lock file `annotations/.lock` shared by all writers (see `timeline.read` for the layout)."""
from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Collection, Iterable, Iterator, Mapping

import yaml

from ctxmetrics.config import EVENT_TYPES
from ctxmetrics.errors import TimelineError, located
from ctxmetrics.models.annotation import Annotation
# the reader's parsing helpers: a write re-reads the files it changes exactly as loading does
from ctxmetrics.timeline.read import (
    KEYS, LOCK_NAME, _closest, _compose, _find, _parse_text, _read_text, _scan, build_annotation, slugify,
)
from ctxmetrics.waiting import default_lock_timeout, wait_for_lock


def _id_candidates(event: Annotation, tz: str) -> Iterator[str]:
    base = slugify(event.title)
    dated = f"{base}-{event.first_day(tz).isoformat()}"
    yield base
    yield dated
    for n in itertools.count(2):
        yield f"{dated}-{n}"


# --- validation ---------------------------------------------------------------------


def annotation_yaml(event: Annotation) -> str:
    """The event as it is written to a file."""
    return _dump(event.to_dict())


@contextlib.contextmanager
def _locked(annotations_dir: Path) -> Iterator[None]:
    """Serialise writers of one timeline across processes (read ids, then write)."""
    annotations_dir.mkdir(parents=True, exist_ok=True)
    path = annotations_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        timeout = default_lock_timeout()
        if not wait_for_lock(fd, timeout):
            raise TimelineError(
                f"{path}: another change to the timeline is still being written; "
                f"waited {timeout:g}s. Try again when it has finished."
            )
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


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
    types: Collection[str] = EVENT_TYPES,
) -> Annotation:
    """Write a new event to its own file `annotations/YYYY/MM/<id>.yaml`.

    Without `id`, the id is the slug of the title, then the slug plus the start day, then
    that plus -2, -3...: the first one no event uses. Safe under concurrent processes.

    Args:
        start, end: dates or datetimes, as objects or ISO text; `end` None makes an
            instant event, or an open one when `open_ended`.
        types: the event types allowed (the project's are `Config.event_types`).

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
    draft = build_annotation(data, tz, types)
    annotations_dir = Path(annotations_dir)
    with _locked(annotations_dir):
        # Lenient read: a colleague's broken file must not stop anyone from tagging.
        taken = {event.id: event for event in _scan(annotations_dir, tz, types)[0]}
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


def _rewrite_file(path: Path, tz: str, target_id: str, replacement: Annotation | None, types: Collection[str]) -> None:
    """Replace (or with None remove) one event of a file, keeping the others and their comments."""
    text = _read_text(path)
    events, problems, nodes = _parse_text(path, text, tz, types)
    if problems:
        raise TimelineError(f"{problems[0]}; fix {path} before changing events in it.")
    index = [event.id for event in events].index(target_id)
    expected = events[:index] + ([replacement] if replacement else []) + events[index + 1:]
    if not expected:
        path.unlink()
        return
    new_text = _splice(text, nodes[index], replacement)
    if _parse_text(path, new_text, tz, types)[:2] != (expected, []):
        # Unusual layouts (flow lists, items sharing lines) are rewritten whole; comments are lost.
        new_text = _dump_events(expected, as_list=isinstance(_compose(text), yaml.SequenceNode))
    _write_atomic(path, new_text)


def _mutate(
    annotations_dir: Path, annotation_id: str, tz: str, change: Callable[[Annotation], Annotation | None],
    types: Collection[str],
) -> Annotation | None:
    annotations_dir = Path(annotations_dir)
    with _locked(annotations_dir):
        events = _scan(annotations_dir, tz, types)[0]
        old = _find(events, annotation_id)
        new = change(old)
        if new is not None and new.id != old.id and new.id in {e.id for e in events}:
            raise TimelineError(f"id '{new.id}' is already used; choose another id.")
        _rewrite_file(old.path, tz, old.id, new, types)
        if new is not None and new.id != old.id and old.path.stem == old.id:
            renamed = old.path.with_name(f"{new.id}.yaml")
            os.link(old.path, renamed)  # raises instead of replacing another file
            old.path.unlink()
            return dataclasses.replace(new, path=renamed, line=old.line)
    return None if new is None else dataclasses.replace(new, path=old.path, line=old.line)


def edit_annotation(
    annotations_dir: Path, annotation_id: str, tz: str = "UTC", types: Collection[str] = EVENT_TYPES, **fields: Any
) -> Annotation:
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
        return build_annotation({**data, **fields}, tz, types)

    return _mutate(annotations_dir, annotation_id, tz, apply, types)


def end_annotation(
    annotations_dir: Path, annotation_id: str, when: Any, tz: str = "UTC", types: Collection[str] = EVENT_TYPES
) -> Annotation:
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
        return build_annotation({**old.to_dict(), "end": when}, tz, types)

    return _mutate(annotations_dir, annotation_id, tz, close, types)


def remove_annotation(annotations_dir: Path, annotation_id: str, tz: str = "UTC", types: Collection[str] = EVENT_TYPES) -> None:
    """Delete an event: its file, or its entry in a list file (the other events stay).

    Raises:
        UnknownName: no event has this id.
    """
    _mutate(annotations_dir, annotation_id, tz, lambda old: None, types)


def upsert_annotations(
    annotations_dir: Path,
    incoming: Iterable[Annotation],
    target: Path,
    tz: str = "UTC",
    owned_fields: tuple[str, ...] = (),
    types: Collection[str] = EVENT_TYPES,
) -> tuple[list[Annotation], list[Annotation]]:
    """Add events whose id is new to the list file `target`; update `owned_fields` of known ones.

    Re-running with the same events changes nothing. Fields not in `owned_fields` (e.g. a
    scope an analyst added to an imported event) are never overwritten.

    Returns:
        The added events and the updated events.
    """
    annotations_dir, target = Path(annotations_dir), Path(target)
    with _locked(annotations_dir):
        known = {event.id: event for event in _scan(annotations_dir, tz, types)[0]}
        added: dict[str, Annotation] = {}
        updated = []
        for event in incoming:
            if event.id in known:
                old = known[event.id]
                merged = dataclasses.replace(old, **{f: getattr(event, f) for f in owned_fields})
                if merged != old:
                    _rewrite_file(old.path, tz, old.id, merged, types)
                    updated.append(merged)
            else:
                added.setdefault(event.id, event)
        if added:
            _append_events(target, list(added.values()), tz, types)
    return list(added.values()), updated


def _append_events(target: Path, events: list[Annotation], tz: str, types: Collection[str]) -> None:
    existing: list[Annotation] = []
    if target.exists():
        existing, problems, _ = _parse_text(target, _read_text(target), tz, types)
        if problems:
            raise TimelineError(f"{problems[0]}; fix {target} before adding events to it.")
    _write_atomic(target, _dump_events(existing + events))


