"""`ctxmetrics annotate ...`: tag business events and keep the YAML timeline clean."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable

import click

from ctxmetrics.cli import cli, pass_project
from ctxmetrics.config import EVENT_TYPES, EXPECTS
from ctxmetrics.errors import StoreLocked, UnknownName

# ctxmetrics.timeline.read (and yaml) is imported inside the commands: every ctxmetrics
# command loads this module, and `why` or `query` must not pay for the timeline.

OPTIONAL_FIELDS = ("scope", "metrics", "expect", "owner", "links", "tags", "notes")
# `--type` is checked against the project's table when the command runs (`_event_type`):
# ctxmetrics.yaml may declare more types under `event_types:`.
TYPE_HELP = f"Kind of event: {', '.join(EVENT_TYPES)}, or one declared under event_types in ctxmetrics.yaml."


def _scope(ctx, param, pairs: tuple[str, ...]) -> dict[str, list[str]] | None:
    """`--scope region=EMEA,APAC --scope channel=paid` -> {region: [EMEA, APAC], channel: [paid]}."""
    if not pairs:
        return None
    from ctxmetrics.models.segments import split_pair

    form = "dimension=value[,value]"
    scope: dict[str, list[str]] = {}
    for pair in pairs:
        try:
            dim, values = split_pair(pair, form)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
        names = [v.strip() for v in values.split(",") if v.strip()]
        if not names:
            raise click.BadParameter(f"'{pair}' is not of the form {form}.")
        scope.setdefault(dim, []).extend(v for v in names if v not in scope.get(dim, []))
    return scope


def _event_options(command: Callable) -> Callable:
    """The optional fields shared by add, start and edit."""
    options = [
        click.option("--scope", multiple=True, callback=_scope, metavar="DIM=VALUE[,VALUE]",
                     help="Segment the event affects (repeatable); default: everything."),
        click.option("--metric", "metrics", multiple=True, help="Metric it should move (repeatable)."),
        click.option("--expect", type=click.Choice(EXPECTS), help="Expected direction of the effect."),
        click.option("--owner", help="Who knows about it."),
        click.option("--link", "links", multiple=True, help="A URL with details (repeatable)."),
        click.option("--tag", "tags", multiple=True, help="A free tag (repeatable)."),
        click.option("--notes", help="Free text."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _given(fields: dict[str, Any]) -> dict[str, Any]:
    """Options the user gave: not None and not an empty repeatable option."""
    return {key: list(value) if isinstance(value, tuple) else value
            for key, value in fields.items() if value not in (None, ())}


def _check_names(project, fields: dict[str, Any]) -> None:
    """Refuse a metric or scope dimension that neither the project file nor the store
    knows, or a scope value that is a typo of a stored one, as lint would: a typo
    (regoin=EMEA, region=emea) makes an event that explains nothing. A scope value like
    no stored one (a region being launched) is kept, with a note."""
    from ctxmetrics.timeline.read import new_scope_values, unknown_names

    metrics, dimensions, values = known_names(project)
    scope = fields.get("scope") or {}
    problems = unknown_names(fields.get("metrics") or (), scope, metrics, dimensions, values)
    if problems:
        raise UnknownName(f"{problems[0][0].upper()}{problems[0][1:]} Nothing was written.")
    for note in new_scope_values(scope, values):
        click.echo(f"Note: {note}", err=True)


def _event_type(project, value: str | None) -> str | None:
    """`--type` in any case, as a type of the project (a built-in or one ctxmetrics.yaml declares)."""
    if value is None:
        return None
    known = project.config.event_types
    if value.lower() not in known:
        raise click.BadParameter(f"{value!r} is not one of {', '.join(map(repr, known))}.", param_hint="'--type'")
    return value.lower()


def _shown(path: Path | None) -> str:
    """A path relative to the current folder when it lies below it."""
    if path is None:
        return "?"
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _when(value: date | datetime | None, tz: str) -> str:
    if value is None:
        return "open"
    if isinstance(value, datetime):
        from zoneinfo import ZoneInfo

        return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


@cli.group()
def annotate():
    """Tag business events (campaigns, outages, offsites...) in the YAML timeline.

    \b
    Example:
        ctxmetrics annotate add "Spring promo" --type campaign --start 2026-03-01 --end 2026-03-14
        ctxmetrics annotate list --since 2026-01-01
    """


@annotate.command()
@click.argument("title")
@click.option("--type", "event_type", required=True, metavar="TYPE", help=TYPE_HELP)
@click.option("--start", required=True, metavar="DATE", help="First day (2026-03-01) or time (2026-03-01T09:30).")
@click.option("--end", metavar="DATE", help="Last day, inclusive, or end time; default: same as --start.")
@click.option("--id", "event_id", help="Id to use; default: made from the title.")
@_event_options
@pass_project
def add(ref, title, event_type, start, end, event_id, **fields):
    """Add an event to the timeline (one new file under annotations/YYYY/MM/).

    \b
    Example:
        ctxmetrics annotate add "Spring promo, 20% off" --type campaign \\
            --start 2026-03-01 --end 2026-03-14 --scope region=EMEA --metric leads --expect up
    """
    from ctxmetrics.timeline.write import add_annotation

    project = ref.get()
    event_type = _event_type(project, event_type)
    _check_names(project, fields)
    event = add_annotation(
        project.annotations_dir, title=title, type=event_type, start=start, end=end, id=event_id,
        tz=project.config.timezone, types=project.config.event_types, **_given(fields),
    )
    click.echo(f"Added {event.id} ({_shown(event.path)})")


@annotate.command()
@click.argument("title")
@click.option("--type", "event_type", required=True, metavar="TYPE", help=TYPE_HELP)
@click.option("--id", "event_id", help="Id to use; default: made from the title.")
@_event_options
@pass_project
def start(ref, title, event_type, event_id, **fields):
    """Start an event now and leave it open until 'annotate end ID'.

    \b
    Example:
        ctxmetrics annotate start "Sign-up page down" --type outage --scope channel=web
    """
    from ctxmetrics.timeline.read import now_in
    from ctxmetrics.timeline.write import add_annotation

    project = ref.get()
    event_type = _event_type(project, event_type)
    _check_names(project, fields)
    tz = project.config.timezone
    event = add_annotation(
        project.annotations_dir, title=title, type=event_type, start=now_in(tz), open_ended=True,
        id=event_id, tz=tz, types=project.config.event_types, **_given(fields),
    )
    click.echo(f"Started {event.id} at {_when(event.start, tz)} ({_shown(event.path)}); "
               f"close it with: ctxmetrics annotate end {event.id}")
    for other in _open_alike(project, event):  # a colleague tagged the same happening a moment before
        click.echo(f"Note: '{other.title}' is open already as {other.id} (started {_when(other.start, tz)}); if it "
                   f"is the same happening, remove this one: ctxmetrics annotate rm {event.id}", err=True)


def _open_alike(project, event) -> list:
    """The other open events of the timeline with `event`'s title (in any letter case)."""
    from ctxmetrics.timeline.read import _scan

    events = _scan(project.annotations_dir, project.config.timezone, project.config.event_types)[0]
    return [e for e in events if e.id != event.id and e.is_open and e.title.casefold() == event.title.casefold()]


