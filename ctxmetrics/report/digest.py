"""The manager's digest: a briefing of the business events behind a period's anomalies.

Built from the scan results in the store (`store.results`: the anomalies, and the events
whose expected effect was not flagged with what the data did over their windows, both
stored by `scan`) and `explain.coverage` (the window's explained share); rendered as
Markdown or JSON here and as HTML with charts in `report_html`. Read-only; never imports
ruptures, scipy or matplotlib.

Business events: one business event moves many series at once (a sign-up outage moves
leads in the total, every region and channel, then MQLs and SQLs days later). Anomalies
sharing their top cause form one event; unexplained ones of the same direction whose
segments nest and whose starts lie within `GROUP_DAYS` (same metric) or the funnel lag
(other metrics) form one too. Counts in the headline are business events; every anomaly
("flag") is still listed in JSON.

Order: what needs action first (unexplained events, expected effects not seen), then the
explained events, recurring calendar events (types the event table marks `recurring`, such
as holidays) below the unexpected ones; within
a group by importance = score × ln(1 + volume) of the event's biggest flag.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from ctxmetrics.config import EVENT_TABLE
from ctxmetrics.models.anomaly import Anomaly, Cause
from ctxmetrics.models.segments import is_within, segment_key, segment_label
from ctxmetrics.wording import (
    EXPLAINED_HEADING, cause_note, change_text, kind_text, flags_note, level_text, md_code, nothing_needs_action,
    ranking_note, md_text, metric_label, metric_word, pct_text, score_text, shell_command, summary_line, tag_command, tagged_text, when_text, where_text,
)

__all__ = ["Digest", "BusinessEvent", "build_digest", "render_markdown", "render_json"]

GROUP_DAYS = 3
DEFAULT_LIMIT = 30
# the built-in table's recurring types; a project's are `Config.recurring_types`
BUILT_IN_RECURRING = frozenset(name for name, t in EVENT_TABLE.items() if t.recurring)
NO_SCAN = "No scan results yet: run 'ctxmetrics scan' first."


def require_scan(store) -> None:
    """Refuse a report of a store no scan has read, saying what to run first (on a store
    with no data, 'run scan' alone sent the user to a scan that refuses too)."""
    from ctxmetrics.errors import CtxError
    from ctxmetrics.store.results import has_scan_state

    if has_scan_state(store):
        return
    if store.observation_span() is None:
        raise CtxError("No data yet: load some with 'ctxmetrics ingest FILE', then run 'ctxmetrics scan'.")
    raise CtxError(NO_SCAN)


# --- business events --------------------------------------------------------------


@dataclass(frozen=True)
class Fact:
    """One line the briefing says about a business event; renderers add only markup."""

    label: str
    text: str
    command: str | None = None  # a command to copy, shown as code after the text


ALSO_FLAGGED = "also flagged on their own"  # the segments hit, said after a "where" line


@dataclass
class BusinessEvent:
    """One thing that happened to the business: the flags it raised, biggest first."""

    members: list[Anomaly]
    funnel: tuple[str, ...] = ()
    ratio_metrics: frozenset[str] = frozenset()
    gauge_metrics: frozenset[str] = frozenset()  # levels, not amounts per day: no " a day"
    recurring_types: frozenset[str] = BUILT_IN_RECURRING  # event types listed after the unexpected
    log_scales: dict[str, str] = field(default_factory=dict)  # metrics whose values are logarithms: their scale

    @property
    def lead(self) -> Anomaly:
        return self.members[0]

    @property
    def id(self) -> str:
        return self.lead.id

    @property
    def cause(self) -> Cause | None:
        return self.lead.causes[0] if self.lead.causes else None

    @property
    def explained(self) -> bool:
        return self.cause is not None

    @property
    def recurring(self) -> bool:
        return self.cause is not None and self.cause.type in self.recurring_types

    @property
    def importance(self) -> float:
        return self.lead.importance

    @property
    def flags(self) -> int:
        return len(self.members)

    @property
    def title(self) -> str:
        if self.cause:
            return self.cause.title
        lead = self.lead
        return f"{metric_label(lead.metric)} {segment_label(lead.segment)} {'drop' if lead.direction == 'down' else 'rise'}"

    @property
    def tag_command(self) -> str | None:
        return None if self.explained else tag_command(self.lead)

    def size_text(self, with_year: bool) -> str:
        """How big and since when: 'leads -85% (898 → 134 a day) from Sep 3 to Sep 4, 2025'."""
        a = self.lead
        ratio = a.metric in self.ratio_metrics
        unit = "" if ratio or a.metric in self.gauge_metrics else f" a {a.period}"
        where = "" if not a.segment else f" in {segment_label(a.segment)}"
        logs = "logs " if a.metric in self.log_scales else ""
        return (f"{metric_word(a.metric)}{where} {change_text(a)} ({logs}{level_text(a.before, ratio)} → "
                f"{level_text(a.after, ratio)}{unit}) {when_text(a.start, a.end, with_year)}")

    def funnel_steps(self) -> list[tuple[str, float]]:
        """Per metric, the change in the lead's segment (else its broadest flag), in funnel order."""
        best: dict[str, Anomaly] = {}
        for a in self.members:  # ranked: the first flag of a kind is the biggest
            kept = best.get(a.metric)
            if kept is None or (kept.segment != self.lead.segment
                                and (a.segment == self.lead.segment or len(a.segment) < len(kept.segment))):
                best[a.metric] = a
        order = {m: i for i, m in enumerate(self.funnel)}
        metrics = sorted(best, key=lambda m: (order.get(m, len(order)), m))
        return [(m, best[m].change_pct) for m in metrics]

    def movement_facts(self) -> list["Fact"]:
        """How the event's metrics moved: its funnel stages down the funnel (`funnel: leads
        -85% → MQL -84%`), any other metric side by side (`metrics: win rate +329%`), since
        metrics that moved together are no funnel; one line of all when under two stages."""
        steps = self.funnel_steps()
        stages = [step for step in steps if step[0] in self.funnel]
        others = [step for step in steps if step[0] not in self.funnel]

        def listed(part: list[tuple[str, float]], sep: str) -> str:
            return sep.join(f"{metric_word(m)} {pct_text(c)}" for m, c in part)

        if len(stages) >= 2:
            return [Fact("funnel", listed(stages, " → ")), Fact("metrics", listed(others, ", ") or None)]
        return [Fact("metrics", listed(steps, ", ") if len(steps) >= 2 else None)]

    def segments_hit(self, limit: int = 6) -> str | None:
        labels = []
        for a in self.members:
            if a.metric == self.lead.metric and a.segment and segment_label(a.segment) not in labels:
                labels.append(segment_label(a.segment))
        if self.lead.segment and segment_label(self.lead.segment) in labels:
            labels.remove(segment_label(self.lead.segment))
        if not labels:
            return None
        more = f" and {len(labels) - limit} more" if len(labels) > limit else ""
        return ", ".join(labels[:limit]) + more

    def reject_command(self) -> str | None:
        """The `why --reject` command that tells ctxmetrics the linked event is not the cause."""
        if not self.cause:
            return None
        a = self.lead
        parts = ["ctxmetrics", "why", a.metric]
        for dim, value in a.segment.items():
            parts += ["--segment", f"{dim}={value}"]
        parts += ["--on", a.start.isoformat(), "--reject", self.cause.annotation_id]
        return shell_command(parts)

    def details_text(self) -> str:
        a = self.lead
        tagged = tagged_text(a)
        return (f"{self.flags} flag{'s' if self.flags != 1 else ''}; biggest: {metric_label(a.metric)} "
                f"{segment_label(a.segment)}, {kind_text(a)}, {score_text(a)}, importance {self.importance:.1f}"
                + (f"; {tagged}" if tagged else ""))

    def facts(self) -> list[Fact]:
        """What the briefing says about the event, line by line: how it went down the
        funnel, where it sits, why, what to do, and the details."""
        where = where_text(self.lead)
        # beside the root cause of the lead's change, the segments flagged on their own series
        # are said as such: "where: everywhere alike" then "segments hit: partner" read as a contradiction
        out = [*self.movement_facts(), Fact("where", where),
               Fact(ALSO_FLAGGED if where else "segments hit", self.segments_hit())]
        if self.cause:
            out += [Fact("why", self.cause.reason),
                    Fact("what to do", "nothing, unless this is not the cause:", self.reject_command())]
        else:
            out += [Fact("why", "no known context"),
                    Fact("what to do", "find the cause; once known, tag it:", self.tag_command)]
        out.append(Fact("details", self.details_text()))
        return [f for f in out if f.text]

    def to_json(self, with_year: bool) -> dict[str, Any]:
        return {
            "id": self.id, "title": self.title, "explained": self.explained, "recurring": self.recurring,
            "cause": self.cause.annotation_id if self.cause else None,
            "summary": self.size_text(with_year), "funnel": [{"metric": m, "change_pct": round(c, 1)} for m, c in self.funnel_steps()],
            "where": where_text(self.lead), "segments_hit": self.segments_hit(limit=1000),
            "flags": self.flags, "importance": round(self.importance, 2),
            "members": [a.id for a in self.members], "tag_command": self.tag_command,
        }


