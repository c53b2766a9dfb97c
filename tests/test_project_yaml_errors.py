"""A hand-edited ctxmetrics.yaml that is not valid YAML gets the one-line, located message
annotation files get (issue-qaf), not PyYAML's raw wording (issue-qab)."""
from __future__ import annotations

from click.testing import CliRunner

from ctxmetrics.cli import cli


def _project(tmp_path, text: str):
    (tmp_path / "ctxmetrics.yaml").write_text(text)
    return CliRunner().invoke(cli, ["--project", str(tmp_path), "status"])


def test_a_tab_in_the_project_file_is_named_in_words(tmp_path):
    result = _project(tmp_path, "timezone: UTC\nmetrics:\n\tleads: {type: count}\n")
    assert result.exit_code == 1
    message = result.output.strip()
    assert "\n" not in message and "Traceback" not in message
    assert "ctxmetrics.yaml:3" in message
    assert "a tab character; YAML is indented with spaces" in message
    assert "cannot start any token" not in message


def test_other_yaml_errors_stay_one_located_line(tmp_path):
    result = _project(tmp_path, "timezone: UTC\nmetrics: {leads: [\n")
    assert result.exit_code == 1
    assert "ctxmetrics.yaml:" in result.output and "not valid YAML" in result.output
    assert len(result.output.strip().splitlines()) == 1