@annotate.command()
@click.argument("annotation_id", metavar="ID")
@click.option("--at", "when", metavar="DATE", help="When it ended (default: now).")
@pass_project
def end(ref, annotation_id, when):
    """Close an open event now (or at --at).

    \b
    Example:
        ctxmetrics annotate end sign-up-page-down
    """
    from ctxmetrics.timeline.read import now_in
    from ctxmetrics.timeline.write import end_annotation

    project = ref.get()
    tz = project.config.timezone
    event = end_annotation(project.annotations_dir, annotation_id, when or now_in(tz), tz, project.config.event_types)
    click.echo(f"Ended {event.id} at {_when(event.end, tz)}")


@annotate.command("list")
@click.option("--since", metavar="DATE", help="Only events still running on or after this day.")
@click.option("--type", "event_type", metavar="TYPE", help="Only events of this kind.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of events.")
@pass_project
def list_events(ref, since, event_type, as_json):
    """List the timeline, ordered by start.

    \b
    Example:
        ctxmetrics annotate list --since 2026-01-01 --type campaign
        ctxmetrics annotate list --json
    """
    from ctxmetrics.timeline.read import load_timeline, parse_when

    project = ref.get()
    event_type = _event_type(project, event_type)
    tz = project.config.timezone
    events = load_timeline(project.annotations_dir, tz, project.config.event_types)
    if since:
        first = parse_when(since, tz, "--since")
        first = first.date() if isinstance(first, datetime) else first
        events = [e for e in events if e.is_open or e.last_day(tz) >= first]
    if event_type:
        events = [e for e in events if e.type == event_type]
    if as_json:
        click.echo(json.dumps([e.to_dict() for e in events], indent=2, ensure_ascii=False))
        return
    from ctxmetrics.wording import one_line

    rows = [("ID", "TYPE", "START", "END", "SCOPE", "TITLE")] + [
        tuple(one_line(cell) for cell in (e.id, e.type, _when(e.start, tz), _when(e.end, tz),
              ";".join(f"{d}={','.join(v)}" for d, v in e.scope.items()) or "all", e.title))
        for e in events
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])


