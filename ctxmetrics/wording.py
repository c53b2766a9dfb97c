"""Every sentence about an anomaly is worded here: days, spans, percentages, levels,
metric labels, commands to copy (terminal `why`, Markdown/HTML digest, notifications and
explain's reasons); renderers add only markup. Also the one place where user text is made
safe for each output (terminal, Markdown, Slack). Light on purpose: every read path imports it."""
from __future__ import annotations

import datetime as dt
import difflib
import math
import re
import shlex
from typing import Iterable

from ctxmetrics.models.anomaly import NOISELESS_SCORE, Anomaly
from ctxmetrics.models.segments import segment_label

_ACRONYMS = {"mql": "MQL", "sql": "SQL", "crm": "CRM", "arr": "ARR", "mrr": "MRR"}


# ANSI/VT escape sequences (CSI `ESC [ … final`, OSC `ESC ] … BEL|ESC \\`, two-byte `ESC x`)
# first, so their printable tails go too; then any other C0/C1 control character.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]|\x9b[0-?]*[ -/]*[@-~]")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029]+")
# User text never starts a Markdown line (it follows a list marker or a word), so list and
# heading markers (`-`, `+`, `1.`) are harmless; these can still start a link, image, tag,
# emphasis, code, table cell or entity anywhere in a line.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]#!|<>~&])")


def terminal_text(text: str) -> str:
    """Text for a terminal: escape sequences and control characters removed (newlines and
    tabs kept), so a title in the timeline can never recolour, retitle or hide output."""
    return _CONTROLS.sub("", _ESCAPES.sub("", text))


def one_line(text: str) -> str:
    """User text on one line and free of control characters."""
    return _LINE_BREAKS.sub(" ", terminal_text(str(text))).strip()


def md_text(text: str) -> str:
    """User text for Markdown: one line, every character Markdown or HTML would act on
    escaped, so a title can add no link, image, tag or heading."""
    return _MD_SPECIAL.sub(r"\\\1", one_line(text))


def md_code(text: str) -> str:
    """User text as one Markdown code span, fenced with more backticks than it holds."""
    text = one_line(text)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {text} {fence}" if longest else f"`{text}`"


