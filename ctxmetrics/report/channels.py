"""Notification channels from the `notify:` list of ctxmetrics.yaml: parsing (secrets from
environment variables), message payloads (Slack Block Kit, webhook JSON, e-mail) and
sending with the standard library only (urllib, smtplib), each send with a timeout.

```yaml
notify:
  - slack: ${SLACK_WEBHOOK_URL}
    min_importance: 20          # filters, on any channel
    direction: down             # up | down
    metrics: [leads, mql]
    segments: [region=EMEA]     # a flag inside any of these segments
  - webhook: https://example.com/hook
  - email: {to: [vp@example.com], smtp: "localhost:25", from: ctxmetrics@example.com}
```
"""
from __future__ import annotations

import json
import os
import re
import smtplib
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from html import escape
from pathlib import Path
from typing import Any, Callable

from ctxmetrics.models.anomaly import Anomaly
from ctxmetrics.errors import ConfigError
from ctxmetrics.models.segments import is_within, parse_segment
from ctxmetrics.wording import one_line, slack_text

TIMEOUT = 10.0  # seconds per send: a hung endpoint must not hang cron
KINDS = ("slack", "webhook", "email")
FILTERS = ("min_importance", "direction", "metrics", "segments")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class SendError(Exception):
    """A channel could not take a message (network, HTTP status, SMTP)."""


@dataclass(frozen=True)
class Channel:
    kind: str  # slack | webhook | email
    name: str  # as written in ctxmetrics.yaml (variables unexpanded): the key of its sent state
    target: Any  # URL, or for e-mail a dict with to, smtp (host, port) and from
    min_importance: float = 0.0
    direction: str | None = None
    metrics: tuple[str, ...] = ()
    segments: tuple[dict[str, str], ...] = ()

    def wants(self, anomaly: Anomaly, importance: float) -> bool:
        """True when this channel's filters let the anomaly through."""
        if importance < self.min_importance:
            return False
        if self.direction and anomaly.direction != self.direction:
            return False
        if self.metrics and anomaly.metric not in self.metrics:
            return False
        return not self.segments or any(is_within(anomaly.segment, s) for s in self.segments)


def expand(value: str, where: str, path: Path) -> str:
    """Replace `${NAME}` with the environment variable NAME (a missing one is an error)."""
    def one(match: re.Match) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(f"{path}: {where} uses ${{{name}}}, but the environment variable {name} is not set.")
        return os.environ[name]

    return _VARIABLE.sub(one, value)


def parse_channels(raw: Any, path: Path) -> list[Channel]:
    """Validate the `notify:` list and expand its variables.

    Raises:
        ConfigError: naming the file, the entry (notify[i]) and the field.
    """
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: 'notify' must be a list of channels (- slack: …, - webhook: …, - email: {{…}}).")
    return [_channel(entry, f"notify[{i}]", path) for i, entry in enumerate(raw)]


def _channel(entry: Any, where: str, path: Path) -> Channel:
    if not isinstance(entry, dict):
        raise ConfigError(f"{path}: {where} must be a mapping like {{webhook: URL}}.")
    kinds = [k for k in KINDS if k in entry]
    unknown = sorted(set(entry) - set(KINDS) - set(FILTERS))
    if unknown:
        raise ConfigError(f"{path}: {where} has unknown key '{unknown[0]}'; allowed: {', '.join(KINDS + FILTERS)}.")
    if len(kinds) != 1:
        raise ConfigError(f"{path}: {where} needs exactly one of {', '.join(KINDS)}.")
    kind = kinds[0]
    spec = entry[kind]
    if kind == "email":
        target, name = _email(spec, f"{where}.email", path)
    else:
        if not isinstance(spec, str) or not spec.strip():
            raise ConfigError(f"{path}: {where}.{kind} must be a URL (or ${{VARIABLE}} holding one).")
        target, name = expand(spec.strip(), f"{where}.{kind}", path), f"{kind}:{spec.strip()}"
        if not target.startswith(("http://", "https://")):
            raise ConfigError(f"{path}: {where}.{kind} must be an http(s) URL.")
    direction = entry.get("direction")
    if direction not in (None, "up", "down"):
        raise ConfigError(f"{path}: {where}.direction must be up or down, not {direction!r}.")
    minimum = entry.get("min_importance", 0.0)
    if isinstance(minimum, bool) or not isinstance(minimum, (int, float)):
        raise ConfigError(f"{path}: {where}.min_importance must be a number, not {minimum!r}.")
    try:
        segments = tuple(parse_segment(str(s).split(",")) for s in _strings(entry, "segments", where, path))
    except ValueError as exc:
        raise ConfigError(f"{path}: {where}.segments: {exc}") from None
    return Channel(kind, name, target, float(minimum), direction, _strings(entry, "metrics", where, path), segments)


