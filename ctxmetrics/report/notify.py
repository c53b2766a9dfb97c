"""`notify`: send each channel the business events that are new or changed for it.

Once per channel: the store remembers, per channel and anomaly, the state last delivered
(`alert_state`: still going on or ended, and its top cause). An anomaly is sent again only
when that state changes — a lasting level shift is one alert, plus one update when it ends
or its explanation changes. A failed send is reported and recorded as nothing, so the next
run retries it. Muted anomalies and anomalies whose link a person rejected
(`why --reject`) are never sent.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ctxmetrics.models.anomaly import Anomaly
from ctxmetrics.report.channels import Channel, Message, SendError, deliver, dry_run_text, parse_channels
from ctxmetrics.config import CONFIG_NAME
from ctxmetrics.report.digest import (
    ALSO_FLAGGED, BusinessEvent, briefing_order, group_events, metrics_of_type, rank, require_scan,
)
from ctxmetrics.wording import summary_line
from ctxmetrics.errors import ConfigError, CtxError
from ctxmetrics.wording import tag_command

if TYPE_CHECKING:
    from ctxmetrics.project import Project

RUN_CHANNEL = Channel("none", "run", None)  # `run`'s own record of what it reported: no delivery
BRIEF_LABELS = ("funnel", "metrics", "where", "segments hit", ALSO_FLAGGED, "why")  # an event's lines in a message


def alert_state(anomaly: Anomaly) -> str:
    """What a channel was told about an anomaly: 'open|<top cause>' or 'ended|<top cause>'."""
    cause = anomaly.causes[0].annotation_id if anomaly.causes else "-"
    return f"{'open' if anomaly.end is None else 'ended'}|{cause}"


@dataclass
class ChannelResult:
    channel: Channel
    events: int
    anomalies: int
    unexplained: int
    error: str | None = None
    preview: str | None = None  # --dry-run: the payload as text


@dataclass
class NotifyReport:
    results: list[ChannelResult] = field(default_factory=list)

    @property
    def failed(self) -> list[ChannelResult]:
        return [r for r in self.results if r.error]


def channels_of(project: "Project") -> list[Channel]:
    return parse_channels(project.config.notify, project.root / CONFIG_NAME)


def _check_filters(project: "Project", store, channels: list[Channel]) -> None:
    """Refuse a filter naming a metric or dimension no data has: a typo (metrics: [laeds])
    would make its channel 'nothing new' forever.

    Raises:
        ConfigError: the first such name, with its channel.
    """
    from ctxmetrics.store.results import scanned_metrics

    metrics = set(project.config.metrics) | set(store.metric_names()) | scanned_metrics(store)
    dimensions = set(store.dimension_names())
    for channel in channels:
        unknown = [("metric", m) for m in channel.metrics if m not in metrics]
        unknown += [("dimension", d) for segment in channel.segments for d in segment if d not in dimensions]
        if unknown:
            kind, name = unknown[0]
            raise ConfigError(f"{project.root / CONFIG_NAME}: notify channel {channel.name}: its filter names "
                              f"unknown {kind} '{name}'; it would never match.")


def _message(events: list[tuple[BusinessEvent, list[Anomaly], bool]], with_year: bool) -> Message:
    action = sum(1 for event, _, _ in events if not event.explained)
    subject = (f"ctxmetrics: {len(events)} business event{'s' if len(events) != 1 else ''}"
               + (f", {action} unexplained" if action else ""))
    out, anomalies = [], []
    for event, new, update in events:
        # the command to tag an unexplained event travels in its own field
        lines = [f"{f.label}: {f.text}" for f in event.facts() if f.label in BRIEF_LABELS]
        if update:
            lines.append("changed since the last alert: " + "; ".join(
                f"{summary_line(a, with_year)}" for a in new[:3]))
        out.append({"id": event.id, "title": event.title, "summary": event.size_text(with_year), "lines": lines,
                    "explained": event.explained, "tag_command": event.tag_command, "update": update,
                    "chart_id": event.id, "flags": [a.id for a in new]})
        for a in new:
            data = a.to_json()
            data.update(event=event.id, importance=round(a.importance, 2), update=update)
            if not a.explained:
                data["tag_command"] = tag_command(a)
            anomalies.append(data)
    return Message(subject, out, anomalies)


def plan(channel: Channel, events: list[BusinessEvent], sent: dict[str, str],
         with_year: bool) -> tuple[Message, list[tuple[str, str]]] | None:
    """The message `channel` should get now and the (anomaly id, state) pairs it carries;
    None when nothing is new for it."""
    chosen = []
    for event in briefing_order(events):
        new = [a for a in event.members if channel.wants(a, a.importance) and sent.get(a.id) != alert_state(a)]
        if new:
            chosen.append((event, new, all(a.id in sent for a in new)))
    if not chosen:
        return None
    pairs = [(a.id, alert_state(a)) for _, new, _ in chosen for a in new]
    return _message(chosen, with_year), pairs


def _events(project: "Project", store, today: dt.date | None) -> list[BusinessEvent]:
    from ctxmetrics.report.mutes import active_mutes, is_muted
    from ctxmetrics.store.results import load_anomalies, load_verdicts

    rejected = {anomaly_id for (anomaly_id, _), verdict in load_verdicts(store).items() if verdict == "rejected"}
    mutes = active_mutes(store, today)
    anomalies = [a for a in load_anomalies(store) if a.id not in rejected and not is_muted(a, mutes)]
    config = project.config
    return group_events(rank(anomalies), config.funnel, config.explain.funnel_lag_days,
                        metrics_of_type(config, "ratio"), metrics_of_type(config, "gauge"), config.recurring_types)


def _charts(project: "Project", store, message: Message) -> dict[str, bytes]:
    from ctxmetrics.report.charts import anomaly_chart_png
    from ctxmetrics.report.report_html import chart_inputs
    from ctxmetrics.store.results import load_anomaly
    from ctxmetrics.timeline.read import load_timeline

    tz = project.config.timezone
    timeline = {e.id: e for e in load_timeline(project.annotations_dir, tz, project.config.event_types)}
    charts = {}
    for event in message.events:
        lead = load_anomaly(store, event["id"])
        inputs = chart_inputs(project, store, lead, timeline) if lead else None
        if inputs is not None:
            days, values, linked, title, ratio = inputs
            charts[event["id"]] = anomaly_chart_png(days, values, lead, linked, tz, title, ratio)
    return charts


def notify(project: "Project", dry_run: bool = False, today: dt.date | None = None,
           channels: list[Channel] | None = None) -> NotifyReport:
    """Send every channel what is new for it; record what each one took.

    Args:
        project: a `Project`.
        dry_run: build the payloads and return them as previews; send and record nothing.
        today: the day mutes are judged on (default: the current date).
        channels: instead of the project's `notify:` list (e.g. `RUN_CHANNEL`).

    Raises:
        CtxError: no channels, a bad `notify:` entry or a missing environment variable.
    """
    channels = channels_of(project) if channels is None else channels
    if not channels:
        raise CtxError(f"{project.root / CONFIG_NAME}: no 'notify:' channels; add slack, webhook or email (see README).")
    if dry_run:
        return _notify(project, channels, True, today)
    from ctxmetrics.store.scan_lock import notify_lock
    from ctxmetrics.waiting import default_lock_timeout

    # Held from reading what each channel was sent to recording what it took: a second
    # notify waits, then finds nothing new, instead of sending the same anomalies again.
    with notify_lock(project.store_path, default_lock_timeout()):
        return _notify(project, channels, False, today)


def _notify(project: "Project", channels: list[Channel], dry_run: bool, today: dt.date | None) -> NotifyReport:
    report = NotifyReport()
    delivered: list[tuple[Channel, list[tuple[str, str]]]] = []
    with project.store(read_only=True) as store:
        require_scan(store)  # "nothing new" read as all clear before anything was scanned
        _check_filters(project, store, channels)
        span = store.observation_span()
        with_year = span is None or span[0].year != span[1].year
        events = _events(project, store, today)
        for channel in channels:
            planned = plan(channel, events, store.notified(channel.name), with_year)
            if planned is None:
                report.results.append(ChannelResult(channel, 0, 0, 0))
                continue
            message, pairs = planned
            unexplained = sum(1 for e in message.events if not e["explained"])
            result = ChannelResult(channel, len(message.events), len(pairs), unexplained)
            report.results.append(result)
            if channel.kind == "email":
                message.charts = _charts(project, store, message)
            if dry_run:
                result.preview = dry_run_text(channel, message)
                continue
            if channel.kind != "none":
                try:
                    deliver(channel, message)
                except SendError as exc:
                    result.error = str(exc)
                    continue
            delivered.append((channel, pairs))
    if delivered:
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        try:
            with project.store() as store:
                with store.transaction():
                    for channel, pairs in delivered:
                        store.record_notified(channel.name, pairs, now)
        except CtxError as exc:  # e.g. an ingest held the store past the lock timeout
            names = ", ".join(channel.name for channel, _ in delivered)
            raise CtxError(f"{names} took the message, but it could not be recorded ({exc}); "
                           "the next notify sends it again.") from None
    return report


def report_lines(report: NotifyReport) -> list[str]:
    """One line per channel for the terminal."""
    lines = []
    for r in report.results:
        if r.error:
            lines.append(f"{r.channel.name}: FAILED ({r.error}); {r.events} business event{'s' if r.events != 1 else ''} "
                         "will be retried next time.")
        elif not r.events:
            lines.append(f"{r.channel.name}: nothing new.")
        else:
            verb = "would send" if r.preview is not None else "sent"
            lines.append(f"{r.channel.name}: {verb} {r.events} business event{'s' if r.events != 1 else ''} "
                         f"({r.anomalies} flag{'s' if r.anomalies != 1 else ''}, {r.unexplained} unexplained).")
    return lines