@annotate.command()
@click.argument("annotation_id", metavar="ID")
@pass_project
def show(ref, annotation_id):
    """Print one event as YAML, with the file and line it is written in.

    \b
    Example:
        ctxmetrics annotate show spring-promo-20-off
    """
    from ctxmetrics.timeline.read import find_annotation
    from ctxmetrics.timeline.write import annotation_yaml

    project = ref.get()
    event = find_annotation(project.annotations_dir, annotation_id, project.config.timezone, project.config.event_types)
    click.echo(f"# {_shown(event.path)}:{event.line}")
    click.echo(annotation_yaml(event), nl=False)


@annotate.command()
@click.argument("annotation_id", metavar="ID")
@click.option("--id", "new_id", help="A new id.")
@click.option("--title")
@click.option("--type", "event_type", metavar="TYPE", help=TYPE_HELP)
@click.option("--start", metavar="DATE")
@click.option("--end", metavar="DATE", help="New end; 'open' reopens the event.")
@_event_options
@click.option("--clear", multiple=True, type=click.Choice(OPTIONAL_FIELDS), help="Remove a field (repeatable).")
@pass_project
def edit(ref, annotation_id, new_id, title, event_type, start, end, clear, **fields):
    """Change fields of an event; repeatable options (--scope, --metric...) replace the old list.

    \b
    Example:
        ctxmetrics annotate edit spring-promo --end 2026-03-21 --scope region=EMEA,APAC
        ctxmetrics annotate edit spring-promo --clear owner
    """
    from ctxmetrics.timeline.write import edit_annotation

    changes = _given({"id": new_id, "title": title, "type": event_type, "start": start, **fields})
    if end is not None:
        changes["end"] = None if end.strip().lower() == "open" else end
    changes.update(dict.fromkeys(clear))
    if not changes:
        raise click.UsageError("Nothing to change: give at least one field option, e.g. --end 2026-03-21.")
    project = ref.get()
    if event_type is not None:
        changes["type"] = _event_type(project, event_type)
    _check_names(project, changes)
    event = edit_annotation(
        project.annotations_dir, annotation_id, project.config.timezone, project.config.event_types, **changes
    )
    click.echo(f"Updated {event.id} ({_shown(event.path)}:{event.line})")


@annotate.command()
@click.argument("annotation_id", metavar="ID")
@pass_project
def rm(ref, annotation_id):
    """Remove an event (its file, or its entry in a list file).

    \b
    Example:
        ctxmetrics annotate rm spring-promo-20-off
    """
    from ctxmetrics.timeline.read import find_annotation
    from ctxmetrics.timeline.write import remove_annotation

    project = ref.get()
    event = find_annotation(project.annotations_dir, annotation_id, project.config.timezone, project.config.event_types)
    remove_annotation(project.annotations_dir, annotation_id, project.config.timezone, project.config.event_types)
    click.echo(f"Removed {event.id} ({_shown(event.path)})")


