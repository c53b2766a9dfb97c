"""Regression tests for the digest's false sentences and injections found by a new user:
'no change seen' beside a visible drop, metrics the project does not have, mixed-dimension
driver shares, titles that inject Markdown, HTML, headings or terminal escapes, mathtext."""
from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from click.testing import CliRunner

from ctxmetrics.models.anomaly import Anomaly, Cause
from ctxmetrics.cli import cli
from ctxmetrics.wording import where_text
from ctxmetrics.explain.effect import measure_window
from ctxmetrics.project import Project, init_project

START = dt.date(2014, 9, 1)
DAYS = 180
CHRISTMAS = dt.date(2014, 12, 25)


def passengers(halve_christmas: bool, seed: int = 3) -> tuple[list[dt.date], list[float]]:
    rng = np.random.default_rng(seed)
    days = [START + dt.timedelta(days=i) for i in range(DAYS)]
    weekly = np.array([1.0, 1.05, 1.1, 1.05, 1.2, 0.8, 0.7])
    values = [float(rng.poisson(1000 * weekly[d.weekday()] * (0.5 if halve_christmas and d == CHRISTMAS else 1.0)))
              for d in days]
    return days, values


def passenger_project(root, halve_christmas: bool, anomalies=(), title: str = "Christmas 2014") -> Project:
    """A one-metric project (no leads) with a Christmas holiday that names no metric."""
    from ctxmetrics.scan.effects import expected_effects
    from ctxmetrics.store.results import save_effects, save_scan
    from ctxmetrics.timeline.read import load_timeline

    root = init_project(root)
    (root / "annotations" / "holidays.yaml").write_text(
        f"- id: christmas-2014\n  title: {json.dumps(title)}\n  type: holiday\n  start: 2014-12-25\n  end: 2014-12-25\n"
        "  expect: down\n",
        encoding="utf-8")
    days, values = passengers(halve_christmas)
    data = root / "passengers.csv"
    data.write_text("date,metric,value\n" + "".join(f"{d},passengers,{v}\n" for d, v in zip(days, values)),
                    encoding="utf-8")
    project = Project(root)
    from ctxmetrics.ingest.ingest import ingest_paths

    with project.store() as store:
        ingest_paths(store, [data])
        effects = expected_effects(project, store, load_timeline(project.annotations_dir, project.config.timezone), list(anomalies))
        with store.transaction():
            save_scan(store, list(anomalies), ["passengers"], [("passengers", "", "x")], project.config)
            save_effects(store, effects)
    return project


