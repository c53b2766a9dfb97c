"""Gauges and counts without noise: their changes read off the values themselves."""
from __future__ import annotations

import numpy as np

from ctxmetrics.config import DetectionSettings
from ctxmetrics.detect.episodes import _pct
from ctxmetrics.detect.prepare import _additive_profile, _Series
from ctxmetrics.models.change import Change

_ROUND_OFF = 1e-9  # values this close (relative to the largest) are equal: float round-off, not noise
_NO_NOISE = 1e-9  # the floor the robust scales take when they are zero (`noise.py`): a change's score is over it


def _noiseless_changes(s: _Series, values: np.ndarray, period: int, settings: DetectionSettings, kind: str) -> list[Change] | None:
    """The changes of a gauge or count that is exactly constant between them (as it is or
    with its season out), or None when it is not.

    With most consecutive values equal, every robust scale of the series is zero: any
    split scores as near infinite, and the detector's fits (a calendar's trend and season
    at zero scale, the short windows' bridged runs) leave steps of a fitted level in values
    that have none (a second "0.0%" shift beside a real one, strings of 1-4% shifts). Here
    each value that differs from the one before is a change: a departure that comes back
    to the level before it within `max_temporary_days` is one episode (a "spike", up or
    down), any other a lasting level shift. `values` are on the grid, `s.index` says which
    are kept; `period` is the season `s.weekday` counts. A count must also tie with its
    neighbours far more often than counting noise would make it (`_ties_beyond_counting`).
    """
    v = _constant_between_changes(values[s.index], s, period)
    if v is None or (kind == "count" and not _ties_beyond_counting(v, settings)):
        return None
    tolerance = _ROUND_OFF * max(float(np.max(np.abs(v))), 1.0)
    starts = np.concatenate(([0], np.flatnonzero(_moved(v)) + 1))
    out, level, i = [], v[0], 1
    while i < len(starts):
        back = next((j for j in range(i + 1, len(starts)) if abs(v[starts[j]] - level) <= tolerance), None)
        if back is not None and s.index[starts[back]] - s.index[starts[i]] <= settings.max_temporary_days:
            first, last = starts[i], starts[back] - 1
            out.append(_change("spike", s, first, last, level, float(np.mean(v[first:last + 1]))))
            i = back + 1
            continue
        out.append(_change("level_shift", s, starts[i], None, level, v[starts[i]]))
        level, i = v[starts[i]], i + 1
    return out


def _constant_between_changes(v: np.ndarray, s: _Series, period: int) -> np.ndarray | None:
    """`v` as it is, or with its season out, whichever has most consecutive values equal
    (more than half: its robust scales are zero); None when neither has. The season is
    taken out only when most values equal the one a season before (a diff, where the
    profile would cost every series of a scan its medians)."""
    if len(v) < 2 or not (_mostly_equal(v, 1) or _mostly_equal(v, period)):
        return None
    if np.mean(_moved(v)) < 0.5:
        return v
    if period > 1 and len(v) > period and np.mean(_moved(v, period)) < 0.5:
        out = v - _additive_profile(v, s.weekday, ~s.known, period)[s.weekday]
        return out if np.mean(_moved(out)) < 0.5 else None
    return None


def _mostly_equal(v: np.ndarray, lag: int) -> bool:
    """A quick look before `_moved`: whether at least a quarter of the values equal the one
    `lag` periods before exactly (a noisy series, the usual one, stops here at one compare)."""
    return 0 < lag < len(v) and 4 * np.count_nonzero(v[lag:] == v[:-lag]) >= len(v) - lag


def _moved(v: np.ndarray, lag: int = 1) -> np.ndarray:
    """Whether each value differs from the one `lag` periods before beyond float round-off."""
    return np.abs(v[lag:] - v[:-lag]) > _ROUND_OFF * max(float(np.max(np.abs(v))), 1.0)


def _ties_beyond_counting(v: np.ndarray, settings: DetectionSettings) -> bool:
    """Whether a count ties with the period before it more often than Poisson noise at its
    median level allows, by `min_score` binomial sds. Two Poisson counts of mean m tie
    with probability ~1/sqrt(4 pi m): sparse counts (mostly 0) tie by chance, while a
    count of hundreds held exactly for weeks has no counting noise."""
    p = min(1.0, 1.0 / np.sqrt(4 * np.pi * max(float(np.median(v)), 1e-9)))
    pairs = len(v) - 1
    if p >= 1.0:
        return False
    ties = pairs - int(np.sum(_moved(v)))
    return (ties - pairs * p) / np.sqrt(pairs * p * (1 - p)) >= settings.min_score


def _change(kind: str, s: _Series, first: int, last: int | None, before: float, after: float) -> Change:
    """A change of `s` from period `first` (to `last`, None: for good), in level units."""
    return Change(
        kind=kind, direction="up" if after > before else "down",
        start=int(s.index[first]), end=None if last is None else int(s.index[last]),
        before=float(before), after=float(after), change_pct=_pct(before, after),
        score=abs(after - before) / _NO_NOISE,
    )
