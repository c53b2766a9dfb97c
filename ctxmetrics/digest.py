"""The manager's digest: stored anomalies of a period, ranked, with their context.

Built from the scan results (`results.load_anomalies`), the timeline and `explain`
(coverage, expected effects that were not seen); rendered as Markdown or JSON here and
as HTML with charts in `report_html`. Read-only and light: no numpy, polars or ruptures.

Ranking: importance = score × ln(1 + volume), the effect in robust noise units times the
logarithm of the series' mean daily level. A clear change in a big series comes first;
the logarithm keeps the total from always drowning out a striking change in a segment.

Grouping: one business event usually moves many series at once (a sign-up outage moves
leads in the total, every region and channel, then MQLs a day later). Anomalies of the
same metric and direction, starting within `GROUP_DAYS` of each other and sharing their
top cause (or, when unexplained, lying in one another's segment), form one item; the most
important is shown and the others are listed as "also in". Counts always count every
anomaly ("flag").
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from math import log1p
from typing import Any

from ctxmetrics.anomaly import Anomaly
from ctxmetrics.segments import is_within, segment_key, segment_label
from ctxmetrics.wording import metric_label, tag_command, where_text

GROUP_DAYS = 3
DEFAULT_LIMIT = 30


def importance(anomaly: Anomaly) -> float:
    """How much an anomaly matters: score × ln(1 + mean daily volume)."""
    return float(anomaly.score) * log1p(max(float(anomaly.volume), 0.0))


def _day(value: dt.date, with_year: bool) -> str:
    return f"{value:%b} {value.day}" + (f", {value.year}" if with_year else "")


def _when(anomaly: Anomaly, with_year: bool) -> str:
    if anomaly.end is None:
        return f"since {_day(anomaly.start, with_year)}"
    if anomaly.end == anomaly.start:
        return f"on {_day(anomaly.start, with_year)}"
    return f"from {_day(anomaly.start, False)} to {_day(anomaly.end, with_year)}"


def _pct(value: float) -> str:
    return f"{value:+.0f}%"


def summary_line(anomaly: Anomaly, with_year: bool = False) -> str:
    """'Leads EMEA/paid +68% from Apr 17 to Apr 30 — EMEA paid spring push (campaign)'."""
    head = f"{metric_label(anomaly.metric)} {segment_label(anomaly.segment)} {_pct(anomaly.change_pct)} {_when(anomaly, with_year)}"
    if anomaly.causes:
        cause = anomaly.causes[0]
        return f"{head} — {cause.title} ({cause.type})"
    return f"{head} — no known context"


@dataclass
class DigestItem:
    """One line of the report: the most important anomaly of a group and its companions."""

    anomaly: Anomaly
    importance: float
    summary: str
    tag_command: str | None  # only for unexplained items
    also: list[Anomaly] = field(default_factory=list)

    @property
    def flags(self) -> int:
        return 1 + len(self.also)


@dataclass
class EventImpact:
    """A timeline event and how many anomalies it is the top cause of."""

    annotation_id: str
    title: str
    type: str
    flags: int


@dataclass
class Digest:
    since: dt.date | None
    until: dt.date | None
    data_range: tuple[dt.date, dt.date] | None
    anomalies: list[Anomaly]  # every anomaly of the window, most important first
    items: list[DigestItem]  # grouped, most important first
    coverage: dict[str, Any]
    top_events: list[EventImpact]
    missing_effects: list[dict[str, Any]]
    scanned: bool = True
    limit: int | None = DEFAULT_LIMIT
    ratio_metrics: frozenset[str] = frozenset()

    @property
    def explained_items(self) -> list[DigestItem]:
        return [i for i in self.items if i.anomaly.explained]

    @property
    def unexplained_items(self) -> list[DigestItem]:
        return [i for i in self.items if not i.anomaly.explained]

    def shown(self, items: list[DigestItem]) -> list[DigestItem]:
        return items if self.limit is None else items[: self.limit]

    @property
    def period(self) -> str:
        first = self.since or (self.data_range[0] if self.data_range else None)
        last = self.until or (self.data_range[1] if self.data_range else None)
        if first is None or last is None:
            return "all scanned data"
        return f"{first.isoformat()} to {last.isoformat()}"

    @property
    def with_year(self) -> bool:
        """Dates carry their year unless the whole period lies in one year."""
        first = self.since or (self.data_range[0] if self.data_range else None)
        last = self.until or (self.data_range[1] if self.data_range else None)
        return first is None or last is None or first.year != last.year

    def headline(self) -> str:
        total, explained = self.coverage.get("total", 0), self.coverage.get("explained", 0)
        if not self.scanned:
            return "No scan results yet: run 'ctxmetrics scan' first."
        if not total:
            return f"No anomalies from {self.period}."
        share = self.coverage.get("share")
        pct = f"{100 * share:.0f}%" if isinstance(share, (int, float)) else "n/a"
        text = (
            f"{total} anomal{'y' if total == 1 else 'ies'} from {self.period}; "
            f"{explained} explained ({pct} coverage), {total - explained} unexplained."
        )
        if self.top_events:
            parts = [f"{e.title} explains {e.flags} of {total} flags" for e in self.top_events[:3]]
            text += " " + "; ".join(parts) + "."
        return text

    def to_json(self) -> dict[str, Any]:
        """`{"anomalies": [...]}` as in docs/contract.md, plus the digest's own keys."""
        items = {i.anomaly.id: i for i in self.items}
        group_of = {a.id: i.anomaly.id for i in self.items for a in [i.anomaly, *i.also]}
        anomalies = []
        for a in self.anomalies:
            data = a.to_json()
            data["importance"] = round(importance(a), 2)
            data["summary"] = summary_line(a, self.with_year)
            data["group"] = group_of.get(a.id, a.id)
            if not a.explained:
                data["tag_command"] = tag_command(a)
            anomalies.append(data)
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "data_range": [d.isoformat() for d in self.data_range] if self.data_range else None,
            "headline": self.headline(),
            "coverage": self.coverage,
            "top_events": [e.__dict__ for e in self.top_events],
            "anomalies": anomalies,
            "groups": [
                {"id": item.anomaly.id, "summary": item.summary, "flags": item.flags,
                 "members": [item.anomaly.id, *(a.id for a in item.also)]}
                for item in items.values()
            ],
            "unexplained": [a.id for a in self.anomalies if not a.explained],
            "missing_effects": self.missing_effects,
            "ranking": "importance = score * ln(1 + volume)",
        }