def _joins(event: BusinessEvent, anomaly: Anomaly, lag_days: int) -> bool:
    """An unexplained anomaly joins an unexplained event: same direction, nested segments,
    starts within GROUP_DAYS of a flag of its metric or the funnel lag of another metric's."""
    for member in event.members:
        if member.direction != anomaly.direction:
            continue
        if not (is_within(member.segment, anomaly.segment) or is_within(anomaly.segment, member.segment)):
            continue
        days = GROUP_DAYS if member.metric == anomaly.metric else lag_days
        if abs((member.start - anomaly.start).days) <= days:
            return True
    return False


def metrics_of_type(config, metric_type: str) -> frozenset[str]:
    """The metrics the project file declares of one type (`ratio`, `gauge`)."""
    return frozenset(m.name for m in config.metrics.values() if m.type == metric_type)


def group_events(ranked: list[Anomaly], funnel: tuple[str, ...] = (), lag_days: int = 7,
                 ratio_metrics: frozenset[str] = frozenset(),
                 gauge_metrics: frozenset[str] = frozenset(),
                 recurring_types: frozenset[str] = BUILT_IN_RECURRING) -> list[BusinessEvent]:
    """Group anomalies (already ranked) into business events; see the module docstring.
    Explained ones are found by their top cause; an unexplained one is compared only with
    the unexplained events that have a flag starting within the funnel lag of it."""
    events: list[BusinessEvent] = []
    by_cause: dict[str, BusinessEvent] = {}
    by_day: dict[int, list[BusinessEvent]] = {}  # unexplained events by their flags' start days
    order: dict[int, int] = {}  # id(event) -> its position in `events`
    for anomaly in ranked:
        if anomaly.causes:
            event = by_cause.get(anomaly.causes[0].annotation_id)
            if event is None:
                event = by_cause[anomaly.causes[0].annotation_id] = BusinessEvent(
                    [], funnel, ratio_metrics, gauge_metrics, recurring_types
                )
                events.append(event)
            event.members.append(anomaly)
            continue
        day = anomaly.start.toordinal()
        near = {order[id(e)]: e for d in range(day - lag_days, day + lag_days + 1) for e in by_day.get(d, ())}
        # the earliest-made (most important) matching event wins, as in a ranked scan
        event = next((near[i] for i in sorted(near) if _joins(near[i], anomaly, lag_days)), None)
        if event is None:
            event = BusinessEvent([], funnel, ratio_metrics, gauge_metrics, recurring_types)
            order[id(event)] = len(events)
            events.append(event)
        event.members.append(anomaly)
        if all(e is not event for e in by_day.setdefault(day, [])):
            by_day[day].append(event)
    return events


