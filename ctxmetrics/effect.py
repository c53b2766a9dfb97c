"""How much a series changed over a window, with its uncertainty: what the digest says
about an event whose expected effect was not flagged. numpy only, so it can share the
detector's statistics later without pulling the detector in.

Baseline: the same weekday's median over the `BASELINE_WEEKS` weeks before the window (a
robust level that keeps the weekly profile). Noise: 1.4826 × MAD of the baseline weeks'
residuals around it, never below the Poisson floor √level for counts, so over-dispersed
series get their own wider noise and quiet ones are not judged too finely. The window's
total is compared with its expected total; the 95% interval adds the baseline's own error
(a median of k values has ≈ π/2 × σ²/k variance).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from math import pi, sqrt
from typing import Sequence

import numpy as np

BASELINE_WEEKS = 8
MIN_BASELINE_DAYS = 14
Z95 = 1.96


@dataclass(frozen=True)
class Measured:
    """The change over a window relative to its baseline, in percent, with a 95% interval."""

    change_pct: float
    low_pct: float
    high_pct: float
    days: int

    @property
    def consistent_with_no_change(self) -> bool:
        return self.low_pct <= 0.0 <= self.high_pct

    def text(self) -> str:
        """'-48% (95% range -55% to -40%)'."""
        def pct(value: float) -> str:
            return f"{round(value) + 0:+d}%".replace("-", "−")  # + 0: no "-0%"

        return f"{pct(self.change_pct)} (95% range {pct(self.low_pct)} to {pct(self.high_pct)})"


def measure_window(days: Sequence[dt.date], values: Sequence[float | None], first: dt.date, last: dt.date,
                   count: bool = True) -> Measured | None:
    """The change of `values` over [first, last] against the weeks before it.

    Args:
        days, values: a daily series (None/NaN = unknown), days ascending and contiguous.
        first, last: the window (inclusive).
        count: the values are counts (Poisson floor on the noise).

    Returns:
        None when the window has no known day or the baseline has fewer than
        `MIN_BASELINE_DAYS` known days.
    """
    if not days:
        return None
    x = np.array([np.nan if v is None else float(v) for v in values])
    ordinal = np.array([d.toordinal() for d in days])
    in_window = (ordinal >= first.toordinal()) & (ordinal <= last.toordinal()) & np.isfinite(x)
    before = (ordinal < first.toordinal()) & (ordinal >= first.toordinal() - 7 * BASELINE_WEEKS) & np.isfinite(x)
    if not in_window.any() or before.sum() < MIN_BASELINE_DAYS:
        return None
    weekday = ordinal % 7
    level = np.full(7, np.nanmedian(x[before]))
    weeks = np.zeros(7)
    for day in range(7):
        same = before & (weekday == day)
        if same.any():
            level[day], weeks[day] = np.median(x[same]), same.sum()
    residuals = x[before] - level[weekday[before]]
    sigma = 1.4826 * float(np.median(np.abs(residuals - np.median(residuals))))
    expected_days = level[weekday[in_window]]
    expected = float(expected_days.sum())
    if expected <= 0:
        return None
    day_var = np.maximum(sigma ** 2, expected_days if count else 0.0)
    base_var = (pi / 2) * day_var / np.maximum(weeks[weekday[in_window]], 1)
    se = sqrt(float(day_var.sum() + base_var.sum()))
    observed = float(x[in_window].sum())
    change = observed / expected - 1.0
    margin = Z95 * se / expected
    return Measured(100 * change, 100 * (change - margin), 100 * (change + margin), int(in_window.sum()))
