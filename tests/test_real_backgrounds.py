"""benchmarks/real_backgrounds.py's parts: planting sized by local noise, placement clear of
ends, effects and documented changes, the verdict of each detection, and the split."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from benchmarks.eval import backgrounds
from benchmarks.eval.backgrounds import Background, split_of
from benchmarks.eval.cases import Planted
from benchmarks.eval.planted_scoring import RealTally, judge, own_detections
from benchmarks.eval.planting import Effect, classes_for, local_noise, place_effects, plant, spacing

ROOT = Path(__file__).resolve().parents[1]


def _background(values, kind="count", documented=(), step="D", margin=7) -> Background:
    dates = np.datetime64("2024-01-01") + np.arange(len(values)) * (30 if step == "M" else 1)
    return Background("test", "test.csv", np.asarray(values, dtype=float), kind,
                      dates.astype("datetime64[D]"), tuple(documented), margin)


def _change(start, end, direction):
    return SimpleNamespace(start=start, end=end, direction=direction)


def test_local_noise_is_the_robust_spread_around_same_weekday_neighbours():
    rng = np.random.default_rng(1)
    weekly = np.tile([100.0, 100, 100, 100, 100, 40, 40], 60)  # a strong weekly pattern is not noise
    values = weekly + rng.normal(0, 5, len(weekly))
    sd, level = local_noise(values, 1.0, 200)
    # residuals against the median of 6 same-weekday neighbours: sd a little above 5
    assert 4.5 < sd < 7.0
    assert level == pytest.approx(100, abs=3)
    assert local_noise(np.full(100, 50.0), 1.0, 50)[0] == pytest.approx(0.05)  # noiseless: 1/1000 of the level


def test_monthly_series_take_no_episode_shorter_than_a_month():
    assert classes_for(1.0) == ["1-3d", "5-14d", "21-90d", "step"]
    assert classes_for(30.0) == ["21-90d", "step"]
    assert classes_for(365.0) == ["step"]


def test_effects_keep_clear_of_each_other_the_ends_and_documented_changes():
    background = _background(np.full(1500, 200.0), documented=(300, 900))
    gap = spacing(background)
    for seed in range(20):
        effects = place_effects(background, np.random.default_rng(seed), tolerance=2)
        assert effects
        assert sum(e.end is None for e in effects) <= 1
        spans = [(e.start, 1499 if e.end is None else e.end) for e in effects]
        for (s1, e1), (s2, _) in zip(spans, spans[1:]):
            assert s2 - e1 > gap
        assert spans[0][0] >= gap and all(e.end is None or e.end <= 1499 - gap for e in effects)
        for e in effects:  # a step's span is judged over its first `gap` periods
            last = e.start + gap if e.end is None else e.end
            assert not any(e.start - 9 <= d <= last + 9 for d in (300, 900))


def test_a_count_effect_is_sized_by_local_noise_and_stays_counts():
    rng = np.random.default_rng(3)
    values = rng.poisson(400, 700).astype(float)
    background = _background(values)
    effect = Effect("5-14d", "down", 9, 300, 308, -0.3)
    planted = plant(background, [effect], np.random.default_rng(0))
    assert np.array_equal(planted[:300], values[:300]) and np.array_equal(planted[309:], values[309:])
    assert np.all(planted == np.round(planted))
    assert planted[300:309].mean() == pytest.approx(0.7 * values[300:309].mean(), rel=0.05)
    # placed effects: the mean shift is severity * sd / sqrt(length), relative to the level
    for e in place_effects(background, np.random.default_rng(5), tolerance=2):
        sd, level = local_noise(values, 1.0, e.start)
        length = 28 if e.end is None else e.end - e.start + 1
        assert abs(e.shift) == pytest.approx(e.severity * sd / np.sqrt(length) / level)
        assert (e.shift > 0) == (e.direction == "up")


def test_a_gauge_is_shifted_additively_and_gaps_stay_unknown():
    values = np.linspace(-5, 5, 200)
    values[50] = np.nan
    planted = plant(_background(values, kind="gauge"), [Effect("step", "up", 6, 40, None, 2.0)],
                    np.random.default_rng(0))
    assert np.isnan(planted[50])
    assert np.allclose(planted[40:50], values[40:50] + 2.0) and np.allclose(planted[:40], values[:40])


def test_verdicts_in_their_order():
    planted = [Planted(100, 104, "down"), Planted(400, None, "up")]
    detections = [_change(101, 104, "down"),  # hit
                  _change(203, 203, "up"),  # 3 days from a documented change at 200
                  _change(300, 300, "down"),  # the unplanted background has it too
                  _change(420, None, "up"),  # after the step, within the spacing: misplaced
                  _change(600, 601, "up")]  # added by planting
    judged = judge(planted, detections, [_change(301, 301, "down")], tolerance=2, spacing=28,
                   documented=(200,), margin=7)
    assert judged.verdicts == ["hit", "documented", "background", "near", "added"]
    assert judged.found == {0}
    tally = RealTally.of_run(2, 1, 1, 1, 2.0)
    assert tally.recall == 0.5 and tally.precision == pytest.approx(1 / 3)
    assert tally.added_per_100_years == pytest.approx(50.0)


def test_own_detections_leave_out_those_near_documented_changes():
    found = [_change(10, 12, "down"), _change(90, 95, "up"), _change(150, 150, "up")]
    # 90..95 starts 10 days before 100 (documented), but the day after its end is 4 days from it
    assert own_detections(found, (100, 13), 4) == [found[2]]


def test_split_is_by_source_file():
    names = [name for name, _, _ in backgrounds.SOURCES]
    assert names == sorted(names)
    assert [split_of(n, []) for n in names[:3]] == ["tune", "holdout", "tune"]
    assert split_of("tcpd:bank", ["bank", "brent_spot"]) == "tune"
    assert split_of("tcpd:brent_spot", ["bank", "brent_spot"]) == "holdout"


def test_missing_folders_give_a_one_line_error(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "real_backgrounds.py"), "--seeds", "1",
                          "--realdata", str(tmp_path), "--ext", str(tmp_path)],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 1
    assert run.stderr.strip().startswith("real_backgrounds.py: error: no background file found")
    assert "Traceback" not in run.stderr


def test_noise_profile_of_white_noise_reads_about_one_noise_unit():
    from benchmarks.eval.noise_profile import noise_profile

    values = 50 + np.random.default_rng(2).normal(0, 2, 400)
    profile = noise_profile(_background(values, kind="gauge"))
    assert 0.8 < profile["robust_sd_z"] < 1.1
    assert abs(profile["lag1"]) < 0.2
