"""Generated profiles: seeded series with planted changes, one generator per profile.

Each generator takes a `numpy.random.Generator` and returns one `Case`; `generate` draws
a profile's cases for a split. Seeds are `SeedSequence([crc32 of the profile name, split
number, case number])`, so the tune and holdout splits never share a series. Normal patterns
(weekly and yearly season, trend, quarter- and month-end closes, heavy tails, zeros,
unknown periods) are never planted changes: a detection there is a false alarm.
"""
from __future__ import annotations

import zlib

import numpy as np

from benchmarks.eval import shapes as sh
from benchmarks.eval.cases import Case

SPLITS = ("tune", "holdout")
DAYS = 730


def _effect_count(rng, most: int = 2) -> int:
    return int(rng.choice(np.arange(most + 1), p=[0.15] + [0.85 / most] * most))


def _count_case(rng, name: str, dates, rate, shape: float, effects, heavy: float = 0.0,
                gaps: tuple[int, bool] = (0, False), freq: str = "D") -> Case:
    """Sample counts from `rate` with the effects applied, add unknown periods."""
    n = len(dates)
    values = sh.sample_counts(rng, rate * sh.multiplier(n, effects), shape, heavy)
    if gaps[0] or gaps[1]:
        values = sh.add_gaps(rng, values, gaps[0], effects, gaps[1])
    return Case(name, values, "count", dates, freq, planted=tuple(e.planted() for e in effects))


def _volume_rate(rng, dates, low: float, high: float, business: bool | None = None) -> np.ndarray:
    level = np.exp(rng.uniform(np.log(low), np.log(high)))
    business = bool(rng.random() < 0.5) if business is None else business
    return level * sh.weekly_profile(rng, business)[sh.weekday(dates)]


def _drawn_count_case(rng, name: str, dates, rate, shape_range: tuple[float, float], effects: bool, *,
                      heavy: float = 0.0, gaps: tuple[int, bool] = (0, False), avoid=None,
                      lengths=sh.DAILY_LENGTHS, margin: int = 60, most: int = 2, freq: str = "D") -> Case:
    """Draw the noise dispersion and the effects for a count rate, then sample the case."""
    shape = rng.uniform(*shape_range)
    found = sh.draw_effects(rng, len(dates), _effect_count(rng, most) if effects else 0, lengths, margin,
                            sh.count_sizer(rate, shape, heavy), avoid=avoid)
    return _count_case(rng, name, dates, rate, shape, found, heavy=heavy, gaps=gaps, freq=freq)


def volumes(rng, effects: bool = True) -> Case:
    """Daily counts from 0.5 to 3000 a day, weekly pattern, overdispersed noise."""
    dates = sh.daily_dates(rng, DAYS)
    return _drawn_count_case(rng, "volumes", dates, _volume_rate(rng, dates, 0.5, 3000), (10, 100), effects)


def season_trend(rng, effects: bool = True) -> Case:
    """800 days: weekly and yearly season, smooth growth or decline of -40%..+100%."""
    n = 800
    dates = sh.daily_dates(rng, n)
    rate = (_volume_rate(rng, dates, 3, 2000) * sh.yearly_factor(dates, rng.uniform(0.15, 0.4), rng.uniform(0, 6.3))
            * sh.trend_factor(n, rng.uniform(-0.4, 1.0)))
    return _drawn_count_case(rng, "season_trend", dates, rate, (20, 100), effects)


def quarter_close(rng, effects: bool = True) -> Case:
    """Closed deals (2-50 a day, quiet weekends): x2-3 in the last week of each quarter,
    x1.2-1.5 in the last 3 days of other months. Planted starts avoid the closes."""
    dates = sh.daily_dates(rng, DAYS)
    quarter, month = sh.close_days(dates)
    rate = _volume_rate(rng, dates, 2, 50, business=True)
    rate = rate * np.where(quarter, rng.uniform(2, 3), 1.0) * np.where(month, rng.uniform(1.2, 1.5), 1.0)
    busy = np.convolve(quarter | month, np.ones(7), mode="same") > 0
    return _drawn_count_case(rng, "quarter_close", dates, rate, (10, 40), effects, avoid=lambda start: bool(busy[start]))


def heavy_tails(rng, effects: bool = True) -> Case:
    """Daily counts (5-3000 a day) with Student-t (4 df) noise on the log rate: single
    days of x1.5-2 happen about once a year by chance."""
    dates = sh.daily_dates(rng, DAYS)
    return _drawn_count_case(rng, "heavy_tails", dates, _volume_rate(rng, dates, 5, 3000), (20, 100), effects, heavy=0.06)


