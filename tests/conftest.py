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
