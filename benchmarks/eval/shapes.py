"""Building blocks of the generated profiles: calendars, normal patterns, noise, and
effects sized by how visible they are in the data (not by any detector's statistic).

Effect size: an effect lasting L periods (a lasting one: measured over its first 90
periods at most) shifts the mean of those periods by `z` standard errors of that mean
under the series' own noise, with z drawn from [Z_LOW, Z_HIGH], and by at least
MIN_RELATIVE of the normal level. Effects that cannot reach that (a drop larger than
-100%, a lift beyond +400%) are redrawn with another length or direction.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from benchmarks.eval.cases import Planted

Z_LOW, Z_HIGH = 6.0, 12.0
MIN_RELATIVE = 0.3
MAX_UP = 4.0
LASTING_WINDOW = 90
DAILY_LENGTHS = (1, 2, 3, 5, 7, 10, 14, 21, 28, 42, 60, 90)


@dataclass(frozen=True)
class Effect:
    """A planted change: first index, length (None = lasting), size (relative or additive)."""

    start: int
    length: int | None
    size: float

    @property
    def direction(self) -> str:
        return "up" if self.size > 0 else "down"

    def window(self, n: int) -> slice:
        return slice(self.start, n if self.length is None else self.start + self.length)

    def planted(self, label: str = "") -> Planted:
        end = None if self.length is None else self.start + self.length - 1
        return Planted(self.start, end, self.direction, label)


# ------------------------------------------------------------------------------ calendars


def daily_dates(rng, n: int) -> np.ndarray:
    """n consecutive days from a random day of 2022."""
    return np.datetime64("2022-01-01") + int(rng.integers(0, 365)) + np.arange(n)


def weekly_dates(rng, n: int) -> np.ndarray:
    """n Mondays from a random week of 2019-2020."""
    return np.datetime64("2018-12-31") + 7 * (int(rng.integers(0, 52)) + np.arange(n))


def monthly_dates(rng, n: int) -> np.ndarray:
    """n first days of consecutive months from a random month of 2012-2013."""
    return (np.datetime64("2012-01") + int(rng.integers(0, 24)) + np.arange(n)).astype("datetime64[D]")


def weekday(dates: np.ndarray) -> np.ndarray:
    """0 = Monday."""
    return (dates.astype("datetime64[D]").astype(int) + 3) % 7


def day_of_year(dates: np.ndarray) -> np.ndarray:
    return (dates - dates.astype("datetime64[Y]")).astype(int)


def close_days(dates: np.ndarray, quarter_days: int = 7, month_days: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the last `quarter_days` of each quarter and the last `month_days` of the
    other months (the sales calendar's closes)."""
    month = dates.astype("datetime64[M]")
    to_end = ((month + 1).astype("datetime64[D]") - dates).astype(int)  # 1 on the last day
    quarter_month = (month.astype(int) % 12) % 3 == 2
    return quarter_month & (to_end <= quarter_days), ~quarter_month & (to_end <= month_days)


# ------------------------------------------------------------------------ normal patterns


def weekly_profile(rng, business: bool) -> np.ndarray:
    """Weekday factors (mean 1): B2B (quiet weekends) or consumer-like (mild)."""
    if business:
        profile = np.r_[rng.uniform(0.9, 1.1, 5), rng.uniform(0.05, 0.4, 2)]
    else:
        profile = rng.uniform(0.75, 1.3, 7)
    return profile / profile.mean()


def yearly_factor(dates: np.ndarray, amplitude: float, phase: float) -> np.ndarray:
    """Smooth yearly season: one main harmonic and a weaker second one."""
    angle = 2 * np.pi * day_of_year(dates) / 365.25 + phase
    return 1.0 + amplitude * (np.sin(angle) + 0.3 * np.sin(2 * angle + 1.0))


def trend_factor(n: int, total: float) -> np.ndarray:
    """Smooth exponential growth (or decline) by `total` over the series."""
    return np.exp(np.linspace(0.0, np.log1p(total), n))


def sample_counts(rng, rate: np.ndarray, shape: float, heavy: float = 0.0) -> np.ndarray:
    """Gamma-Poisson counts around `rate` (gamma shape `shape`); `heavy` > 0 adds
    Student-t (4 df) noise of that scale on the log rate."""
    lam = rate * rng.gamma(shape, 1.0 / shape, rate.shape)
    if heavy:
        lam = lam * np.exp(heavy * rng.standard_t(4, rate.shape))
    return rng.poisson(lam).astype(float)


