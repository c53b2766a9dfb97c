"""One change seen on a rollup and on a part of it, or on a lower funnel stage, is reported once where the two disagree on its date."""
from __future__ import annotations

import datetime as dt
from dataclasses import replace

import polars as pl

from ctxmetrics.models.anomaly import Anomaly, Cause
from ctxmetrics.project import Project
from ctxmetrics.config import Config
from ctxmetrics.scan.restatements import drop_restatements, funnel_echoes, restatements
from ctxmetrics.scan.scan import scan_project
from ctxmetrics.store.results import load_anomalies
from ctxmetrics.synth import Effect, generate_funnel
from tests.test_scan import ingest_frame

DAY = dt.date(2025, 3, 10)


def anomaly(segment, start=DAY, direction="down", metric="leads", score=6.0, end=None, change_pct=-60.0, causes=()):
    return Anomaly(metric=metric, segment=dict(segment), kind="spike", direction=direction, start=start,
                   end=end or start + dt.timedelta(days=13), before=10.0, after=10.0 * (1 + change_pct / 100),
                   change_pct=change_pct, score=score, volume=10.0, causes=list(causes))


def lasting(a: Anomaly) -> Anomaly:
    return replace(a, end=None, kind="level_shift")


def test_a_weaker_part_dated_otherwise_restates_its_rollup():
    region = anomaly({"region": "APAC"}, score=9.0)
    early_leaf = anomaly({"region": "APAC", "channel": "paid"}, start=DAY - dt.timedelta(days=3))
    assert restatements([region, early_leaf]) == [early_leaf]


def test_a_weaker_rollup_dated_otherwise_restates_its_part():
    leaf = anomaly({"region": "APAC", "channel": "paid"}, score=12.0)
    total = anomaly({}, start=DAY - dt.timedelta(days=4), score=7.0)
    assert restatements([leaf, total]) == [total]


def test_what_a_restatement_is_not():
    region = anomaly({"region": "APAC"}, score=9.0)
    leaf = {"region": "APAC", "channel": "paid"}
    early = DAY - dt.timedelta(days=3)
    kept = [
        anomaly(leaf, start=DAY - dt.timedelta(days=2)),  # dated alike: it agrees
        anomaly(leaf, start=early, direction="up"),  # the other way
        anomaly({"region": "NA", "channel": "paid"}, start=early),  # not inside the rollup
        anomaly(leaf, start=early, metric="won"),  # another metric
        anomaly({"region": "APAC", "channel": "organic"}, start=DAY + dt.timedelta(days=30)),  # after it
        anomaly({"region": "APAC", "channel": "partner"}, start=early,  # linked to an event the rollup is not
                causes=[Cause("outage-1", "partner portal down", "outage", 0.9, "scope and time match")]),
    ]
    assert restatements([region, *kept]) == []
    stronger_part = anomaly({"region": "APAC", "channel": "organic"}, start=early, score=9.5)
    assert restatements([region, stronger_part]) == [region]  # the part dates the change


def test_a_stronger_part_that_does_not_carry_the_change_leaves_its_rollup():
    """A rare part's day (a refund from none, scored sky-high against a flat series) is not
    the total's step: it moved by far less than half as much per day."""
    total = lasting(anomaly({}, direction="up", change_pct=46.0, score=7.4))
    total = replace(total, before=3600.0, after=5300.0)
    refund = anomaly({"status": "Refunded"}, start=DAY + dt.timedelta(days=5), direction="up", score=3e11,
                     end=DAY + dt.timedelta(days=5))
    refund = replace(refund, before=0.0, after=299.0, change_pct=float("nan"))
    assert restatements([total, refund]) == []
    carrying = replace(refund, before=3300.0, after=4900.0, change_pct=48.0, score=9.0)
    assert restatements([total, carrying]) == [total]


def test_a_deeper_episode_inside_a_longer_change_is_its_own():
    six_weeks = anomaly({}, end=DAY + dt.timedelta(days=41), change_pct=-45.0, score=8.0)
    closed_nothing = anomaly({"region": "EMEA"}, start=DAY + dt.timedelta(days=10), change_pct=-100.0, score=5.5)
    somewhat_deeper = anomaly({"region": "NA"}, start=DAY + dt.timedelta(days=10), change_pct=-55.0, score=5.5)
    assert restatements([six_weeks, closed_nothing, somewhat_deeper]) == [somewhat_deeper]


def test_drop_restatements_keeps_the_rest_in_order():
    region = anomaly({"region": "APAC"}, score=9.0)
    leaf = anomaly({"region": "APAC", "channel": "paid"}, start=DAY - dt.timedelta(days=3))
    other = anomaly({"region": "NA"})
    assert drop_restatements([region, leaf, other]) == ([region, other], [leaf])


FUNNEL = ("leads", "mql", "sql", "opportunities", "won")


