"""benchmarks/funnel_misses.py's classes of a miss."""
import datetime as dt

from benchmarks.funnel_misses import alarm_stories, classify_miss
from ctxmetrics.models.anomaly import Anomaly
from ctxmetrics.synth import Effect


def _anomaly(start: dt.date, found_by: str, segment: dict) -> Anomaly:
    return Anomaly("won", segment, "spike", "up", start, dt.date(2024, 9, 15), 3.0, 6.0, 100.0, 8.2, found_by=found_by)


def test_a_misplaced_find_is_named_with_its_days_and_view():
    effect = Effect("won", {"channel": "paid"}, dt.date(2024, 9, 2), dt.date(2024, 9, 15), "spike", 1.08)
    found = [_anomaly(dt.date(2024, 8, 30), "conversion", {"channel": "paid"}),
             _anomaly(dt.date(2024, 9, 6), "series", {"channel": "paid"}),
             _anomaly(dt.date(2024, 8, 30), "series", {"region": "NA", "channel": "paid"})]  # another scope: not listed
    assert classify_miss(effect, found, frame=None) == "placed wrong (-3 days conversion, +4 days series)"


def test_a_find_on_a_part_in_time_is_found_elsewhere():
    effect = Effect("won", {"channel": "paid"}, dt.date(2024, 9, 2), dt.date(2024, 9, 15), "spike", 1.08)
    part = _anomaly(dt.date(2024, 9, 3), "series", {"region": "NA", "channel": "paid"})
    assert classify_miss(effect, [part], frame=None) == "found elsewhere"


def _alarm(metric: str, segment: dict, start: dt.date, direction: str = "up") -> Anomaly:
    return Anomaly(metric, segment, "spike", direction, start, start, 3.0, 6.0, 100.0, 5.5)


def test_a_chance_change_on_a_cell_its_rollups_and_the_stage_below_is_one_story():
    day = dt.date(2025, 8, 22)
    alarms = [_alarm("mql", {"region": "NA", "channel": "partner"}, day),
              _alarm("mql", {"region": "NA"}, day),
              _alarm("mql", {"channel": "partner"}, day),
              _alarm("sql", {"channel": "partner"}, day + dt.timedelta(days=2))]
    assert alarm_stories(alarms) == 1


def test_other_cells_another_direction_or_weeks_apart_are_stories_of_their_own():
    day = dt.date(2025, 8, 22)
    alarms = [_alarm("mql", {"region": "NA", "channel": "partner"}, day),
              _alarm("mql", {"region": "EMEA"}, day),  # no cell shared
              _alarm("mql", {"region": "NA"}, day, direction="down"),
              _alarm("mql", {"channel": "partner"}, day + dt.timedelta(days=13))]
    assert alarm_stories(alarms) == 4
    assert alarm_stories([]) == 0
