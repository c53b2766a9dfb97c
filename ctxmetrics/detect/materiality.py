"""Changes too small against the series' own range to matter, however large their percentage.

A series that starts near zero and grows by orders of magnitude (a count before and after
a launch, a quantity recorded since 1800) can show, in its near-zero stretch, changes that
are significant against the noise there and huge in percent (a 6x jump, a -79% dip) while
being a ten-thousandth of what the series later moves by. They are not reported.
"""
from __future__ import annotations

import numpy as np

from ctxmetrics.models.change import Change

# Under a pixel on a chart of the whole series 1000 pixels tall. A floor of 1% of the range
# also dropped real +25-40% steps early in yearly series compounding for a century or two
# (`growth_steps.py`: steps found 17 -> 14 of 20); 0.1% drops none of them.
_SHARE_OF_RANGE = 0.001


def _range(values: np.ndarray) -> float:
    """The spread of the known values between their 1st and 99th percentiles, nearest rank
    (a few spikes do not set it; a sort is 5-10x faster than `np.nanpercentile`)."""
    known = np.sort(values[np.isfinite(values)])
    last = len(known) - 1
    return float(known[round(0.99 * last)] - known[round(0.01 * last)])


def _material(changes: list[Change], values: np.ndarray) -> list[Change]:
    """The `changes` (levels `before`/`after` in the units of `values`) whose size is at
    least `_SHARE_OF_RANGE` of the range of `values`. A step from 0 to the series' later
    level is the whole range, so it always stays."""
    if not changes:
        return changes
    smallest = min(abs(c.after - c.before) for c in changes)
    if smallest >= _SHARE_OF_RANGE * (np.fmax.reduce(values) - np.fmin.reduce(values)):  # NaN skipped
        return changes  # the common case: above the floor of the whole range, which bounds the percentiles'
    floor = _SHARE_OF_RANGE * _range(values)
    return [c for c in changes if abs(c.after - c.before) >= floor]
