"""A gauge whose values are logarithms (Prophet's Peyton file: `ds,y` of log page views):
`init --from` writes `scale: log` and says why, and its changes are reported as the
underlying value's (a factor, a percentage of the page views), never as a percentage of a log."""
from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pytest
import yaml

from ctxmetrics.ingest.infer import _looks_like_logs
from test_quarterly import invoke
import polars as pl

FIRST = dt.date(2024, 1, 1)
SPIKE = FIRST + dt.timedelta(days=300)


def log_file(path):
    """`ds,y`: 400 days of log page views around 8.1, and one day of +2.0 (×7.4)."""
    rng = np.random.default_rng(4)
    lines = ["ds,y"]
    for i in range(400):
        day = FIRST + dt.timedelta(days=i)
        lines.append(f"{day},{8.1 + rng.normal(0, 0.05) + (2.0 if day == SPIKE else 0):.5f}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_log_values_are_recognised_and_reported_as_factors(tmp_path):
    data, root = log_file(tmp_path / "page_views.csv"), tmp_path / "p"
    said = invoke("init", root, "--from", data).output
    assert "page_views's values look like natural logarithms (from 7.94 to 10.1): scale: log" in said
    assert yaml.safe_load((root / "ctxmetrics.yaml").read_text())["metrics"] == {"page_views": {"type": "gauge", "scale": "log"}}
    invoke("--project", root, "ingest", data)
    invoke("--project", root, "scan")
    found = json.loads(invoke("--project", root, "why", "page_views", "--on", str(SPIKE), "--json").output)["anomalies"]
    assert len(found) == 1
    spike = found[0]
    times = math.exp(spike["after"] - spike["before"])
    assert 6 < times < 9 and spike["change_pct"] == pytest.approx(100 * (times - 1), abs=0.1)
    text = invoke("--project", root, "why", "page_views", "--on", str(SPIKE)).output
    assert f"Page views total +{spike['change_pct']:.0f}% on " in text
    assert f"(natural logs: the underlying value ×{times:.2g})" in text
    digest = invoke("--project", root, "digest").output
    assert f"page views +{spike['change_pct']:.0f}% (logs {spike['before']:.1f} → {spike['after']:.1f}) on " in digest


def test_what_reads_as_logs():
    decimals = pl.Series([5.3, 8.1, 12.8])
    assert _looks_like_logs("views", "log_views", decimals) and _looks_like_logs("peyton", "y", decimals)
    assert not _looks_like_logs("peyton", "y", pl.Series([5.0, 8.0, 12.0]))  # whole numbers: a count
    assert not _looks_like_logs("revenue", "y", pl.Series([50.5, 80.1, 120.8]))  # above 25: not logs of anything counted
    assert not _looks_like_logs("conversion", "value", decimals)  # nothing says log


@pytest.mark.parametrize("spec", ["{type: count, scale: log}", "{type: gauge, scale: ln}"])
def test_a_bad_scale_is_one_line(tmp_path, spec):
    root = tmp_path / "p"
    invoke("init", root)
    (root / "ctxmetrics.yaml").write_text(f"metrics:\n  views: {spec}\n")
    out = invoke("--project", root, "status", code=1).output
    assert "scale is for a gauge of logarithms (type: gauge) and one of log, log10" in out and out.count("\n") == 1
