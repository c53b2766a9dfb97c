"""A change from 0 first seen on the file's last day (a segment's first refund, a product's
first sale) cannot yet be told from a launch or a blip: one day says neither. It ranked like
a launch (+1000%) above every change measured against noise, first in the digest; it now
ranks like a change that came back, and a lasting change from 0 that has held ranks as before."""
from __future__ import annotations

import datetime as dt

import numpy as np

from ctxmetrics.config import DetectionSettings
from ctxmetrics.models.anomaly import Anomaly
from ctxmetrics.scan.scan import anomaly_from_change, detect_one

FIRST = dt.date(2026, 1, 1)
DAYS = 120


def test_a_change_from_zero_on_the_last_day_ranks_below_a_measured_step():
    """Refunds of $299 on about one day in five (0 on most days: a robust noise of 0), three
    on the series' last day: a lasting change from 0 over no noise, seen for one day."""
    values = np.where(np.random.default_rng(0).random(DAYS) < 0.2, 299.0, 0.0)
    values[-1] = 897.0
    changes = detect_one(values, None, np.zeros(DAYS, bool), DetectionSettings(), "gauge", FIRST)
    found = [anomaly_from_change("Amount", {"Status": "Refunded"}, FIRST, c, float(values.mean()), "daily", DAYS)
             for c in changes]
    last = [a for a in found if a.start == FIRST + dt.timedelta(days=DAYS - 1)]
    assert [(a.kind, a.end, a.on_last_period) for a in last] == [("level_shift", None, True)]
    assert not any(a.on_last_period for a in found if a not in last)
    # the payments export's total: +46% since Mar 22, 7.4x the noise, ~4,000 a day
    step = Anomaly("Amount", {}, "level_shift", "up", FIRST, None, 3628.0, 5301.0, 46.0, 7.4, volume=4000.0)
    assert last[0].importance < step.importance


def test_a_lasting_change_from_zero_that_held_still_ranks_as_a_launch():
    def anomaly(on_last_period):
        return Anomaly("sales", {}, "level_shift", "up", FIRST, None, 0.0, 500.0, float("nan"), 5e11, volume=50.0,
                       on_last_period=on_last_period)

    assert anomaly(False).importance > 10 * anomaly(True).importance
    stored = Anomaly.from_json(anomaly(True).to_json())
    assert stored.on_last_period and "on_last_period" not in anomaly(False).to_json()
