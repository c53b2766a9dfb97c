"""The evaluation suite's own parts (benchmarks/eval): matching rule, tallies, the TCPD
F1, change points of detections, seeded generators and the detector adapter."""
from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.eval.cases import Case, Planted
from benchmarks.eval.detector import change_points, load_detector
from benchmarks.eval.profiles import PROFILES, generate
from benchmarks.eval.scoring import Tally, match, tally_case, tcpd_f1


def test_match_needs_direction_and_start_within_tolerance():
    planted = [Planted(100, 102, "down"), Planted(300, None, "up")]
    detected = [(102, "down"), (300, "down"), (297, "up"), (303, "up")]
    # 102 is 2 away from 100 (matches); 300/down has the wrong direction; 297 is 3 away
    assert match(planted, detected, tolerance=2) == [(0, 0)]
    assert match(planted, detected, tolerance=3) == [(0, 0), (1, 2)]


def test_match_is_one_to_one_closest_first():
    planted = [Planted(50, 52, "up"), Planted(53, 54, "up")]
    detected = [(52, "up"), (51, "up")]
    # 52 is closest to 53 (1) and 51 to 50 (1): both planted found, each once
    assert match(planted, detected, tolerance=2) == [(0, 1), (1, 0)]
    assert match([Planted(10, 10, "up")], [(10, "up"), (11, "up")], tolerance=2) == [(0, 0)]


def test_tally_of_a_case():
    t = tally_case([Planted(10, 12, "up"), Planted(40, None, "down")], [(11, "up"), (70, "up"), (5, "down")],
                   tolerance=2, years=2.0, gaps={5})
    assert (t.planted, t.found, t.detections, t.false_alarms, t.gap_alarms) == (2, 1, 3, 2, 1)
    assert t.recall == 0.5 and t.precision == pytest.approx(1 / 3)
    assert t.f1 == pytest.approx(0.4)
    assert t.alarms_per_100_years == pytest.approx(100.0)
    total = Tally()
    total.add(t)
    total.add(t)
    assert (total.series, total.detections, total.years) == (2, 6, 4.0)


def test_tcpd_f1_on_a_hand_computed_example():
    # annotator sets with 0 added: {0,10,20} and {0,10}; prediction {0,12,50}
    # precision: 0 and 10 (by 12) of the union are hit -> 2/3; recall: (2/3 + 2/2) / 2 = 5/6
    assert tcpd_f1({"a": [10, 20], "b": [10]}, [12, 50]) == pytest.approx(20 / 27)


def test_tcpd_f1_uses_each_prediction_once_and_respects_the_margin():
    # 11 is within 5 of both 10 and 12 but counts once: recall 2/3, precision 2/2
    assert tcpd_f1({"a": [10, 12]}, [11]) == pytest.approx(0.8)
    assert tcpd_f1({"a": [10]}, [16]) == pytest.approx(2 * 0.5 * 0.5)  # 6 > margin 5: only index 0 matches
    assert tcpd_f1({"a": []}, []) == 1.0  # "no change" on a series without changes is perfect


def test_change_points_of_episodes_and_shifts():
    class C:
        def __init__(self, start, end):
            self.start, self.end = start, end

    assert change_points([C(10, 12), C(40, None), C(95, 99)], n=100) == [10, 13, 40, 95]


def test_generated_splits_are_seeded_and_disjoint():
    for name in PROFILES:
        tune, again, holdout = generate(name, "tune", 3), generate(name, "tune", 3), generate(name, "holdout", 3)
        for a, b, c in zip(tune, again, holdout):
            assert np.array_equal(a.values, b.values, equal_nan=True), name
            assert not np.array_equal(a.values, c.values, equal_nan=True), name


def test_planted_changes_lie_inside_the_series_and_never_on_a_gap():
    for case in generate("gaps", "tune", 20) + generate("small_company", "tune", 10):
        gaps = set(case.gaps.tolist())
        assert gaps, case.name
        for p in case.planted:
            assert 0 < p.start < len(case.values) and p.start not in gaps
            assert p.end is None or p.start <= p.end < len(case.values)


def test_small_company_stories_have_their_documented_sizes():
    cases = generate("small_company", "holdout", 5)
    region = cases[1]
    p = region.planted[0]
    assert p.direction == "down" and p.end - p.start + 1 == 14
    assert np.nansum(region.values[p.start : p.end + 1]) == 0  # closes nothing for two weeks
    offsite = cases[2].planted[0]
    assert offsite.end - offsite.start == 2
    assert (cases[2].dates[offsite.start].astype("datetime64[D]").astype(int) + 3) % 7 == 1  # a Tuesday


