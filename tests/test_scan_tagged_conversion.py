"""Tagged windows of a lower funnel stage tested on its conversion (scan.tagged_conversion)."""
from __future__ import annotations

import datetime as dt

from ctxmetrics.config import Config
from ctxmetrics.models.anomaly import Anomaly
from ctxmetrics.scan.conversion import FOUND_BY
from ctxmetrics.scan.tagged import TaggedWindow, passing_changes
from ctxmetrics.scan.tagged_conversion import tagged_conversion_anomalies
from ctxmetrics.synth import Effect, generate_funnel
from tests.test_scan_conversion import DAYS, SEGMENTS, START, no_masks, stage_sets

SQL_LAG = 2  # the generator's sql trails mql by 2 days (tests/test_scan_conversion.py)
PAID = SEGMENTS.index({"channel": "paid"})
DAY = 400  # the tagged day, well inside the series


def sql_sets(seed: int, size: float | None):
    effects = () if size is None else (Effect("sql", {"channel": "paid"}, START + dt.timedelta(days=DAY),
                                              START + dt.timedelta(days=DAY), "spike", size),)
    return stage_sets(generate_funnel(seed, start=START, days=DAYS, effects=effects).frame)


def tagged_finds(sets, windows, found=()):
    below = sets["sql"]
    return tagged_conversion_anomalies(sets["mql"], below, SQL_LAG, windows, Config().detection_for("sql"),
                                       no_masks(below), list(found))


def count_passes(sets, window: TaggedWindow, tests: int) -> bool:
    """Whether the count's own tagged-window test passes its family's bar."""
    from ctxmetrics.detect.targeted import bar
    from ctxmetrics.scan.tagged import FAMILY_ALPHA

    below, settings = sets["sql"], Config().detection_for("sql")
    values = below.detection_values(slice(PAID, PAID + 1))[0]
    return bool(passing_changes(values, None, no_masks(below)[PAID], [window], "count", below.start, "daily", settings,
                                bar(tests, FAMILY_ALPHA, settings.min_score)))


def test_a_tagged_one_day_change_of_a_stage_shows_on_its_conversion_where_its_count_hides_it():
    """A one-day +60% of sql on the paid channel, tagged: the count's own test of the day
    passes in half the seeds (the leads' and mqls' noise rides on it; measured 4 of 8), the
    conversion's in nearly all (measured 8 of 8)."""
    window = TaggedWindow(DAY, DAY, ("outage",))
    by_count = by_conversion = 0
    for seed in range(8):
        sets = sql_sets(seed, 0.6)
        found = tagged_finds(sets, {PAID: [window]})
        by_count += count_passes(sets, window, tests=1)
        by_conversion += len(found)
        for a in found:
            assert (a.found_by, a.segment, a.start, a.end, a.direction) == (FOUND_BY, {"channel": "paid"},
                                                                            START + dt.timedelta(days=DAY),
                                                                            START + dt.timedelta(days=DAY), "up")
            assert a.tagged == {"events": ["outage"], "tests": 2, "bar": a.tagged["bar"]} and a.score >= a.tagged["bar"]
    assert by_conversion >= 7 and by_conversion >= by_count + 3


def test_tagged_days_where_nothing_happened_pass_rarely():
    """Decoy tags every ten weeks of clean funnels (1-7 days): at most one of 80 conversion tests
    passes (measured 0)."""
    windows = {PAID: [TaggedWindow(day, day + length - 1, ("decoy",)) for day, length in
                      zip(range(70, DAYS - 60, 70), (1, 3, 7, 1, 3, 7, 1, 3, 7, 1))]}
    passed = sum(len(tagged_finds(sql_sets(seed, None), windows)) for seed in range(8, 16))
    assert passed <= 1


def test_only_short_windows_with_an_end_are_tested_on_the_conversion():
    """A lasting step and a four-week window stay the count's; they still count in the family."""
    sets = sql_sets(0, 0.9)
    windows = {PAID: [TaggedWindow(DAY, None, ("pricing",)), TaggedWindow(DAY - 20, DAY + 7, ("campaign",))]}
    assert tagged_finds(sets, windows) == []
    found = tagged_finds(sets, {PAID: [TaggedWindow(DAY, DAY, ("outage",)), TaggedWindow(DAY, None, ("outage",))]})
    assert [a.tagged["tests"] for a in found] == [3]


def test_a_window_an_anomaly_of_its_series_already_holds_is_not_stored_again():
    sets = sql_sets(0, 0.9)
    window = {PAID: [TaggedWindow(DAY, DAY, ("outage",))]}
    assert tagged_finds(sets, window)
    day = START + dt.timedelta(days=DAY - 1)
    reported = Anomaly("sql", {"channel": "paid"}, "spike", "up", day, day + dt.timedelta(days=2), 10.0, 19.0, 90.0, 6.0)
    assert tagged_finds(sets, window, [reported]) == []
    elsewhere = Anomaly("sql", {"channel": "organic"}, "spike", "up", day, day, 10.0, 19.0, 90.0, 6.0)
    assert tagged_finds(sets, window, [elsewhere])


def test_no_tags_no_tests():
    assert tagged_finds(sql_sets(0, 0.9), {}) == []


def test_a_scan_stores_the_tagged_conversion_change_the_count_missed():
    """End to end (ingest, scan with a timeline): the tagged one-day sql change of seed 2,
    which neither the blind search (of the count or the conversion) nor the count's tagged
    test reports, is stored once, as the conversion's, with its tag's record (measured 3.9
    against a bar of 2.9); without the tag nothing is stored on that day."""
    from benchmarks.eval.funnel import scan_funnel

    day = START + dt.timedelta(days=DAY)
    effect = Effect("sql", {"channel": "paid"}, day, day, "spike", 0.6)
    tag = {"id": "crm-outage", "title": "crm outage", "type": "outage", "start": day.isoformat(),
           "end": day.isoformat(), "scope": {"channel": ["paid"]}}

    def on_the_day(anomalies):
        return [a for a in anomalies if a.metric == "sql" and a.segment == {"channel": "paid"} and a.start <= day
                and day <= (a.end or day)]

    tagged = on_the_day(scan_funnel(2, [effect], [tag]))
    assert [(a.found_by, a.direction, a.tagged["events"]) for a in tagged] == [(FOUND_BY, "up", ["crm-outage"])]
    assert on_the_day(scan_funnel(2, [effect])) == []
