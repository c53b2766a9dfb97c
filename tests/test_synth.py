"""Generator tests: determinism, funnel shape, effects visible, many_series truth."""
from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from ctxmetrics.config import DetectionSettings
from ctxmetrics.detect import find_changes
from ctxmetrics.synth import STAGES, Effect, generate_funnel, many_series

SEEDS = (0, 1, 2)


def daily(funnel, metric: str, **segment) -> np.ndarray:
    """Daily totals of one metric over the leaf segments matching `segment`."""
    frame = funnel.frame.filter(pl.col("metric") == metric)
    for key, value in segment.items():
        frame = frame.filter(pl.col(key) == value)
    return frame.group_by("date").agg(pl.col("value").sum()).sort("date")["value"].to_numpy()


@pytest.mark.parametrize("seed", SEEDS)
def test_deterministic_per_seed(seed):
    assert generate_funnel(seed, days=120).frame.equals(generate_funnel(seed, days=120).frame)
    assert not generate_funnel(seed, days=120).frame.equals(generate_funnel(seed + 10, days=120).frame)


def test_frame_shape_and_types():
    funnel = generate_funnel(0, days=60)
    frame = funnel.frame
    assert frame.columns == ["date", "metric", "value", "region", "channel"]
    assert frame.schema["date"] == pl.Date and frame.schema["value"] == pl.Float64
    assert frame.height == 60 * 9 * 5
    assert funnel.stages == STAGES
    assert frame["date"].min() == date(2025, 1, 1)


@pytest.mark.parametrize("seed", SEEDS)
def test_funnel_is_monotone_and_has_a_low_volume_segment(seed):
    funnel = generate_funnel(seed)
    totals = [daily(funnel, stage).sum() for stage in STAGES]
    assert all(a > b > 0 for a, b in zip(totals, totals[1:]))
    per_segment = funnel.frame.filter(pl.col("metric") == "leads").group_by("region", "channel").agg(
        pl.col("value").median()
    )
    assert per_segment["value"].min() < 5 < per_segment["value"].max()


@pytest.mark.parametrize("seed", SEEDS)
def test_weekly_seasonality_and_growth(seed):
    leads = daily(generate_funnel(seed), "leads")
    weekday = (np.arange(len(leads)) + date(2025, 1, 1).weekday()) % 7
    assert leads[weekday >= 5].mean() < 0.75 * leads[weekday < 5].mean()
    assert leads[-90:].mean() > leads[:90].mean()


@pytest.mark.parametrize("seed", SEEDS)
def test_effects_are_visible_and_propagate(seed):
    effects = (
        Effect("leads", {"region": "EMEA"}, date(2025, 6, 2), None, "level_shift", 0.8, "pricing"),
        Effect("won", {}, date(2026, 2, 1), date(2026, 2, 28), "spike", -0.9, "offsite"),
    )
    funnel = generate_funnel(seed, effects=effects)
    assert funnel.effects == effects
    day = (date(2025, 6, 2) - date(2025, 1, 1)).days
    emea = daily(funnel, "leads", region="EMEA")
    assert emea[day : day + 60].mean() > 1.5 * emea[day - 60 : day].mean()
    emea_sql = daily(funnel, "sql", region="EMEA")
    assert emea_sql[day + 5 : day + 65].mean() > 1.5 * emea_sql[day - 60 : day].mean()
    apac = daily(funnel, "leads", region="APAC")
    assert apac[day : day + 60].mean() < 1.3 * apac[day - 60 : day].mean()
    found = find_changes(emea, settings=DetectionSettings(), start_weekday=date(2025, 1, 1).weekday())
    assert any(c.kind == "level_shift" and abs(c.start - day) <= 3 for c in found)
    won = daily(funnel, "won")
    first = (date(2026, 2, 1) - date(2025, 1, 1)).days
    assert won[first : first + 28].mean() < 0.3 * won[first - 28 : first].mean()


def test_bad_effects_are_rejected():
    with pytest.raises(ValueError):
        generate_funnel(0, effects=(Effect("revenue", {}, date(2025, 3, 1)),))
    with pytest.raises(ValueError):
        generate_funnel(0, effects=(Effect("leads", {"region": "Mars"}, date(2025, 3, 1)),))


@pytest.mark.parametrize("noise", ["white", "ar1"])
def test_many_series_truth(noise):
    matrix, truth = many_series(2000, shift_fraction=0.05, noise=noise, seed=4)
    assert matrix.shape == (2000, 730)
    assert 60 < len(truth) < 140
    assert (matrix >= 0).all() and np.allclose(matrix, np.round(matrix))
    for t in truth:
        assert t.kind in ("spike", "level_shift") and abs(t.magnitude) >= 0.25
        assert (t.end is None) == (t.kind == "level_shift")
        assert t.end is None or 0 <= t.end - t.start <= 59
    again, truth_again = many_series(2000, shift_fraction=0.05, noise=noise, seed=4)
    assert np.array_equal(matrix, again) and truth == truth_again