# --- building -----------------------------------------------------------------


def _coverage(anomalies: list[Anomaly]) -> dict[str, Any]:
    from ctxmetrics import explain

    return explain.coverage(anomalies)


def _missing(annotations, anomalies, config, data_range) -> list[dict[str, Any]]:
    from ctxmetrics import explain

    if data_range is None:
        return []
    return list(explain.missing_effects(annotations, anomalies, config, data_range))


def _group_key_match(lead: Anomaly, other: Anomaly) -> bool:
    if lead.metric != other.metric or lead.direction != other.direction:
        return False
    if abs((lead.start - other.start).days) > GROUP_DAYS:
        return False
    if lead.causes or other.causes:
        return bool(lead.causes and other.causes) and lead.causes[0].annotation_id == other.causes[0].annotation_id
    return is_within(lead.segment, other.segment) or is_within(other.segment, lead.segment)


def group_items(ranked: list[Anomaly], with_year: bool) -> list[DigestItem]:
    """Group anomalies (already ranked) into report items; see the module docstring."""
    items: list[DigestItem] = []
    for anomaly in ranked:
        for item in items:
            if _group_key_match(item.anomaly, anomaly):
                item.also.append(anomaly)
                break
        else:
            items.append(DigestItem(
                anomaly=anomaly, importance=importance(anomaly), summary=summary_line(anomaly, with_year),
                tag_command=None if anomaly.explained else tag_command(anomaly),
            ))
    return items


