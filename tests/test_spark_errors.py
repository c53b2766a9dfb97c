"""`scan --engine spark` that cannot start Spark (a master URL Spark does not know, a
JAVA_HOME without Java) printed the JVM's own lines and a Java stack trace above its one-line
error, which named only pyspark's "Java gateway process exited": now the one line says
what the JVM said (issue-qab). Run as processes: the JVM writes to the process's stderr."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from test_quarterly import invoke

pytest.importorskip("pyspark")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("spark_errors")
    data, root = tmp / "leads.csv", tmp / "p"
    data.write_text("date,leads\n" + "".join(f"{dt.date(2026, 1, 1) + dt.timedelta(days=i)},{40 + i % 7}\n" for i in range(60)))
    invoke("init", root, "--from", data)
    invoke("--project", root, "ingest", data)
    return root


def _scan(root: Path, spark_yaml: str, **env) -> subprocess.CompletedProcess:
    config = root / "ctxmetrics.yaml"
    base = config.read_text().split("\nengine: spark\n")[0]
    config.write_text(base + "\nengine: spark\n" + spark_yaml)
    return subprocess.run([sys.executable, "-m", "ctxmetrics", "--project", str(root), "scan"], capture_output=True,
                          text=True, env={**os.environ, **env}, timeout=300)


def test_a_master_spark_does_not_know_is_one_line_naming_it(project):
    done = _scan(project, "spark: {master: 'nosuch://head:7077'}\n")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("Error: Spark did not start: Master must either be yarn or start with spark, k8s, or local")


def test_a_java_home_without_java_is_one_line_naming_it(project):
    done = _scan(project, "spark: {master: 'local[1]'}\n", JAVA_HOME="/nonexistent")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert "Spark did not start: /nonexistent/bin/java: No such file or directory" in done.stderr
    assert "JAVA_HOME" in done.stderr
