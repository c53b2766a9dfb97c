"""Gauges and counts without noise: their changes read off the values themselves."""
from __future__ import annotations

import numpy as np

from ctxmetrics.config import DetectionSettings
from ctxmetrics.detect.episodes import _pct
from ctxmetrics.detect.prepare import _additive_profile, _multiplicative_profile, _Series
from ctxmetrics.detect.robust import mad
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
    rounded = _rounded_path_changes(v, s, settings) if kind == "gauge" else None
    if rounded is not None:
        return rounded  # ties of rounding, not of a level held
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
    """`v` as it is, or with its season out, whichever has fewest moves, when that one has
    most consecutive values equal (more than half: its robust scales are zero); None when
    none has. The season is tried only when most values equal the one a season before (a
    diff, where the profile would cost every series of a scan its medians): a weekday
    pattern held exactly (weekdays 10, weekends 2) has most values equal to the day before
    too, yet read as it is, every weekend would be a spike. It is taken out additively
    and, for values that are all >= 0, as factors (a count of 10 on weekdays and 2 on
    weekends that doubles keeps its shape, not its differences)."""
    if len(v) < 2 or not (_mostly_equal(v, 1) or _mostly_equal(v, period)):
        return None
    versions = [v]
    if period > 1 and len(v) > period and np.mean(_moved(v, period)) < 0.5:
        usual = ~s.known
        versions.append(v - _additive_profile(v, s.weekday, usual, period)[s.weekday])
        if np.all(v >= 0):
            factors = _multiplicative_profile(v, s.weekday, usual, period)[s.weekday]
            if np.all(factors > 0):
                versions.append(v / factors)
    moves = [np.mean(_moved(version)) for version in versions]
    best = int(np.argmin(moves))  # the first of equals: the values as they are
    return versions[best] if moves[best] < 0.5 else None


_MOST_DECIMALS = 6  # values with more decimals than this are not read as rounded
# a move less the mean of the moves either side: its sd when the values are a smooth path
# rounded (four rounding errors, uniform within half a tick, weighted 1/2, 3/2, 3/2, 1/2)
_ROUNDING_CONTRAST_SD = np.sqrt(5.0 / 12.0)


def _rounded_path_changes(v: np.ndarray, s: _Series, settings: DetectionSettings) -> list[Change] | None:
    """The changes of a gauge whose values `v` are a smooth path rounded to their decimal
    resolution (a logistic decline of 5.8 to 1.6 over 300 years at 0.01: most years tie,
    then one tick), or None when they are not (a level held and then moved).

    Rounding a smooth path moves it by whole ticks that follow the path's slope: each move
    is the mean of the moves either side within rounding (`_move_contrasts`), and they all
    go the path's one way. A level held and then moved jumps: its move stands out of the
    zeros around it (a price held for weeks, then +10%). A path is read as rounded when at
    least three quarters of its moves, and at least three, are not jumps and all go one
    way; its jumps are its changes (`_jumps`)."""
    resolution = _decimal_resolution(v)
    if resolution is None or len(v) < 4:
        return None
    moves = np.diff(v) / resolution
    jumps = _jumps(moves, settings)
    moved = np.rint(moves) != 0
    moved[[at for at, _, _ in jumps]] = False
    ticks = moves[moved]
    one_way = bool(np.all(ticks > 0) or np.all(ticks < 0))
    if ticks.size < 3 or 3 * len(jumps) > ticks.size or not one_way:
        return None
    out, k = [], 0
    while k < len(jumps):
        at, size, z = jumps[k]
        back = jumps[k + 1] if k + 1 < len(jumps) else None
        # the next jump takes the path back (what is left of the two is no jump): a spike
        if (back is not None and abs(size + back[1]) < settings.min_score * _ROUNDING_CONTRAST_SD
                and s.index[back[0] + 1] - s.index[at + 1] <= settings.max_temporary_days):
            out.append(_change("spike", s, at + 1, back[0], v[at], float(np.mean(v[at + 1:back[0] + 1])), abs(z)))
            k += 2
            continue
        out.append(_change("level_shift", s, at + 1, None, v[at], v[at + 1], abs(z)))
        k += 1
    return out