def top_events(anomalies: list[Anomaly]) -> list[EventImpact]:
    """Events ranked by how many anomalies they are the top cause of."""
    counts: dict[str, EventImpact] = {}
    for anomaly in anomalies:
        if anomaly.causes:
            cause = anomaly.causes[0]
            impact = counts.setdefault(cause.annotation_id, EventImpact(cause.annotation_id, cause.title, cause.type, 0))
            impact.flags += 1
    return sorted(counts.values(), key=lambda e: (-e.flags, e.title))


def _overlaps(event, since: dt.date | None, until: dt.date | None, tz: str) -> bool:
    first, last = event.first_day(tz), event.last_day(tz)
    return (until is None or first <= until) and (since is None or last is None or last >= since)


def build_digest(project, since: dt.date | None = None, until: dt.date | None = None,
                 limit: int | None = DEFAULT_LIMIT) -> Digest:
    """The digest of the anomalies in [since, until] (inclusive; open ends = all data).

    An anomaly is in the window when it starts on or before `until` and is still going on
    at `since` (a level shift counts from its start only, so it is not repeated in every
    later digest).

    Args:
        project: a `Project`.
        since, until: the reporting window.
        limit: how many items Markdown and HTML show in full per section (None = all).

    Raises:
        CtxError: `since` after `until`, or an unreadable store or timeline.
    """
    from ctxmetrics.errors import CtxError
    from ctxmetrics.results import load_anomalies
    from ctxmetrics.timeline import load_timeline

    if since and until and since > until:
        raise CtxError(f"--since {since} is after --until {until}; swap them.")
    tz = project.config.timezone
    annotations = load_timeline(project.annotations_dir, tz)
    where, params = [], []
    if until is not None:
        where.append("start_day <= ?")
        params.append(until)
    if since is not None:
        where.append("coalesce(end_day, start_day) >= ?")
        params.append(since)
    with project.store(read_only=True) as store:
        anomalies = load_anomalies(store, " and ".join(where), params or None)
        everything = load_anomalies(store) if where else anomalies
        _, rows = store.query_rows("select min(ts), max(ts) from obs")
        _, scans = store.query_rows("select count(*) from scan_state")
    data_range = (rows[0][0], rows[0][1]) if rows and rows[0][0] is not None else None
    ranked = sorted(anomalies, key=lambda a: (-importance(a), a.start, a.metric, segment_key(a.segment)))
    window = None
    if data_range is not None:
        window = (max(data_range[0], since) if since else data_range[0], min(data_range[1], until) if until else data_range[1])
        if window[0] > window[1]:
            window = None
    in_window = [e for e in annotations if _overlaps(e, since, until, tz)]
    digest = Digest(
        since=since, until=until, data_range=data_range, anomalies=ranked, items=[],
        coverage=_coverage(ranked), top_events=top_events(ranked),
        missing_effects=_missing(in_window, everything, project.config, window),
        scanned=bool(scans and scans[0][0]) or bool(everything), limit=limit,
        ratio_metrics=frozenset(m.name for m in project.config.metrics.values() if m.type == "ratio"),
    )
    digest.items = group_items(ranked, digest.with_year)
    return digest


# --- Markdown -----------------------------------------------------------------


def _num(value: float | None, ratio: bool) -> str:
    if value is None:
        return "?"
    if ratio:
        return f"{value:.1%}"
    return f"{value:,.0f}/day" if abs(value) >= 100 else f"{value:,.1f}/day"