def _strings(entry: dict, key: str, where: str, path: Path) -> tuple[str, ...]:
    value = entry.get(key) or ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{path}: {where}.{key} must be a list.")
    return tuple(str(v) for v in value)


def _email(spec: Any, where: str, path: Path) -> tuple[dict[str, Any], str]:
    if not isinstance(spec, dict):
        raise ConfigError(f"{path}: {where} must be a mapping {{to: [...], smtp: host:port, from: address}}.")
    unknown = sorted(set(spec) - {"to", "smtp", "from", "user", "password", "starttls"})
    if unknown:
        raise ConfigError(f"{path}: {where} has unknown key '{unknown[0]}'; allowed: to, smtp, from, user, password, starttls.")
    to = spec.get("to")
    to = [to] if isinstance(to, str) else to
    if not to or not all(isinstance(t, str) and "@" in t for t in to):
        raise ConfigError(f"{path}: {where}.to must list e-mail addresses.")
    sender = spec.get("from")
    if not isinstance(sender, str) or "@" not in sender:
        raise ConfigError(f"{path}: {where}.from must be an e-mail address.")
    host, _, port = expand(str(spec.get("smtp") or "localhost:25"), f"{where}.smtp", path).rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"{path}: {where}.smtp must be host:port, e.g. localhost:25.")
    target = {
        "to": [expand(t, f"{where}.to", path) for t in to], "from": expand(sender, f"{where}.from", path),
        "host": host, "port": int(port), "starttls": bool(spec.get("starttls", False)),
        "user": expand(str(spec["user"]), f"{where}.user", path) if spec.get("user") else None,
        "password": expand(str(spec["password"]), f"{where}.password", path) if spec.get("password") else None,
    }
    return target, f"email:{','.join(to)}"


# --- messages ------------------------------------------------------------------------


@dataclass
class Message:
    """What one channel receives in one notify round: business events, each with the
    anomalies that are new or changed for that channel."""

    subject: str
    events: list[dict[str, Any]]  # {"title", "summary", "lines": [...], "tag_command", "update", "chart_id"}
    anomalies: list[dict[str, Any]]  # the contract's anomaly JSON, plus event/importance/update
    charts: dict[str, bytes] = field(default_factory=dict)  # chart id -> PNG (e-mail only)


def webhook_payload(message: Message) -> dict[str, Any]:
    """`{"anomalies": [...]}` as in docs/contract.md, plus the grouping into events."""
    return {"anomalies": message.anomalies,
            "events": [{k: v for k, v in e.items() if k != "chart_id"} for e in message.events]}


def slack_payload(message: Message) -> dict[str, Any]:
    """A Slack incoming-webhook message in Block Kit, with a plain `text` fallback."""
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": one_line(message.subject)[:150]}}]
    for event in message.events[:45]:  # Slack allows 50 blocks per message
        mark = "Update: " if event["update"] else ""
        lines = [f"*{mark}{slack_text(event['title'])}*: {slack_text(event['summary'])}"]
        lines += [f"• {slack_text(line)}" for line in event["lines"]]
        if event.get("tag_command"):
            lines.append(f"• tag it: `{slack_text(event['tag_command'])}`")
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:2900]}})
    return {"text": one_line(message.subject), "blocks": blocks}


def plain_text(message: Message) -> str:
    out = [one_line(message.subject), ""]
    for n, event in enumerate(message.events, 1):
        mark = "Update: " if event["update"] else ""
        out.append(f"{n}. {mark}{one_line(event['title'])}: {one_line(event['summary'])}")
        out += [f"   - {one_line(line)}" for line in event["lines"]]
        if event.get("tag_command"):
            out.append(f"   - tag it: {one_line(event['tag_command'])}")
        out.append("")
    return "\n".join(out)