def briefing_order(events: list[BusinessEvent]) -> list[BusinessEvent]:
    """Unexplained events first, then explained ones with recurring calendar events last;
    each part by importance (the order `group_events` returns for ranked anomalies)."""
    return sorted(events, key=lambda e: (e.explained, e.recurring, -e.importance))


def rank(anomalies: list[Anomaly]) -> list[Anomaly]:
    return sorted(anomalies, key=lambda a: (-a.importance, a.start, a.metric, segment_key(a.segment)))


# --- the digest ------------------------------------------------------------------


@dataclass
class Digest:
    since: dt.date | None
    until: dt.date | None
    data_range: tuple[dt.date, dt.date] | None
    anomalies: list[Anomaly]  # every unmuted anomaly of the window, most important first
    events: list[BusinessEvent]
    coverage: dict[str, Any]
    effects: list[dict[str, Any]]  # tagged events with an expected effect no anomaly showed
    muted: int = 0
    limit: int | None = DEFAULT_LIMIT
    # why ingest judged a metric of the anomalies per week or month ("booked monthly: values fall on the 1st")
    bookings: dict[str, str] = field(default_factory=dict)

    @property
    def unexplained_events(self) -> list[BusinessEvent]:
        return [e for e in self.events if not e.explained]

    @property
    def explained_events(self) -> list[BusinessEvent]:
        """Unexpected events first, recurring calendar ones after; each part by importance."""
        return [e for e in briefing_order(self.events) if e.explained]

    @property
    def effects_not_seen(self) -> list[dict[str, Any]]:
        return [e for e in self.effects if e["finding"] in ("not_seen", "opposite")]

    @property
    def effects_other(self) -> list[dict[str, Any]]:
        return [e for e in self.effects if e["finding"] not in ("not_seen", "opposite")]

    def shown(self, items: list) -> list:
        return items if self.limit is None else items[: self.limit]

    @property
    def period(self) -> str:
        first = self.since or (self.data_range[0] if self.data_range else None)
        last = self.until or (self.data_range[1] if self.data_range else None)
        if first is None or last is None:
            return "all scanned data"
        return f"{first.isoformat()} to {last.isoformat()}"

    @property
    def ranking(self) -> str:
        """How the flags are ranked, in the period their volume is per."""
        return ranking_note(a.period for a in self.anomalies)

    @property
    def with_year(self) -> bool:
        """Dates carry their year unless the whole period lies in one year."""
        first = self.since or (self.data_range[0] if self.data_range else None)
        last = self.until or (self.data_range[1] if self.data_range else None)
        return first is None or last is None or first.year != last.year

    def headline(self) -> str:
        if not self.events and not self.effects_not_seen:
            return f"No anomalies from {self.period}."
        unexplained, missing = len(self.unexplained_events), len(self.effects_not_seen)
        explained = len(self.events) - unexplained
        action = unexplained + missing
        parts = []
        if unexplained:
            parts.append(f"{unexplained} unexplained")
        if missing:
            parts.append(f"{missing} expected effect{'s' if missing != 1 else ''} not seen")
        needs = f"{action} need{'s' if action == 1 else ''} action ({', '.join(parts)})" if action else "none needs action"
        n = len(self.events)
        return f"{n} business event{'s' if n != 1 else ''} from {self.period}: {needs}; {explained} explained."

    def to_json(self) -> dict[str, Any]:
        """`{"anomalies": [...]}` as in docs/contract.md, plus the digest's own keys."""
        event_of = {a.id: e.id for e in self.events for a in e.members}
        anomalies = []
        for a in self.anomalies:
            data = a.to_json()
            data["importance"] = round(a.importance, 2)
            data["summary"] = summary_line(a, self.with_year)
            data["event"] = event_of.get(a.id, a.id)
            if not a.explained:
                data["tag_command"] = tag_command(a)
            anomalies.append(data)
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "data_range": [d.isoformat() for d in self.data_range] if self.data_range else None,
            "headline": self.headline(),
            "coverage": self.coverage,
            "events": [e.to_json(self.with_year) for e in briefing_order(self.events)],
            "anomalies": anomalies,
            "unexplained": [a.id for a in self.anomalies if not a.explained],
            "missing_effects": self.effects,
            "muted": self.muted,
            "ranking": "importance = score * ln(1 + volume)",
        } | ({"bookings": self.bookings} if self.bookings else {})


