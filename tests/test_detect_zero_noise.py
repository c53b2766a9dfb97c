"""Series without noise: values exactly constant between their changes.

Every robust scale of such a series is zero (floored at 1e-9), so any split scores as
near infinite: only the real changes may be reported. Daily series do; weekly and monthly
ones do not yet (benchmarks/README.md, branch issue-9wk: the calendar fit of two years or
more and the short windows' bridged runs leave steps of a fitted level in values that
have none)."""
from __future__ import annotations

import numpy as np
import pytest

from ctxmetrics.detect import find_changes

DAY = np.datetime64("2022-01-03")


def _dates(n: int, freq: str):
    if freq == "M":
        return np.arange(np.datetime64("2020-01"), np.datetime64("2020-01") + n).astype("datetime64[D]")
    return DAY + np.arange(n) * (7 if freq == "W" else 1) if freq else None


@pytest.mark.parametrize("kind", ["gauge", "count", "ratio"])
@pytest.mark.parametrize("freq,n", [(None, 60), ("D", 400), ("W", 104), ("M", 60)])
def test_a_constant_series_has_no_changes(kind, freq, n):
    for level in (0.0, 1000.0):
        denominators = np.full(n, 2000.0) if kind == "ratio" else None
        assert find_changes(np.full(n, level), kind=kind, dates=_dates(n, freq), denominators=denominators) == []


@pytest.mark.parametrize("n", [60, 400])
def test_a_noiseless_daily_gauge_step_is_reported_once_on_its_day(n):
    for with_dates in (False, True):
        for fraction in (0.3, 0.7):
            for before, after in ((100.0, 140.0), (5.0, 3.0), (-1.0, 1.0)):
                at = int(n * fraction)
                values = np.where(np.arange(n) >= at, after, before)
                changes = find_changes(values, kind="gauge", dates=_dates(n, "D") if with_dates else None)
                assert [(c.kind, c.start, c.direction) for c in changes] == [
                    ("level_shift", at, "up" if after > before else "down")]
