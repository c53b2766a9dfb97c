"""`query` never runs for ever: a time limit and Ctrl-C stop DuckDB mid-query (it holds
the store's read lock, so a runaway query would keep every ingest and scan out)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

RUNAWAY = "select sum(a.range * b.range) from range(1000000) a, range(1000000) b"  # 10^12 rows
REPO = Path(__file__).resolve().parents[1]


def test_a_query_past_its_time_limit_is_stopped_with_one_line(run):
    began = time.monotonic()
    result = run("query", RUNAWAY, "--timeout", "1")
    assert time.monotonic() - began < 10
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: query stopped after 1 s") and "--timeout" in result.output


def test_a_query_within_its_time_limit_runs(run):
    result = run("query", "select 41 + 1 as answer", "--timeout", "5", "--csv")
    assert result.exit_code == 0 and result.output == "answer\n42\n", result.output


def test_a_bad_time_limit_is_a_usage_error(run):
    assert run("query", "select 1", "--timeout", "0").exit_code == 2


def test_ctrl_c_stops_a_running_query(project_dir):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-m", "ctxmetrics", "--project", str(project_dir), "query", RUNAWAY],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)  # past the imports, inside DuckDB
    process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=15)
    finally:
        process.kill()
    assert process.returncode != 0
    assert "Traceback" not in err and "interrupted" in err, err


def test_a_parameter_without_a_value_names_the_option_that_gives_it(run):
    result = run("query", "select * from observations where metric = $m and ts >= $since")
    assert result.exit_code == 1
    assert "the SQL uses $m, $since; give each a value with --param NAME=VALUE" in result.output, result.output
