"""The day-shape measure of benchmarks/drivers_signals.py: one factor over the window's days
fits a lasting change and misfits a one-day burst."""
from __future__ import annotations

import numpy as np

from benchmarks.drivers_signals import CHI2_2DF_95, WINDOW, day_scores


def history(rows: int = 2, days: int = 70, level: float = 100.0) -> np.ndarray:
    """Rows of a steady weekly pattern without noise (every weekday its own level)."""
    weekday = 1 + 0.2 * np.sin(2 * np.pi * np.arange(days) / 7)
    return np.tile(level * weekday, (rows, 1))


def test_a_lasting_change_fits_one_factor_and_a_burst_does_not():
    values = history()
    values[0, -WINDOW:] *= 1.3  # the same 30% on every day of the window
    values[1, -WINDOW] += 0.9 * WINDOW * values[1, -WINDOW]  # about as much, all on the first day
    z, misfit, level = day_scores(values)
    assert z[0] > 3 and z[1] > 3  # both moved well beyond noise over the window
    assert misfit[0] < 1e-6
    assert misfit[1] > CHI2_2DF_95
    np.testing.assert_allclose(level, history()[:, -WINDOW:].mean(axis=1))  # the expected daily level