# --- building -----------------------------------------------------------------


def _effects_within(entries: list[dict[str, Any]], data_range, since, until) -> list[dict[str, Any]]:
    """The stored expected effects not seen (`scan.effects`) of events lying wholly inside
    the period's data."""
    if data_range is None:
        return []
    lo, hi = max(data_range[0], since) if since else data_range[0], min(data_range[1], until) if until else data_range[1]
    days = ((dt.date.fromisoformat(e["window"][0]), dt.date.fromisoformat(e["window"][1]), e) for e in entries)
    return [e for first, last, e in days if lo <= first and last <= hi]


def build_digest(project, since: dt.date | None = None, until: dt.date | None = None,
                 limit: int | None = DEFAULT_LIMIT, today: dt.date | None = None) -> Digest:
    """The digest of the anomalies in [since, until] (inclusive; open ends = all data).

    An anomaly is in the window when it starts on or before `until` and is still going on
    at `since`. Anomalies muted on `today` (default: the current date) are left out and
    counted.

    Raises:
        CtxError: no scan yet, `since` after `until` or after the data ends, or an
            unreadable store.
    """
    from ctxmetrics.errors import CtxError
    from ctxmetrics.report.mutes import active_mutes, is_muted
    from ctxmetrics.store.results import (
        data_span_of_window, load_anomalies, load_effects, load_window,
    )

    if since and until and since > until:
        raise CtxError(f"--since {since} is after --until {until}; swap them.")
    config = project.config
    with project.store(read_only=True) as store:
        everything = load_anomalies(store)
        if not everything:
            require_scan(store)
        data_range = data_span_of_window(store, since, until)
        anomalies = load_window(store, since, until) if since is not None or until is not None else everything
        mutes = active_mutes(store, today)
        shown = [a for a in anomalies if not is_muted(a, mutes)]
        entries = _effects_within(load_effects(store), data_range, since, until)
        bookings = store.bookings(sorted({a.metric for a in shown}))
    ranked = rank(shown)
    ratios, gauges = metrics_of_type(config, "ratio"), metrics_of_type(config, "gauge")
    from ctxmetrics.explain.coverage import coverage

    events = group_events(ranked, config.funnel, config.explain.funnel_lag_days, ratios, gauges, config.recurring_types)
    log_scales = {m.name: m.scale for m in config.metrics.values() if m.scale}
    for event in events if log_scales else ():
        event.log_scales = log_scales
    return Digest(
        since=since, until=until, data_range=data_range, anomalies=ranked,
        events=events,
        coverage=coverage(ranked), effects=entries, muted=len(anomalies) - len(shown), limit=limit, bookings=bookings,
    )


