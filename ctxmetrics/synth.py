"""Synthetic funnels and series with known truth, for tests, benchmarks and the demo.

`generate_funnel` builds daily stage counts (leads -> mql -> sql -> opportunities -> won)
per region x channel: leads with a segment-specific level, weekly seasonality, growth and
overdispersed (gamma-Poisson) noise; each later stage is a binomial thinning of the stage
above a few days earlier, so an effect on leads flows down the funnel by itself.
`many_series` builds a large matrix of independent count series for benchmarks.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import product

import numpy as np
import polars as pl

STAGES = ("leads", "mql", "sql", "opportunities", "won")
# typical conversion from the stage above, and the days it takes to get there
_CONVERSION = {"mql": 0.45, "sql": 0.5, "opportunities": 0.45, "won": 0.3}
# mql is same-day so the default lead_to_mql rate is a plain binomial proportion; a rate
# whose numerator lags its denominator has heavier tails than its counts suggest
_LAG_DAYS = {"mql": 0, "sql": 2, "opportunities": 3, "won": 5}
_DISPERSION = 40.0  # gamma shape of the lead noise: CV of the daily rate is 1/sqrt(40) ~ 16%
_DIMENSIONS = ("region", "channel")
EFFECT_KINDS = ("spike", "level_shift")


@dataclass(frozen=True)
class Effect:
    """An injected change: the truth a detector should find.

    `magnitude` is relative (+0.6 = 60% more, -0.9 = 90% less). On leads it multiplies the
    daily rate; on a later stage it multiplies that stage's conversion probability.
    """

    metric: str
    segment: dict[str, str] = field(default_factory=dict)  # {} = every leaf segment
    start: date = date(2025, 1, 1)
    end: date | None = None  # inclusive; None = persistent
    kind: str = "level_shift"
    magnitude: float = 0.5
    label: str = ""


@dataclass(frozen=True)
class SynthFunnel:
    """A generated funnel in long format and the effects injected into it."""

    frame: pl.DataFrame  # date (pl.Date), metric, value, region, channel
    effects: tuple[Effect, ...]
    stages: tuple[str, ...] = STAGES


@dataclass(frozen=True)
class Truth:
    """One effect injected by `many_series`: row, kind, first and last (inclusive) day."""

    row: int
    kind: str  # "spike" (1-3 days, or a 7-60 day bump) | "level_shift"
    start: int
    end: int | None
    magnitude: float


def _check_effect(effect: Effect, regions, channels) -> None:
    """Raise ValueError for an effect that cannot apply to this funnel."""
    if effect.metric not in STAGES:
        raise ValueError(f"effect metric '{effect.metric}' is not a stage ({', '.join(STAGES)}).")
    if effect.kind not in EFFECT_KINDS:
        raise ValueError(f"effect kind must be one of {', '.join(EFFECT_KINDS)}, got '{effect.kind}'.")
    allowed = {"region": set(regions), "channel": set(channels)}
    for key, value in effect.segment.items():
        if key not in allowed or value not in allowed[key]:
            raise ValueError(f"effect segment {key}={value} is not a dimension value of this funnel.")


def _effect_multipliers(effects, segments, start: date, days: int) -> dict[str, np.ndarray]:
    """Per stage, an array (segments x days) of multipliers from the effects."""
    mult = {stage: np.ones((len(segments), days)) for stage in STAGES}
    for effect in effects:
        first = max((effect.start - start).days, 0)
        last = days - 1 if effect.end is None else min((effect.end - start).days, days - 1)
        if last < first:
            continue
        for i, segment in enumerate(segments):
            if all(segment[k] == v for k, v in effect.segment.items()):
                mult[effect.metric][i, first : last + 1] *= max(1.0 + effect.magnitude, 0.0)
    return mult


def _lead_rates(rng, n_segments: int, start: date, days: int, low_volume: bool) -> np.ndarray:
    """Expected leads per segment and day: level x weekday profile x growth."""
    base = np.clip(60.0 * np.exp(rng.normal(0.0, 0.6, n_segments)), 12.0, 400.0)
    if low_volume:
        base[-1] = 3.0
    weekday = (start.weekday() + np.arange(days)) % 7
    weekend = rng.uniform(0.3, 0.6, n_segments)
    profile = np.where(weekday[None, :] >= 5, weekend[:, None], 1.0)
    profile *= 1.0 + 0.08 * np.cos(2 * np.pi * weekday / 5)[None, :] * (weekday < 5)
    growth = rng.uniform(0.05, 0.5, n_segments)
    trend = (1.0 + growth[:, None]) ** (np.arange(days)[None, :] / 365.0)
    return base[:, None] * profile * trend


def _lagged(counts: np.ndarray, lag: int) -> np.ndarray:
    """counts[:, t - lag], holding the first day for the first `lag` days."""
    idx = np.maximum(np.arange(counts.shape[1]) - lag, 0)
    return counts[:, idx]


def generate_funnel(
    seed: int,
    *,
    start: date = date(2025, 1, 1),
    days: int = 730,
    regions: tuple[str, ...] = ("NA", "EMEA", "APAC"),
    channels: tuple[str, ...] = ("paid", "organic", "partner"),
    effects: tuple[Effect, ...] = (),
    low_volume_segment: bool = True,
) -> SynthFunnel:
    """A seeded synthetic funnel with known effects.

    Args:
        seed: Seed of `numpy.random.default_rng`; the same seed gives the same frame.
        start: First day.
        days: Number of days.
        regions: Region values.
        channels: Channel values.
        effects: Changes to inject (see `Effect`).
        low_volume_segment: Make the last region x channel a few leads a day.

    Returns:
        The funnel in long format with its effects.

    Raises:
        ValueError: An effect names an unknown stage, kind or dimension value.
    """
    for effect in effects:
        _check_effect(effect, regions, channels)
    rng = np.random.default_rng(seed)
    segments = [dict(zip(_DIMENSIONS, pair)) for pair in product(regions, channels)]
    # The funnel runs for a burn-in before `start`, so that on day one every later stage
    # already converts leads of earlier days, as it would in a real CRM.
    burn_in = sum(_LAG_DAYS.values())
    first = start - timedelta(days=burn_in)
    total = days + burn_in
    mult = _effect_multipliers(effects, segments, first, total)
    rates = _lead_rates(rng, len(segments), first, total, low_volume_segment) * mult["leads"]
    counts = {"leads": rng.poisson(rates * rng.gamma(_DISPERSION, 1.0 / _DISPERSION, rates.shape))}
    above = counts["leads"]
    for stage in STAGES[1:]:
        p = _CONVERSION[stage] * np.exp(rng.normal(0.0, 0.15, (len(segments), 1)))
        counts[stage] = rng.binomial(_lagged(above, _LAG_DAYS[stage]), np.clip(p * mult[stage], 0.0, 1.0))
        above = counts[stage]
    shown = {stage: c[:, burn_in:] for stage, c in counts.items()}
    return SynthFunnel(frame=_long_frame(shown, segments, start, days), effects=tuple(effects))


def _long_frame(counts: dict[str, np.ndarray], segments, start: date, days: int) -> pl.DataFrame:
    """Stage counts (segments x days each) as a long polars frame."""
    dates = np.arange(np.datetime64(start), np.datetime64(start + timedelta(days=days)))
    n = len(segments) * days
    return pl.DataFrame({
        "date": pl.Series(np.tile(dates, len(segments) * len(counts))).cast(pl.Date),
        "metric": np.repeat(list(counts), n),
        "value": np.concatenate([c.ravel() for c in counts.values()]).astype(float),
        "region": np.tile(np.repeat([s["region"] for s in segments], days), len(counts)),
        "channel": np.tile(np.repeat([s["channel"] for s in segments], days), len(counts)),
    })


# ------------------------------------------------------------------------ many series


def _ar1(rng, rows: int, days: int, rho: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """AR(1) noise per row with marginal standard deviation `sd`."""
    out = np.empty((rows, days))
    innov = rng.normal(0.0, 1.0, (rows, days)) * (sd * np.sqrt(1 - rho**2))[:, None]
    out[:, 0] = rng.normal(0.0, 1.0, rows) * sd
    for t in range(1, days):
        out[:, t] = rho * out[:, t - 1] + innov[:, t]
    return out


def _nb_scale(u: float, shape: float) -> float:
    """The detector's stabilised scale of a count level (`ctxmetrics.detect.nb_transform`)."""
    return 2.0 * np.sqrt(shape) * np.arcsinh(np.sqrt((u + 0.375) / shape))


