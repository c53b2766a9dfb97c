"""How metrics and anomalies are named for people, shared by `why` and the digest, and
the one place where user text is made safe for each output (terminal, Markdown, Slack).
Light on purpose: every read path imports it."""
from __future__ import annotations

import re
import shlex

from ctxmetrics.models.anomaly import Anomaly
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


def tag_command(anomaly: Anomaly) -> str:
    """The `ctxmetrics annotate add` command that would tag the event behind an anomaly."""
    title = f"{metric_label(anomaly.metric)} {segment_label(anomaly.segment)} {'drop' if anomaly.direction == 'down' else 'rise'}"
    parts = ["ctxmetrics", "annotate", "add", title, "--type", "other", "--start", anomaly.start.isoformat()]
    if anomaly.end is not None:
        parts += ["--end", anomaly.end.isoformat()]
    for dim, value in anomaly.segment.items():
        parts += ["--scope", f"{dim}={value}"]
    parts += ["--metric", anomaly.metric, "--expect", anomaly.direction]
    return " ".join(shlex.quote(p) for p in parts)


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
        parts.append(f"{' × '.join(driver['segment'].values()) or 'total'} ({driver['share'] * 100:.0f}% of the change)")
    return "; ".join(parts) or None
