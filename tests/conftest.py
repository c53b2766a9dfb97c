"""Shared fixtures: a fresh project folder and a CLI runner bound to it."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from ctxmetrics.config import DEMO_CONFIG_TEXT
from ctxmetrics.project import init_project


@pytest.fixture
def project_dir(tmp_path):
    """A new project (the demo's ctxmetrics.yaml: region/channel, the funnel) in a temporary folder."""
    return init_project(tmp_path / "proj", DEMO_CONFIG_TEXT)


@pytest.fixture
def run(project_dir):
    """Invoke the CLI inside `project_dir`: run("ingest", "x.csv") -> click Result."""
    from ctxmetrics.cli import cli

    runner = CliRunner()

    def invoke(*args, input=None):
        return runner.invoke(cli, ["--project", str(project_dir), *map(str, args)], input=input)

    return invoke


@pytest.fixture(scope="module")
def log_gauge_project(tmp_path_factory):
    """A scanned project whose one metric is a gauge of log values (about -1.5) that rises
    to about +1.5 from 2025-06-01 to 06-04: a change with no percentage."""
    import datetime as dt

    from ctxmetrics.cli import cli

    root = init_project(tmp_path_factory.mktemp("gauge") / "proj", "metrics:\n  logvals: {type: gauge}\n")
    start = dt.date(2025, 1, 1)
    rows = [f"{start + dt.timedelta(days=i)},{-1.5 + 0.01 * (i % 10) + (3 if 151 <= i <= 154 else 0):.2f}"
            for i in range(300)]
    (root / "logvals.csv").write_text("date,value\n" + "\n".join(rows) + "\n")
    for args in (["ingest", root / "logvals.csv"], ["scan"]):
        result = CliRunner().invoke(cli, ["--project", str(root), *map(str, args)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    return root


# End-to-end tests that build whole projects, start Spark, Chromium or PostgreSQL, or run
# the README and the demo: marked `slow` here, so that a plain `pytest` (which deselects
# them, see pyproject.toml) stays quick; the README's test command and .ci/run run them all.
SLOW_MODULES = {
    "test_spark.py", "test_readme.py", "test_demo.py", "test_explain_truth.py", "test_html_chromium.py",
    "test_detect_funnel.py", "test_rootcause_e2e.py", "test_realdata.py", "test_ingest_postgres.py",
    "test_ingest_hypothesis.py", "test_spark_errors.py",
}
SLOW_TESTS = {
    "test_each_channel_gets_each_anomaly_once_and_a_failed_send_is_retried",
    "test_twenty_concurrent_adds",
    "test_prescreen_keeps_every_series_the_detector_reports",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in SLOW_MODULES or item.originalname in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
