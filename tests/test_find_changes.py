"""`find_changes`, the one-series API: each claim of the detector as an assertion.

Series are seeded gamma-Poisson counts with a business week (quiet weekends); a planted
episode is found when a detection of the same direction starts within 2 days of it.
"""
from __future__ import annotations

import numpy as np
import pytest

from ctxmetrics.config import DetectionSettings
from ctxmetrics.detect import find_changes, prescreen, too_small
from ctxmetrics.synth import many_series

DAYS = 730
START = np.datetime64("2024-01-01")  # a Monday
DATES = START + np.arange(DAYS)
SEEDS = range(6)


def business_counts(seed: int, level: float, multiplier=None, shape: float = 20.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    weekday = np.arange(DAYS) % 7
    rate = level * np.where(weekday >= 5, 0.25, 1.0) / (5 + 2 * 0.25) * 7
    if multiplier is not None:
        rate = rate * multiplier
    return rng.poisson(rate * rng.gamma(shape, 1 / shape, DAYS)).astype(float)


def episode(start: int, length: int | None, size: float) -> np.ndarray:
    m = np.ones(DAYS)
    m[start : None if length is None else start + length] *= 1 + size
    return m


def found(changes, start: int, direction: str, tolerance: int = 2) -> bool:
    return any(c.direction == direction and abs(c.start - start) <= tolerance for c in changes)


def share_found(level, start, length, size, tolerance=2) -> float:
    direction = "up" if size > 0 else "down"
    hits = [
        found(find_changes(business_counts(seed, level, episode(start, length, size)), dates=DATES), start, direction, tolerance)
        for seed in SEEDS
    ]
    return sum(hits) / len(hits)


def test_three_day_dip_at_45_a_day_is_mostly_found():
    assert share_found(45, 302, 3, -0.65) >= 4 / 6  # a Tuesday to Thursday offsite


def test_two_week_campaign_at_14_a_day_is_found_at_least_a_third_of_the_time():
    assert share_found(14, 400, 14, 0.7) >= 2 / 6


def test_a_region_closing_nothing_for_two_weeks_at_1_a_day_is_found():
    assert share_found(1, 450, 14, -1.0, tolerance=3) >= 4 / 6


# Known limits, measured on these series (6 seeds): the issue asks for them, the detector
# does not reach them yet at the default min_score 5. Strict, so a fix says so.
@pytest.mark.xfail(reason="5 of 6 seeds wanted; 4/6 measured (the 3-day window on its planted days: seeds 1 and 2 score 3.9 and 4.96 against 4.99; seed 1 drew only -45%)", strict=True)
def test_three_day_dip_at_45_a_day_is_found():
    assert share_found(45, 302, 3, -0.65) >= 5 / 6


@pytest.mark.xfail(reason="5 of 6 seeds wanted; 4/6 measured (the 14-day window on its planted days: seed 1 scores 2.3, the window measures +17%; seed 4 4.7 against a bar of 5.39)", strict=True)
def test_two_week_campaign_at_14_a_day_is_found():
    assert share_found(14, 400, 14, 0.7) >= 5 / 6


@pytest.mark.xfail(reason="2/6 measured: seeds 1, 2, 3, 5 score 3.5, 2.9, 4.5, 3.4 on their planted days (judged by their count likelihood, ~3 events a day) against a bar of 4.76", strict=True)
def test_six_weeks_down_45_percent_at_3_a_day_is_found():
    assert share_found(3, 300, 42, -0.45, tolerance=7) >= 4 / 6


def test_six_weeks_down_half_at_2_a_day_is_found_half_the_time():
    # ~2 events a day: judged by the count likelihood, not on the stabilised scale, whose
    # value of a day with a handful of possible counts loses their power (measured: 3/6;
    # ctxmetrics-episodes/11: 0/6)
    assert share_found(2, 400, 42, -0.5, tolerance=7) >= 3 / 6


@pytest.mark.parametrize("seed", SEEDS)
def test_lasting_shift_is_one_anomaly(seed):
    changes = find_changes(business_counts(seed, 60, episode(400, None, -0.4)), dates=DATES)
    assert len(changes) == 1
    shift = changes[0]
    assert shift.kind == "level_shift" and shift.end is None and abs(shift.start - 400) <= 7
    assert shift.direction == "down" and shift.change_pct < -25 and shift.unit == "per day"
    assert shift.start_date == (DATES[shift.start]).astype(object)


def test_clean_series_with_trend_season_and_quarter_closes_are_nearly_silent():
    assert sum(bool(trend_season_closes(seed)) for seed in SEEDS) <= 1  # measured: 0 of 6 (ctxmetrics-episodes/2: 1)


def trend_season_closes(seed: int):
    year_day = (DATES - DATES.astype("datetime64[Y]").astype("datetime64[D]")).astype(int)
    month = DATES.astype("datetime64[M]")
    to_end = ((month + 1).astype("datetime64[D]") - DATES).astype(int)
    quarter_end = (month.astype(int) % 3 == 2) & (to_end <= 7)
    normal = np.exp(np.linspace(0, np.log(1.8), DAYS)) * (1 + 0.3 * np.sin(2 * np.pi * year_day / 365.25))
    normal *= np.where(quarter_end, 2.5, 1.0)
    return find_changes(business_counts(seed, 30, normal), dates=DATES)


def test_a_steep_yearly_season_seen_twice_is_not_a_level_shift():
    """A sharp seasonal rise repeated in both years is season, not a step (the season is
    fitted before the steps once it has repeated, when that fits better). Measured: 0 of 12 seeds flagged (the
    detector of ctxmetrics-episodes/2: 8 of 12, a pair of shifts a year apart)."""
    flagged = [seed for seed in range(12) if flags(*steep_season(seed))]
    assert len(flagged) <= 1, flagged


def steep_season(seed: int, days: int = 800):
    """Counts (~300 a day) with a +-40% yearly season (a sharp rise, a flat top), 60%
    growth over the series and gamma-Poisson noise; returns (values, dates)."""
    rng = np.random.default_rng(seed)
    dates = np.datetime64("2022-01-01") + int(rng.integers(0, 365)) + np.arange(days)
    angle = 2 * np.pi * (dates - dates.astype("datetime64[Y]")).astype(int) / 365.25 + rng.uniform(0, 6.3)
    season = 1 + 0.4 * (np.sin(angle) + 0.3 * np.sin(2 * angle + 1))
    rate = 300 * season * 1.6 ** (np.arange(days) / days) * rng.gamma(50, 1 / 50, days)
    return rng.poisson(rate).astype(float), dates


def test_steady_growth_over_two_years_is_not_a_string_of_shifts():
    """Smooth growth or decline (-25%..+100% over two years, ~200 a day) is trend, taken
    out as one smooth baseline. Measured: 0 of 20 seeds flagged (ctxmetrics-episodes/2:
    3 of 20)."""
    flagged = [seed for seed in range(20) if flags(*steady_growth(seed))]
    assert len(flagged) <= 1, flagged


def flags(values: np.ndarray, dates: np.ndarray) -> bool:
    return bool(find_changes(values, dates=dates))


def steady_growth(seed: int, days: int = 730):
    rng = np.random.default_rng(seed)
    dates = np.datetime64("2023-01-01") + int(rng.integers(0, 365)) + np.arange(days)
    total = rng.uniform(0.5, 1.0) * rng.choice([-0.5, 1.0])
    rate = 200 * np.exp(np.linspace(0, np.log1p(total), days)) * rng.gamma(50, 1 / 50, days)
    return rng.poisson(rate).astype(float), dates


def growing_counts(seed: int, level: float, growth: float, step: float = 0.0, at: int | None = None):
    """730 days of counts (~`level` a weekday, quiet weekends, gamma-Poisson) growing by
    `growth` a year, with a lasting `step` from day `at`; returns (values, dates)."""
    rng = np.random.default_rng(seed)
    dates = START + int(rng.integers(0, 365)) + np.arange(DAYS)
    day = np.arange(DAYS)
    weekend = (dates.astype(np.int64) + 3) % 7 >= 5
    rate = level * np.where(weekend, 0.45, 1.0) * (1 + growth) ** (day / 365.0)
    if at is not None:
        rate = rate * np.where(day >= at, 1 + step, 1.0)
    return rng.poisson(rate * rng.gamma(30, 1 / 30, DAYS)).astype(float), dates


@pytest.mark.parametrize("growth", [0.35, -0.3])
def test_smooth_growth_or_decline_of_a_third_a_year_is_no_change(growth):
    """At 2 to 300 a weekday, 6 seeds each. Measured: +35% a year 1 of 24 flagged (a
    5.0 level shift at 50 a day), -30% 0 of 24."""
    series = {(level, seed): growing_counts(seed, level, growth) for level in (2, 10, 50, 300) for seed in SEEDS}
    flagged = [key for key, (values, dates) in series.items() if find_changes(values, dates=dates)]
    assert len(flagged) <= 2, flagged


@pytest.mark.parametrize("step", [0.3, -0.3])
def test_a_lasting_step_on_a_growing_series_is_found_at_its_day(step):
    """A +-30% step at ~100 a weekday on a series growing 35% a year, on a different day
    per seed (8 seeds): the trend fitted alongside does not take it in. Measured: +30%
    7 of 8, -30% 7 of 8 (within 2 days; seed 6 placed 10 days early)."""
    hits = 0
    for seed in range(8):
        at = 250 + 30 * seed
        values, dates = growing_counts(seed, 100, 0.35, step, at)
        hits += found(find_changes(values, dates=dates), at, "up" if step > 0 else "down")
    assert hits >= 6


@pytest.mark.slow
def test_a_growing_funnels_won_with_a_dip_and_a_late_drop_reads_no_growth_as_a_step():
    """Won in total of generated funnels (~9-22 a day, each segment growing 5-50% a year)
    with a 4-week -67% dip of one channel mid-2025 and a lasting -53% drop of one region
    late in 2025, 48 seeds. Neither effect rises, so a lasting rise is the growth read as
    a step. Measured: no lasting rise, 30 of the 96 effects found within 3 days
    (ctxmetrics-episodes/12: 3 lasting rises, 29 found; its calendar fit kept two steps
    along the growth, and the trend left beside them was not significant)."""
    import datetime as dt

    import polars as pl

    from ctxmetrics.synth import Effect, generate_funnel

    rises = hits = 0
    first = dt.date(2024, 1, 1)
    for seed in range(48):
        rng = np.random.default_rng(seed)
        dip = dt.date(2025, 5, 1) + dt.timedelta(days=int(rng.integers(0, 60)))
        drop = dt.date(2025, 11, 10) + dt.timedelta(days=int(rng.integers(0, 20)))
        effects = (Effect("won", {"channel": "organic"}, dip, dip + dt.timedelta(days=27), "spike", -0.67),
                   Effect("won", {"region": "NA"}, drop, None, "level_shift", -0.53))
        frame = generate_funnel(seed, start=first, days=DAYS, effects=effects).frame
        won = frame.filter(pl.col("metric") == "won").group_by("date").agg(pl.col("value").sum()).sort("date")
        changes = find_changes(won["value"].to_numpy().astype(float), dates=np.array(won["date"].to_list(), "datetime64[D]"))
        rises += sum(c.end is None and c.direction == "up" for c in changes)
        hits += sum(found(changes, (day - first).days, "down", tolerance=3) for day in (dip, drop))
    assert rises <= 1
    assert hits >= 27


@pytest.mark.parametrize("seed", SEEDS)
def test_gaps_are_unknown_never_anomalies(seed):
    values = business_counts(seed, 40)
    values[[200, 201, 500]] = np.nan  # days missing from the export
    assert find_changes(values, dates=DATES) == []
    assert find_changes(values) == []


def test_dates_with_holes_are_gaps_and_indexes_follow_the_input():
    values = business_counts(3, 40, episode(600, 3, -0.8))
    keep = np.ones(DAYS, bool)
    keep[[100, 101, 102]] = False  # three dates absent altogether
    changes = find_changes(values[keep], dates=DATES[keep])
    assert len(changes) == 1 and changes[0].direction == "down"
    assert abs((np.datetime64(changes[0].start_date) - DATES[600]).astype(int)) <= 2
    assert np.datetime64(changes[0].start_date) == DATES[keep][changes[0].start]


@pytest.mark.parametrize("seed", SEEDS)
def test_single_storm_day_found_without_any_annotation(seed):
    # a busy daily series (taxi-like) whose holidays are real dips too: the storm day
    # must be seen on its own, and the other dips must not raise the bar
    values = business_counts(seed, 5000, shape=200.0)
    for day in (60, 150, 330, 358, 420, 530, 690):
        values[day] *= 0.55
    values[385] *= 0.3
    changes = find_changes(values, dates=DATES)
    assert any(c.direction == "down" and c.start <= 385 <= c.end and c.end - c.start <= 1 for c in changes)


@pytest.mark.parametrize("seed", SEEDS)
def test_gauge_keeps_its_units_and_direction(seed):
    rng = np.random.default_rng(seed)
    values = rng.normal(-0.2, 0.1, DAYS)  # e.g. a margin that can be negative
    values[500:] += 0.25
    changes = find_changes(values, kind="gauge", dates=DATES)
    assert len(changes) == 1
    c = changes[0]
    assert c.unit == "" and c.direction == "up" and c.after > c.before
    assert np.isnan(c.change_pct)  # no percentage of a level that can be <= 0


def test_no_count_change_is_reported_below_min_change_pct():
    # the evaluation's season_trend series 90-99 (tune): on #99 an episode whose merged,
    # re-placed ends diluted its change to -12% was reported before the whole was held
    # to `min_change_pct` as each of its windows is
    from benchmarks.eval.profiles import generate

    for case in generate("season_trend", "tune", 100)[90:]:
        changes = find_changes(case.values, kind=case.kind, dates=case.dates)
        assert all(abs(c.change_pct) >= DetectionSettings().min_change_pct for c in changes), case.name


def test_direction_always_agrees_with_the_sign_of_the_change():
    matrix, _ = many_series(40, shift_fraction=1.0, seed=5)
    for row in matrix:
        for c in find_changes(row):
            assert (c.direction == "up") == (c.after > c.before)


@pytest.mark.parametrize("freq, step, unit", [
    ("W", 7, "per week"),
    ("M", 30, "per month"),
])
def test_weekly_and_monthly_series_are_judged_at_their_own_frequency(freq, step, unit):
    rng = np.random.default_rng(1)
    n = 156 if freq == "W" else 96
    dates = np.datetime64("2017-01", "M") + np.arange(n) if freq == "M" else START + 7 * np.arange(n)
    rate = np.full(n, 400.0)
    rate[n // 2 :] *= 0.6
    values = rng.poisson(rate * rng.gamma(50, 1 / 50, n)).astype(float)
    changes = find_changes(values, dates=dates)
    assert len(changes) == 1 and changes[0].frequency == ("weekly" if freq == "W" else "monthly")
    assert changes[0].unit == unit and abs(changes[0].start - n // 2) <= 1


def test_points_14_to_21_days_apart_are_fortnightly_not_two_in_one_month():
    # TCPD's brent_spot (a point every 14-21 days) was read as monthly and stopped with
    # "dates must be increasing, one value per period" (Feb 15 and Feb 29 in one month);
    # then as irregular points in order. On a 14-day grid a 21-day step is a gap.
    rng = np.random.default_rng(4)
    dates = START + np.cumsum(rng.choice([14, 14, 21], 120))
    values = np.r_[rng.normal(60, 2, 60), rng.normal(40, 2, 60)]
    changes = find_changes(values, kind="gauge", dates=dates)
    assert [(c.frequency, c.start, c.start_date) for c in changes] == [("fortnightly", 60, dates[60].astype(object))]
    with pytest.raises(ValueError, match="dates must be increasing"):
        find_changes(values, kind="gauge", dates=np.r_[dates[:1], dates[:-1]])  # a date twice


def seasonal_weekly(seed: int, multiplier=None, weeks: int = 156):
    """Three years of weekly counts (~400 a week, gamma shape 50: ~15% noise a week) with
    a +-25% yearly season; returns (values, dates)."""
    rng = np.random.default_rng(seed)
    dates = START + 7 * np.arange(weeks)
    angle = 2 * np.pi * (dates - dates.astype("datetime64[Y]")).astype(int) / 365.25 + rng.uniform(0, 6.3)
    rate = 400 * (1 + 0.25 * np.sin(angle)) * (1 if multiplier is None else multiplier)
    return rng.poisson(rate * rng.gamma(50, 1 / 50, weeks)).astype(float), dates


WEEKLY_EPISODES = [(4, -0.45), (8, -0.35), (8, 0.5), (12, -0.3), (12, 0.4)]  # (weeks, size)


def test_weekly_episodes_beside_a_yearly_season_are_found():
    """A weekly series' noise is measured over weeks, not over 7-28 of its periods (which
    span its season's swings), and its season is fitted over all three years. Measured
    on these 60 series (5 episodes x 12 seeds, planted at week 90): 49 found, with the
    episodes chosen against the calendar fit and fitted alongside it and held to the bar
    of their width (ctxmetrics-episodes/9: 32; /8: 15)."""
    hits = weekly_episodes_found(WEEKLY_EPISODES)
    assert hits >= 44, hits


def weekly_episodes_found(episodes) -> int:
    """How many of `episodes` (weeks, size), each planted at week 90 of 12 seeded
    weekly series with a yearly season, are found within a week of their start."""
    hits = 0
    for weeks, size in episodes:
        for seed in range(12):
            m = np.ones(156)
            m[90 : 90 + weeks] *= 1 + size
            values, dates = seasonal_weekly(seed, m)
            hits += found(find_changes(values, dates=dates), 90, "up" if size > 0 else "down", tolerance=1)
    return hits


NEAR_THE_BAR = [(2, 0.45), (2, -0.4), (4, -0.3), (4, 0.33), (6, -0.25), (6, 0.28)]  # (weeks, size)


def test_weekly_episodes_near_the_daily_bar_are_found():
    """Episodes whose windows score ~3.5-4.5 on these series (median per episode): a
    weekly series is held to the bar that passes as many weeks of noise a year as the
    daily bar passes days (4.61, not 5). Measured on these 72 series (6 episodes x 12
    seeds, planted at week 90): 21 found; with the daily bar, 10."""
    hits = weekly_episodes_found(NEAR_THE_BAR)
    assert hits >= 17, hits


def test_slower_series_bars_pass_as_many_noise_values_a_year_as_the_daily_bar():
    """Daily series keep `min_score`; weekly ones pass as many values of pure noise a year
    (two-sided normal tails); monthly and slower ones get the weekly bar, no lower."""
    from math import erfc, sqrt

    from ctxmetrics.detect.frequency import infer_frequency, settings_for

    def bar(step_days: int, min_score: float) -> float:
        dates = START + step_days * np.arange(40) if step_days < 30 else np.datetime64("2017-01", "M") + np.arange(40)
        return settings_for(DetectionSettings(min_score=min_score), infer_frequency(dates, 40)).min_score

    for min_score in (4.0, 5.0, 6.0):
        weekly = bar(7, min_score)
        assert bar(1, min_score) == min_score
        assert weekly < min_score
        noise_a_year = (365.25 / 7) * erfc(weekly / sqrt(2)), 365.25 * erfc(min_score / sqrt(2))
        assert abs(noise_a_year[0] / noise_a_year[1] - 1) < 1e-6, noise_a_year
        assert bar(30, min_score) == weekly


def test_clean_seasonal_weekly_series_are_silent():
    """Measured: 0 of 24 flagged."""
    flagged = [seed for seed in range(24) if flags(*seasonal_weekly(100 + seed))]
    assert len(flagged) <= 1, flagged


def test_a_lasting_weekly_shift_beside_a_yearly_season_is_found():
    """The step is chosen against the calendar (the trend only at its price) and judged on
    the whole segments either side with a trend alongside. Measured: 9 of 12 (seeds 1, 5
    and 10 placed 2-3 weeks late); ctxmetrics-episodes/9: 0 of 12, the fitted trend took
    the step in."""
    m = np.ones(156)
    m[90:] *= 0.75
    hits = [found(find_changes(values, dates=dates), 90, "down", tolerance=1)
            for values, dates in (seasonal_weekly(seed, m) for seed in range(12))]
    assert sum(hits) >= 9, hits


def binomial_rate(seed: int, lift: float = 0.0, start: int = 215, length: int = 3, weekly: bool = False):
    """(numerators, denominators) of a pure binomial conversion rate of 0.3 on ~40 trials
    a day (a business week when `weekly`), x(1 + `lift`) on [start, start + length)."""
    rng = np.random.default_rng(seed)
    trials = 40 * (np.where(np.arange(DAYS) % 7 >= 5, 0.5, 1.2) if weekly else np.ones(DAYS))
    den = rng.poisson(trials).astype(float)
    rate = np.where((np.arange(DAYS) >= start) & (np.arange(DAYS) < start + length), 0.3 * (1 + lift), 0.3)
    return rng.binomial(den.astype(int), rate).astype(float), den


@pytest.mark.xfail(reason="measured: the 3-day +80% window at ~40 a day scores 4.82 against 4.99 on this seed; the "
                          "binomial likelihood ratio against the true rate gives 5.53, the flanks' own error takes 0.41, "
                          "the fitted beta-binomial dispersion (its sampling error on binomial data, rho >= 0) 0.30; "
                          "the beta-binomial likelihood ratio against the flanks gives 4.81, as the arcsine z "
                          "(benchmarks/ratio_power.py); 8 of seeds 0-11 are found", strict=True)
def test_ratio_episode_is_judged_with_its_denominators():
    num, den = binomial_rate(2, 0.8)
    changes = find_changes(num, kind="ratio", denominators=den, dates=DATES)
    assert found(changes, 215, "up") and all(c.unit == "rate" for c in changes)


def test_two_quiet_days_without_a_conversion_are_no_episode():
    """0 of 4 and 0 of 20 at 30%: 5.7 sds on the arcsine scale, their pooled binomial tail
    (0.7 ** 24) 3.6. Measured: flagged in 12 of 12 seeds with the window's arcsine z alone,
    0 of 12 capped by its binomial likelihood (`episodes._rate_window_cap`)."""
    def flagged(seed: int) -> bool:
        num, den = binomial_rate(seed)
        den[300:302], num[300:302] = (4, 20), 0
        return any(abs(c.start - 300) <= 2 for c in find_changes(num, kind="ratio", denominators=den, dates=DATES))

    assert [seed for seed in range(12) if flagged(seed)] == []


def test_a_rate_episode_over_a_quiet_weekend_keeps_its_weekend_days():
    """A 3-day +80% on ~45 trials a weekday and ~12 a weekend day, over Fri-Sun or Sat-Mon:
    the weekend days count (with the small weight their trials give), where days below
    `min_denominator` used to leave the series. Measured: 4 of 12 found, 0 of 12 when
    those days were unknown."""
    def hit(seed: int) -> bool:
        rng = np.random.default_rng(seed)
        den = rng.poisson(np.where(np.arange(DAYS) % 7 >= 5, 12.0, 45.0)).astype(float)
        start = 214 + 7 * (seed % 3) + seed % 2  # a Friday or a Saturday
        rate = np.where((np.arange(DAYS) >= start) & (np.arange(DAYS) < start + 3), 0.54, 0.3)
        num = rng.binomial(den.astype(int), rate).astype(float)
        return found(find_changes(num, kind="ratio", denominators=den, dates=DATES), start, "up")

    assert sum(hit(seed) for seed in range(12)) >= 3


@pytest.mark.parametrize("weekly", [False, True])
def test_a_binomial_rate_without_changes_raises_no_alarm(weekly):
    # measured: none of 12 seeds, with flat or business-week denominators
    def alarms(seed: int) -> list:
        num, den = binomial_rate(seed, weekly=weekly)
        return find_changes(num, kind="ratio", denominators=den, dates=DATES)

    assert [seed for seed in range(50, 62) if alarms(seed)] == []


def lagged_win_rate(seed: int, multiplier=None, lag: int = 5):
    """Won today over opportunities today, where deals close `lag` days after they open:
    won is drawn from the opportunities of `lag` days before (a week of burn-in), so on a
    quiet day it can exceed the day's opportunities. Returns (won, opportunities) over
    DATES[:-7]."""
    business = business_counts(seed, 60)
    opportunities, cohort = business[7:], business[7 - lag : -lag]
    p = 0.3 * (np.ones(DAYS) if multiplier is None else multiplier)[7:]
    won = np.random.default_rng(1000 + seed).binomial(cohort.astype(int), np.clip(p, 0.0, 1.0))
    return won.astype(float), opportunities


def test_a_rate_whose_numerator_lags_its_denominator_has_no_one_day_spikes():
    # read as a binomial proportion, a quiet day's rate of 1 or more was a "spike"
    # (measured: 5 of 30 seeds flagged by ctxmetrics-episodes/5, 0 of 30 now)
    def flagged(seed: int) -> bool:
        won, opportunities = lagged_win_rate(seed)
        return bool(find_changes(won, kind="ratio", denominators=opportunities, dates=DATES[:-7]))

    assert [seed for seed in range(12) if flagged(seed)] == []


@pytest.mark.parametrize("length, size", [(14, 1.5), (7, -0.9)])
def test_a_conversion_change_in_a_lagged_rate_is_still_found(length, size):
    hits = 0
    for seed in range(12):
        won, opportunities = lagged_win_rate(seed, episode(300, length, size))
        changes = find_changes(won, kind="ratio", denominators=opportunities, dates=DATES[:-7])
        hits += found(changes, 300 - 7, "up" if size > 0 else "down", tolerance=3)
    assert hits >= 10  # measured: 12 and 11 of 12


def test_a_missing_denominator_is_unknown_not_a_rate_above_one():
    rng = np.random.default_rng(4)
    den = rng.poisson(200, DAYS).astype(float)
    num = rng.binomial(den.astype(int), np.where((np.arange(DAYS) >= 300) & (np.arange(DAYS) < 303), 0.12, 0.3))
    num = num.astype(float)
    den[100] = np.nan  # the numerator of that day is known, its denominator is not
    num_unknown = num.copy()
    num_unknown[100] = np.nan
    changes = find_changes(num, kind="ratio", denominators=den, dates=DATES)
    assert found(changes, 300, "down")
    assert changes == find_changes(num_unknown, kind="ratio", denominators=den, dates=DATES)


@pytest.mark.parametrize("seed", SEEDS)
def test_an_outage_on_the_first_day_of_a_lasting_shift_is_reported_on_its_own(seed):
    # far beyond the new level (-90% against a -30% step): not the shift's edge
    values = business_counts(seed, 200, episode(400, None, -0.3) * episode(400, 1, -0.9))
    changes = find_changes(values, dates=DATES)
    assert any(c.kind == "spike" and c.direction == "down" and c.start == 400 and c.end <= 401 for c in changes)


def test_too_small_series_are_named_not_silently_skipped():
    settings = DetectionSettings()
    tiny = np.full((1, DAYS), 0.05)
    assert too_small(tiny, settings).all()
    assert not too_small(np.full((1, DAYS), 1.0), settings).any()


def test_prescreen_keeps_every_series_the_detector_reports():
    matrix, _ = many_series(300, shift_fraction=0.3, seed=11)
    reported = np.array([bool(find_changes(row)) for row in matrix])
    kept = prescreen(matrix, DetectionSettings())
    assert reported.sum() >= 50
    assert (kept & reported).sum() / reported.sum() >= 0.99


@pytest.mark.parametrize("kwargs, message", [
    ({"values": None}, r"^values must be one series, a 1-D sequence of numbers; got 0 dimensions\.$"),
    ({"values": np.ones((3, 40))}, r"^values must be one series.*got 2 dimensions \(find_changes_many takes a matrix\)"),
    ({"values": ["a"] * 40}, r"^values must be numbers \(NaN for an unknown period\): could not convert"),
    ({"values": np.ones(40), "kind": "ratio", "denominators": [["x"]] * 40}, r"^denominators must be numbers"),
    ({"values": np.ones(40), "dates": ["nope"] * 40}, r"^dates must be dates \(datetime64, date or 'YYYY-MM-DD'\)"),
    ({"values": np.ones(40), "start_weekday": 9}, r"^start_weekday must be 0 \(Monday\) to 6 \(Sunday\), got 9\.$"),
])
def test_malformed_arguments_are_named_not_a_numpy_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        find_changes(**kwargs)


@pytest.mark.parametrize("kind, kwargs, message", [
    ("count", {"values": np.where(np.arange(60) == 5, np.inf, 100.0)}, r"^values\[5\] is inf: values must be finite"),
    ("gauge", {"values": np.where(np.arange(60) == 7, -np.inf, 3.0)}, r"^values\[7\] is -inf"),
    ("count", {"values": np.where(np.arange(60) == 5, -3.0, 100.0)}, r"^values\[5\] is -3, and counts cannot be negative"),
    ("ratio", {"values": np.full(60, 10.0), "denominators": np.where(np.arange(60) == 2, -50.0, 50.0)},
     r"^denominators\[2\] is -50, and counts cannot be negative"),
])
def test_infinite_values_and_negative_counts_are_refused_not_misread(kind, kwargs, message):
    with pytest.raises(ValueError, match=message):
        find_changes(kind=kind, **kwargs)


def test_a_negative_gauge_is_a_level_not_an_error():
    assert find_changes(np.full(60, -2.5), kind="gauge") == []


def test_a_missing_date_is_named_not_called_unsorted():
    dates = np.where(np.arange(60) == 3, np.datetime64("NaT"), START + np.arange(60))
    with pytest.raises(ValueError, match=r"^dates\[3\] is missing \(NaT\): every value needs its date"):
        find_changes(np.full(60, 10.0), dates=dates)