def known_names(project) -> tuple[set[str] | None, set[str] | None, dict[str, set[str]]]:
    """Metric and dimension names from ctxmetrics.yaml and, if there is one, the store;
    and each stored dimension's values."""
    metrics, dimensions = set(project.config.metrics), set(project.config.dimensions)
    values: dict[str, set[str]] = {}
    if project.store_path.exists():
        try:
            with project.store(read_only=True) as store:
                metrics |= set(store.metric_names())
                dimensions |= set(store.dimension_names())
                values = {dim: set(store.dimension_values(dim)) for dim in store.dimension_names()}
        except StoreLocked:
            pass  # a running ingest must not block a lint; the config's names still apply
    return metrics or None, dimensions or None, values


@annotate.command()
@pass_project
@click.pass_context
def lint(ctx, ref):
    """Check the whole timeline; print every problem as file:line: message, exit 1 if any.

    Finds unknown keys, bad dates, end before start, duplicate ids, unknown metric and
    dimension names, and events left open for more than 30 days.

    \b
    Example:
        ctxmetrics annotate lint
    """
    from ctxmetrics.timeline.read import lint_timeline

    project = ref.get()
    metrics, dimensions, values = known_names(project)
    problems = lint_timeline(
        project.annotations_dir, project.config.timezone, metrics, dimensions, types=project.config.event_types,
        known_values=values,
    )
    for problem in problems:
        click.echo(str(replace(problem, path=_shown(problem.path))))
    if problems:
        click.echo(f"{len(problems)} problem{'s' if len(problems) > 1 else ''} in the timeline.", err=True)
        ctx.exit(1)
    click.echo("Timeline OK.", err=True)


@annotate.command()
@click.option("--country", required=True, help="ISO country code, e.g. US or DE.")
@click.option("--subdiv", help="Subdivision (state, region), e.g. CA.")
@click.option("--years", required=True, metavar="YYYY[-YYYY]", help="Years, e.g. 2025-2026 or 2025,2027.")
@click.option("--scope", multiple=True, callback=_scope, metavar="DIM=VALUE[,VALUE]",
              help="Segments that observe these holidays (repeatable); default: everything.")
@pass_project
def holidays(ref, country, subdiv, years, scope):
    """Add public holidays (one file per country and year under annotations/holidays/).

    Running it again adds nothing. Scope them to the segments that observe them, or a US
    holiday will be offered as a cause of an APAC change.

    \b
    Example:
        ctxmetrics annotate holidays --country US --years 2025-2026 --scope region=NA
        ctxmetrics annotate holidays --country DE --subdiv BY --years 2026 --scope region=EMEA
    """
    from ctxmetrics.timeline.calendars import add_holidays, parse_years

    project = ref.get()
    _check_names(project, {"scope": scope})
    added = add_holidays(
        project.annotations_dir, country, subdiv, parse_years(years), project.config.timezone, scope=scope,
        types=project.config.event_types,
    )
    click.echo(f"Added {len(added)} holiday{'' if len(added) == 1 else 's'}.")


@annotate.command("import")
@click.argument("ics_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--type", "event_type", default="other", show_default=True, metavar="TYPE",
              help="Kind given to every imported event (a built-in or one declared in ctxmetrics.yaml).")
@pass_project
def import_calendar(ref, ics_file, event_type):
    """Import the events of an iCalendar (.ics) file into annotations/imported/.

    Importing again adds nothing; events changed in the calendar are updated.

    \b
    Example:
        ctxmetrics annotate import offsites.ics --type offsite
    """
    from ctxmetrics.timeline.calendars import import_ics

    project = ref.get()
    added, updated = import_ics(
        project.annotations_dir, ics_file, _event_type(project, event_type), project.config.timezone,
        project.config.event_types,
    )
    click.echo(f"Imported {ics_file.name}: {len(added)} added, {len(updated)} updated.")
