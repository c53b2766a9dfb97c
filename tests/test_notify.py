"""`notify` against real servers on 127.0.0.1: an HTTP server (the webhook and the Slack
incoming webhook) and an SMTP server (aiosmtpd), on the demo organisation."""
from __future__ import annotations

import contextlib
import email
import json
import re
import shutil
import socket
import threading
from datetime import date
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from ctxmetrics.report.channels import Channel, parse_channels
from ctxmetrics.cli import cli
from ctxmetrics.errors import ConfigError

MUTED_SERIES = "leads|channel=partner,region=APAC|2026-01-19"
REJECTED = "opportunities||2025-06-10"
LASTING = "win_rate||2025-11-03"
CONTRACT_KEYS = {"id", "metric", "segment", "kind", "direction", "start", "end", "before", "after",
                 "change_pct", "score", "causes", "drivers"}


class Recorder(BaseHTTPRequestHandler):
    received: list[tuple[str, dict]]

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, json.loads(body)))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def http_server(handler=Recorder):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@contextlib.contextmanager
def smtp_server(port: int):
    from aiosmtpd.controller import Controller

    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    from ctxmetrics.demo import build_demo

    return build_demo(tmp_path_factory.mktemp("notify") / "demo").root


@pytest.fixture
def demo(demo_root, tmp_path):
    """A private copy of the demo project (notify state is per store)."""
    return shutil.copytree(demo_root, tmp_path / "demo")


def cli_run(root, *args):
    return CliRunner().invoke(cli, ["--project", str(root), *map(str, args)])


def add_channels(root, text: str) -> None:
    config = root / "ctxmetrics.yaml"
    config.write_text(config.read_text(encoding="utf-8") + "\n" + text, encoding="utf-8")


def all_ids(root) -> set[str]:
    result = cli_run(root, "digest", "--format", "json")
    return {a["id"] for a in json.loads(result.output)["anomalies"]}


