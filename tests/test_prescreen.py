"""The pre-screen judges series as the detector does: what it drops, the detector would
not report (low volume by the count likelihood, ratios as two counts, gaps unknown)."""
import numpy as np
import pytest

from ctxmetrics.config import DetectionSettings
from ctxmetrics.detect import find_changes, prescreen
from ctxmetrics.detect.prescreen import explain_prescreen

SETTINGS = DetectionSettings()
DAYS = 730
START = np.datetime64("2024-01-01")  # a Monday
BUSINESS = np.array([1.2, 1.25, 1.2, 1.2, 1.15, 0.5, 0.5])  # quiet weekends, mean 1


def counts(rng, level: float, rows: int, effect: slice | None = None, lift: float = 1.0) -> np.ndarray:
    """Gamma-Poisson counts (shape 30) with a business week and, optionally, one effect."""
    rate = level * BUSINESS[np.arange(DAYS) % 7] * np.ones((rows, 1))
    if effect is not None:
        rate[:, effect] *= lift
    return rng.poisson(rate * rng.gamma(30.0, 1 / 30.0, rate.shape)).astype(float)


def reported(matrix, **kw) -> np.ndarray:
    dates = START + np.arange(matrix.shape[1])
    dens = kw.pop("denominators", None)
    return np.array([bool(find_changes(row, dates=dates, denominators=None if dens is None else dens[i], **kw))
                     for i, row in enumerate(matrix)])


@pytest.mark.parametrize("level, effect, lift", [
    (1.0, slice(400, 414), 0.0),  # a region at ~1 win a day closes nothing for two weeks
    (3.0, slice(300, 342), 0.45),  # won -55% for six weeks at ~3 a day
    (14.0, slice(500, 514), 1.7),  # leads +70% for a 14-day campaign
])
def test_low_volume_effects_the_detector_reports_are_kept(level, effect, lift):
    matrix = counts(np.random.default_rng(1), level, 12, effect, lift)
    found = reported(matrix)
    assert found.sum() >= 4  # enough reported series to judge the screen on
    kept = prescreen(matrix, SETTINGS, start_date=START)
    assert kept[found].all()


def test_clean_low_volume_rows_are_mostly_dropped():
    matrix = counts(np.random.default_rng(2), 1.0, 200)
    assert prescreen(matrix, SETTINGS, start_date=START).mean() <= 0.05


def test_gaps_are_unknown_not_anomalies():
    # quiet weekends with unknown days (NaN) on weekends and a 3-day export outage: filled
    # with a typical weekday, they would look like weekend spikes
    rng = np.random.default_rng(3)
    matrix = counts(rng, 40.0, 200)
    weekends = np.flatnonzero(np.arange(DAYS) % 7 >= 5)
    for row in matrix:
        row[rng.choice(weekends, 4, replace=False)] = np.nan
        row[200:203] = np.nan
    assert prescreen(matrix, SETTINGS, start_date=START).mean() <= 0.05


def test_a_numerator_above_its_denominator_makes_the_ratio_two_counts():
    # won today over opportunities today: won > opportunities on some days, so the rate
    # is two counts of their own; read as a proportion its rate clips at 1 and spikes
    rng = np.random.default_rng(4)
    den = rng.poisson(32.0, (100, DAYS)).astype(float)  # often below min_denominator: unknown
    num = rng.poisson(30.0, (100, DAYS)).astype(float)
    assert (num > den).any(axis=1).all()
    assert prescreen(num, SETTINGS, kind="ratio", denominators=den, start_date=START).mean() <= 0.05
    lifted = num.copy()
    lifted[:, 400:414] = rng.poisson(30.0 * 1.8, (100, 14))
    found = reported(lifted[:10], kind="ratio", denominators=den[:10])
    assert found.sum() >= 8
    assert prescreen(lifted[:10], SETTINGS, kind="ratio", denominators=den[:10], start_date=START)[found].all()