def test_a_weaker_lower_stage_dated_past_the_funnel_lag_echoes_the_stage_above():
    leads = anomaly({"region": "APAC"}, end=DAY + dt.timedelta(days=27), score=20.0)
    won = anomaly({"region": "APAC"}, metric="won", start=DAY + dt.timedelta(days=15), score=8.0)
    assert funnel_echoes([leads, won], FUNNEL, lag_days=7) == [won]
    assert drop_restatements([leads, won], FUNNEL, lag_days=7) == ([leads], [won])
    assert drop_restatements([leads, won]) == ([leads, won], [])  # no funnel: no stages to trail


def test_a_weaker_lower_stage_dated_before_the_stage_above_echoes_it():
    mql = anomaly({"region": "APAC"}, metric="mql", end=DAY + dt.timedelta(days=27), score=20.0)
    won = anomaly({"region": "APAC"}, metric="won", start=DAY - dt.timedelta(days=40), end=DAY + dt.timedelta(days=37),
                  score=6.0)
    assert funnel_echoes([mql, won], FUNNEL, lag_days=10) == [won]
    agrees = replace(won, start=DAY - dt.timedelta(days=2))
    over_before = replace(won, end=DAY - dt.timedelta(days=1))  # over before the stage above moved: its own
    stronger = replace(won, score=25.0)
    assert funnel_echoes([mql, agrees, over_before, stronger], FUNNEL, lag_days=10) == []


def test_what_a_funnel_echo_is_not():
    leads = anomaly({"region": "APAC"}, end=DAY + dt.timedelta(days=27), score=20.0)
    late = DAY + dt.timedelta(days=15)
    kept = [
        anomaly({"region": "APAC"}, metric="won", start=DAY + dt.timedelta(days=9)),  # within lag + 2 days: it agrees
        anomaly({"region": "APAC"}, metric="won", start=late, direction="up"),  # the other way
        anomaly({"region": "EMEA"}, metric="won", start=late),  # another segment
        anomaly({"region": "APAC"}, metric="won", start=late, score=25.0),  # stronger than the stage above
        anomaly({"region": "APAC"}, metric="won", start=DAY + dt.timedelta(days=36)),  # after the lagged end
        anomaly({"region": "APAC"}, metric="won", start=late, change_pct=-100.0),  # much deeper: its own story
        anomaly({"region": "APAC"}, metric="won", start=late,  # linked to an event the stage above is not
                causes=[Cause("offsite-1", "sales offsite", "offsite", 0.9, "scope and time match")]),
        anomaly({"region": "APAC"}, metric="leads", start=late, score=3.0),  # the same stage (restatements judge it)
    ]
    assert funnel_echoes([leads, *kept], FUNNEL, lag_days=7) == []
    mql = anomaly({"region": "APAC"}, metric="mql", start=DAY - dt.timedelta(days=20), score=5.0)
    assert funnel_echoes([mql, leads], FUNNEL, lag_days=7) == []  # a stage above is never the echo


def test_a_lasting_change_is_echoed_within_its_first_weeks_only():
    budget_cut = lasting(anomaly({"channel": "paid"}, score=20.0))
    pricing = lasting(anomaly({"channel": "paid"}, metric="won", start=DAY + dt.timedelta(days=200), score=6.0))
    misdated = lasting(anomaly({"channel": "paid"}, metric="won", start=DAY + dt.timedelta(days=21), score=6.0))
    assert funnel_echoes([budget_cut, pricing, misdated], FUNNEL, lag_days=7) == [misdated]


def test_metrics_named_as_stages_make_a_funnel_when_none_is_set():
    assert Config().funnel_of({"won", "leads", "mql"}) == ("leads", "mql", "won")
    assert Config().funnel_of({"won", "leads", "revenue"}) == ()  # not all stages: no funnel
    assert Config().funnel_of({"leads"}) == ()
    assert Config(funnel=("a", "b")).funnel_of({"leads", "won"}) == ("a", "b")


def _scan_finds_the_campaign_once(project, campaign):
    """Scan, then check nothing stored restates another anomaly and the campaign is dated
    within the 2-day tolerance on its own segment."""
    scan_project(project)
    with project.store(read_only=True) as store:
        stored = load_anomalies(store)
    assert restatements(stored) == []
    found = [a for a in stored if a.metric == "leads" and a.segment == campaign.segment and a.direction == "up"]
    assert any(abs((a.start - campaign.start).days) <= 2 for a in found)


def test_scan_stores_no_restatement_and_a_rescan_keeps_its_verdicts(project_dir):
    project = Project(project_dir)
    campaign = Effect(metric="leads", segment={"channel": "paid"}, start=dt.date(2025, 6, 4),
                      end=dt.date(2025, 6, 24), kind="spike", magnitude=0.9)
    ingest_frame(project, generate_funnel(7, days=365, effects=[campaign]).frame)
    _scan_finds_the_campaign_once(project, campaign)
    # new data for the metric: the series whose anomalies were dropped are judged afresh
    ingest_frame(project, generate_funnel(7, days=366, effects=[campaign]).frame, "more.csv")
    _scan_finds_the_campaign_once(project, campaign)


