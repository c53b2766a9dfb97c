"""A count that is non-zero on every 30th day only (a monthly billing run, a promo day)
is no staircase of level steps: the calendar fit keeps its clearest steps only."""
import numpy as np

from ctxmetrics.detect import find_changes
from ctxmetrics.detect.calendar import _MOST_CLEAR_STEPS, _clearest


def test_clearest_keeps_every_bound_up_to_the_limit():
    y = np.repeat(np.arange(_MOST_CLEAR_STEPS + 1, dtype=float), 10)
    bounds = list(range(10, 10 * (_MOST_CLEAR_STEPS + 1), 10))
    assert _clearest(y, bounds, 1.0) == bounds


def test_clearest_keeps_the_largest_steps_beyond_the_limit():
    # steps alternate big (+10) and small (+1): the big ones are kept
    levels = np.cumsum([0] + [10 if i % 2 == 0 else 1 for i in range(2 * _MOST_CLEAR_STEPS)])
    y = np.repeat(levels.astype(float), 20)
    bounds = list(range(20, 20 * len(levels), 20))
    kept = _clearest(y, bounds, 1.0)
    assert kept == bounds[::2]


def test_a_count_on_every_30th_day_is_detected_to_the_end():
    # before the limit, the calendar fit's backward elimination over 141 boundaries ran
    # for more than 9 minutes on this series
    dates = np.arange(np.datetime64("2017-06-02"), np.datetime64("2017-06-02") + 1490)
    values = np.zeros(1490)
    values[::30] = 300.0
    changes = find_changes(values, kind="count", dates=dates)
    assert all(c.direction in ("up", "down") for c in changes)