def slack_text(text: str) -> str:
    """User text for Slack mrkdwn: one line, with the three characters Slack reserves escaped."""
    return one_line(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def metric_label(metric: str) -> str:
    """'leads' -> 'Leads', 'lead_to_mql' -> 'Lead to MQL'."""
    words = [_ACRONYMS.get(w.lower(), w) for w in metric.replace("-", "_").split("_") if w]
    text = " ".join(words) or metric
    return text[0].upper() + text[1:]


def metric_word(metric: str) -> str:
    """A metric as a word inside a sentence: 'leads', 'MQL', 'lead to MQL'."""
    return " ".join(_ACRONYMS.get(w.lower(), w) for w in metric.replace("-", "_").split("_") if w) or metric


def day_text(day: dt.date, with_year: bool = True) -> str:
    """'Apr 17, 2025', or 'Apr 17' without the year."""
    return f"{day:%b} {day.day}" + (f", {day.year}" if with_year else "")


def when_text(start: dt.date, end: dt.date | None, with_year: bool = True) -> str:
    """'since Apr 17' (a level shift), 'on Apr 17' or 'from Apr 17 to Apr 30, 2025' (the
    first day shows its year only when the span crosses one)."""
    if end is None:
        return f"since {day_text(start, with_year)}"
    if end == start:
        return f"on {day_text(start, with_year)}"
    return f"from {day_text(start, with_year and start.year != end.year)} to {day_text(end, with_year)}"


def pct_text(value: float | None) -> str:
    """A change in percent with its sign: '+68%', '-15%'; '(no %)' where there is none (a
    gauge's or an amount's level at or below 0 before it, such as a day of refunds)."""
    if value is None or not math.isfinite(value):
        return "(no %)"
    return f"{value:+.0f}%"


def change_text(anomaly: Anomaly) -> str:
    """'+68%', or 'up'/'down' when there is no percentage (a level of 0 or below before it,
    as a gauge of log values has): never '+nan%'."""
    if anomaly.change_pct is None or not math.isfinite(anomaly.change_pct):
        return anomaly.direction
    return pct_text(anomaly.change_pct)


def level_text(value: float | None, ratio: bool) -> str:
    """A level as people read it: '1,234', '12.5', a rate as '3.2%'; '?' when unknown."""
    if value is None:
        return "?"
    if ratio:
        return f"{value:.1%}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"


def never_varied(anomaly: Anomaly) -> bool:
    """Whether the series had no noise at all before the change (a flat line, then a step)."""
    return anomaly.score >= NOISELESS_SCORE


def score_text(anomaly: Anomaly) -> str:
    """'score 6.7', or, for a series that never varied before, words instead of 900000000.0."""
    score = "no variation before it (a flat series)" if never_varied(anomaly) else f"score {anomaly.score:.1f}"
    if anomaly.records is None:
        return score
    if anomaly.records == 1:
        return f"{score}, a single record (one deal's size, not a change of pace)"
    return f"{score}, {anomaly.records} records on its days"


def flat_text(anomaly: Anomaly, ratio: bool, unit: str, days: int) -> str:
    """'Was flat at 12 for 90 days, then 15': a change of a series that never varied before."""
    span = f" for {days} day{'s' if days != 1 else ''}" if days > 1 else ""
    return (f"Was flat at {level_text(anomaly.before, ratio)}{unit}{span}, then {level_text(anomaly.after, ratio)}{unit} "
            "(it had not varied at all before: no noise to measure the change against).")


def anomaly_head(anomaly: Anomaly) -> str:
    """'Leads EMEA/paid +68%': what moved, where, by how much."""
    return f"{metric_label(anomaly.metric)} {segment_label(anomaly.segment)} {change_text(anomaly)}"


def kind_text(anomaly: Anomaly) -> str:
    """What shape the change has, in words: 'level shift' (lasting), 'temporary shift' (a
    week or more, then back), else 'spike' or 'dip' by its direction."""
    if anomaly.end is None:
        return "level shift"
    if (anomaly.end - anomaly.start).days >= 7:
        return "temporary shift"
    return "spike" if anomaly.direction == "up" else "dip"


def summary_line(anomaly: Anomaly, with_year: bool = False) -> str:
    """'Leads EMEA/paid +68% from Apr 17 to Apr 30 — EMEA paid spring push (campaign)'."""
    head = f"{anomaly_head(anomaly)} {when_text(anomaly.start, anomaly.end, with_year)}"
    if anomaly.causes:
        cause = anomaly.causes[0]
        return f"{head} — {cause.title} ({cause.type})"
    return f"{head} — no known context"


def tagged_text(anomaly: Anomaly) -> str | None:
    """How a tagged-window test found the anomaly (`found_by: "tagged window"`), None otherwise:
    'found by testing the tagged window of offsite-q2: score 4.2 against a bar of 3.5 for
    the 20 tagged windows of leads tested'."""
    if anomaly.tagged is None:
        return None
    t = anomaly.tagged
    view = " on its conversion from the stage above" if anomaly.found_by == "conversion" else ""
    return (f"found by testing the tagged window of {', '.join(t['events'])}{view}: score {anomaly.score:.1f} against a bar "
            f"of {t['bar']:.1f} for the {plural(t['tests'], 'tagged window')} of {metric_word(anomaly.metric)} tested")


def nothing_needs_action(anomalies: int) -> str:
    """The "Needs action" section's line when nothing does: a period without any anomaly
    says so, rather than that "every anomaly" (none) is linked."""
    linked = "every anomaly of the period is linked to a known event" if anomalies else "no anomalies in the period"
    return f"Nothing: {linked}, and every expected effect showed."


EXPLAINED_HEADING = "Explained ({n}), unexpected first, recurring holidays last"


def ranking_note(periods) -> str:
    """How flags are ranked, with the volume per the period the flagged series are kept in
    (`Anomaly.period`): a monthly metric's volume is its mean month, not a day."""
    units = sorted(set(periods) or {"day"}, key=_PERIOD_ORDER.index)
    per = f"{_PERIOD_ADJECTIVE[units[0]]} volume" if len(units) == 1 else f"volume per {' or '.join(units)} (each series' own period)"
    return f"Ranking: importance = score × ln(1 + mean {per})."


_PERIOD_ORDER = ["day", "week", "fortnight", "month", "quarter", "year"]
_PERIOD_ADJECTIVE = {"day": "daily", "week": "weekly", "fortnight": "fortnightly", "month": "monthly",
                     "quarter": "quarterly", "year": "yearly"}


def plural(n: int, word: str) -> str:
    """'1 flag', '3 flags'."""
    return f"{n} {word}{'s' if n != 1 else ''}"


def flags_note(flags: int, events: int, muted: int) -> str:
    """'12 flags in 5 business events; 2 muted flags left out.' (the digest's closing count)."""
    left_out = f"; {plural(muted, 'muted flag')} left out" if muted else ""
    return f"{plural(flags, 'flag')} in {plural(events, 'business event')}{left_out}."


def cause_note(cause_type: str | None, escape=str) -> str:
    """After an event's title: ' (campaign)', or ' — no known context' when nothing explains it."""
    return f" ({escape(cause_type)})" if cause_type else " — no known context"


def shell_command(parts: Iterable[str]) -> str:
    """A command line to copy, each part quoted for the shell."""
    return " ".join(shlex.quote(p) for p in parts)


def tag_command(anomaly: Anomaly) -> str:
    """The `ctxmetrics annotate add` command that would tag the event behind an anomaly."""
    title = f"{metric_label(anomaly.metric)} {segment_label(anomaly.segment)} {'drop' if anomaly.direction == 'down' else 'rise'}"
    parts = ["ctxmetrics", "annotate", "add", title, "--type", "other", "--start", anomaly.start.isoformat()]
    if anomaly.end is not None:
        parts += ["--end", anomaly.end.isoformat()]
    for dim, value in anomaly.segment.items():
        parts += ["--scope", f"{dim}={value}"]
    parts += ["--metric", anomaly.metric, "--expect", anomaly.direction]
    return shell_command(parts)


def where_text(anomaly: Anomaly) -> str | None:
    """Where in the cube the change sits, in one line (docs/contract.md, `drivers`):
    'APAC × partner (92% of the change)', 'everywhere alike', or None when nothing was
    localized. Shares of one root-cause set never add past 100%, whatever their layers."""
    if anomaly.uniform:
        return "everywhere alike"
    parts, total = [], 0.0
    for driver in anomaly.drivers:
        total += driver["share"]
        if total > 1.0 + 1e-9:  # guards stored results from older versions: never read past 100%
            break
        parts.append(f"{segment_label(driver['segment'], ' × ')} ({driver['share'] * 100:.0f}% of the change)")
    return "; ".join(parts) or None


def only_case_differs(word: str, choices: Iterable[str]) -> str:
    """The one name of `choices` that `word` spells in other letter case (`Leads` for
    `leads`), else `word` itself (an exact name, none such, or several)."""
    choices = list(choices)
    if word in choices:
        return word
    same = [c for c in choices if c.lower() == word.lower()]
    return same[0] if len(same) == 1 else word


def closest_name(word: str, choices: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The known name a mistyped `word` most likely meant, for "did you mean": one that
    differs only in case first ("apac" -> "APAC", which difflib scores 0), else the
    closest by difflib's ratio of the lowercased names, if at least `cutoff`."""
    by_lower: dict[str, str] = {}
    for choice in sorted(choices):
        by_lower.setdefault(choice.lower(), choice)
    match = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=cutoff)
    return by_lower[match[0]] if match else None