# --- Markdown -----------------------------------------------------------------


def effect_line(entry: dict[str, Any], with_year: bool, escape=md_text) -> str:
    first, last = (dt.date.fromisoformat(d) for d in entry["window"])
    when = when_text(first, last, with_year)
    return f"{escape(entry['title'])} ({escape(entry['type'])}), {when}: {escape(entry['reason'])}"


def _event_lines(n: int, event: BusinessEvent, with_year: bool) -> list[str]:
    kind = cause_note(event.cause.type if event.cause else None, md_text)
    out = [f"{n}. **{md_text(event.title)}**{kind}: {md_text(event.size_text(with_year))}"]
    for fact in event.facts():
        command = f" {md_code(fact.command)}" if fact.command else ""
        out.append(f"   - {fact.label}: {md_text(fact.text)}{command}")
    return out


def render_markdown(digest: Digest) -> str:
    """The digest as Markdown (what `ctxmetrics digest` prints); all user text escaped."""
    y = digest.with_year
    out = [f"# ctxmetrics digest: {digest.period}", "", f"**{md_text(digest.headline())}**", ""]
    unexplained, not_seen = digest.unexplained_events, digest.effects_not_seen
    out += [f"## Needs action ({len(unexplained) + len(not_seen)})", ""]
    if not unexplained and not not_seen:
        out += [nothing_needs_action(len(digest.anomalies) + digest.muted), ""]
    for n, event in enumerate(digest.shown(unexplained), 1):
        out += _event_lines(n, event, y)
    out += _hidden(digest, unexplained)
    if not_seen:
        out += ["### Expected effects not seen", ""]
        out += [f"- {effect_line(e, y)}" for e in not_seen] + [""]
    explained = digest.explained_events
    if explained:
        out += ["## " + EXPLAINED_HEADING.format(n=len(explained)), ""]
        for n, event in enumerate(digest.shown(explained), 1):
            out += _event_lines(n, event, y)
        out += _hidden(digest, explained)
    if digest.effects_other:
        out += ["## Tagged events without a flag", ""]
        out += [f"- {effect_line(e, y)}" for e in digest.effects_other] + [""]
    out += [f"_{md_text(metric)} is {md_text(reason)}._" for metric, reason in sorted(digest.bookings.items())]
    out += [""] if digest.bookings else []
    out += [f"_{flags_note(len(digest.anomalies), len(digest.events), digest.muted)} {digest.ranking} "
            "`--format json` lists every flag._"]
    return "\n".join(out).rstrip() + "\n"


def _hidden(digest: Digest, items: list) -> list[str]:
    hidden = len(items) - len(digest.shown(items))
    if hidden <= 0:
        return [""]
    return ["", f"_…and {hidden} less important events (`--limit 0` shows all, `--format json` lists every flag)._", ""]


def render_json(digest: Digest) -> str:
    from ctxmetrics.report.output import to_json

    return to_json(digest.to_json())