def levels_text(anomaly: Anomaly, ratio: bool = False) -> str:
    """'spike, 120/day → 202/day, score 9.1' (rates as percentages)."""
    if anomaly.kind == "level_shift":
        kind = "level shift"
    elif anomaly.end is not None and (anomaly.end - anomaly.start).days >= 7:
        kind = "temporary shift"
    else:
        kind = "spike"
    return f"{kind}, {_num(anomaly.before, ratio)} → {_num(anomaly.after, ratio)}, score {anomaly.score:.1f}"


def also_text(item: DigestItem, limit: int = 6) -> str:
    parts = [f"{segment_label(a.segment)} {_pct(a.change_pct)}" for a in item.also[:limit]]
    more = f" and {len(item.also) - limit} more" if len(item.also) > limit else ""
    return ", ".join(parts) + more


def missing_text(entry: dict[str, Any]) -> str:
    title = entry.get("title") or entry.get("annotation_id") or "?"
    kind = f" ({entry['type']})" if entry.get("type") else ""
    detail = entry.get("reason") or entry.get("message") or entry.get("detail") or ""
    when = ""
    if entry.get("start"):
        when = f", {entry['start']}" + (f" – {entry['end']}" if entry.get("end") and entry.get("end") != entry.get("start") else "")
    return f"{title}{kind}{when}" + (f": {detail}" if detail else "")


def render_markdown(digest: Digest) -> str:
    """The digest as Markdown (what `ctxmetrics digest` prints)."""
    out = [f"# ctxmetrics digest: {digest.period}", "", f"**{digest.headline()}**", ""]
    explained, unexplained = digest.explained_items, digest.unexplained_items
    if explained:
        out += [f"## Explained ({sum(i.flags for i in explained)} flags in {len(explained)} items), most important first", ""]
        for n, item in enumerate(digest.shown(explained), 1):
            a = item.anomaly
            out.append(f"{n}. **{item.summary}**")
            out.append(f"   - {levels_text(a, a.metric in digest.ratio_metrics)}; importance {item.importance:.1f}")
            for cause in a.causes[:3]:
                verdict = f" [{cause.verdict}]" if cause.verdict else ""
                out.append(f"   - cause: {cause.title} ({cause.type}, {cause.score:.2f}){verdict}: {cause.reason}")
            if where_text(a):
                out.append(f"   - where: {where_text(a)}")
            if item.also:
                out.append(f"   - also in: {also_text(item)}")
        out += _hidden(digest, explained)
    out += [f"## Unexplained ({sum(i.flags for i in unexplained)} flags in {len(unexplained)} items): no known context", ""]
    if not unexplained:
        out += ["Every anomaly of the period is linked to a known event.", ""]
    for n, item in enumerate(digest.shown(unexplained), 1):
        a = item.anomaly
        out.append(f"{n}. **{item.summary}**")
        out.append(f"   - {levels_text(a, a.metric in digest.ratio_metrics)}; importance {item.importance:.1f}")
        if where_text(a):
            out.append(f"   - where: {where_text(a)}")
        if item.also:
            out.append(f"   - also in: {also_text(item)}")
        out.append(f"   - tag it: `{item.tag_command}`")
    if unexplained:
        out += _hidden(digest, unexplained)
    out += [f"## Expected effects not seen ({len(digest.missing_effects)})", ""]
    if digest.missing_effects:
        out += [f"- {missing_text(m)}" for m in digest.missing_effects] + [""]
    else:
        out += ["Every tagged event with an expected effect showed it (or expected none).", ""]
    out += ["_Ranking: importance = score × ln(1 + mean daily volume). Related flags (same metric, "
            "direction and cause, starting within 3 days) are grouped._"]
    return "\n".join(out).rstrip() + "\n"


def _hidden(digest: Digest, items: list[DigestItem]) -> list[str]:
    hidden = len(items) - len(digest.shown(items))
    if hidden <= 0:
        return [""]
    return ["", f"_…and {hidden} less important items (`--limit 0` shows all, `--format json` lists every flag)._", ""]


def render_json(digest: Digest) -> str:
    from ctxmetrics.output import to_json

    return to_json(digest.to_json())
