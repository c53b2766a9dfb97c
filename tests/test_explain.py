"""Unit tests of explanation rules: candidates, scoring, drivers, funnel, coverage."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from ctxmetrics.models.anomaly import Anomaly
from ctxmetrics.config import Config, MetricDef
from ctxmetrics.explain.coverage import coverage
from ctxmetrics.explain.explain import explain_anomalies, missing_effects
from ctxmetrics.models.series import SeriesSet
from ctxmetrics.models.annotation import Annotation

START = dt.date(2026, 1, 1)
DAYS = 120
REGIONS = ("NA", "EMEA", "APAC")
CONFIG = Config(
    funnel=("leads", "mql", "sql"),
    metrics={"lead_to_mql": MetricDef("lead_to_mql", "ratio", "mql", "leads")},
)
D = dt.date


def day(n: int) -> dt.date:
    return START + dt.timedelta(days=n)


def series_set(metric="leads", effects=(), base=(100.0, 100.0, 100.0)) -> SeriesSet:
    """Total + one row per region; `effects` = (region, first day, last day, factor)."""
    rng = np.random.default_rng(7)
    leaves = np.array(base)[:, None] * rng.normal(1.0, 0.02, (len(REGIONS), DAYS))
    for region, first, last, factor in effects:
        leaves[REGIONS.index(region), first : last + 1] *= factor
    values = np.vstack([leaves.sum(axis=0, keepdims=True), leaves])
    return SeriesSet(metric, "count", START, [{}] + [{"region": r} for r in REGIONS], values)


def anomaly(metric="leads", segment=None, start=60, end=69, direction="up", change=50.0) -> Anomaly:
    return Anomaly(
        metric=metric, segment=dict(segment or {}), kind="spike" if end is not None else "level_shift",
        direction=direction, start=day(start), end=None if end is None else day(end),
        before=100.0, after=100.0 * (1 + change / 100), change_pct=change, score=8.0, volume=100.0,
    )


def event(id="ev", type="campaign", start=60, end=69, scope=None, metrics=(), expect=None) -> Annotation:
    return Annotation(
        id=id, title=id.replace("-", " ").title(), type=type, start=day(start), end=None if end is None else day(end),
        scope={k: tuple(v) for k, v in (scope or {}).items()}, metrics=tuple(metrics), expect=expect,
    )


def explain(anomalies, events, sets=None, verdicts=None, config=CONFIG):
    explain_anomalies(anomalies, events, sets or {}, config, verdicts or {})
    return anomalies


def causes(a):
    return [c.annotation_id for c in a.causes]


# --- scope ---------------------------------------------------------------------------


def test_disjoint_scope_never_explains():
    sets = {"leads": series_set(effects=[("NA", 60, 69, 1.5)])}
    a = anomaly(segment={"region": "NA"})
    explain([a], [event(scope={"region": ["APAC"]}, metrics=["leads"])], sets)
    assert a.causes == []


def test_exact_scope_beats_global():
    sets = {"leads": series_set(effects=[("EMEA", 60, 69, 1.5)])}
    a = anomaly(segment={"region": "EMEA"})
    explain([a], [event("global-push"), event("emea-push", scope={"region": ["EMEA"]})], sets)
    assert causes(a) == ["emea-push", "global-push"]
    assert a.causes[0].score > a.causes[1].score
    assert "scope region=EMEA matches exactly" in a.causes[0].reason
    assert "affects everything" in a.causes[1].reason


def test_exact_scope_that_is_not_specific_is_not_an_explanation():
    """An EMEA event does not explain an EMEA jump when every region jumped alike."""
    sets = {"leads": series_set(effects=[(r, 60, 69, 1.5) for r in REGIONS])}
    a = anomaly(segment={"region": "EMEA"})
    explain([a], [event("emea-push", scope={"region": ["EMEA"]}), event("global-push", start=60)], sets)
    assert causes(a) == ["global-push"]


def test_rollup_scope_needs_the_scoped_child_to_carry_the_change():
    """An APAC webinar must not explain a company-wide jump that came entirely from NA."""
    sets = {"leads": series_set(effects=[("NA", 60, 69, 1.9)])}
    total = anomaly(segment={}, change=30.0)
    webinar = event("apac-webinar", scope={"region": ["APAC"]}, metrics=["leads"])
    na_push = event("na-push", scope={"region": ["NA"]}, metrics=["leads"])
    explain([total], [webinar, na_push], sets)
    assert causes(total) == ["na-push"]
    assert "scope region=NA carries" in total.causes[0].reason
    assert total.drivers[0]["segment"] == {"region": "NA"} and total.drivers[0]["share"] > 0.9


def test_a_change_everywhere_alike_is_not_explained_by_a_scoped_event():
    sets = {"leads": series_set(effects=[(r, 60, 69, 1.5) for r in REGIONS])}
    total = anomaly(segment={}, change=50.0)
    explain([total], [event("apac-webinar", scope={"region": ["APAC"]}), event("global-push")], sets)
    assert total.uniform and total.drivers == []
    assert causes(total) == ["global-push"]


def test_rollup_scope_without_series_uses_stored_drivers():
    total = anomaly(segment={}, change=30.0)
    total.drivers = [{"segment": {"region": "NA"}, "share": 0.2}, {"segment": {"region": "APAC"}, "share": 0.8}]
    explain([total], [event("apac-push", scope={"region": ["APAC"]})])
    assert causes(total) == ["apac-push"]
    total.drivers = [{"segment": {"region": "NA"}, "share": 0.95}]
    explain([total], [event("apac-push", scope={"region": ["APAC"]})])
    assert total.causes == []


# --- metric and direction ---------------------------------------------------------------


def test_metric_mismatch_never_explains():
    a = anomaly(metric="leads")
    explain([a], [event(metrics=["won"]), event("mql-push", metrics=["mql"])])
    assert a.causes == []


def test_funnel_propagation_needs_the_listed_stage_to_move():
    mql = anomaly(metric="mql", start=62, end=71)
    leads = anomaly(metric="leads", start=60, end=69)
    explain([mql], [event("lead-push", metrics=["leads"])])
    assert mql.causes == [], "leads never moved, so a leads campaign cannot explain mql"
    explain([leads, mql], [event("lead-push", metrics=["leads"])])
    assert causes(leads) == ["lead-push"] and causes(mql) == ["lead-push"]
    assert "mql is 1 stage further down the funnel" in mql.causes[0].reason
    assert mql.funnel[0]["stage"] == "leads" and [s["stage"] for s in mql.funnel] == ["leads", "mql"]


def test_ratio_is_reached_through_its_parts_without_a_direction():
    rate = anomaly(metric="lead_to_mql", start=60, end=69, direction="down")
    leads = anomaly(metric="leads")
    explain([leads, rate], [event("lead-push", metrics=["leads"])])
    assert causes(rate) == ["lead-push"] and "no expected direction" in rate.causes[0].reason


def test_direction_contradiction_is_a_strong_penalty():
    up, down = anomaly(direction="up"), anomaly(direction="down", change=-50.0)
    explain([up, down], [event("outage", type="outage"), event("promo", type="campaign")])
    assert causes(up) == ["promo"] and causes(down) == ["outage"]
    low = Config(funnel=CONFIG.funnel, explain=type(CONFIG.explain)(min_cause_score=0.0))
    explain([up], [event("outage", type="outage")], config=low)
    assert up.causes[0].score < 0.3 and "expected down, but it went up" in up.causes[0].reason


def test_expect_overrides_the_type_and_reasons_read_plainly():
    a = anomaly(segment={"region": "EMEA"}, start=61, end=69, direction="down", change=-40.0)
    explain([a], [event("price-test", type="campaign", scope={"region": ["EMEA"]}, metrics=["leads"], expect="down")])
    assert a.causes[0].reason == (
        "starts 1 day before the change; ends the same day as the change; "
        "scope region=EMEA matches exactly; lists leads; expected down, went down"
    )


# --- time --------------------------------------------------------------------------------


def test_time_alignment_ranks_and_limits_candidates():
    a = anomaly(start=60, end=69)
    early = event("on-time", start=60, end=69)
    late = event("late", start=66, end=69)
    long_before = event("long-before", start=10, end=20)
    explain([a], [late, early, long_before])
    assert causes(a)[0] == "on-time" and "long-before" not in causes(a)
    assert not causes(a)[1:] or a.causes[1].score < a.causes[0].score


def test_change_reversing_at_the_end_of_an_event_is_linked_to_it():
    down = anomaly(start=20, end=None, direction="down", change=-60.0)
    back = anomaly(start=51, end=None, direction="up", change=150.0)
    explain([down, back], [event("lockdown", type="other", start=20, end=50, expect="down")])
    assert causes(down) == ["lockdown"] and causes(back) == ["lockdown"]
    assert "went up as it ended" in back.causes[0].reason


def test_open_event_runs_to_the_data_end():
    sets = {"leads": series_set()}
    a = anomaly(start=100, end=None)
    explain([a], [event("open-release", type="release", start=99, end=None, expect="up")], sets)
    assert causes(a) == ["open-release"]


def test_nothing_fits_means_unexplained():
    a = anomaly(start=60, end=69)
    explain([a], [event("other-time", start=5, end=8)])
    assert a.causes == [] and not a.explained


# --- verdicts ----------------------------------------------------------------------------


def test_verdicts_confirm_to_the_top_and_reject_for_good():
    a = anomaly()
    events = [event("global-push"), event("promo-b", start=61)]
    explain([a], events)
    assert causes(a) == ["global-push", "promo-b"]
    explain([a], events, verdicts={(a.id, "promo-b"): "confirmed", (a.id, "global-push"): "rejected"})
    assert causes(a) == ["promo-b"]
    assert a.causes[0].verdict == "confirmed" and a.causes[0].score == 1.0
    # A confirmed link stays even when the rules alone would never propose it.
    explain([a], [event("apac", scope={"region": ["APAC"]}, start=5, end=6)], verdicts={(a.id, "apac"): "confirmed"})
    assert causes(a) == ["apac"] and a.causes[0].reason.startswith("confirmed by a person")


# --- drivers, correlated, coverage, missing effects ------------------------------------------


def test_drivers_split_the_change_over_children():
    sets = {"leads": series_set(effects=[("NA", 60, 69, 1.6), ("EMEA", 60, 69, 1.2)])}
    total = anomaly(segment={})
    leaf = anomaly(segment={"region": "NA"})
    other_metric = anomaly(metric="won", segment={})
    other_metric.drivers = [{"segment": {"region": "NA"}, "share": 1.0}]
    explain([total, leaf, other_metric], [], sets)
    assert [d["segment"] for d in total.drivers] == [{"region": "NA"}, {"region": "EMEA"}]
    assert total.drivers[0]["share"] == pytest.approx(0.75, abs=0.05)
    assert leaf.drivers == []  # no deeper dimension
    assert other_metric.drivers == [{"segment": {"region": "NA"}, "share": 1.0}]  # kept: no series this scan


def test_when_the_total_was_not_flagged_the_whole_cube_says_where_the_window_changed():
    sets = {"leads": series_set(effects=[("NA", 60, 69, 1.6), ("EMEA", 60, 69, 1.3)])}
    na, later = anomaly(segment={"region": "NA"}), anomaly(segment={"region": "NA"}, start=90, end=95)
    explain([na, later], [], sets)
    # EMEA's own change was not flagged, but at the time NA's was it stands out in the cube
    assert [d["segment"] for d in na.cube_drivers] == [{"region": "NA"}, {"region": "EMEA"}]
    assert later.cube_drivers == []  # nothing changed then


def test_cube_days_prepared_beside_the_workers_are_the_ones_explaining_localizes():
    """A scan guesses the windows `_locate_in_cube` will localize while its workers detect
    (`prepare_cube_days`): the guessed expectations are those explaining reads, and the
    cube drivers are the same as without them."""
    from ctxmetrics.explain.cube import linking_cube
    from ctxmetrics.explain.drivers import prepare_cube_days

    sets = {"leads": series_set(effects=[("NA", 60, 69, 1.6), ("EMEA", 60, 69, 1.3), ("APAC", 90, 95, 0.5)])}

    def found():
        apac = anomaly(segment={"region": "APAC"}, start=90, end=95, direction="down", change=-50.0)
        return [anomaly(segment={"region": "NA"}), apac, anomaly(segment={}, start=30, end=33)]

    stopped = linking_cube(sets["leads"])
    prepare_cube_days(found(), stopped, stop=lambda: True)
    assert stopped._expectations == {}
    prepared = linking_cube(sets["leads"])
    prepare_cube_days(found(), prepared, stop=lambda: False)
    assert set(prepared._expectations) == {(60, 69), (90, 95)}  # not day 30: the total itself was flagged then
    guesses = dict(prepared._expectations)
    fresh, guessed = found(), found()
    explain_anomalies(fresh, [], sets, CONFIG, {})
    explain_anomalies(guessed, [], sets, CONFIG, {}, cubes={"leads": prepared})
    assert [a.cube_drivers for a in guessed] == [a.cube_drivers for a in fresh]
    assert [d["segment"] for d in guessed[0].cube_drivers] == [{"region": "NA"}, {"region": "EMEA"}]
    assert all(prepared._expectations[window] is guesses[window] for window in guesses)  # not computed again


def test_whole_cube_causes_prepared_beside_the_workers_are_read_not_localized_again(monkeypatch):
    """`prepare_cube_days` also localizes its guessed windows in the whole cube; explaining
    then reads those answers (no localization left to run) and they are the ones it would
    have found itself."""
    from ctxmetrics.explain.cube import _Cube, linking_cube
    from ctxmetrics.explain.drivers import prepare_cube_days

    sets = {"leads": series_set(effects=[("NA", 60, 69, 1.6), ("EMEA", 60, 69, 1.3), ("APAC", 90, 95, 0.5)])}

    def found():
        apac = anomaly(segment={"region": "APAC"}, start=90, end=95, direction="down", change=-50.0)
        return [anomaly(segment={"region": "NA"}), apac]

    prepared = linking_cube(sets["leads"])
    prepare_cube_days(found(), prepared, stop=lambda: False)
    assert set(prepared._whole_causes) == {(60, 69), (90, 95)}
    fresh, guessed = found(), found()
    explain_anomalies(fresh, [], sets, CONFIG, {})
    localized, localize = [], _Cube.localize

    def counted(self, segment, *args, **kwargs):
        localized.append(segment)
        return localize(self, segment, *args, **kwargs)

    monkeypatch.setattr(_Cube, "localize", counted)
    explain_anomalies(guessed, [], sets, CONFIG, {}, cubes={"leads": prepared})
    assert {} not in localized  # no whole-cube localization in the tail
    assert [a.cube_drivers for a in guessed] == [a.cube_drivers for a in fresh]
    assert [d["segment"] for d in guessed[0].cube_drivers] == [{"region": "NA"}, {"region": "EMEA"}]
    guessed[0].cube_drivers[0]["segment"]["region"] = "changed"  # an anomaly's drivers are its own
    assert prepared.whole_cause((60, 69))[0][0]["segment"] == {"region": "NA"}


def test_links_with_the_cube_windows_in_a_forked_worker_are_the_links_made_one_after_the_other(monkeypatch, tmp_path):
    """Where the windows left are worth a worker, `link_anomalies` localizes them in a
    forked process while it links funnel stages and correlated anomalies (and takes here
    those it has not started): every link is what the steps make in turn, and a window was
    localized in the other process."""
    import os

    import ctxmetrics.explain.drivers as drivers
    import ctxmetrics.explain.explain as explain_module
    from ctxmetrics.explain.explain import link_anomalies, linking_cubes

    sets = {"leads": series_set(effects=[("NA", 60, 69, 1.6), ("EMEA", 60, 69, 1.3), ("APAC", 90, 95, 0.5)])}

    def found():
        return [
            anomaly(segment={"region": "NA"}), anomaly(segment={"region": "APAC"}, start=90, end=95, direction="down"),
            anomaly(segment={"region": "EMEA"}, start=40, end=41),
        ]

    in_turn = found()
    explain_module._locate_in_cube(in_turn, linking_cubes(sets))
    explain_module._link_funnel(in_turn, CONFIG)
    explain_module._link_correlated(in_turn, CONFIG)
    pids, localize = tmp_path / "pids", explain_module._Cube.localize

    def recorded(cube, segment, *args, **kwargs):
        with open(pids, "a") as out:
            out.write(f"{os.getpid()}\n")
        return localize(cube, segment, *args, **kwargs)

    monkeypatch.setattr(explain_module._Cube, "localize", recorded)
    monkeypatch.setattr(drivers, "_PARALLEL_MIN_LEAVES", 0)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    linked = found()
    link_anomalies(linked, linking_cubes(sets), CONFIG)
    assert [(a.cube_drivers, a.funnel, a.correlated) for a in linked] == [
        (a.cube_drivers, a.funnel, a.correlated) for a in in_turn
    ]
    assert [d["segment"] for d in linked[0].cube_drivers] == [{"region": "NA"}, {"region": "EMEA"}]
    localized_in = pids.read_text().split()
    assert len(localized_in) == 3 and set(localized_in) - {str(os.getpid())}  # one window at least in the worker


def test_links_with_the_cube_windows_in_a_thread_are_the_links_made_one_after_the_other(monkeypatch):
    """`link_anomalies` computes the whole cube's windows in a thread while it links funnel
    stages and correlated anomalies: every link is what the three steps make in turn, each
    window is computed once, and one is computed off the calling thread while it links."""
    import threading

    import ctxmetrics.explain.explain as explain_module
    from ctxmetrics.explain.explain import link_anomalies, linking_cubes

    sets = {
        "leads": series_set(effects=[("NA", 60, 69, 1.6), ("EMEA", 60, 69, 1.3), ("APAC", 90, 95, 0.5)]),
        "mql": series_set("mql", effects=[("NA", 61, 69, 1.5)]),
    }

    def found():
        return [
            anomaly(segment={"region": "NA"}), anomaly(segment={"region": "APAC"}, start=90, end=95, direction="down"),
            anomaly(metric="mql", segment={"region": "NA"}, start=61), anomaly(segment={}, start=30, end=33),
            anomaly(metric="sql", segment={"region": "NA"}, start=62),
        ]

    in_turn = found()
    cubes = linking_cubes(sets)
    explain_module._locate_in_cube(in_turn, cubes)
    explain_module._link_funnel(in_turn, CONFIG)
    explain_module._link_correlated(in_turn, CONFIG)
    computed: list[tuple[int, int]] = []
    beside = threading.Event()  # set once a window was computed off the calling thread
    expectation, correlated = explain_module._Cube._leaf_expectation, explain_module._link_correlated

    def recorded(cube, window):
        if window not in cube._expectations:
            computed.append(window)
            if threading.current_thread() is not threading.main_thread():
                beside.set()
        return expectation(cube, window)

    def waiting(anomalies, config):  # linking waits for the thread's first window: they overlap
        beside.wait(timeout=10)
        correlated(anomalies, config)

    monkeypatch.setattr(explain_module._Cube, "_leaf_expectation", recorded)
    monkeypatch.setattr(explain_module, "_link_correlated", waiting)
    linked = found()
    link_anomalies(linked, linking_cubes(sets), CONFIG)
    assert [(a.cube_drivers, a.funnel, a.correlated) for a in linked] == [
        (a.cube_drivers, a.funnel, a.correlated) for a in in_turn
    ]
    assert linked[0].cube_drivers and linked[0].funnel and linked[0].correlated  # something was linked
    assert beside.is_set()
    assert sorted(computed) == [(60, 69), (61, 69), (90, 95)]  # each once


def test_a_partial_cube_is_not_taken_for_the_whole():
    full = series_set(effects=[("NA", 60, 69, 1.6), ("EMEA", 60, 69, 1.3)])
    # the rows a distributed engine may return for linking: the total, NA and EMEA, not APAC
    partial = SeriesSet("leads", "count", START, full.segments[:3], full.values[:3])
    na = anomaly(segment={"region": "NA"})
    explain([na], [], {"leads": partial})
    assert na.cube_drivers == []


def test_a_flagged_total_leaves_the_cube_to_its_own_drivers():
    sets = {"leads": series_set(effects=[("NA", 60, 69, 1.6), ("EMEA", 60, 69, 1.3)])}
    total, na = anomaly(segment={}, start=61), anomaly(segment={"region": "NA"})
    explain([total, na], [], sets)
    assert na.cube_drivers == [] and total.cube_drivers == [] and total.drivers


def test_correlated_lists_nearby_changes_most_related_first():
    a = anomaly(segment={"region": "NA"})
    same_segment = anomaly(metric="mql", segment={"region": "NA"}, start=61)
    rollup = anomaly(segment={}, start=62)
    unrelated = anomaly(metric="sql", segment={"region": "APAC"}, start=59)
    far = anomaly(segment={}, start=80)
    explain([a, same_segment, rollup, unrelated, far], [])
    assert [c["id"] for c in a.correlated] == [same_segment.id, rollup.id, unrelated.id]
    assert set(a.correlated[0]) >= {"id", "metric", "segment", "change_pct"}


def test_correlated_keeps_five_within_the_days_and_its_sub_segments_before_the_rest():
    # correlated_days is 3: a start 3 days away is near, 4 days away is not (across a month's end)
    a = anomaly(segment={}, start=30)
    parts = [anomaly(segment={"region": r}, start=s, change=c) for r, s, c in
             (("NA", 27, 10.0), ("EMEA", 33, 20.0), ("APAC", 26, 90.0), ("NA", 34, 90.0))]
    others = [anomaly(metric="mql", segment={"region": "NA"}, start=30 + k, change=5.0 + k) for k in range(-3, 4)]
    explain([a, *parts, *others], [])
    listed = [c["id"] for c in a.correlated]
    assert listed[:2] == [parts[1].id, parts[0].id]  # its sub-segments within 3 days, by size
    assert len(listed) == 5 and parts[2].id not in listed and parts[3].id not in listed
    assert listed[2:] == [others[6].id, others[5].id, others[4].id]  # then the rest, by size


def test_coverage_counts_explained_per_metric():
    a, b, c = anomaly(), anomaly(start=80), anomaly(metric="mql")
    explain([a, b, c], [event("promo")])
    assert coverage([a, b, c]) == {
        "total": 3, "explained": 2, "share": round(2 / 3, 4),
        "per_metric": {"leads": {"total": 2, "explained": 1, "share": 0.5},
                       "mql": {"total": 1, "explained": 1, "share": 1.0}},
    }
    assert coverage([])["share"] == 0.0


def test_missing_effects_lists_expected_changes_that_did_not_happen():
    seen = anomaly(segment={"region": "EMEA"})
    events = [
        event("emea-push", scope={"region": ["EMEA"]}, metrics=["leads"]),  # seen
        event("apac-push", scope={"region": ["APAC"]}, metrics=["leads"]),  # nothing in APAC
        event("mql-drop", type="release", start=30, end=30, metrics=["mql"], expect="down"),  # nothing on mql
        event("team-offsite", type="offsite", start=40, end=41),  # no expectation: not checked
        event("future", start=200, end=210),  # outside the data
    ]
    found = missing_effects(events, [seen], CONFIG, (START, day(DAYS - 1)))
    assert [m["annotation_id"] for m in found] == ["apac-push", "mql-drop"]
    assert found[0]["reason"] == "expected leads up in region=APAC; no change seen"
    assert found[0]["segment"] == {"region": "APAC"} and found[0]["window"] == [day(60).isoformat(), day(69).isoformat()]
    opposite = anomaly(metric="mql", start=30, end=31, direction="up")
    found = missing_effects(events[2:3], [opposite], CONFIG, (START, day(DAYS - 1)))
    assert found[0]["reason"] == "expected mql down in everything; saw only a rise"


def test_json_round_trip_keeps_funnel():
    a = anomaly()
    a.funnel = [{"stage": "leads", "start": "2026-03-02", "direction": "up", "change_pct": 50.0}]
    assert Anomaly.from_json(a.to_json()).funnel == a.funnel



def test_of_equally_good_events_the_one_starting_closest_to_the_change_ranks_first():
    # Both holidays fit fully (start and end within the plateaus); by id the far one would
    # come first, by time the near one must.
    a = anomaly(start=60, end=61, direction="down", change=-40.0)
    explain([a], [event("aaa-far-holiday", type="holiday", start=58, end=59), event("zzz-near-holiday", type="holiday", start=60, end=61)])
    assert causes(a) == ["zzz-near-holiday", "aaa-far-holiday"]


def test_an_outage_that_ended_never_explains_a_lasting_shift_but_a_campaign_may():
    sets = {"leads": series_set()}
    shift = anomaly(start=60, end=None, direction="down", change=-30.0)
    explain([shift], [event("site-down", type="outage", start=60, end=61)], sets)
    assert shift.causes == []
    lift = anomaly(start=60, end=None, direction="up", change=30.0)
    explain([lift], [event("promo", type="campaign", start=60, end=69)], sets)
    assert causes(lift) == ["promo"] and "persists after it ended" in lift.causes[0].reason


def test_a_days_off_event_explains_a_lasting_shift_whose_level_turned_back_before_it_ended():
    # A closure longer than max_temporary_days shows as a lasting drop and a lasting
    # recovery: the drop did not outlast it. A recovery after its end (and lag) still did.
    sets = {"leads": series_set()}
    drop = anomaly(start=60, end=None, direction="down", change=-80.0)
    back = anomaly(start=160, end=None, direction="up", change=300.0)
    explain([drop, back], [event("closed", type="outage", start=61, end=160)], sets)
    assert causes(drop) == ["closed"] and "the level turned back on" in drop.causes[0].reason
    drop, late = anomaly(start=60, end=None, direction="down", change=-80.0), anomaly(start=100, end=None, direction="up")
    explain([drop, late], [event("site-down", type="outage", start=60, end=61)], sets)
    assert drop.causes == []


def test_root_causes_localized_in_worker_processes_are_those_of_one_process(monkeypatch):
    import ctxmetrics.explain.drivers as drivers_module

    sets = {"leads": series_set(effects=[("NA", 60, 69, 1.6), ("EMEA", 60, 69, 1.2)])}

    def anomalies():
        return [anomaly(segment={}, start=s) for s in range(40, 80)] + [anomaly(segment={"region": "NA"})]

    alone = explain(anomalies(), [], sets)
    monkeypatch.setattr(drivers_module, "_PARALLEL_MIN_ANOMALIES", 1)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    forked = explain(anomalies(), [], sets)
    assert any(a.drivers for a in alone)
    assert [(a.drivers, a.uniform) for a in forked] == [(a.drivers, a.uniform) for a in alone]
