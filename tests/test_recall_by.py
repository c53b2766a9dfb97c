"""The groupings and placement offsets of benchmarks/recall_by.py."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from benchmarks.eval.cases import Case, Planted
from benchmarks.recall_by import groups, length_class, offset, volume_class


def test_length_and_volume_classes():
    assert [length_class(10, e) for e in (10, 12, 13, 23, 24, 99, None)] == [
        "1-3", "1-3", "5-14", "5-14", "21-90", "21-90", "lasting"]
    assert [volume_class(v) for v in (0.4, 1.0, 2.9, 5.0, 29.0, 30.0, 500.0)] == [
        "0-1", "1-3", "1-3", "3-10", "10-30", ">=30", ">=30"]


def test_groups_of_a_daily_change_name_its_weekday_and_a_quarter_close():
    dates = np.datetime64("2022-01-03") + np.arange(400)  # a Monday
    case = Case("sparse", np.full(400, 2.0), "count", dates)
    # 2022-03-25..31 is the first quarter's last week
    rows = dict(groups(case, Planted(80, None, "up"), 400))  # 2022-03-24, a Thursday
    assert rows["first weekday"] == "Thu" and rows["over a quarter's last week"] is True
    assert rows["over a quarter's last week, by length"] == ("lasting", True)
    assert rows["volume per period"] == "1-3" and rows["direction"] == "up"
    rows = dict(groups(case, Planted(100, 106, "down"), 400))  # 2022-04-13..19: no close
    assert rows["over a quarter's last week"] is False and rows["length"] == "5-14"


def test_offsets_take_the_nearest_overlapping_detection_of_the_same_direction():
    def change(start, end, direction):
        return SimpleNamespace(start=start, end=end, direction=direction)

    planted = Planted(100, 120, "up")
    found = [change(95, 110, "up"), change(104, 130, "up"), change(101, 103, "down"), change(130, 140, "up")]
    assert offset(planted, found, 400) == 4
    assert offset(planted, [change(90, None, "up")], 400) == -10
    assert offset(planted, [change(101, 103, "down"), change(130, 140, "up")], 400) is None