def sparse(rng, effects: bool = True) -> Case:
    """Sparse rows: 0.3-3 a day, most days 0; only effects long enough to be visible."""
    dates = sh.daily_dates(rng, DAYS)
    return _drawn_count_case(rng, "sparse", dates, _volume_rate(rng, dates, 0.3, 3), (5, 20), effects)


def gaps(rng, effects: bool = True) -> Case:
    """Daily counts (2-2000 a day) with 2-8 unknown days and, half the time, a 2-3 day
    export outage (NaN): unknown, never an anomaly."""
    dates = sh.daily_dates(rng, DAYS)
    missing = (int(rng.integers(2, 9)), bool(rng.random() < 0.5))
    return _drawn_count_case(rng, "gaps", dates, _volume_rate(rng, dates, 2, 2000), (10, 100), effects, gaps=missing)


def gauge(rng, effects: bool = True) -> Case:
    """Gauges in their own units: a price (20-500), a log value (5-12) or a signed value
    around -3..1 (often <= 0); AR(1) noise, a weekday pattern, slow drift, a few unknown days."""
    n = DAYS
    dates = sh.daily_dates(rng, n)
    style = rng.choice(["price", "log", "signed"])
    if style == "price":
        level = rng.uniform(20, 500)
        sd = level * rng.uniform(0.005, 0.02)
    elif style == "log":
        level, sd = rng.uniform(5, 12), rng.uniform(0.05, 0.3)
    else:
        level, sd = rng.uniform(-3, 1), rng.uniform(0.5, 2)
    rho = rng.uniform(0.0, 0.6)
    normal = (level + sd * rng.uniform(0, 1) * (sh.weekly_profile(rng, False) - 1)[sh.weekday(dates)]
              + np.linspace(0, rng.uniform(-4, 4) * sd, n))

    def size(start: int, length: int, up: bool, z: float) -> float:
        step = z * np.sqrt(sh.ar1_mean_var(sd, rho, length))
        return step if up else -step

    found = sh.draw_effects(rng, n, _effect_count(rng) if effects else 0, sh.DAILY_LENGTHS, 60, size)
    values = normal + sh.offset(n, found) + sh.ar1(rng, n, rho, sd)
    values = sh.add_gaps(rng, values, int(rng.integers(0, 4)), found, False)
    return Case(f"gauge_{style}", values, "gauge", dates, planted=tuple(e.planted() for e in found))


def ratio(rng, effects: bool = True) -> Case:
    """A conversion rate (5-50%) with its denominators (30-2000 a day) and extra-binomial
    day-to-day variation; values are the numerator counts."""
    n = DAYS
    dates = sh.daily_dates(rng, n)
    den = sh.sample_counts(rng, _volume_rate(rng, dates, 30, 2000), rng.uniform(20, 100))
    p, concentration = rng.uniform(0.05, 0.5), rng.uniform(100, 1000)
    mean_den = float(den.mean())

    def size(start: int, length: int, up: bool, z: float) -> float | None:
        day_var = p * (1 - p) * (1 / mean_den + 1 / (concentration + 1))
        relative = max(z * np.sqrt(day_var / length) / p, sh.MIN_RELATIVE)
        if up:
            return relative if p * (1 + relative) <= 0.95 else None
        return -relative if relative <= 0.9 else None

    found = sh.draw_effects(rng, n, _effect_count(rng) if effects else 0, sh.DAILY_LENGTHS, 60, size)
    rate = np.clip(p * sh.multiplier(n, found), 1e-4, 0.999)
    daily = rng.beta(rate * concentration, (1 - rate) * concentration)
    values = rng.binomial(den.astype(int), daily).astype(float)
    return Case("ratio", values, "ratio", dates, denominators=den, planted=tuple(e.planted() for e in found))


def weekly(rng, effects: bool = True) -> Case:
    """Three years of weekly counts (5-5000 a week) with a yearly season and trend;
    effects of 1-12 weeks or lasting."""
    n = 156
    dates = sh.weekly_dates(rng, n)
    level = np.exp(rng.uniform(np.log(5), np.log(5000)))
    season = sh.yearly_factor(dates, rng.uniform(0, 0.3), rng.uniform(0, 6.3))
    rate = level * season * sh.trend_factor(n, rng.uniform(-0.3, 0.8))
    return _drawn_count_case(rng, "weekly", dates, rate, (20, 100), effects, lengths=(1, 2, 3, 4, 6, 8, 12), margin=12,
                             freq="W")