@pytest.mark.parametrize("kind", ["count", "ratio", "gauge"])
def test_explanation_gives_the_screens_decision(kind):
    # every row's checks (best value, bar) decide exactly as the screen does
    rng = np.random.default_rng(5)
    if kind == "count":
        values = counts(rng, 2.0, 40, slice(300, 320), 0.3)
        values[20:] = counts(rng, 300.0, 20, slice(500, 503), 1.4)
        dens = None
    elif kind == "ratio":
        dens = rng.poisson(200.0, (40, DAYS)).astype(float)
        lifted = (np.arange(40) % 2 == 0)[:, None] & (np.arange(DAYS) // 50 == 9)
        values = rng.binomial(dens.astype(int), np.where(lifted, 0.23, 0.2)).astype(float)
    else:
        values = rng.normal(0, 1, (40, DAYS)).cumsum(axis=1) * 0.1 + rng.normal(0, 1, (40, DAYS))
        dens = None
    kept = prescreen(values, SETTINGS, kind=kind, denominators=dens, start_date=START)
    assert 0 < kept.sum() < len(kept)  # both decisions are exercised
    for i, row in enumerate(values):
        why = explain_prescreen(row, SETTINGS, kind=kind, denominators=None if dens is None else dens[i], start_date=START)
        passes = any(value >= bar for value, bar in why["checks"].values())
        assert why["kept"] == kept[i] == (passes and not why["too_small"])


def test_a_rows_decision_does_not_depend_on_the_rows_screened_with_it():
    # the episode checks run only on rows no step has decided: the rows kept in a block
    # are those kept one by one (steps, short episodes, too small and low-volume rows)
    rng = np.random.default_rng(6)
    matrix = np.vstack([counts(rng, 80.0, 8, slice(365, DAYS), 1.3), counts(rng, 80.0, 8, slice(400, 403), 1.8),
                        counts(rng, 0.01, 4), counts(rng, 3.0, 8, slice(300, 342), 0.3), counts(rng, 300.0, 12)])
    kept = prescreen(matrix, SETTINGS, start_date=START)
    assert 0 < kept.sum() < len(kept)
    assert kept.tolist() == [bool(prescreen(row[None], SETTINGS, start_date=START)[0]) for row in matrix]


@pytest.mark.parametrize("width", [3, 8, 21, 55])
def test_the_pooled_bound_at_the_ends_keeps_the_same_windows(width):
    # windows near the ends are scored in full only where their pooled score (or, for a
    # short window with one flank, its exact score) reaches the bar: the same rows reach
    # it as when every window is scored in full
    from ctxmetrics.detect.prescreen_rows import _padded_cumsum
    from ctxmetrics.detect.prescreen_windows import _window_best

    rng = np.random.default_rng(7)
    y = rng.normal(0, 1, (400, DAYS)).astype(np.float32)
    y[::3, 20 : 20 + width] += 2.5  # near the start: some reach the bar, some do not
    cs = _padded_cumsum(y)
    scale, long_run = np.ones(400, np.float32), rng.uniform(1, 2, 400).astype(np.float32)
    edge, bar = slice(0, 100), 0.9 * 1.1 * SETTINGS.min_score
    one_sided = width < SETTINGS.min_segment_days
    full = _window_best(cs, width, scale, long_run, one_sided, edge)
    bounded = _window_best(cs, width, scale, long_run, one_sided, edge, bar)
    assert 0 < (full >= bar).sum() < len(full)
    assert ((bounded >= bar) == (full >= bar)).all()
    assert (bounded[full >= bar] == full[full >= bar]).all()


def test_a_new_level_in_the_last_weeks_of_a_short_leaf_is_kept():
    # a 90-day leaf whose last 17 days sit at a new level: the detector measures that
    # boundary on the days it has after it, which no pair of full 28-day windows spans
    rng = np.random.default_rng(8)
    rate = 20.0 * BUSINESS[np.arange(90) % 7] * np.ones((40, 1))
    rate[:, 73:] *= 0.5
    matrix = rng.poisson(rate * rng.gamma(30.0, 1 / 30.0, rate.shape)).astype(float)
    found = np.array([any(c.kind == "level_shift" for c in find_changes(row, dates=START + np.arange(90))) for row in matrix])
    assert found.sum() >= 20
    kept = prescreen(matrix, SETTINGS, start_date=START)
    # (the screen's noise scale and long-run variance come from 90 days, as the
    # detector's: they disagree by chance; full windows alone kept 13 of 34 here)
    assert kept[found].mean() >= 0.9
    why = explain_prescreen(matrix[np.argmax(found)], SETTINGS, start_date=START)
    assert "step at an end" in why["checks"]


@pytest.mark.parametrize("lift, reported_rows", [(1.1, 0), (1.25, 6)])
def test_a_change_too_small_to_report_is_dropped_however_significant(lift, reported_rows):
    # ~2000 events a day, Poisson: eight weeks 10% up are 30 sds, yet below min_change_pct
    # (15%), so the detector reports nothing and the screen drops them; 25% up it keeps
    rng = np.random.default_rng(9)
    rate = 2000.0 * BUSINESS[np.arange(DAYS) % 7] * np.ones((6, 1))
    rate[:, 400:456] *= lift
    matrix = rng.poisson(rate).astype(float)
    found = reported(matrix)
    assert found.sum() == reported_rows
    assert prescreen(matrix, SETTINGS, start_date=START).tolist() == found.tolist()


def test_short_leaves_are_judged_with_the_detectors_weekday_noise():
    # 90-day leaves with one near-dead weekday: its few events make the detector's scale
    # of that weekday large, which lowers its long-run factor (the screen's pooled scale
    # kept a factor of ~3 and dropped 18-day dips the detector reports: 25 of 27 kept)
    rng = np.random.default_rng(11)
    week = np.array([1.2, 1.38, 1.47, 0.07, 0.58, 1.27, 1.03])
    rate = 12.0 * week[np.arange(90) % 7] * np.ones((60, 1))
    rate[:, 50:68] *= 0.55
    matrix = rng.poisson(rate).astype(float)
    found = np.array([bool(find_changes(row, dates=START + np.arange(90))) for row in matrix])
    assert found.sum() >= 20
    kept = prescreen(matrix, SETTINGS, start_date=START)
    assert kept[found].all()
    assert kept[~found].mean() < 0.75  # not every leaf passes


def test_a_lasting_drop_of_few_events_is_judged_by_its_count_likelihood():
    # ~0.6 events a day, then a quarter of that for the last 190 days: the detector
    # measures the boundary by the count likelihood of the 56 days each side, which the
    # stabilised step understates (the screen kept 5 of 8 reported before)
    rng = np.random.default_rng(13)
    rate = 0.6 * BUSINESS[np.arange(DAYS) % 7] * np.ones((40, 1))
    rate[:, 540:] *= 0.25
    matrix = rng.poisson(rate).astype(float)
    found = reported(matrix)
    assert found.sum() >= 5
    kept = prescreen(matrix, SETTINGS, start_date=START)
    assert kept[found].all()
    why = explain_prescreen(matrix[np.argmax(found)], SETTINGS, start_date=START)
    assert "step 56d (count likelihood)" in why["checks"]


def test_the_largest_day_size_is_the_largest_of_the_days_sizes():
    # `_DaySizes.largest` takes each row's largest |residual| before dividing by its tail
    # sd (and multiplying by its factor): the same numbers as the sizes of every day
    from ctxmetrics.detect.prescreen_noise import _DaySizes

    rng = np.random.default_rng(11)
    residual = np.abs(rng.standard_t(3, (300, DAYS))).astype(np.float32)
    tail = rng.uniform(0.3, 3.0, 300)
    sizes = _DaySizes(residual, tail)
    rows = np.flatnonzero(rng.random(300) < 0.5)
    assert np.array_equal(sizes.largest(rows), sizes.of(rows).max(axis=1))
    assert np.array_equal(sizes.of(rows), residual[rows] / tail[rows, None])
    sizes.factor = rng.uniform(0.5, 2.0, 300)
    subset = sizes.subset(rows)
    few = np.arange(0, len(rows), 3)
    assert np.array_equal(subset.largest(few), subset.of(few).max(axis=1))
    assert np.array_equal(subset.of(few), residual[rows[few]] / tail[rows[few], None] * sizes.factor[rows[few], None])
