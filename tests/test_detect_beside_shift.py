"""A lasting step with a short window a week or two before it: the first pass of short
episodes runs before any shift is known, so that window's flank beyond takes in the new
level and ordinary days look like a dip before a rise. Such episodes are judged again
with the shifts found as walls (`episodes._judged_beside_shifts`)."""
from __future__ import annotations

from test_find_changes import DATES, business_counts, episode

from ctxmetrics.detect import find_changes

STEP = 620  # 110 days before the end of the 730-day series


def test_no_opposite_episode_is_reported_just_before_a_lasting_step():
    # 120 series: 20 and 40 a day, +100% or -60% for good from day 620, 30 seeds each.
    # Measured: 119 steps found on their day (+-2) before and after the rule; episodes the
    # other way in the four weeks before the step 2 before it, 0 after; other detections
    # 5 before, 2 after
    found = opposite = others = 0
    for level in (20, 40):
        for size in (1.0, -0.6):
            direction = "up" if size > 0 else "down"
            for seed in range(30):
                changes = find_changes(business_counts(seed, level, episode(STEP, None, size)), dates=DATES)
                hit = [c for c in changes if c.direction == direction and abs(c.start - STEP) <= 2]
                found += bool(hit)
                opposite += sum(STEP - 30 <= c.start < STEP - 2 and c.direction != direction for c in changes)
                others += len(changes) - len(hit)
    assert found >= 115
    assert opposite == 0
    assert others <= 4
