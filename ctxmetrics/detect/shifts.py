"""Lasting level shifts: KernelCPD boundaries, each re-measured on weighted windows."""
from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, replace

import numpy as np

from ctxmetrics.config import DetectionSettings
from ctxmetrics.detect.episodes import (
    _FEW_A_DAY, _FEW_EVENTS, _cum, _level_change, _likelihood_sums, _long_run_excess, _pct, _segment_fit, _two_rates_z,
)
from ctxmetrics.detect.noise import _Noise
from ctxmetrics.detect.prepare import _Series
from ctxmetrics.models.change import Change

class _Windows:
    """Window means of y and of the level units, leaving out excluded days.

    Excluded days (annotated or outlying) are left out of a window unless they make up
    most of it: then the window *is* the anomaly (e.g. an annotated outage) and is
    measured as it is.
    """

    def __init__(self, s: _Series, y: np.ndarray, excluded: np.ndarray, noise: _Noise):
        # the cumulative sums below are each taken when first read: where the segmentation
        # finds no boundary (~40% of a scan's 730-day candidates) no window is measured.
        # `s` copied as it is now: the detector may replace its arrays later
        self._s, self._y, self._keep = copy.copy(s), y, ~excluded
        # inverse-variance weights in typical days: a quiet weekend day counts for less
        self._weight = noise.day_var / noise.scale**2
        self.sized = s.sized
        # counts: kept events and weekday exposure, for the count likelihood of a step
        self.shape = s.shape

    @functools.cached_property
    def _all(self) -> tuple:
        s, y, weight = self._s, self._y, self._weight
        return _cum(y * weight), _cum(s.num), _cum(s.den), _cum(weight), _cum(np.ones(len(y)))

    @functools.cached_property
    def _kept(self) -> tuple:
        s, y, weight, keep = self._s, self._y, self._weight, self._keep
        return _cum(y * weight * keep), _cum(s.num * keep), _cum(s.den * keep), _cum(weight * keep), _cum(keep)

    @functools.cached_property
    def _events(self) -> tuple:  # counts only (`shape` set)
        s, keep = self._s, self._keep
        return _cum(s.num * s.factor * keep), _cum(s.factor * keep), _cum(keep)

    @functools.cached_property
    def _beyond(self) -> float:  # counts only (`shape` set)
        return np.sqrt(_long_run_excess(self._s, 1.0))

    def count_z(self, lo: int, at: int, hi: int) -> float | None:
        """`count_spans_z` of [at, hi) against [lo, at)."""
        return self.count_spans_z(at, hi, ((lo, at),))

    def count_spans_z(self, a: int, b: int, spans) -> float | None:
        """Counts with few events expected in [a, b) (< `_FEW_EVENTS`) or a day (<
        `_FEW_A_DAY`): the signed z of [a, b) against the days of `spans` ((lo, hi) pairs)
        by their count likelihood (as `episodes._count_z` judges a window: the transform
        of a few events a day loses much of their power); None otherwise, or where
        excluded days make up most of a side."""
        if self.shape is None:
            return None
        x, f, k = (np.array([sum(c[hi] - c[lo] for lo, hi in spans), c[b] - c[a]]) for c in self._events)
        if k[0] < sum(hi - lo for lo, hi in spans) / 2 or k[1] < (b - a) / 2 or f.min() <= 0:
            return None
        rate = x.sum() / f.sum()
        if rate * f[1] >= _FEW_EVENTS and rate >= _FEW_A_DAY:
            return None
        return float(_two_rates_z(x[1], f[1], k[1], x[0], f[0], k[0], self.shape)) / self._beyond

    def count_level(self, lo: int, hi: int) -> float:
        """Kept events over their weekday exposure in [lo, hi): a counted step's level, as
        its count likelihood estimates it (`kernels_episodes.window_levels`)."""
        events, exposure, _ = (c[hi] - c[lo] for c in self._events)
        return events / exposure if exposure > 0 else 0.0

    def measure(self, lo: int, hi: int) -> tuple[float, float, float]:
        """Weighted mean of y, pooled level (num/den) and the weight (typical days) used
        in [lo, hi)."""
        use = self._kept if self._kept[4][hi] - self._kept[4][lo] >= (hi - lo) / 2 else self._all
        cy, cn, cd, cw, _ = (c[hi] - c[lo] for c in use)
        return cy / cw, (cn / cd if cd > 0 else 0.0), float(cw)