def test_each_channel_gets_each_anomaly_once_and_a_failed_send_is_retried(demo, monkeypatch):
    smtp_port = free_port()  # nothing listens yet: the first e-mail send fails
    with http_server() as web:
        base = f"http://127.0.0.1:{web.server_address[1]}"
        monkeypatch.setenv("CTX_TEST_SLACK", f"{base}/slack")
        add_channels(demo, f"""notify:
  - webhook: {base}/hook
  - slack: ${{CTX_TEST_SLACK}}
  - webhook: {base}/filtered
    direction: down
    metrics: [leads]
    min_importance: 30
    segments: [region=EMEA]
  - email: {{to: [vp-sales@example.com], smtp: "127.0.0.1:{smtp_port}", from: ctxmetrics@example.com}}
""")
        expected = {i for i in all_ids(demo) if not i.startswith("leads|channel=partner,region=APAC|")} - {REJECTED}
        muted = cli_run(demo, "mute", "--metric", "leads", "--segment", "region=APAC", "--segment", "channel=partner",
                        "--until", "2099-12-31")
        assert muted.exit_code == 0, muted.output
        rejected = cli_run(demo, "why", "opportunities", "--on", "2025-06-10", "--reject", "sales-offsite-lisbon")
        assert rejected.exit_code == 0, rejected.output

        first = cli_run(demo, "notify")
        assert first.exit_code == 4, first.output
        assert "FAILED" in first.output and "will be retried next time" in first.output
        with smtp_server(smtp_port) as box:
            second = cli_run(demo, "notify")
            assert second.exit_code == 0, second.output
            third = cli_run(demo, "notify")
            assert third.exit_code == 0 and third.output.count("nothing new") == 4, third.output
        received = list(web.received)

    hooks = [body for path, body in received if path == "/hook"]
    assert len(hooks) == 1  # the second and third runs had nothing new for it
    sent = [a["id"] for a in hooks[0]["anomalies"]]
    assert set(expected) - set(sent) == set() and set(sent) - set(expected) == set(), (set(expected) ^ set(sent))
    assert len(sent) == len(set(sent))  # each once; the muted series and the rejected link not at all
    assert MUTED_SERIES not in sent and REJECTED not in sent
    assert sent.count(LASTING) == 1
    for anomaly in hooks[0]["anomalies"]:
        assert CONTRACT_KEYS <= set(anomaly)
        assert isinstance(anomaly["segment"], dict) and anomaly["kind"] in ("level_shift", "spike")
        assert all({"annotation_id", "title", "type", "score", "reason"} <= set(c) for c in anomaly["causes"])
        assert all(isinstance(d["segment"], dict) and isinstance(d["share"], float) for d in anomaly["drivers"])
        assert ("tag_command" in anomaly) == (not anomaly["causes"])
        assert anomaly["tag_command"].startswith("ctxmetrics annotate add ") if not anomaly["causes"] else True
    outage = next(e for e in hooks[0]["events"] if e["title"] == "Sign-up form outage")
    assert any(line.startswith("funnel: leads -85% → MQL -84% → SQL -82%") for line in outage["lines"])

    filtered = [a for path, body in received if path == "/filtered" for a in body["anomalies"]]
    assert filtered, "the filtered channel got nothing"
    for a in filtered:
        assert a["direction"] == "down" and a["metric"] == "leads" and a["importance"] >= 30
        assert a["segment"].get("region") == "EMEA"

    slack = [body for path, body in received if path == "/slack"]
    assert len(slack) == 1
    blocks = slack[0]["blocks"]
    assert slack[0]["text"] and blocks[0]["type"] == "header"
    assert all(b["type"] == "section" and b["text"]["type"] == "mrkdwn" for b in blocks[1:])
    assert sum("Sign-up form outage" in b["text"]["text"] for b in blocks[1:]) == 1  # one item per business event
    assert any("tag it: `ctxmetrics annotate add" in b["text"]["text"] for b in blocks[1:])

    assert len(box.messages) == 1  # delivered on the run after the failure, once
    mail = box.messages[0]
    assert mail["To"] == "vp-sales@example.com" and mail.get_content_type() == "multipart/alternative"
    plain = mail.get_body(("plain",)).get_content()
    html_part = mail.get_body(("html",))
    html = html_part.get_content()
    assert "Sign-up form outage" in plain and "Sign-up form outage" in html
    images = [p for p in mail.walk() if p.get_content_type() == "image/png"]
    assert images and len(images) == html.count('src="cid:')
    for image in images:
        assert f'cid:{image["Content-ID"].strip("<>")}' in html
        assert image.get_content()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_lasting_shift_is_updated_once_when_its_explanation_changes(demo):
    with http_server() as web:
        add_channels(demo, f"notify:\n  - webhook: http://127.0.0.1:{web.server_address[1]}/hook\n")
        assert cli_run(demo, "notify").exit_code == 0
        confirmed = cli_run(demo, "why", "win_rate", "--on", "2025-11-03", "--confirm", "release-4-2")
        assert confirmed.exit_code == 0, confirmed.output
        assert cli_run(demo, "notify").exit_code == 0
        again = cli_run(demo, "notify")
        received = [body for _, body in web.received]
    assert "nothing new" in again.output
    assert len(received) == 2
    update = received[1]["anomalies"]
    assert [a["id"] for a in update] == [LASTING]
    assert update[0]["update"] is True and update[0]["causes"][0]["annotation_id"] == "release-4-2"


def test_dry_run_prints_payloads_and_records_nothing(demo):
    add_channels(demo, "notify:\n  - webhook: http://127.0.0.1:9/never\n")
    first = cli_run(demo, "notify", "--dry-run")
    assert first.exit_code == 0, first.output
    assert '"anomalies": [' in first.output and "would send" in first.output
    assert cli_run(demo, "notify", "--dry-run").output == first.output


