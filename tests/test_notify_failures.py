"""`notify` when a channel misbehaves, against real servers on 127.0.0.1: nothing is
recorded as sent that the channel did not take, a send gives up at its deadline, and two
notify processes at once (cron's `run` started twice) send each anomaly once."""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from click.testing import CliRunner

from ctxmetrics.cli import cli
from ctxmetrics.project import init_project
from test_notify import free_port, http_server  # the notify tests' servers on 127.0.0.1

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    """A small scanned project with one unexplained anomaly (EMEA signups +60% for 10 days)."""
    root = init_project(tmp_path_factory.mktemp("notify_failures") / "proj", "dimensions: [region]\n")
    start = dt.date(2025, 1, 1)
    rows = ["date,metric,value,region"]
    for i in range(200):
        for n, region in enumerate(("NA", "EMEA", "APAC")):
            lift = 60 if region == "EMEA" and 120 <= i < 130 else 0
            rows.append(f"{start + dt.timedelta(days=i)},signups,{100 + (i * 7 + n * 3) % 13 - 6 + lift},{region}")
    (root / "signups.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    for args in (["ingest", root / "signups.csv"], ["scan"]):
        result = invoke(root, *args)
        assert result.exit_code == 0, result.output
    return root


@pytest.fixture
def project(scanned, tmp_path):
    """A private copy: what was sent is recorded in the store."""
    import shutil

    return Path(shutil.copytree(scanned, tmp_path / "proj"))


def invoke(root, *args):
    return CliRunner().invoke(cli, ["--project", str(root), *map(str, args)])


def add_channel(root: Path, text: str) -> None:
    config = root / "ctxmetrics.yaml"
    config.write_text(config.read_text(encoding="utf-8") + "\nnotify:\n" + text, encoding="utf-8")


class Hook(BaseHTTPRequestHandler):
    """POST: answers as the server's `mode` says (ok, redirect, trickle); GET: 200."""

    def do_POST(self):  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers["Content-Length"]))
        mode = self.server.mode
        self.server.posts.append(self.path)
        if mode == "redirect":
            self.send_response(302)
            self.send_header("Location", "/moved")
            self.end_headers()
            return
        if mode == "slow":
            time.sleep(0.5)  # keeps a second notify's send in flight beside the first
        self.send_response(200)
        self.send_header("Content-Length", "40")
        self.end_headers()
        for _ in range(40):  # "trickle": one byte at a time, each in time for a socket timeout
            self.wfile.write(b"x")
            self.wfile.flush()
            if mode == "trickle":
                time.sleep(0.3)

    def do_GET(self):  # noqa: N802
        self.server.gets.append(self.path)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def hook_server(mode: str):
    with http_server(Hook) as server:
        server.mode, server.posts, server.gets = mode, [], []
        yield server


def test_a_redirected_webhook_is_a_failed_send_and_is_retried(project):
    # urllib would follow a 302 with a GET, without the payload, and report success
    with hook_server("redirect") as web:
        add_channel(project, f"  - webhook: http://127.0.0.1:{web.server_address[1]}/hook\n")
        first = invoke(project, "notify")
        assert first.exit_code == 4, first.output
        assert "FAILED" in first.output and "redirect" in first.output and "/moved" in first.output
        assert web.gets == []  # the payload was not thrown away on a GET
        web.mode = "ok"
        second = invoke(project, "notify")
        assert second.exit_code == 0 and "sent 1 business event" in second.output, second.output
    assert web.posts == ["/hook", "/hook"]


def test_a_trickling_webhook_gives_up_at_the_send_deadline(project, monkeypatch):
    # each byte comes within the socket's timeout, so only a deadline on the whole send stops it
    monkeypatch.setattr("ctxmetrics.report.channels.TIMEOUT", 1.0)
    with hook_server("trickle") as web:
        add_channel(project, f"  - webhook: http://127.0.0.1:{web.server_address[1]}/hook\n")
        began = time.monotonic()
        result = invoke(project, "notify")
        took = time.monotonic() - began
    assert result.exit_code == 4 and "FAILED" in result.output and "1 s" in result.output, result.output
    assert took < 8, took  # the answer would take 12 s
    assert "nothing new" not in invoke(project, "notify", "--dry-run").output  # still to be sent


def test_an_e_mail_with_a_refused_recipient_is_not_recorded_as_sent(project):
    from aiosmtpd.controller import Controller

    class Refuses:
        def __init__(self):
            self.delivered = []

        async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802 - aiosmtpd's name
            if address.startswith("gone@"):
                return "550 5.1.1 no such user"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            self.delivered.append(list(envelope.rcpt_tos))
            return "250 OK"

    handler = Refuses()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        add_channel(project, f'  - email: {{to: [vp@example.com, gone@example.com], smtp: "127.0.0.1:{port}", '
                             'from: ctxmetrics@example.com}\n')
        result = invoke(project, "notify")
    finally:
        controller.stop()
    assert handler.delivered == [["vp@example.com"]]
    assert result.exit_code == 4, result.output
    assert "gone@example.com" in result.output and "550" in result.output
    assert "nothing new" not in invoke(project, "notify", "--dry-run").output  # retried next time


def test_two_notify_processes_at_once_send_each_anomaly_once(project):
    with hook_server("slow") as web:
        add_channel(project, f"  - webhook: http://127.0.0.1:{web.server_address[1]}/hook\n")
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        command = [sys.executable, "-m", "ctxmetrics", "--project", str(project), "notify"]
        processes = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                     for _ in range(4)]
        outputs = [p.communicate(timeout=120)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0, 0], outputs
    assert web.posts == ["/hook"], outputs
    assert sum("sent 1 business event" in out for out in outputs) == 1, outputs
