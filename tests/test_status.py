"""`ctxmetrics status` (issue-qa6): the command a new user tries after `init` and
`ingest`; it used to be "No such command 'status'" (exit 2)."""
from __future__ import annotations

import datetime as dt
import subprocess
import sys

from click.testing import CliRunner

from ctxmetrics.cli import cli


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_status_before_and_after_ingest(tmp_path):
    root = tmp_path / "p"
    assert invoke("init", root).exit_code == 0
    empty = invoke("--project", root, "status")
    assert empty.exit_code == 0, empty.output
    assert "No data yet: load some with 'ctxmetrics ingest FILE'." in empty.output
    data = tmp_path / "leads.csv"
    first = dt.date(2026, 1, 5)
    data.write_text("date,region,metric,value\n" + "".join(
        f"{first + dt.timedelta(d)},{region},leads,{10 + d % 3}\n" for d in range(30) for region in ("EMEA", "NA")
    ) + "".join(f"{first + dt.timedelta(weeks=w)},EMEA,pipeline,{500 + w}\n" for w in range(8)))
    assert invoke("--project", root, "ingest", data).exit_code == 0
    loaded = invoke("--project", root, "status")
    assert loaded.exit_code == 0, loaded.output
    assert "  leads: daily, 60 rows, 2026-01-05 to 2026-02-03" in loaded.output
    assert "  pipeline: weekly, 8 rows, 2026-01-05 to 2026-02-23" in loaded.output
    assert "Dimensions: region (2 values)." in loaded.output
    assert "Not scanned yet: run 'ctxmetrics scan'." in loaded.output


def test_status_after_a_scan_counts_anomalies_and_the_timeline(tmp_path):
    root = tmp_path / "p"
    data = tmp_path / "visits.csv"
    first = dt.date(2025, 1, 1)
    data.write_text("date,visits\n" + "".join(
        f"{first + dt.timedelta(d)},{(300 if 100 <= d < 103 else 100) + d % 7}\n" for d in range(200)
    ))
    assert invoke("init", root, "--from", data).exit_code == 0
    assert invoke("--project", root, "ingest", data).exit_code == 0
    assert invoke("--project", root, "annotate", "add", "Spring sale", "--type", "campaign",
                  "--start", "2025-04-11").exit_code == 0
    assert invoke("--project", root, "scan").exit_code == 0
    result = invoke("--project", root, "status")
    assert result.exit_code == 0, result.output
    assert "Timeline: 1 event in annotations/." in result.output
    assert "Last scan (" in result.output and "with no known context" in result.output
    assert "0 days of data gaps" in result.output


def test_status_reads_without_the_detector(tmp_path):
    root = tmp_path / "p"
    data = tmp_path / "leads.csv"
    data.write_text("date,value\n" + "".join(f"2026-01-{d:02d},{d}\n" for d in range(1, 29)))
    assert invoke("init", root).exit_code == 0
    assert invoke("--project", root, "ingest", data).exit_code == 0
    code = (
        "import sys; from click.testing import CliRunner; from ctxmetrics.cli import cli; "
        f"r = CliRunner().invoke(cli, ['--project', {str(root)!r}, 'status']); assert r.exit_code == 0, r.output; "
        "print(sorted(m for m in ('ruptures', 'numba', 'ctxmetrics.detect', 'ctxmetrics.scan') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