def _relative_size(level: float, shape: float, delta_y: float, up: bool) -> float | None:
    """Relative change that moves `level` by `delta_y` on the stabilised scale (None if a
    drop that large is impossible)."""
    target = _nb_scale(level, shape) + (delta_y if up else -delta_y)
    if target <= _nb_scale(0.0, shape):
        return None
    return float((shape * np.sinh(target / (2.0 * np.sqrt(shape))) ** 2 - 0.375) / level - 1.0)


def _draw_effect(rng, row: int, days: int, level: float, shape: float, weekend: float, rho: float) -> Truth:
    """A random spike, bump or level shift sized to several noise units (and >= 25%).

    Noise units are those of the detector's stabilised scale of the deseasonalised series:
    variance (1/weekday factor + level/shape) / (1 + level/shape), the gamma part inflated
    by (1+rho)/(1-rho) for means over many autocorrelated days.
    """
    choice = rng.choice(["level_shift", "spike", "bump"], p=[0.4, 0.3, 0.3])
    over = level / shape
    day_var = ((5 + 2 / weekend) / 7 + over) / (1 + over)
    inflation = 1.0 + over / (1 + over) / day_var * (2 * rho / (1 - rho))
    if choice == "spike":
        length = int(rng.integers(1, 4))
        delta = rng.uniform(8.0, 12.0) * np.sqrt((1 / weekend + over) / (1 + over))
    elif choice == "bump":
        length = int(rng.integers(7, 61))
        window = min(length, 56)
        delta = rng.uniform(8.0, 12.0) * np.sqrt(day_var * inflation * (1 / window + 1 / 56))
    else:
        length = None
        delta = rng.uniform(8.0, 12.0) * np.sqrt(day_var * inflation * 2 / 56)
    up = bool(rng.random() < 0.5)
    magnitude = _relative_size(level, shape, delta, up) if not up else None
    if magnitude is None:
        up, magnitude = True, _relative_size(level, shape, delta, True)
    magnitude = magnitude if abs(magnitude) >= 0.25 else (0.25 if up else -0.25)
    margin = 90 if length is None else 60
    start = int(rng.integers(margin, days - margin - (length or 0)))
    kind = "level_shift" if length is None else "spike"
    return Truth(row, kind, start, None if length is None else start + length - 1, magnitude)