def _jumps(moves: np.ndarray, settings: DetectionSettings) -> list[tuple[int, float, float]]:
    """The moves (in ticks) that jump out of a rounded path: (index, contrast, z) where a
    move's contrast with its neighbours (`_move_contrasts`) stands `min_score` sds out and
    is the largest of the three around it (a jump of J ticks bends its neighbours'
    contrasts by -J/2). The sd is the robust sd of the other contrasts within
    `level_window_days` either side, at least the one rounding alone gives."""
    contrast = _move_contrasts(moves)
    size, reach = np.abs(contrast), settings.level_window_days
    out = []
    for at in np.flatnonzero(size >= settings.min_score * _ROUNDING_CONTRAST_SD):
        if size[at] < size[max(at - 1, 0):at + 2].max():
            continue
        around = np.concatenate((contrast[max(at - reach, 0):max(at - 1, 0)], contrast[at + 2:at + reach + 1]))
        z = contrast[at] / max(mad(around) if around.size >= 4 else 0.0, _ROUNDING_CONTRAST_SD)
        if abs(z) >= settings.min_score:
            out.append((int(at), float(contrast[at]), float(z)))
    return out


def _move_contrasts(moves: np.ndarray) -> np.ndarray:
    """Each move less the mean of the moves either side (the one side at the ends): a
    smooth path's slope and its bend taken out, its rounding and its jumps left."""
    padded = np.concatenate((moves[1:2], moves, moves[-2:-1]))
    return moves - (padded[:-2] + padded[2:]) / 2


def _decimal_resolution(v: np.ndarray) -> float | None:
    """The coarsest decimal unit (1, 0.1, 0.01, ...) every value of `v` is a whole
    multiple of; None beyond `_MOST_DECIMALS` decimals (not rounded values)."""
    for decimals in range(_MOST_DECIMALS + 1):
        scaled = v * 10.0**decimals
        if np.all(np.abs(scaled - np.rint(scaled)) <= 1e-6):
            return 10.0**-decimals
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


def _change(kind: str, s: _Series, first: int, last: int | None, before: float, after: float,
            score: float | None = None) -> Change:
    """A change of `s` from period `first` (to `last`, None: for good), in level units;
    scored over `_NO_NOISE` unless `score` is given."""
    return Change(
        kind=kind, direction="up" if after > before else "down",
        start=int(s.index[first]), end=None if last is None else int(s.index[last]),
        before=float(before), after=float(after), change_pct=_pct(before, after),
        score=abs(after - before) / _NO_NOISE if score is None else float(score),
    )


def held_count_rows(matrix: np.ndarray, settings: DetectionSettings, period: int = 7) -> np.ndarray:
    """Which count rows (days x columns, NaN unknown) hold a level exactly and move it:
    the rows `_noiseless_changes` reads off their values. The pre-screen floors a count's
    noise at counting noise, under which a count of 10 held for a year and then 12 is no
    signal; the detector sees no noise at all in it and reports the step. A row qualifies
    when most of its known days equal the day before or the day a season (`period`)
    before, as the detector asks, it ties with the day before more often than counting
    noise allows (`_ties_beyond_counting`), and it is not one value throughout. (A
    pattern of seven different weekdays held exactly ties with no day before; its moves
    are left to the screen's own checks.) A noisy row, the usual one, stops at two
    compares of each day."""
    matrix = np.asarray(matrix)  # as given: a float copy of a scan's block would cost its size again
    out = np.zeros(len(matrix), bool)
    if matrix.shape[1] <= period:
        return out
    mostly = np.zeros(len(matrix), bool)
    for lag in (1, period):
        both = np.isfinite(matrix[:, lag:]) & np.isfinite(matrix[:, :-lag])
        mostly |= 2 * np.count_nonzero(both & (matrix[:, lag:] == matrix[:, :-lag]), axis=1) > both.sum(axis=1)
    for row in np.flatnonzero(mostly):
        v = np.asarray(matrix[row], dtype=float)
        v = v[np.isfinite(v)]
        out[row] = v.size >= 2 and bool(np.any(_moved(v))) and _ties_beyond_counting(v, settings)
    return out
