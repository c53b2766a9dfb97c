"""benchmarks/midsize_stories.py: the stories are planted as its truth says, and its scorer
applies the rule its docstring states."""
from datetime import timedelta

import numpy as np
import pytest

from benchmarks import midsize_stories as ms


@pytest.fixture(scope="module")
def funnel():
    return ms.generate(7)


def _story(funnel, name):
    return next(s for s in funnel.stories if s.name == name)


def _series(funnel, stage, segment):
    return funnel.counts[stage][ms._cells(segment)].sum(axis=0).astype(float)


def _weekday_mean(series, first, last):
    days = [i for i in range(first, last + 1) if ms._day(i).weekday() < 5]
    return series[days].mean()


def test_the_stories_are_planted_as_their_truth_says(funnel):
    offsite = _story(funnel, "offsite")
    assert offsite.start.weekday() == 1 and offsite.end - offsite.start == timedelta(days=2)
    opps = _series(funnel, "opportunities", {})
    i = ms._index(offsite.start)
    before = _weekday_mean(opps, i - 28, i - 1)
    assert 35 < before < 80  # ~45/day in total, weekdays higher
    assert opps[i:i + 3].mean() / before == pytest.approx(0.35, abs=0.12)

    campaign = _story(funnel, "campaign")
    leads = _series(funnel, "leads", campaign.segment)
    i = ms._index(campaign.start)
    base = np.r_[leads[i - 28:i], leads[i + 14 + 7:i + 14 + 35]].mean()
    assert 10 < base < 20  # ~14 paid leads a day in the campaign's region
    assert leads[i:i + 14].mean() / base == pytest.approx(1.7, abs=0.25)

    apac = _story(funnel, "apac_drop")
    assert apac.end is None and apac.segment == {"region": "APAC"}
    opps = _series(funnel, "opportunities", apac.segment)
    i = ms._index(apac.start)
    before = opps[i - 56:i].mean()
    assert 1.5 < before < 5  # ~3 a day
    assert opps[i + 7:i + 63].mean() / before == pytest.approx(0.6, abs=0.15)

    outage = _story(funnel, "outage")
    leads = _series(funnel, "leads", outage.segment)
    i = ms._index(outage.start)
    assert leads[i] < 0.3 * leads[i - 7]  # a Wednesday against the one before

    assert len(funnel.decoys) == 2
    starts = sorted(ms._index(x.start) for x in [*funnel.stories, *funnel.decoys])
    assert min(np.diff(starts)) >= ms.MIN_GAP


def _anomaly(metric, segment, start, direction, end=None):
    return {"id": f"{metric}|{segment}|{start}", "metric": metric, "segment": segment, "start": start.isoformat(),
            "end": (end or start).isoformat(), "direction": direction, "change_pct": 0.0, "score": 6.0}


def test_the_scorer_matches_by_metric_level_date_and_direction(funnel):
    campaign = _story(funnel, "campaign")  # LATAM x paid leads, up
    offsite = _story(funnel, "offsite")  # total opportunities, down
    decoy = funnel.decoys[0]
    far = ms._day(ms.DAYS - 1) - timedelta(days=400)
    anomalies = [
        _anomaly("leads", {"region": "LATAM"}, campaign.start + timedelta(days=2), "up"),  # a rollup, 2 days late
        _anomaly("leads", {}, campaign.start, "up"),  # two levels above: not a match, but the story's rollup
        _anomaly("opportunities", {"region": "EMEA", "channel": "paid"}, offsite.start, "down"),  # two levels below
        _anomaly("mql", {"region": "LATAM", "channel": "paid"}, campaign.start + timedelta(days=3), "up"),  # echo
        _anomaly("leads", {"region": "LATAM", "channel": "paid"}, campaign.end + timedelta(days=1), "down"),
        _anomaly("sql", {"channel": "events"}, decoy.start, "up"),
    ]
    result = ms.classify(funnel, anomalies)
    assert result["found"]["campaign"] == anomalies[0]["id"]
    assert result["found"]["offsite"] is None
    assert result["classes"] == ["match", "story", "story", "story", "fa:end_edge", "fa:decoy"]

    late = [_anomaly("leads", {"region": "LATAM", "channel": "paid"}, campaign.start + timedelta(days=3), "up")]
    wrong_way = [_anomaly("leads", {"region": "LATAM", "channel": "paid"}, campaign.start, "down")]
    other_metric = [_anomaly("sql", {"region": "LATAM", "channel": "paid"}, campaign.start, "up")]
    for misses in (late, wrong_way, other_metric):
        assert ms.classify(funnel, misses)["found"]["campaign"] is None
    assert ms.classify(funnel, late)["classes"] == ["story"]  # inside its window: late, not a false alarm
    early = [_anomaly("leads", {"region": "LATAM", "channel": "paid"}, campaign.start - timedelta(days=5), "up")]
    assert ms.classify(funnel, early) == {"found": {s.name: None for s in funnel.stories}, "classes": ["fa:misdated"]}

    pricing = _story(funnel, "pricing")  # a conversion story is found on its ratio too
    ratio = [_anomaly("lead_to_mql", {"channel": "paid"}, pricing.start - timedelta(days=1), "up")]
    assert ms.classify(funnel, ratio)["found"]["pricing"] == ratio[0]["id"]
    assert ms.classify(funnel, [_anomaly("won", {}, far, "up")])["classes"][0].startswith("fa:")


def test_the_export_is_the_long_csv_a_user_ingests(funnel, tmp_path):
    path = tmp_path / "crm.csv"
    ms.write_csv(funnel, path)
    lines = path.read_text().splitlines()
    assert lines[0] == "date,region,channel,metric,value"
    assert lines[1].startswith(ms._day(ms.BURN_IN).isoformat())
    assert len(lines) == 1 + (ms.DAYS - ms.BURN_IN) * len(ms.REGIONS) * len(ms.CHANNELS) * len(ms.STAGES)
