"""Planting known changes into a real background, sized by the background's own local noise.

Effect classes (lengths in days, restated in the series' periods; a class shorter than one
period is not planted on that series): episodes of 1-3, 5-14 and 21-90 days, and a lasting
step. Each is up or down, with a severity of k local noise units over its length: the
mean shift over the effect is k * sd / sqrt(L) per period, so that the effect's mean is k
standard errors away from the background (L = the episode's length; for a step, its first
`STEP_DAYS` days, at least `STEP_MIN_PERIODS` periods).

Local noise: the residual of each period against the median of its neighbours at the same
phase (daily series: the same weekday 1-3 weeks before and after; other series: 1-2 periods
either side), its robust sd (1.4826 MAD) over the `NOISE_DAYS` either side of the effect.
Counts are changed multiplicatively and stay counts (a drop thins each period binomially, a
rise adds Poisson events); gauges (temperatures, TCPD's levels, values that can be <= 0)
are shifted additively.

Placement: random starts, at least `SPACING_DAYS` (in periods, at least 3) from each other and
from the series' ends, and clear of the background's documented changes by their margin plus
the matching tolerance. At most one lasting step per series, placed after every episode.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmarks.eval.backgrounds import Background

CLASSES = {"1-3d": (1, 3), "5-14d": (5, 14), "21-90d": (21, 90), "step": None}
SEVERITIES = (4, 6, 9, 12)
DIRECTIONS = ("up", "down")
STEP_DAYS, STEP_MIN_PERIODS = 28, 4
NOISE_DAYS = 60
SPACING_DAYS = 28
DAYS_PER_EFFECT = 120  # about one effect planted per this many days of usable series
MAX_EFFECTS = 8


@dataclass(frozen=True)
class Effect:
    """One planted change: first index, last index (None = lasting step), and how it was sized."""

    klass: str
    direction: str
    severity: int
    start: int
    end: int | None
    shift: float  # per period: relative (counts) or in the background's units (gauges)


def periods(days: float, step_days: float) -> int:
    return max(1, int(round(days / step_days)))


def spacing(background: Background) -> int:
    return max(3, periods(SPACING_DAYS, background.step_days))


def classes_for(step_days: float) -> list[str]:
    """The effect classes that last at least one period at this frequency."""
    return [k for k, span in CLASSES.items() if span is None or span[1] >= step_days]


def _reference(values: np.ndarray, step_days: float) -> np.ndarray:
    """The median of each period's same-phase neighbours (NaN where none is known)."""
    lags = (7, 14, 21) if step_days == 1 else (1, 2)
    n = len(values)
    shifted = np.full((2 * len(lags), n), np.nan)
    for row, lag in enumerate(lag for lag in lags if lag < n):
        shifted[2 * row, lag:] = values[:-lag]
        shifted[2 * row + 1, :-lag] = values[lag:]
    known = np.isfinite(shifted).any(axis=0)
    out = np.full(n, np.nan)
    out[known] = np.nanmedian(shifted[:, known], axis=0)
    return out


def local_noise(values: np.ndarray, step_days: float, at: int) -> tuple[float, float]:
    """(robust sd of the residuals, median level) over the `NOISE_DAYS` either side of `at`."""
    half = max(6, periods(NOISE_DAYS, step_days))
    lo, hi = max(0, at - half), min(len(values), at + half + 1)
    window = values[lo:hi]
    residual = (window - _reference(values, step_days)[lo:hi])
    residual = residual[np.isfinite(residual)]
    level = float(np.nanmedian(window)) if np.isfinite(window).any() else 0.0
    if residual.size < 3:
        return 0.0, level
    sd = 1.4826 * float(np.median(np.abs(residual - np.median(residual))))
    # a noiseless stretch (a smooth official series): one part in a thousand of its level
    return max(sd, 1e-3 * abs(level), 1e-9), level


def _effect_periods(klass: str, step_days: float, rng: np.random.Generator) -> int | None:
    """A drawn length in periods (None for a step)."""
    span = CLASSES[klass]
    if span is None:
        return None
    return periods(int(rng.integers(span[0], span[1] + 1)), step_days)


def _size(background: Background, klass: str, direction: str, severity: int, start: int,
          length: int | None) -> float:
    """Per-period shift that puts the effect's mean `severity` local sds from the background."""
    sd, level = local_noise(background.values, background.step_days, start)
    counted = length if length is not None else max(STEP_MIN_PERIODS, periods(STEP_DAYS, background.step_days))
    shift = severity * sd / np.sqrt(counted)
    if background.kind == "count":
        shift = shift / max(level, 1.0)
    return shift if direction == "up" else -shift


def _clear(start: int, last: int, taken: list[tuple[int, int]], background: Background, gap: int,
           tolerance: int) -> bool:
    """Whether [start, last] keeps its distance from the ends, other effects and documented changes."""
    n = len(background.values)
    if start < gap or last > n - 1 - gap:
        return False
    if any(start - gap <= e and s - gap <= last for s, e in taken):
        return False
    margin = background.documented_margin + tolerance
    if any(start - margin <= d <= last + margin for d in background.documented):
        return False
    return bool(np.isfinite(background.values[start:last + 1]).all())


def place_effects(background: Background, rng: np.random.Generator, tolerance: int) -> list[Effect]:
    """Random effects for one run on `background` (none where it has no room)."""
    gap, n, step_days = spacing(background), len(background.values), background.step_days
    wanted = min(MAX_EFFECTS, max(1, int(n * step_days / DAYS_PER_EFFECT)))
    menu = [(k, d, s) for k in classes_for(step_days) for d in DIRECTIONS for s in SEVERITIES]
    order = rng.permutation(len(menu))
    picked = [menu[i] for i in order[:wanted]]
    steps = [p for p in picked if p[0] == "step"][:1]  # one lasting step at most, placed last
    picked = [p for p in picked if p[0] != "step"] + steps
    taken: list[tuple[int, int]] = []
    effects = []
    for klass, direction, severity in picked:
        for _ in range(200):
            length = _effect_periods(klass, step_days, rng)
            start = int(rng.integers(gap, max(gap + 1, n - gap)))
            last = start + (length - 1 if length else gap)
            later = length is None and any(s >= start for s, _ in taken)
            if not later and _clear(start, last, taken, background, gap, tolerance):
                break
        else:
            continue  # no room for this one
        shift = _size(background, klass, direction, severity, start, length)
        effects.append(Effect(klass, direction, severity, start, None if length is None else last, shift))
        taken.append((start, last if length else n - 1))
    return sorted(effects, key=lambda e: e.start)


def plant(background: Background, effects: list[Effect], rng: np.random.Generator) -> np.ndarray:
    """The background with `effects` applied (NaN stays unknown)."""
    values = background.values.copy()
    n = len(values)
    for e in effects:
        span = slice(e.start, n if e.end is None else e.end + 1)
        if background.kind == "gauge":
            values[span] = values[span] + e.shift
            continue
        base = values[span]
        known = np.isfinite(base)
        counts = np.round(base[known]).astype(np.int64)
        if e.shift >= 0:
            changed = counts + rng.poisson(counts * e.shift)
        else:
            changed = rng.binomial(counts, max(0.0, 1.0 + e.shift))
        base[known] = changed
        values[span] = base
    return values
