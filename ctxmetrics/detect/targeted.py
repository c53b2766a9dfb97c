"""Targeted tests: how a series changed over windows named in advance (tagged events).

The blind detector tests every window of every width at every start, so it needs about
five noise units to keep false alarms rare. A question asked in advance ("did the tagged
offsite move anything?") is one test per window: the caller sets the bar from how many
windows it tests. Each window is measured as the detector measures its own candidates,
on the same prepared series and noise: a window with an end by the episode score
(`episodes._window_scores`, against the days before and after it), a window without one
as a lasting step (`shifts._measure`, a level window each side).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from statistics import NormalDist

import numpy as np

from ctxmetrics.config import DetectionSettings
from ctxmetrics.detect.episodes import _level_change, _Scan, _window_scores
from ctxmetrics.detect.find import _ready
from ctxmetrics.detect.frequency import _date
from ctxmetrics.detect.shifts import _change, _measure, _Windows
from ctxmetrics.models.change import Change


@dataclass(frozen=True)
class Window:
    """Periods of a tagged event, as indexes into the series: `start` to `end` inclusive,
    or a lasting step at `start` when `end` is None."""

    start: int
    end: int | None


def window_changes(
    values,
    windows: list[Window],
    *,
    kind: str = "count",
    dates=None,
    denominators=None,
    settings: DetectionSettings | None = None,
    known_mask=None,
    start_weekday: int = 0,
) -> list[Change | None]:
    """The change of the series over each window, scored but not judged.

    Every window with an end is a known stretch while the series is prepared and its noise
    measured, whatever the event behind it (so the event's type never changes the result),
    and so stays out of every other window's baseline.

    Args:
        values, kind, dates, denominators, settings, known_mask, start_weekday: as
            `find_changes`.
        windows: The windows to measure (indexes into `values`).

    Returns:
        Per window, a `Change` spanning it (`score` in the detector's noise units;
        `kind` "spike" with an end, "level_shift" without), or None where it cannot be
        measured (outside the series, no known value in it, too short a series).
    """
    settings = settings or DetectionSettings()
    values = np.asarray(values, dtype=float)
    n = len(values)
    known = np.zeros(n, bool) if known_mask is None else np.asarray(known_mask, bool).copy()
    for w in windows:
        if w.end is not None:
            known[max(w.start, 0) : w.end + 1] = True
    ready = _ready(values, kind, dates, denominators, known, settings, start_weekday)
    if ready is None:
        return [None] * len(windows)
    layout, _, s, noise, _ = ready
    unit = {"count": f"per {layout.freq.unit}", "ratio": "rate", "gauge": ""}[kind]
    out: list[Change | None] = []
    for w in windows:
        if not 0 <= w.start < n or (w.end is not None and w.end < w.start):
            out.append(None)
            continue
        first = int(np.searchsorted(s.index, layout.position[w.start]))
        if w.end is None:
            change = _step(s, noise, layout.local, first)
        else:
            stop = int(np.searchsorted(s.index, layout.position[min(w.end, n - 1)], side="right"))
            change = _episode(s, noise, layout.local, first, stop) if stop > first else None
        if change is not None:
            pct = change.change_pct
            if kind == "gauge" and (change.before <= 0 or np.nanmin(values) <= 0):
                pct = float("nan")  # a percentage of a level that can be <= 0 means nothing
            last = None if w.end is None else min(w.end, n - 1)
            change = replace(
                change, start=w.start, end=last, change_pct=pct, unit=unit, frequency=layout.freq.name,
                start_date=None if dates is None else _date(dates, w.start),
                end_date=None if dates is None or last is None else _date(dates, last),
            )
        out.append(change)
    return out


def _episode(s, noise, settings: DetectionSettings, a: int, b: int) -> Change | None:
    """The kept periods [a, b) judged as one window against its flanks (known periods left out)."""
    sc = _Scan(s, noise, [b - a], settings, starts=[a]).exclude(s.known)
    score, sign, before, during, _ = (float(v[0, 0]) for v in _window_scores(sc, replace(settings, min_score=0.0)))
    if not np.isfinite(before) or not np.isfinite(during) or sign == 0:
        return None
    return _level_change("spike", s, a, b - 1, before, during, sign, score)


def _step(s, noise, settings: DetectionSettings, at: int) -> Change | None:
    """A lasting step at kept period `at`, judged on a level window each side."""
    n, width = len(s.y), settings.level_window_days
    if not 0 < at < n:
        return None
    step = _measure(_Windows(s, s.y, s.known, noise), noise, max(0, at - width), at, min(n, at + width))
    return _change("level_shift", s, step, None) if np.isfinite(step.score) else None


def bar(tests: int, alpha: float, ceiling: float) -> float:
    """The score each of `tests` windows must reach so that, on series that did not
    change, any of them passes with probability `alpha` (Šidák, two-sided normal
    scores); never above `ceiling` (the blind detector's own bar)."""
    if tests <= 0:
        return ceiling
    per_test = -math.expm1(math.log1p(-alpha) / tests)  # 1 - (1 - alpha)^(1/tests)
    return min(ceiling, _upper_quantile(per_test / 2.0))


def _upper_quantile(tail: float) -> float:
    """The z with P(Z > z) = `tail` for a standard normal Z."""
    return -NormalDist().inv_cdf(tail)
