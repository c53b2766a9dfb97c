"""A series flat for months that then steps scores about its size × 10^9 (the detector's
noise floor): ranked by that score it led the digest and every list above real changes.
It is ranked by its size against its level instead (issue-qab)."""
from __future__ import annotations

import datetime as dt
import json
import random

from test_quarterly import invoke

from ctxmetrics.models.anomaly import importance

FIRST = dt.date(2026, 1, 1)


def _search_console(path, days: int = 120) -> None:
    """Clicks ~100 a day, +80% from day 60; CTR flat at 2.70%, then 2.40% from day 90 (-11%)."""
    rng = random.Random(1)
    lines = ["Date,Clicks,CTR"]
    for i in range(days):
        clicks = rng.randint(80, 120) * (1.8 if i >= 60 else 1.0)
        lines.append(f"{FIRST + dt.timedelta(days=i)},{round(clicks)},{'2.70%' if i < 90 else '2.40%'}")
    path.write_text("\n".join(lines) + "\n")


def test_a_flat_series_step_ranks_below_a_large_real_change(tmp_path):
    data, root = tmp_path / "search.csv", tmp_path / "p"
    _search_console(data)
    invoke("init", root, "--from", data)
    invoke("--project", root, "ingest", data)
    invoke("--project", root, "scan")
    digest = json.loads(invoke("--project", root, "digest", "--format", "json").output)
    events = [(e["members"][0], e["importance"]) for e in digest["events"]]
    assert events[0][0].lower().startswith("clicks|"), events
    ctr = [imp for lead, imp in events if lead.lower().startswith("ctr|")]
    assert ctr and ctr[0] < 1000, events
    why = invoke("--project", root, "why", "CTR").output
    assert "Was flat at 2.7 for 90 days, then 2.4" in why


def test_a_flat_series_ranks_by_its_relative_size():
    flat_small = importance(3e8, 100.0, change_pct=-10.0)
    flat_large = importance(9e8, 100.0, change_pct=-60.0)
    assert flat_small < flat_large < importance(20.0, 100.0, change_pct=-60.0) * 10
    assert flat_small < importance(8.0, 100.0, change_pct=30.0)
    assert importance(8.0, 100.0, change_pct=30.0) == importance(8.0, 100.0)


def test_a_flat_series_from_zero_ranks_as_a_large_change_not_as_its_raw_score():
    assert importance(4e9, 10.0, change_pct=None) == importance(9e9, 10.0, change_pct=float("nan"))
    assert importance(4e9, 10.0, change_pct=None) < 1000


def test_a_days_blip_from_zero_ranks_below_a_real_change_and_a_launch_above_it():
    """A Stripe export split by status: the refunded segment is 0 on most days, then one
    refund (0 -> 299 that day, no % and no noise). Ranked like +1000% it led the digest, ten
    such blips above the total's +45% (score 7.5 at ~3,300 a day)."""
    real = importance(7.5, 3300.0, change_pct=45.0)
    blip = importance(2.99e11, 2.5, change_pct=None, temporary=True)
    launch = importance(2.99e11, 2.5, change_pct=None, temporary=False)
    assert blip < real < launch
    assert blip == importance(5.0, 2.5)  # like the smallest change a manager is shown