def ar1(rng, n: int, rho: float, sd: float) -> np.ndarray:
    """AR(1) noise with marginal standard deviation `sd`."""
    out = np.empty(n)
    innov = rng.normal(0.0, sd * np.sqrt(1 - rho**2), n)
    out[0] = rng.normal(0.0, sd)
    for t in range(1, n):
        out[t] = rho * out[t - 1] + innov[t]
    return out


def ar1_mean_var(sd: float, rho: float, length: int) -> float:
    """Variance of the mean of `length` consecutive AR(1) values."""
    h = np.arange(1, length)
    return sd**2 * (length + 2 * np.sum((length - h) * rho**h)) / length**2


def add_gaps(rng, values: np.ndarray, count: int, keep_clear: list[Effect], run: bool) -> np.ndarray:
    """`count` unknown single periods (NaN) and, if `run`, one 2-3 period outage, away
    from the planted effects' starts and ends (3 periods either side)."""
    n = len(values)
    blocked = np.zeros(n, bool)
    blocked[:3] = blocked[-3:] = True
    for e in keep_clear:
        for edge in (e.start, e.start + (e.length or 0)):
            blocked[max(edge - 3, 0) : edge + 4] = True
    out = values.copy()
    lengths = [1] * count + ([int(rng.integers(2, 4))] if run else [])
    for length in lengths:
        free = np.flatnonzero(~blocked[: n - length])
        free = free[[not blocked[i : i + length].any() for i in free]]
        if free.size:
            at = int(rng.choice(free))
            out[at : at + length] = np.nan
            blocked[max(at - 1, 0) : at + length + 1] = True
    return out


# ------------------------------------------------------------------------------- effects

# size(start, effective length, up, z) -> relative or additive size, None if impossible
Sizer = Callable[[int, int, bool, float], "float | None"]


def count_sizer(rate: np.ndarray, shape: float, heavy: float = 0.0) -> Sizer:
    """Relative size of a count effect from gamma-Poisson (and heavy-tail) noise."""
    tail_var = heavy**2 * 2.0  # Student-t with 4 df has variance 2

    def size(start: int, length: int, up: bool, z: float) -> float | None:
        mu = float(rate[start : start + length].mean())
        day_var = mu + mu**2 * (1 / shape + tail_var)
        relative = max(z * np.sqrt(day_var / length) / mu, MIN_RELATIVE)
        if up:
            return relative if relative <= MAX_UP else None
        return -relative if relative <= 1.0 else None

    return size


def draw_effects(rng, n: int, count: int, lengths, margin: int, size: Sizer,
                 avoid: Callable[[int], bool] | None = None, lasting_share: float = 0.3) -> list[Effect]:
    """Up to `count` non-overlapping effects, one per equal slot of the series; only the
    last slot may hold a lasting one."""
    effects = []
    bounds = np.linspace(margin, n - margin, count + 1).astype(int)
    for slot in range(count):
        lo, hi = bounds[slot], bounds[slot + 1]
        last = slot == count - 1
        for _ in range(50):
            length = None if last and rng.random() < lasting_share else int(rng.choice(lengths))
            span = length or 1
            if hi - lo - span < 1:
                continue
            start = int(rng.integers(lo, hi - span))
            if avoid is not None and avoid(start):
                continue
            effective = min(n - start, LASTING_WINDOW) if length is None else length
            up = bool(rng.random() < 0.5)
            amount = size(start, effective, up, rng.uniform(Z_LOW, Z_HIGH))
            if amount is not None:
                effects.append(Effect(start, length, amount))
                break
    return effects


def multiplier(n: int, effects: list[Effect]) -> np.ndarray:
    """1 + relative size over each effect's window."""
    out = np.ones(n)
    for e in effects:
        out[e.window(n)] *= 1.0 + e.size
    return out


def offset(n: int, effects: list[Effect]) -> np.ndarray:
    """Additive size over each effect's window."""
    out = np.zeros(n)
    for e in effects:
        out[e.window(n)] += e.size
    return out
