"""The HTML digest in a real browser: headless Chromium renders it offline, not blank,
with every chart. Runs in CI (CI set): a missing Chromium there is a failure, not a skip."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from ctxmetrics.cli import cli

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _chromium() -> str | None:
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def browser():
    path = _chromium()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is required in CI (CI is set) but none of %s is on PATH." % ", ".join(CANDIDATES))
        pytest.skip("Chromium not installed (set CI=1 to make this a failure).")
    return path


def _run(browser, profile, *args):
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}", *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=90)


def test_digest_html_renders_with_every_chart(browser, tmp_path):
    from matplotlib.image import imread

    from test_digest import make_project

    project = make_project(tmp_path / "proj")
    page = tmp_path / "digest.html"
    result = CliRunner().invoke(cli, ["--project", str(project.root), "digest", "--format", "html", "-o", str(page)])
    assert result.exit_code == 0, result.output
    url = page.resolve().as_uri()

    shot = tmp_path / "shot.png"
    done = _run(browser, tmp_path / "profile1", f"--screenshot={shot}", "--window-size=1280,2000", url)
    assert shot.exists(), done.stderr[-2000:]
    pixels = imread(shot)[..., :3].astype(float)
    pixels = pixels / 255.0 if pixels.max() > 1.0 else pixels
    non_white = (pixels.min(axis=2) < 0.9).mean()
    assert pixels.std() > 0.05, "the screenshot is blank"
    assert 0.01 < non_white < 0.6, f"non-white share {non_white:.3f}"

    dom = _run(browser, tmp_path / "profile2", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    shown = dom.stdout.count('class="item ')
    assert shown == 3
    assert dom.stdout.count('<svg class="chart"') == shown


def test_email_html_renders_with_its_charts(browser, tmp_path):
    """The e-mail `notify` sends, opened as a mail client shows it (cid: images inlined)."""
    import base64

    import numpy as np
    from matplotlib.image import imread

    from test_digest import make_project
    from test_notify import free_port, smtp_server

    project = make_project(tmp_path / "proj")
    port = free_port()
    config = project.root / "ctxmetrics.yaml"
    config.write_text(config.read_text(encoding="utf-8") + f"""
notify:
  - email: {{to: [vp@example.com], smtp: "127.0.0.1:{port}", from: ctxmetrics@example.com}}
""", encoding="utf-8")
    with smtp_server(port) as box:
        result = CliRunner().invoke(cli, ["--project", str(project.root), "notify"])
    assert result.exit_code == 0, result.output
    (mail,) = box.messages
    html = mail.get_body(("html",)).get_content()
    images = [p for p in mail.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 3  # one chart per business event
    for image in images:
        data = base64.b64encode(image.get_content()).decode()
        html = html.replace(f'cid:{image["Content-ID"].strip("<>")}', f"data:image/png;base64,{data}")
    page = tmp_path / "mail.html"
    page.write_text(html, encoding="utf-8")

    shot = tmp_path / "mail.png"
    done = _run(browser, tmp_path / "profile3", f"--screenshot={shot}", "--window-size=800,2400", page.resolve().as_uri())
    assert shot.exists(), done.stderr[-2000:]
    pixels = imread(shot)[..., :3].astype(float)
    pixels = pixels / 255.0 if pixels.max() > 1.0 else pixels
    assert pixels.std() > 0.05, "the screenshot is blank"
    # The charts drew: the daily-value line's dark grey is on screen, not just text.
    dark_grey = (np.abs(pixels - np.array([0x37, 0x41, 0x51]) / 255.0).max(axis=2) < 0.08).mean()
    assert dark_grey > 0.001, f"dark-grey share {dark_grey:.4f}"
    dom = _run(browser, tmp_path / "profile4", "--dump-dom", page.resolve().as_uri())
    assert dom.stdout.count("<img ") == 3