def test_adapter_prefers_find_changes(monkeypatch):
    from ctxmetrics import detect

    seen = {}

    def fake(values, *, kind, dates, denominators):
        seen.update(kind=kind, n=len(values), first=dates[0], den=denominators)
        return []

    monkeypatch.setattr(detect, "find_changes", fake, raising=False)
    detector = load_detector()
    case = Case("x", np.arange(30.0), "gauge", np.datetime64("2024-01-01") + np.arange(30))
    assert detector.name.startswith("ctxmetrics.detect.find_changes from ")
    assert detector.run(case) == [] and seen == {"kind": "gauge", "n": 30, "first": case.dates[0], "den": None}


def test_years_of_a_monthly_case():
    months = np.arange(np.datetime64("2020-01"), np.datetime64("2022-01")).astype("datetime64[D]")
    case = Case("m", np.ones(24), "count", months, "M")
    assert math.isclose(case.years, 2.0)


def test_funnel_matching_counts_echoes_apart():
    import datetime as dt
    from types import SimpleNamespace

    from benchmarks.eval.funnel import tally_funnel
    from ctxmetrics.synth import Effect

    day = dt.date(2024, 3, 1)
    effects = [Effect("leads", {"region": "EMEA"}, day, day + dt.timedelta(days=6), "spike", -0.6)]

    def anomaly(metric, segment, offset, direction):
        return SimpleNamespace(metric=metric, segment=segment, start=day + dt.timedelta(days=offset), direction=direction)

    found = [
        anomaly("leads", {"region": "EMEA"}, 1, "down"),  # the effect itself
        anomaly("sql", {"region": "EMEA", "channel": "paid"}, 4, "down"),  # downstream, inside the scope: echo
        anomaly("leads", {}, 8, "up"),  # the recovery on the total: echo
        anomaly("leads", {"region": "NA"}, 1, "down"),  # another region: false alarm
        anomaly("leads", {"region": "EMEA"}, 40, "up"),  # long after: false alarm
    ]
    t = tally_funnel(effects, found)
    assert (t.planted, t.found, t.detections, t.false_alarms) == (1, 1, 3, 2)
    assert t.precision == pytest.approx(1 / 3)
    assert tally_funnel(effects, [anomaly("leads", {"region": "EMEA"}, 1, "up")]).found == 0  # wrong direction


def test_per_day_keeps_days_without_readings_unknown(tmp_path):
    from benchmarks.eval.files import per_day, read_columns

    path = tmp_path / "x.csv"
    path.write_text("ts,v\r2024-01-01 00:00,1\r2024-01-01 12:00,3\r2024-01-03 00:00,NaN\r2024-01-04 00:00,5\r")
    calendar, means = per_day(*read_columns(path, "ts", "v"))
    _, sums = per_day(*read_columns(path, "ts", "v"), total=True)
    assert calendar[0] == np.datetime64("2024-01-01") and len(calendar) == 4
    assert np.array_equal(means, [2.0, np.nan, np.nan, 5.0], equal_nan=True)  # the 3rd has only a NaN reading
    assert np.array_equal(sums, [4.0, np.nan, np.nan, 5.0], equal_nan=True)


def test_unreadable_value_names_file_row_and_column(tmp_path):
    from benchmarks.eval.files import read_columns

    path = tmp_path / "y.csv"
    path.write_text("ds,y\n2024-01-01,1\n2024-01-02,abc\n")
    with pytest.raises(ValueError, match=r"y\.csv, row 3: 'y' is not a number: 'abc'"):
        read_columns(path, "ds", "y")


def test_false_alarm_classes():
    from benchmarks.false_alarms import classify

    dates = np.datetime64("2022-01-03") + np.arange(400)
    case = Case("volumes", np.ones(400), "count", dates, planted=(Planted(100, 120, "up"), Planted(300, None, "down")))
    assert classify(case, 95, 120, "up") == "misplaced 3-5"
    assert classify(case, 108, 118, "up") == "misplaced 6-10"
    assert classify(case, 96, None, "up") == "lasting over a temporary change"
    assert classify(case, 110, 112, "down") == "opposite inside"
    assert classify(case, 125, 130, "down") == "echo at end"
    assert classify(case, 280, 285, "up") == "before a change"
    assert classify(case, 200, 200, "up") == "no change near, 1 period"
    assert classify(case, 200, 210, "up") == "no change near, 7+ periods"
    assert classify(case, 200, None, "down") == "misplaced >10"  # a lasting change 100 days early