def many_series(
    n: int, days: int = 730, shift_fraction: float = 0.05, noise: str = "white", seed: int = 0
) -> tuple[np.ndarray, list[Truth]]:
    """Independent count-like series with weekly seasonality and growth; some with effects.

    Args:
        n: Number of series (rows).
        days: Days per series; day 0 is a Monday.
        shift_fraction: Share of rows given one real effect (level shift, 1-3 day spike or
            7-60 day bump) of at least 25% and 8-12 noise units (at the detector's windows).
        noise: "white" (independent gamma-Poisson days) or "ar1" (autocorrelated log-rate).
        seed: Seed of `numpy.random.default_rng`.

    Returns:
        The matrix (n x days, float) and the injected effects.
    """
    if noise not in ("white", "ar1"):
        raise ValueError(f"noise must be 'white' or 'ar1', got {noise!r}.")
    rng = np.random.default_rng(seed)
    matrix = np.empty((n, days))
    truth: list[Truth] = []
    chunk = 10_000
    for lo in range(0, n, chunk):
        rows = min(chunk, n - lo)
        matrix[lo : lo + rows] = _series_chunk(rng, lo, rows, days, shift_fraction, noise, truth)
    return matrix, truth


def _series_chunk(rng, first_row, rows, days, shift_fraction, noise, truth) -> np.ndarray:
    """Generate `rows` series, appending their injected effects to `truth`."""
    level = np.clip(80.0 * np.exp(rng.normal(0.0, 0.9, rows)), 20.0, 2000.0)
    weekday = np.arange(days) % 7
    weekend = rng.uniform(0.35, 0.8, rows)
    profile = np.where(weekday[None, :] >= 5, weekend[:, None], 1.0)
    growth = rng.uniform(-0.2, 0.5, rows)
    rate = level[:, None] * profile * (1 + growth[:, None]) ** (np.arange(days)[None, :] / 365.0)
    shape = rng.uniform(15.0, 60.0, rows)
    if noise == "white":
        log_noise = np.log(rng.gamma(shape[:, None], 1.0 / shape[:, None], (rows, days)))
        rho = np.zeros(rows)
    else:
        rho = rng.uniform(0.3, 0.7, rows)
        log_noise = _ar1(rng, rows, days, rho, 1.0 / np.sqrt(shape))
    for i in np.flatnonzero(rng.random(rows) < shift_fraction):
        effect = _draw_effect(rng, first_row + int(i), days, level[i], shape[i], weekend[i], rho[i])
        stop = days if effect.end is None else effect.end + 1
        rate[i, effect.start : stop] *= 1.0 + effect.magnitude
        truth.append(effect)
    return rng.poisson(rate * np.exp(log_noise)).astype(float)
