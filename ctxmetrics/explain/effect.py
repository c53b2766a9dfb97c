"""How much a series changed over a window, with its uncertainty: what the digest says
about an event whose expected effect was not flagged. numpy only, so it can share the
detector's statistics later without pulling the detector in.

Baseline: the same weekday's median over the `BASELINE_WEEKS` weeks on each side of the
window (a robust level that keeps the weekly profile; taking both sides cancels a steady
trend, which one side alone would read as an effect; at the data's end, the side before). Noise: 1.4826 × MAD of the baseline weeks'
residuals around it, never below the Poisson floor √level for counts, so over-dispersed
series get their own wider noise and quiet ones are not judged too finely. The window's
total is compared with its expected total; the standard error adds the baseline's own
error (a median of k values has ≈ π/2 × σ²/k variance) and is never below the spread of
the same measurement over other windows of the series' history (placebo windows).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from math import pi, sqrt
from typing import Sequence

import numpy as np

BASELINE_WEEKS = 4
MIN_BASELINE_DAYS = 14
Z95 = 1.96
MIN_PLACEBOS = 8
MAX_PLACEBOS = 60


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
            return f"{round(value) + 0:+d}%"  # + 0: no "-0%"

        return f"{pct(self.change_pct)} (95% range {pct(self.low_pct)} to {pct(self.high_pct)})"


def measure_window(days: Sequence[dt.date], values: Sequence[float | None], first: dt.date, last: dt.date,
                   count: bool = True) -> Measured | None:
    """The change of `values` over [first, last] against the weeks around it.

    Args:
        days, values: a daily series (None/NaN = unknown), days ascending and contiguous.
        first, last: the window (inclusive).
        count: the values are counts (Poisson floor on the noise).

    Returns:
        None when the window has no known day or its baseline has fewer than
        `MIN_BASELINE_DAYS` known days.
    """
    if not days:
        return None
    x = np.array([np.nan if v is None else float(v) for v in values])
    ordinal = np.array([d.toordinal() for d in days])
    measured = _change(x, ordinal, first.toordinal(), last.toordinal(), count)
    if measured is None:
        return None
    change, se = measured
    se = max(se, _placebo_spread(x, ordinal, first.toordinal(), last.toordinal(), count))
    margin = Z95 * se
    return Measured(100 * change, 100 * (change - margin), 100 * (change + margin), last.toordinal() - first.toordinal() + 1)


def _change(x: np.ndarray, ordinal: np.ndarray, first: int, last: int, count: bool) -> tuple[float, float] | None:
    """(relative change of the window's total, its standard error from the noise model)."""
    in_window = (ordinal >= first) & (ordinal <= last) & np.isfinite(x)
    span = 7 * BASELINE_WEEKS
    around = ((ordinal < first) & (ordinal >= first - span)) | ((ordinal > last) & (ordinal <= last + span))
    around &= np.isfinite(x)
    if not in_window.any() or around.sum() < MIN_BASELINE_DAYS:
        return None
    weekday = ordinal % 7
    level = np.full(7, np.median(x[around]))
    weeks = np.zeros(7)
    for day in range(7):
        same = around & (weekday == day)
        if same.any():
            level[day], weeks[day] = np.median(x[same]), same.sum()
    residuals = x[around] - level[weekday[around]]
    sigma = 1.4826 * float(np.median(np.abs(residuals - np.median(residuals))))
    expected_days = level[weekday[in_window]]
    expected = float(expected_days.sum())
    if expected <= 0:
        return None
    day_var = np.maximum(sigma ** 2, expected_days if count else 0.0)
    base_var = (pi / 2) * day_var / np.maximum(weeks[weekday[in_window]], 1)
    se = sqrt(float(day_var.sum() + base_var.sum())) / expected
    return float(x[in_window].sum()) / expected - 1.0, se


def _placebo_spread(x: np.ndarray, ordinal: np.ndarray, first: int, last: int, count: bool) -> float:
    """Robust spread (1.4826 × MAD) of the same measurement over windows of the same length
    elsewhere in the series' own history: the noise as this series really has it
    (autocorrelation, trend wiggles, over-dispersion), which a model alone underestimates.
    0 when fewer than `MIN_PLACEBOS` such windows fit."""
    length = last - first + 1
    starts = [int(o) for o in ordinal[:: max(1, length // 2)] if o + length - 1 < first or o > last]
    if len(starts) > MAX_PLACEBOS:
        starts = [starts[i] for i in np.linspace(0, len(starts) - 1, MAX_PLACEBOS).astype(int)]
    changes = [c[0] for c in (_change(x, ordinal, o, o + length - 1, count) for o in starts) if c is not None]
    if len(changes) < MIN_PLACEBOS:
        return 0.0
    changes = np.array(changes)
    return 1.4826 * float(np.median(np.abs(changes - np.median(changes))))