def email_message(message: Message, target: dict[str, Any]) -> EmailMessage:
    """multipart/alternative: plain text, and HTML (tables and inline CSS only, which
    common mail clients render) with each chart as a PNG attached by Content-ID."""
    mail = EmailMessage()
    mail["Subject"] = one_line(message.subject)
    mail["From"] = target["from"]
    mail["To"] = ", ".join(target["to"])
    mail.set_content(plain_text(message))
    cids = {chart_id: make_msgid(domain="ctxmetrics.local") for chart_id in message.charts}
    rows = []
    for event in message.events:
        mark = "Update: " if event["update"] else ""
        colour = "#1a7f37" if event.get("explained") else "#c62828"
        items = "".join(f"<li>{escape(one_line(line))}</li>" for line in event["lines"])
        if event.get("tag_command"):
            items += f'<li>tag it: <code style="font-size:12px">{escape(one_line(event["tag_command"]))}</code></li>'
        chart = ""
        if event.get("chart_id") in cids:
            cid = cids[event["chart_id"]][1:-1]
            chart = (f'<img src="cid:{cid}" width="640" alt="chart of {escape(one_line(event["title"]), quote=True)}" '
                     'style="display:block;width:100%;max-width:640px;height:auto;border:0">')
        rows.append(
            f'<tr><td style="padding:10px 12px;border-left:4px solid {colour};border-bottom:1px solid #e5e7eb">'
            f'<div style="font-size:15px;font-weight:bold">{mark}{escape(one_line(event["title"]))}</div>'
            f'<div style="font-size:14px">{escape(one_line(event["summary"]))}</div>'
            f'<ul style="margin:6px 0 6px 18px;padding:0;font-size:13px">{items}</ul>{chart}</td></tr>'
        )
    html = (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        f"<title>{escape(one_line(message.subject))}</title></head>"
        '<body style="margin:0;padding:16px;background:#ffffff;color:#111827;font-family:Arial,Helvetica,sans-serif">'
        f'<h1 style="font-size:18px;margin:0 0 12px">{escape(one_line(message.subject))}</h1>'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="max-width:680px;border-collapse:collapse">'
        + "".join(rows) + "</table></body></html>"
    )
    mail.add_alternative(html, subtype="html")
    html_part = mail.get_payload()[1]
    for chart_id, png in message.charts.items():
        html_part.add_related(png, maintype="image", subtype="png", cid=cids[chart_id], filename=f"chart{len(cids)}.png")
    return mail


# --- sending ------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: urllib follows a 301/302/303 of a POST with a GET without the
    payload, and would report as delivered a message that never arrived."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises HTTPError for the 3xx


_OPENER = urllib.request.build_opener(_NoRedirect)


def post_json(url: str, payload: dict[str, Any], timeout: float | None = None) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode("utf-8"), method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "ctxmetrics"},
    )
    timeout = TIMEOUT if timeout is None else timeout

    def send() -> None:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read()

    try:
        within_deadline(send, timeout)
    except urllib.error.HTTPError as exc:
        moved = exc.headers.get("Location") if 300 <= exc.code < 400 else None
        if moved:
            raise SendError(f"HTTP {exc.code} {exc.reason}: the URL redirects to {moved}; "
                            "put the URL it moved to in ctxmetrics.yaml") from None
        raise SendError(f"HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise SendError(str(getattr(exc, "reason", exc))) from None


def send_mail(mail: EmailMessage, target: dict[str, Any], timeout: float | None = None) -> None:
    timeout = TIMEOUT if timeout is None else timeout

    def send() -> dict:
        with smtplib.SMTP(target["host"], target["port"], timeout=timeout) as smtp:
            if target["starttls"]:
                smtp.starttls()
            if target["user"]:
                smtp.login(target["user"], target["password"] or "")
            return smtp.send_message(mail)

    try:
        refused = within_deadline(send, timeout)
    except smtplib.SMTPResponseException as exc:
        raise SendError(f"SMTP {exc.smtp_code} {_smtp_text(exc.smtp_error)}") from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise SendError(_refused_text(exc.recipients)) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise SendError(str(exc) or type(exc).__name__) from None
    if refused:
        # Recorded as not sent, so the next run sends it again: the recipients who got it
        # get it twice, which beats a recipient who never gets it and is never told.
        raise SendError(f"{_refused_text(refused)}; the other recipients got it (again on the retry)")


def _smtp_text(error: bytes | str) -> str:
    return error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)


def _refused_text(refused: dict) -> str:
    return "the server refused " + ", ".join(
        f"{address} (SMTP {code} {_smtp_text(text)})" for address, (code, text) in refused.items()
    )


def within_deadline(send: Callable[[], Any], seconds: float) -> Any:
    """`send()`'s result, or SendError when it has not finished after `seconds` in all.

    A socket timeout bounds each read only: a server that answers one byte at a time
    would keep a send (and cron's `run`) going for ever. The send runs in a daemon thread
    that is abandoned at the deadline (the process exits without waiting for it).
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = send()
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="ctxmetrics-send", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise SendError(f"no complete answer within {seconds:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def deliver(channel: Channel, message: Message) -> None:
    """Send one message; raises SendError when the channel did not take it."""
    if channel.kind == "slack":
        post_json(channel.target, slack_payload(message))
    elif channel.kind == "webhook":
        post_json(channel.target, webhook_payload(message))
    else:
        send_mail(email_message(message, channel.target), channel.target)


def dry_run_text(channel: Channel, message: Message) -> str:
    """What `notify --dry-run` prints for one channel."""
    if channel.kind == "email":
        return plain_text(message)
    payload = slack_payload(message) if channel.kind == "slack" else webhook_payload(message)
    from ctxmetrics.report.output import to_json

    return to_json(payload)