@dataclass
class _Step:
    """One candidate boundary measured against its neighbours."""

    lo: int  # first day of the window before the boundary
    at: int
    y_before: float
    y_after: float
    before: float
    after: float
    pct: float
    score: float
    hi: int = 0  # end (exclusive) of the window after the boundary


def _measure(w: _Windows, noise: _Noise, lo: int, at: int, hi: int) -> _Step:
    """The step at `at` judged on [lo, at) against [at, hi)."""
    y1, l1, n1 = w.measure(lo, at)
    y2, l2, n2 = w.measure(at, hi)
    counted = w.count_z(lo, at, hi)
    if counted is not None:
        l1, l2 = w.count_level(lo, at), w.count_level(at, hi)
    score = abs(y2 - y1) / np.sqrt(noise.se2(n1) + noise.se2(n2)) if counted is None else abs(counted)
    return _Step(lo, at, y1, y2, l1, l2, _pct(l1, l2), float(score), hi)


def _candidates(y: np.ndarray, noise: _Noise, settings: DetectionSettings) -> list[int]:
    """Boundaries from penalised-l2 segmentation; the penalty is the gain of a min_score
    step measured on half-windows, in long-run-variance units.

    Long series are segmented on means of `_COARSE_BLOCK`-day blocks: for boundaries on
    block edges the l2 cost is the daily one divided by the block length (up to a
    constant), at ~1/block^2 of the work (the segmentation is quadratic in the length).
    Each boundary then moves to its best day (`_refine`). For the level-shift search too
    since DETECTOR 9 (before, only the calendar fit's clear steps): ~10% of a 730-day
    candidate's time; holdout and tune found 1 and 2 fewer of ~1,300 planted changes,
    TCPD unchanged (benchmarks/README.md).
    """
    from ctxmetrics.detect.kernels import kernel_cpd_l2

    penalty = 0.5 * settings.min_score**2 * noise.lrv
    size = settings.min_segment_days
    block = _COARSE_BLOCK if len(y) >= _COARSE_MIN_POINTS else 1
    blocks = len(y) // block
    means = _block_means(y, block, blocks)
    bounds = [b * block for b in kernel_cpd_l2(means, penalty / block, max(size // block, 1))[:-1]]
    return _refine(y, bounds, block, size) if block > 1 else bounds


def _block_means(y: np.ndarray, block: int, blocks: int) -> np.ndarray:
    """Means of the first `blocks` blocks of `block` days. Two-day blocks as (0.0 + first
    + second) / 2: the very floats of `mean(axis=1)`, whose sum starts from 0.0 (two -0.0
    days sum to +0.0), without its ~30 us of overhead (~3 segmentations a candidate)."""
    if block == 2:
        return (0.0 + y[0 : 2 * blocks : 2] + y[1 : 2 * blocks : 2]) / 2
    return y[: blocks * block].reshape(blocks, block).mean(axis=1)


_COARSE_MIN_POINTS = 200  # shorter series are segmented point by point (cheap enough)
# 2-day blocks: with 3- or 4-day blocks the steps moved enough to change the calendar fit
# (clean funnels of tests/test_detect_funnel.py: 6-8 false alarms in 560 series, not 5)
_COARSE_BLOCK = 2


def _refine(y: np.ndarray, bounds: list[int], reach: int, size: int) -> list[int]:
    """Each boundary moved (at most `reach` days) to the day that best splits the stretch
    between its neighbours into two levels (largest l2 gain), left to right (compiled:
    `kernels.refine_bounds`)."""
    from ctxmetrics.detect.kernels import refine_bounds

    moved = refine_bounds(np.asarray(y, dtype=np.float64), np.array(bounds, dtype=np.int64), reach, size)
    return [int(b) for b in moved]


def _prune(bounds: list[int], w: _Windows, noise: _Noise, n: int, settings: DetectionSettings) -> list[_Step]:
    """Drop the weakest failing boundary and re-measure until every boundary passes."""
    width = settings.level_window_days
    bounds = list(bounds)
    # a dropped boundary changes only its neighbours' windows: the other steps, and the
    # episodes of pairs of them, are those of the last round (the same windows measure the same)
    measured: dict[tuple[int, int, int], _Step] = {}
    episodes: dict[tuple[int, ...], float | None] = {}

    def step(lo: int, at: int, hi: int) -> _Step:
        if (lo, at, hi) not in measured:
            measured[lo, at, hi] = _measure(w, noise, lo, at, hi)
        return measured[lo, at, hi]

    def episode_margin(first: _Step, second: _Step) -> float | None:
        """The margin of `first` and its return `second` judged as one episode, None when
        `second` is no return."""
        key = (first.lo, first.at, first.hi, second.lo, second.at, second.hi)
        if key not in episodes:
            episodes[key] = None
            if _reverts(first, second, w, noise, settings):
                episode = _episode_step(w, noise, first, second)
                episodes[key] = min(episode.score / settings.min_score, _size_margin(episode.pct, w, settings))
        return episodes[key]

    while True:
        edges = [0, *bounds, n]
        steps = [step(max(edges[i], b - width), b, min(edges[i + 2], b + width)) for i, b in enumerate(bounds)]
        margins = [min(st.score / settings.min_score, _size_margin(st.pct, w, settings)) for st in steps]
        # a step and its return are judged as one temporary episode too: each boundary
        # alone has the episode's days on one side only, the episode as a whole has both
        for i in range(len(steps) - 1):
            whole = episode_margin(steps[i], steps[i + 1])
            if whole is not None:
                margins[i], margins[i + 1] = max(margins[i], whole), max(margins[i + 1], whole)
        if not margins or min(margins) >= 1.0:
            return steps
        del bounds[int(np.argmin(margins))]


def _episode_step(w: _Windows, noise: _Noise, first: _Step, second: _Step) -> _Step:
    """The temporary episode between `first` and its return `second`, judged as a whole
    (as `episodes._window_scores` judges a window): its days against the days before and
    after it pooled, as long as each side alone shows at least half of that (else the
    weaker side's score; 0 when the sides disagree). Its level before is the pooled one."""
    y1, l1, n1 = w.measure(first.lo, first.at)
    y2, l2, n2 = w.measure(first.at, second.at)
    y3, l3, n3 = w.measure(second.at, second.hi)
    y_around, l_around = (y1 * n1 + y3 * n3) / (n1 + n3), (l1 * n1 + l3 * n3) / (n1 + n3)

    def z(y: float, n: float) -> float:
        return (y2 - y) / np.sqrt(noise.se2(n2) + noise.se2(n))

    pooled, before, after = z(y_around, n1 + n3), z(y1, n1), z(y3, n3)
    # counts of few events: by their likelihood, as each boundary alone is judged (`_measure`)
    sides = ((first.lo, first.at), (second.at, second.hi))
    counted = [w.count_spans_z(first.at, second.at, spans) for spans in (sides, sides[:1], sides[1:])]
    if None not in counted:
        pooled, before, after = counted
    weaker = min(abs(before), abs(after)) if np.sign(before) == np.sign(after) else 0.0
    score = abs(pooled) if weaker >= 0.5 * abs(pooled) else weaker
    return _Step(first.lo, first.at, y_around, y2, l_around, l2, _pct(l_around, l2), float(score), second.at)


def _place_by_likelihood(s: _Series, noise: _Noise, bounds: list[int], excluded: np.ndarray, settings: DetectionSettings,
                         short_runs: np.ndarray | None = None) -> list[int]:
    """Each boundary moved (at most `min_segment_days`) to the median day of its posterior
    under the series' own likelihood of two levels over the days between its neighbours
    (Poisson for counts, binomial for ratios), left to right: at low volume the
    least-squares split of the stabilised values can sit days away from it.

    `short_runs` (excluded days the short-window pass took): the runs of them that reach
    into a boundary's reach count in its likelihood (`_counted_at`)."""
    events, exposure = _likelihood_sums(s, noise, ~excluded)
    reach, width, n = settings.min_segment_days, settings.level_window_days, len(s.y)
    out: list[int] = []
    for i, b in enumerate(bounds):
        lo = max(out[-1] if out else 0, b - width)
        hi = min(bounds[i + 1] if i + 1 < len(bounds) else n, b + width)
        days = np.arange(max(b - reach, lo + 1), min(b + reach, hi - 1) + 1)
        if days.size == 0:
            out.append(b)
            continue
        counted = _counted_at(s, noise, (events, exposure), short_runs, lo, hi, days, settings.min_score)
        x, e = (events, exposure) if counted is None else _likelihood_sums(s, noise, ~excluded | counted)
        fit = _segment_fit(x[days] - x[lo], e[days] - e[lo], s) + _segment_fit(x[hi] - x[days], e[hi] - e[days], s)
        # the median of the boundary's posterior (flat prior; the log-likelihood tempered
        # by the long-run variance, as autocorrelated days carry less than independent ones)
        loglik = fit / (noise.lrv / noise.day_var)
        out.append(_median_day(days, np.exp(loglik - loglik.max())))
    return out


def _counted_at(s: _Series, noise: _Noise, kept_sums: tuple, short_runs: np.ndarray | None, lo: int, hi: int,
                days: np.ndarray, min_score: float) -> np.ndarray | None:
    """The excluded days that count in the likelihood of a boundary searched over `days`
    (between its neighbours `lo`, `hi`; `kept_sums`: `_likelihood_sums` of the days not
    excluded): the runs of `short_runs` that reach into `days` and are at the level of
    the kept days on one side of them, their likelihood-ratio z against that side below
    `min_score` (the detector's own "within noise") and below half their z against the
    other side (a spike between two levels is near neither). None when no run counts.

    Short windows near an end of the series, or beside an episode whose days leave their
    flanks, can take the first periods of a lasting step's new level, each judged against
    its one flank. Left out, every boundary across them fits alike and the posterior's
    median dates the step inside them, late; counted, the likelihood sees where the new
    level starts. A run that is an episode of its own (a spike beside the step) is at
    neither level and stays out: counted, it would pull the boundary to its own start."""
    if short_runs is None or not short_runs[days[0] : days[-1] + 1].any():
        return None
    events, exposure = kept_sums
    every_x, every_e = _likelihood_sums(s, noise, np.ones(len(s.y), bool))
    temper = noise.lrv / noise.day_var

    def z(x: float, e: float, side_x: float, side_e: float) -> float:
        if side_e <= 0:
            return np.inf
        fits = _segment_fit(np.array([x, side_x, x + side_x]), np.array([e, side_e, e + side_e]), s)
        return float(np.sqrt(max(2.0 * (fits[0] + fits[1] - fits[2]), 0.0) / temper))

    counted = np.zeros(len(s.y), bool)
    for a, b in _true_runs(short_runs[lo:hi]):
        a, b = a + lo, b + lo
        if b <= days[0] or a > days[-1]:
            continue
        x, e = every_x[b] - every_x[a], every_e[b] - every_e[a]
        before = z(x, e, events[a] - events[lo], exposure[a] - exposure[lo])
        after = z(x, e, events[hi] - events[b], exposure[hi] - exposure[b])
        if min(before, after) < min(min_score, 0.5 * max(before, after)):
            counted[a:b] = True
    return counted if counted.any() else None


def _median_day(days: np.ndarray, weight: np.ndarray) -> int:
    """The day that splits `weight` (a posterior over `days`) in halves. On a flat stretch
    of the likelihood (a quiet weekend, a few noisy days) the argmax is one noisy day's
    pick; the median weighs every day as the data supports it."""
    return int(days[np.searchsorted(np.cumsum(weight), 0.5 * weight.sum())])


def _reverts(first: _Step, second: _Step, w: _Windows, noise: _Noise, settings: DetectionSettings) -> bool:
    """True when `second` undoes `first` soon enough to be one temporary episode: it
    returns to within 30% of the old level, or to a level within noise of it (below the
    score any step must reach), as a return that overshoots by noise still does."""
    jump = first.y_after - first.y_before
    back = second.y_after - first.y_before
    # the limit is on the episode's length, which its two placed ends can overstate by up
    # to the placement's reach (`min_segment_days`, `_place_by_likelihood`)
    longest = settings.max_temporary_days + settings.min_segment_days
    if np.sign(second.y_after - second.y_before) != -np.sign(jump) or second.at - first.at > longest:
        return False
    if abs(back) <= 0.3 * abs(jump):
        return True
    return _return_z(first, second, w, noise) < settings.min_score


def _return_z(first: _Step, second: _Step, w: _Windows, noise: _Noise) -> float:
    """How far the level after `second` is from the level before `first`, in noise units."""
    y1, _, n1 = w.measure(first.lo, first.at)
    y3, _, n3 = w.measure(second.at, second.hi)
    return float(abs(y3 - y1) / np.sqrt(noise.se2(n1) + noise.se2(n3)))


def _bridge(y: np.ndarray, gone: np.ndarray, reach: int = 14) -> np.ndarray:
    """`y` with each run of `gone` days replaced by the mean of up to `reach` kept days
    each side, so that an episode leaves no step for the level-shift search."""
    out = y.copy()
    for a, b in _true_runs(gone):
        around = np.r_[y[max(a - reach, 0) : a][~gone[max(a - reach, 0) : a]], y[b : b + reach][~gone[b : b + reach]]]
        out[a:b] = around.mean() if around.size else y[a:b].mean()
    return out


def _true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Maximal [start, stop) runs of True."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _shift_changes(s: _Series, noise: _Noise, outlying: np.ndarray, settings: DetectionSettings) -> tuple[list[Change], np.ndarray]:
    """Level shifts and temporary lifts/drops (reported as spikes with an end), and the
    days of those temporary ones.

    Two opposite steps close together that do not return to the old level are an episode
    beside a lasting step (a dip ten days after a price rise): each of them is measured
    against a window that holds the other level, so neither is the lasting step, which
    the segmentation's penalty may not even have kept. Their days are then bridged like
    an episode's and the steps searched again; the episode itself is left to the episode
    scan, whose flanks stop at the lasting steps found (`find._changes`)."""
    n = len(s.y)
    short_runs = outlying  # the first pass's runs (not the days of an episode beside a step, bridged below)
    steps, windows = _lasting_steps(s, noise, outlying, settings, short_runs)
    pairs, beside = _episode_pairs(steps, windows, noise, n, settings)
    if beside:
        outlying = outlying.copy()
        for i in beside:
            outlying[steps[i].at : steps[i + 1].at] = True
        steps, windows = _lasting_steps(s, noise, outlying, settings, short_runs)
        pairs, _ = _episode_pairs(steps, windows, noise, n, settings)
    changes, i = [], 0
    temporary = np.zeros(n, bool)
    while i < len(steps):
        st = steps[i]
        if i in pairs:
            end = steps[i + 1].at
            episode = _episode_step(windows, noise, st, steps[i + 1])
            changes.append(_change("spike", s, episode, int(s.index[end - 1])))
            temporary[st.at : end] = True
            i += 2
        else:
            changes.append(_change("level_shift", s, st, None))
            i += 1
    kept = [c for c in changes if c.score >= settings.min_score and _size_margin(c.change_pct, windows, settings) >= 1.0]
    return kept, temporary


def _lasting_steps(s: _Series, noise: _Noise, outlying: np.ndarray, settings: DetectionSettings,
                   short_runs: np.ndarray | None = None) -> tuple[list[_Step], _Windows]:
    """The boundaries of `s` with the `outlying` days bridged, each passing on its own or
    with its return (`_prune`), placed by the count likelihood (the `short_runs` beside a
    boundary counted: `_counted_at`); and the windows measuring them."""
    y = _bridge(s.y, outlying)
    windows = _Windows(s, y, s.known | outlying, noise)
    steps = _prune(_candidates(y, noise, settings), windows, noise, len(s.y), settings)
    if steps:  # the segmentation fits the stabilised scale; the count likelihood places the days
        # known days count here: a tagged outage's days are where its boundaries lie (left
        # out, a wholly known episode leaves its ends free to drift up to the reach)
        moved = _place_by_likelihood(s, noise, [st.at for st in steps], outlying, settings, short_runs)
        if moved != [st.at for st in steps]:  # else `_prune` would measure the same passing steps again
            steps = _prune(moved, windows, noise, len(s.y), settings)
    return steps, windows


def _episode_pairs(steps: list[_Step], w: _Windows, noise: _Noise, n: int, settings: DetectionSettings) -> tuple[list[int], list[int]]:
    """Indexes i of the steps that open an episode closed by step i + 1: opposite steps at
    most `max_temporary_days` (plus the placement's reach) apart (`n`: the series'
    length). Returns those that return to the old level (`_reverts`), and those that do
    not (an episode beside a lasting step), which share no step with the first.

    Where two pairs share a step, the one that returns is taken (a dip, then the old level,
    then a lasting drop: the dip is the episode), and of two that both return, the one
    whose sides differ least in noise units (`_return_z`: a lasting drop with a lift back
    to the old level ten days later: the lift is the episode, the drop lasts)."""
    longest = settings.max_temporary_days + settings.min_segment_days
    opposite = [
        i for i in range(len(steps) - 1)
        if np.sign(steps[i].y_after - steps[i].y_before) == -np.sign(steps[i + 1].y_after - steps[i + 1].y_before)
        and steps[i + 1].at - steps[i].at <= longest
    ]
    back = {i for i in opposite if _reverts(steps[i], steps[i + 1], w, noise, settings)}
    # an episode that does not return is one beside a lasting step only when it is shorter
    # than the levels either side of it: in a run of regime changes (lockdowns lifted in
    # stages) a long drop and a partial recovery are two lasting levels
    edges = [0, *(st.at for st in steps), n]
    opposite = [i for i in opposite if i in back or edges[i + 2] - edges[i + 1] < min(edges[i + 1] - edges[i], edges[i + 3] - edges[i + 2])]
    chosen: list[int] = []
    for i in sorted(opposite, key=lambda i: (i not in back, _return_z(steps[i], steps[i + 1], w, noise))):
        if not {i - 1, i, i + 1} & set(chosen):
            chosen.append(i)
    return sorted(i for i in chosen if i in back), sorted(i for i in chosen if i not in back)


def _size_margin(pct: float, w, settings: DetectionSettings) -> float:
    """How far a change is above `min_change_pct` (gauges: no size rule, their units vary)."""
    return abs(pct) / settings.min_change_pct if w.sized else np.inf


def _change(kind: str, s: _Series, st: _Step, end: int | None) -> Change:
    change = _level_change(kind, s, st.at, None, st.before, st.after, np.sign(st.y_after - st.y_before), st.score)
    return replace(change, end=end)


def _steps_as_shifts(s: _Series, noise: _Noise, steps: list[int], shifts: list[Change], outlying: np.ndarray,
                     settings: DetectionSettings) -> list[Change]:
    """The lasting steps fitted alongside the calendar that the shift search did not
    report, each judged on the whole segments either side (to the neighbouring steps,
    shifts or ends of the series) with a linear trend alongside, not on level windows.

    Level windows bound the bias of a trend left in; a trend fitted with the step in the
    same regression bears none, and the whole segments give the power: a -25% step of a
    seasonal weekly series with ~15% noise a week scores ~4.7 on 12 weeks either side,
    ~6 here. The step's day is placed as the shift search places its own
    (`_place_by_likelihood`); it must pass `min_score` (its t against the long-run
    variance) and `min_change_pct`. Two steps that undo each other soon (`_reverts`) are
    an episode, left to the episode scan. Days of episodes (`outlying`) are bridged and
    left out, as the shift search does.
    """
    reported = [c.start for c in shifts] + [c.end + 1 for c in shifts if c.end is not None]
    near = np.searchsorted(s.index, reported) if reported else np.array([], int)
    new = [b for b in steps if not np.any(np.abs(near - b) <= settings.min_segment_days)]
    if not new:
        return []
    excluded = s.known | outlying
    new = sorted(set(_place_by_likelihood(s, noise, new, excluded, settings)) - set(near.tolist()))
    y = _bridge(s.y, outlying)
    windows = _Windows(s, y, excluded, noise)
    edges = sorted({0, len(s.y), *near.tolist(), *new})
    measured = []
    for b in new:
        lo, hi = edges[edges.index(b) - 1], edges[edges.index(b) + 1]
        step, t = _measure(windows, noise, lo, b, hi), _step_t(y[lo:hi], ~excluded[lo:hi], b - lo, noise.lrv)
        # the segments' means carry the trend too: a step against a long trend can read as
        # a move the other way (yearly series of a century), and is then not reported
        measured.append(replace(step, score=abs(t) if np.sign(t) == np.sign(step.y_after - step.y_before) else 0.0))
    out, i = [], 0
    while i < len(measured):
        if i + 1 < len(measured) and _reverts(measured[i], measured[i + 1], windows, noise, settings):
            i += 2
            continue
        step = measured[i]
        if step.score >= settings.min_score and _size_margin(step.pct, windows, settings) >= 1.0:
            out.append(_change("level_shift", s, step, None))
        i += 1
    return out


def _step_t(y: np.ndarray, ok: np.ndarray, at: int, var: float) -> float:
    """Signed t statistic of a step at `at` in y ~ intercept + linear trend + step (the
    `ok` periods, each of variance `var`)."""
    t = np.arange(len(y), dtype=float)
    x = np.column_stack((np.ones(len(y)), t - t.mean(), t >= at))[ok]
    gram = np.linalg.pinv(x.T @ x)
    coef = gram @ (x.T @ y[ok])
    return float(coef[2] / np.sqrt(max(gram[2, 2] * var, 1e-300)))