def monthly(rng, effects: bool = True) -> Case:
    """Eight years of monthly counts (50-50000 a month) with a yearly season and trend;
    one effect of 1-6 months or lasting."""
    n = 96
    dates = sh.monthly_dates(rng, n)
    level = np.exp(rng.uniform(np.log(50), np.log(50000)))
    season = sh.yearly_factor(dates, rng.uniform(0.05, 0.3), rng.uniform(0, 6.3))
    rate = level * season * sh.trend_factor(n, rng.uniform(-0.3, 1.0))
    return _drawn_count_case(rng, "monthly", dates, rate, (50, 400), effects, lengths=(1, 2, 3, 4, 6), margin=12, most=1,
                             freq="M")


def small_company(rng, case: int) -> Case:
    """The small company of issue 9, one story per case (cycling), each with the same two
    days missing from the export (NaN): won ~3/day down 45% for six weeks; a region
    (~1 win/day) closing nothing for two weeks; opportunities (~45/day) -65% for a
    Tue-Thu offsite; leads (~14/day) +70% for a 14-day campaign; lead->MQL conversion
    (~30% of ~40 leads/day) +80% for a 3-day discount."""
    dates = sh.daily_dates(rng, DAYS)
    day = sh.weekday(dates)
    business = sh.weekly_profile(rng, True)[day]
    start = int(rng.integers(120, DAYS - 150))
    story = case % 5
    if story == 2:  # the offsite runs Tuesday to Thursday
        start += int((1 - day[start]) % 7)
    level, length, size, label = [(3, 42, -0.45, "won -45% six weeks"), (1, 14, -1.0, "region closes nothing"),
                                  (45, 3, -0.65, "offsite -65%"), (14, 14, 0.7, "campaign +70%"),
                                  (40, 3, 0.8, "discount: lead->mql +80%")][story]
    effect = [sh.Effect(start, length, size)]
    missing = sorted(rng.choice(np.r_[30:start - 10, start + length + 10 : DAYS - 30], 2, replace=False))
    if story < 4:
        values = sh.sample_counts(rng, level * business * sh.multiplier(DAYS, effect), 20.0)
        kind, den = "count", None
    else:
        den = sh.sample_counts(rng, level * business, 20.0)
        values = rng.binomial(den.astype(int), np.clip(0.3 * sh.multiplier(DAYS, effect), 0, 1)).astype(float)
        kind = "ratio"
    values[missing] = np.nan
    if den is not None:
        den[missing] = np.nan
    return Case(f"small_company: {label}", values, kind, dates, denominators=den, planted=(effect[0].planted(label),))


def clean(rng, case: int) -> Case:
    """A series of any other profile without planted changes (false alarms per series-year)."""
    makers = [volumes, season_trend, quarter_close, heavy_tails, sparse, gaps, gauge, ratio, weekly, monthly]
    return makers[case % len(makers)](rng, effects=False)


def _with_effects(maker):
    return lambda rng, case: maker(rng)


PROFILES = {
    "volumes": _with_effects(volumes),
    "season_trend": _with_effects(season_trend),
    "quarter_close": _with_effects(quarter_close),
    "heavy_tails": _with_effects(heavy_tails),
    "sparse": _with_effects(sparse),
    "gaps": _with_effects(gaps),
    "gauge": _with_effects(gauge),
    "ratio": _with_effects(ratio),
    "weekly": _with_effects(weekly),
    "monthly": _with_effects(monthly),
    "small_company": small_company,
    "clean": clean,
}


def generate(profile: str, split: str, count: int) -> list[Case]:
    """`count` seeded cases of one profile for one split ("tune" or "holdout")."""
    number, split_number = zlib.crc32(profile.encode()), SPLITS.index(split)
    maker = PROFILES[profile]
    return [maker(np.random.default_rng(np.random.SeedSequence([number, split_number, i])), i) for i in range(count)]




def profile_arguments(description: str, defaults: tuple[str, ...]):
    """The command line of a script that walks profiles of one split: PROFILE ...,
    --split, --count; unknown profile names are refused; none given means `defaults`."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("profiles", nargs="*", metavar="PROFILE",
                        help=f"profiles of evaluate.py (default: {' '.join(defaults)})")
    parser.add_argument("--split", choices=SPLITS, default="tune")
    parser.add_argument("--count", type=int, default=100, help="series per profile (evaluate.py's full run: 100)")
    args = parser.parse_args()
    unknown = [p for p in args.profiles if p not in PROFILES]
    if unknown:
        parser.error(f"unknown profile {unknown[0]!r}; one of: {', '.join(PROFILES)}")
    args.profiles = args.profiles or list(defaults)
    return args