def test_a_missing_variable_is_one_clear_line(demo, monkeypatch):
    monkeypatch.delenv("CTX_NOT_SET", raising=False)
    add_channels(demo, "notify:\n  - slack: ${CTX_NOT_SET}\n")
    result = cli_run(demo, "notify")
    assert result.exit_code == 1
    assert result.output == (f"Error: {demo / 'ctxmetrics.yaml'}: notify[0].slack uses ${{CTX_NOT_SET}}, "
                             "but the environment variable CTX_NOT_SET is not set.\n")


@pytest.mark.parametrize("entry, message", [
    ({"sms": "x"}, "notify[0] has unknown key 'sms'"),
    ({"webhook": "ftp://x"}, "notify[0].webhook must be an http(s) URL."),
    ({"webhook": "http://x", "direction": "sideways"}, "notify[0].direction must be up or down"),
    ({"email": {"to": ["a@b.c"], "from": "x@y.z", "smtp": "nohost"}}, "notify[0].email.smtp must be host:port"),
])
def test_bad_channel_entries_name_the_field(tmp_path, entry, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_channels([entry], tmp_path / "ctxmetrics.yaml")


def test_channel_filters():
    from ctxmetrics.models.anomaly import Anomaly

    a = Anomaly("leads", {"region": "EMEA", "channel": "paid"}, "spike", "down", date(2025, 1, 1), date(2025, 1, 2),
                100.0, 50.0, -50.0, 9.0)
    assert Channel("webhook", "w", "u", segments=({"region": "EMEA"},)).wants(a, 10.0)
    assert not Channel("webhook", "w", "u", segments=({"region": "APAC"},)).wants(a, 10.0)
    assert not Channel("webhook", "w", "u", direction="up").wants(a, 10.0)
    assert not Channel("webhook", "w", "u", metrics=("mql",)).wants(a, 10.0)
    assert not Channel("webhook", "w", "u", min_importance=11.0).wants(a, 10.0)


def test_mute_list_unmute_and_the_digest_leaves_muted_flags_out(demo):
    before = json.loads(cli_run(demo, "digest", "--format", "json").output)
    assert MUTED_SERIES in {a["id"] for a in before["anomalies"]}
    added = cli_run(demo, "mute", "--segment", "region=APAC", "--until", "2099-12-31")
    assert added.exit_code == 0 and added.output == "Muted segment APAC (every metric) until 2099-12-31.\n"
    assert cli_run(demo, "mute", "--list").output == "segment APAC (every metric) until 2099-12-31\n"
    after = json.loads(cli_run(demo, "digest", "--format", "json").output)
    assert all(a["segment"].get("region") != "APAC" for a in after["anomalies"])
    assert after["muted"] == sum(1 for a in before["anomalies"] if a["segment"].get("region") == "APAC") > 0
    assert "muted flags left out" in cli_run(demo, "digest").output
    assert cli_run(demo, "unmute", "--segment", "region=APAC").exit_code == 0
    assert cli_run(demo, "mute", "--list").output == "No mutes in force.\n"
    gone = cli_run(demo, "unmute", "--segment", "region=APAC")
    assert gone.exit_code == 1 and "no mute of segment APAC" in gone.output
    past = cli_run(demo, "mute", "--metric", "leads", "--until", "2001-01-01")
    assert past.exit_code == 1 and "in the past" in past.output


def test_run_ingests_new_files_once_scans_and_exits_3_for_new_unexplained(demo):
    inbox = demo / "inbox"
    inbox.mkdir()
    (inbox / "late.csv").write_text("date,metric,value,region,channel\n2026-02-28,leads,40,EMEA,paid\n", encoding="utf-8")
    add_channels(demo, "inbox: [inbox]\n")
    first = cli_run(demo, "run")
    assert first.exit_code == 3, first.output  # the demo's untagged APAC/partner drop, never reported before
    assert "Ingested 1 new file (1 row)." in first.output and "new unexplained business event" in first.output
    second = cli_run(demo, "run")
    assert second.exit_code == 0, second.output
    assert "Ingested 0 new files (0 rows) from inbox (1 file ingested before)." in second.output
    (inbox / "bad.csv").write_text("date,metric,value\n2026-02-30,leads,1\n", encoding="utf-8")
    failed = cli_run(demo, "run")
    assert failed.exit_code == 1 and failed.output.startswith("Error: ") and "bad.csv" in failed.output
    assert len(failed.output.strip().splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (["--anomaly", "leads||2025-09-03", "--metric", "leads"], "mute either an anomaly (--anomaly) or a series/segment"),
    (["--anomaly", "leads-2025-09-03"], "is not an anomaly id (metric|segment|start"),
    ([], "say what to mute"),
])
def test_mute_needs_one_clear_target(demo, args, message):
    result = cli_run(demo, "mute", *args, "--until", "2099-12-31")
    assert result.exit_code == 1 and message in result.output and result.output.count("\n") == 1