def test_a_lower_stage_echo_is_judged_afresh_when_a_stage_above_changes(project_dir):
    """mql of channel=paid down four weeks: won's echo of it, dated late at a few a day, is
    not stored. When only leads change later, the lower stages' restated series are detected
    again (the change they echoed may have moved), the rest of them are not."""
    project = Project(project_dir)
    cut = Effect("mql", {"channel": "paid"}, dt.date(2024, 8, 31), dt.date(2024, 9, 27), "spike", -0.6)
    frame = generate_funnel(1, start=dt.date(2024, 1, 1), days=365, effects=[cut]).frame
    ingest_frame(project, frame)
    scan_project(project)
    with project.store(read_only=True) as store:
        assert funnel_echoes(load_anomalies(store), FUNNEL, lag_days=7) == []
        restated = store.query_rows("select metric from scan_state where fingerprint like '%:restated'")[1]
    echoed = sum(1 for (metric,) in restated if metric == "won")
    assert echoed > 0
    one_cell_day = (pl.col("metric") == "leads") & (pl.col("region") == "NA") & (pl.col("channel") == "organic")
    edited = frame.filter(one_cell_day & (pl.col("date") == dt.date(2024, 3, 5))).with_columns(pl.col("value") + 1)
    ingest_frame(project, edited, "correction.csv")
    rescanned: dict[str, int] = {}
    scan_project(project, progress=lambda metric, done, total: rescanned.__setitem__(metric, total))
    assert rescanned["leads"] >= 4  # the cell and its rollups
    assert rescanned["won"] == echoed


def test_a_scan_links_once_among_the_anomalies_it_keeps(project_dir, monkeypatch):
    """The restatement fold reads causes only: links are made once, after it, and name
    only anomalies that are stored."""
    import ctxmetrics.explain.explain as explain_module

    project = Project(project_dir)
    campaign = Effect(metric="leads", segment={"channel": "paid"}, start=dt.date(2025, 6, 4),
                      end=dt.date(2025, 6, 24), kind="spike", magnitude=0.9)
    ingest_frame(project, generate_funnel(7, days=365, effects=[campaign]).frame)
    linked = []
    link = explain_module._link_correlated

    def counted(anomalies, config):
        linked.append(len(anomalies))
        link(anomalies, config)

    monkeypatch.setattr(explain_module, "_link_correlated", counted)
    result = scan_project(project)
    with project.store(read_only=True) as store:
        stored = load_anomalies(store)
    assert linked == [result.anomalies] == [len(stored)]
    assert any(a.correlated for a in stored)
    assert {c["id"] for a in stored for c in a.correlated} <= {a.id for a in stored}


def tagged_window(a: Anomaly, **changes) -> Anomaly:
    from ctxmetrics.scan.tagged import FOUND_BY

    return replace(a, found_by=FOUND_BY, **changes)


def test_the_detector_dating_a_tagged_change_otherwise_restates_the_tagged_window():
    from ctxmetrics.scan.restatements import redates

    early = anomaly({"region": "APAC"}, start=DAY - dt.timedelta(days=3), end=DAY + dt.timedelta(days=27), score=14.0)
    tagged = tagged_window(anomaly({"region": "APAC"}, end=DAY + dt.timedelta(days=27), score=11.0))
    assert redates(tagged, early)
    kept, dropped = drop_restatements([early, tagged])
    assert (kept, dropped) == ([tagged], [early])  # the analyst's dates stand, however the scores compare
    agreeing = replace(early, start=DAY - dt.timedelta(days=2))
    assert drop_restatements([agreeing, tagged])[1] == []  # within 2 days: they agree
    longer = replace(early, end=DAY + dt.timedelta(days=90))
    assert drop_restatements([longer, tagged])[1] == []  # mostly other days: a change of its own
    other_way = replace(early, direction="up", change_pct=60.0)
    assert drop_restatements([other_way, tagged])[1] == []
    elsewhere = replace(early, segment={"region": "NA"})
    assert drop_restatements([elsewhere, tagged])[1] == []
    own_event = replace(early, causes=[Cause("outage-1", "portal down", "outage", 0.9, "scope and time match")])
    assert drop_restatements([own_event, tagged])[1] == []


def test_a_lasting_change_is_dated_by_its_tag_over_its_first_four_weeks():
    from ctxmetrics.scan.restatements import redates

    blind = lasting(anomaly({}, start=DAY + dt.timedelta(days=5)))
    tagged = tagged_window(lasting(anomaly({})))
    assert redates(tagged, blind)
    assert not redates(tagged, replace(blind, start=DAY + dt.timedelta(days=15)))  # 13 of 28 days shared