def digest_text(project, *args) -> str:
    result = CliRunner().invoke(cli, ["--project", str(project.root), "digest", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_halved_holiday_is_never_called_no_change(tmp_path):
    out = digest_text(passenger_project(tmp_path / "p", halve_christmas=True))
    line = next(line for line in out.splitlines() if "Christmas 2014" in line)
    assert "no change" not in line and "not seen" not in line
    assert "passengers measured -5" in line and "a real change, below the alert threshold" in line
    assert "Expected effects not seen" not in out


def test_a_holiday_without_effect_is_not_seen_and_says_what_was_measured(tmp_path):
    out = digest_text(passenger_project(tmp_path / "p", halve_christmas=False))
    missing = out.split("### Expected effects not seen", 1)[1]
    assert "Christmas 2014 (holiday), on Dec 25, 2014: expected passengers down; passengers measured" in missing
    assert "consistent with no change" in missing


def test_a_flagged_holiday_is_not_listed_as_missing(tmp_path):
    flagged = Anomaly("passengers", {}, "spike", "down", CHRISTMAS, CHRISTMAS, 1000.0, 500.0, -50.0, 12.0, 1000.0,
                      causes=[Cause("christmas-2014", "Christmas 2014", "holiday", 0.7, "starts the same day")])
    out = digest_text(passenger_project(tmp_path / "p", halve_christmas=True, anomalies=[flagged]))
    assert "measured" not in out and "not seen" not in out


def test_only_metrics_the_project_has_are_named(tmp_path):
    out = digest_text(passenger_project(tmp_path / "p", halve_christmas=False))
    assert "leads" not in out.lower()


def test_measurement_interval_covers_zero_without_an_effect_and_finds_a_halving():
    days, values = passengers(halve_christmas=False)
    assert measure_window(days, values, CHRISTMAS, CHRISTMAS).consistent_with_no_change
    days, values = passengers(halve_christmas=True)
    halved = measure_window(days, values, CHRISTMAS, CHRISTMAS)
    assert not halved.consistent_with_no_change and -60 < halved.change_pct < -40


def test_drivers_say_everywhere_alike_or_one_set_of_dimensions():
    base = dict(metric="leads", segment={}, kind="spike", direction="down", start=CHRISTMAS, end=CHRISTMAS,
                before=100.0, after=50.0, change_pct=-50.0, score=9.0)
    assert where_text(Anomaly(**base, uniform=True)) == "everywhere alike"
    cell = Anomaly(**base, drivers=[{"segment": {"region": "APAC", "channel": "partner"}, "share": 0.81}])
    assert where_text(cell) == "APAC × partner (81% of the change)"
    mixed = Anomaly(**base, drivers=[{"segment": {"channel": "organic"}, "share": 0.51},
                                     {"segment": {"region": "APAC"}, "share": 0.37},
                                     {"segment": {"region": "EMEA"}, "share": 0.37}])
    assert where_text(mixed) == "organic (51% of the change); APAC (37% of the change)"  # never past 100%
    assert where_text(Anomaly(**base)) is None


EVIL = ("[x](javascript:alert(1)) <img src=x onerror=alert(1)> \u001b[31mRED\u001b]0;pwned\u0007"
        "\n# FAKE HEADING")


@pytest.fixture(scope="module")
def evil(tmp_path_factory):
    cause = Cause("christmas-2014", EVIL, "holiday", 0.7, "starts the same day")
    flagged = Anomaly("passengers", {}, "spike", "down", CHRISTMAS, CHRISTMAS, 1000.0, 500.0, -50.0, 12.0, 1000.0,
                      causes=[cause])
    return passenger_project(tmp_path_factory.mktemp("evil") / "p", True, [flagged], title=EVIL)


def test_markdown_escapes_titles(evil):
    from markdown_it import MarkdownIt  # CommonMark, as chat tools and wikis render the digest

    out = digest_text(evil)
    html = MarkdownIt("commonmark").render(out)
    assert "<a " not in html and "<img" not in html
    assert "<h1>FAKE" not in html and "<h1>" in html  # only the digest's own title is a heading
    assert "[x](javascript:alert(1)) &lt;img src=x onerror=alert(1)&gt; RED # FAKE HEADING" in html
    assert "\x1b" not in out and "\x07" not in out


def test_terminal_output_has_no_escape_sequences(evil):
    runner = CliRunner()
    for args in (["why", "passengers", "--on", "2014-12-25"], ["annotate", "list"], ["digest"]):
        result = runner.invoke(cli, ["--project", str(evil.root), *args])
        assert result.exit_code == 0, result.output
        assert "RED" in result.output  # the text stays, its control characters go
        assert "\x1b" not in result.output and "\x07" not in result.output and "\x9b" not in result.output


def test_html_escapes_titles_and_survives_mathtext(evil, tmp_path):
    page = tmp_path / "d.html"
    result = CliRunner().invoke(cli, ["--project", str(evil.root), "digest", "--format", "html", "-o", str(page)])
    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf-8")
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "\x1b" not in html


def test_a_dollar_title_does_not_crash_the_html_digest(tmp_path):
    cause = Cause("christmas-2014", r"Promo $\foo$ day", "holiday", 0.7, "starts the same day")
    flagged = Anomaly("passengers", {}, "spike", "down", CHRISTMAS, CHRISTMAS, 1000.0, 500.0, -50.0, 12.0, 1000.0,
                      causes=[cause])
    project = passenger_project(tmp_path / "p", True, [flagged], title=r"Promo $\foo$ day")
    page = tmp_path / "d.html"
    result = CliRunner().invoke(cli, ["--project", str(project.root), "digest", "--format", "html", "-o", str(page)])
    assert result.exit_code == 0, result.output
    assert r"Promo $\foo$ day" in page.read_text(encoding="utf-8")