@pytest.mark.parametrize("entry, message", [
    # a bare string was read letter by letter: "column 'r' named in --dims is missing"
    ("{folder: inbox, dims: region}", "inbox[0].dims must be a list of column names like [region], got 'region'."),
    ("{folder: inbox, format: csv}", "inbox[0].format 'csv' is not one of long, wide, events, records."),
])
def test_run_names_the_inbox_field_that_is_wrong(project_dir, run, entry, message):
    (project_dir / "inbox").mkdir()
    (project_dir / "inbox" / "a.csv").write_text("date,metric,value\n2026-01-01,leads,1\n", encoding="utf-8")
    add_channels(project_dir, f"inbox: [{entry}]\n")
    result = run("run")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"Error: {project_dir / 'ctxmetrics.yaml'}: {message}\n"


@pytest.mark.parametrize("args, message", [
    # each was stored and listed as in force while it could never match an anomaly
    (["--anomaly", "leads||2099-01-01"], "no stored anomaly 'leads||2099-01-01'; 'why --json' and 'digest --format json' give the ids."),
    (["--metric", "laeds"], "unknown metric 'laeds' (did you mean 'leads'?); nothing was muted."),
    (["--metric", "leads", "--segment", "regoin=APAC"], "unknown dimension 'regoin' (did you mean 'region'?); nothing was muted."),
    (["--segment", "region=APCA"], "no data has region=APCA; nothing was muted."),
])
def test_a_mute_that_could_never_match_is_refused(demo, args, message):
    result = cli_run(demo, "mute", *args, "--until", "2099-12-31")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"Error: {message}\n"
    assert cli_run(demo, "mute", "--list").output == "No mutes in force.\n"


@pytest.mark.parametrize("filters, message", [
    # was "nothing new" on every run: the channel could never match
    ("metrics: [laeds]", "unknown metric 'laeds'"),
    ("segments: ['regoin=APAC']", "unknown dimension 'regoin'"),
])
def test_a_channel_filter_that_could_never_match_is_refused(demo, filters, message):
    add_channels(demo, f"notify:\n  - webhook: http://127.0.0.1:9/hook\n    {filters}\n")
    result = cli_run(demo, "notify", "--dry-run")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (f"Error: {demo / 'ctxmetrics.yaml'}: notify channel webhook:http://127.0.0.1:9/hook: "
                             f"its filter names {message}; it would never match.\n")


def test_run_with_no_data_at_all_fails_saying_so(project_dir, run):
    # an empty inbox on a new store: was "Scanned: 0 anomalies" and exit 0, every morning
    result = run("run")
    assert result.exit_code == 1
    assert result.stdout.startswith("No inbox folder is set, so nothing was ingested")
    assert "Error: Nothing to scan: the store" in result.stderr and "'ctxmetrics ingest FILE'" in result.stderr


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]])
def test_notify_before_any_scan_says_what_to_run_not_nothing_new(project_dir, run, dry_run):
    # Was "webhook:...: nothing new." and exit 0 on a store no scan (or ingest) had touched.
    add_channels(project_dir, "notify:\n  - webhook: http://127.0.0.1:9/never\n")
    result = run("notify", *dry_run)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == "Error: No data yet: load some with 'ctxmetrics ingest FILE', then run 'ctxmetrics scan'.\n"