def _tagged_case_with(monkeypatch, blind_span: tuple[int, int], tagged_span: tuple[int, int]):
    """`tagged_outcome` of a case whose detector reports `blind_span` and whose one tagged
    window (`tagged_span`, no decoys) measures a passing rise."""
    import ctxmetrics.detect
    import ctxmetrics.detect.targeted
    from benchmarks.eval import tagged
    from ctxmetrics.models.change import Change

    def rise(first, last, score):
        return Change("spike", "up", first, last, 10.0, 20.0, 100.0, score)

    monkeypatch.setattr(ctxmetrics.detect, "find_changes", lambda *a, **k: [rise(*blind_span, 7.0)])
    monkeypatch.setattr(ctxmetrics.detect.targeted, "window_changes", lambda values, windows, **k: [rise(*tagged_span, 6.0)])
    monkeypatch.setattr(tagged, "case_windows", lambda case, rng: ([ctxmetrics.detect.targeted.Window(*tagged_span)], []))
    case = Case("c", np.ones(200), "count", np.datetime64("2024-01-01") + np.arange(200),
                planted=(Planted(tagged_span[0], tagged_span[1], "up"),))
    outcome, decoys = tagged.tagged_outcome(case, np.random.default_rng(0))
    return [(c.start, c.end) for c in outcome.detections]


def test_a_tag_dates_the_blind_detection_it_overlaps_otherwise(monkeypatch):
    # as the scan does (scan.restatements.redates): same direction, mostly the same days,
    # a start more than 2 days away: the tagged window's dating stands, the blind one goes
    assert _tagged_case_with(monkeypatch, (106, 121), (100, 119)) == [(100, 119)]


def test_a_tag_leaves_a_blind_detection_of_its_own_dates_or_of_a_small_part(monkeypatch):
    assert _tagged_case_with(monkeypatch, (101, 119), (100, 119)) == [(101, 119)]  # dated alike
    assert _tagged_case_with(monkeypatch, (106, 107), (100, 119)) == [(106, 107)]  # 2 of 20 days


def test_tcpd_halves_alternate_over_sorted_names():
    from benchmarks.eval.external import tcpd_half

    halves = tcpd_half(["nile", "bank", "co2", "apple", "bank"])
    assert halves == {"apple": "tune", "bank": "holdout", "co2": "tune", "nile": "holdout"}
    # a name added later moves only the names sorted after it
    assert tcpd_half(["apple", "bank", "co2", "nile", "zinc"])["zinc"] == "tune"


def _tcpd_folder(tmp_path, names):
    import json

    (tmp_path / "datasets").mkdir()
    notes = {}
    for k, name in enumerate(names):
        values = [10.0] * 40 + [10.0 + 5 * (k + 1)] * 40
        series = {"name": name, "time": {"format": "%Y-%m-%d", "raw": [str(np.datetime64("2020-01-01") + i) for i in range(80)]},
                  "series": [{"label": "V1", "raw": values}]}
        (tmp_path / "datasets" / name).mkdir()
        (tmp_path / "datasets" / name / f"{name}.json").write_text(json.dumps(series))
        notes[name] = {"1": [40], "2": [41]}
    (tmp_path / "annotations.json").write_text(json.dumps(notes))
    return tmp_path


def test_tcpd_evaluation_reads_only_the_halves_asked_for(tmp_path):
    from benchmarks.eval.detector import Detector
    from benchmarks.eval.external import evaluate_tcpd

    folder = _tcpd_folder(tmp_path, ["a", "b", "c"])
    seen = []

    def step_at_40(case):
        seen.append(case.name)
        return [type("C", (), {"start": 40, "end": None})()]

    tune = evaluate_tcpd(Detector("step at 40", step_at_40), folder, ("tune",))
    assert sorted(seen) == ["a:V1", "c:V1"] and tune["datasets"] == 2
    assert tune["mean_f1"]["detector"] == pytest.approx(1.0) and list(tune["by_half"]) == ["tune"]
    both = evaluate_tcpd(Detector("nothing", lambda case: []), folder)
    assert both["half_sizes"] == {"tune": 2, "holdout": 1}
    assert both["mean_f1"]["detector"] == pytest.approx(both["mean_f1"]["no_change"])
    assert both["mean_f1"]["no_change"] < 1.0


def test_tcpd_series_marks_unannotated_points_and_lists_missed_ones(tmp_path, capsys):
    from types import SimpleNamespace

    from benchmarks.eval.detector import Detector
    from benchmarks.eval.external import tcpd_datasets
    from benchmarks.tcpd_series import print_dataset

    cases, notes = tcpd_datasets(_tcpd_folder(tmp_path, ["a"]))["a"]
    episode = SimpleNamespace(kind="spike", direction="up", start=10, end=11, score=6.0, change_pct=50.0)
    row = print_dataset(Detector("one spike", lambda case: [episode]), "a", cases, notes)
    out = capsys.readouterr().out
    assert row["points"] == [10, 12]
    assert "-> points 10x 12x" in out and "annotated points missed: [40, 41]" in out
