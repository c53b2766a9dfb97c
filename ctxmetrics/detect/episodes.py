"""Episodes: a multiscale scan of windows (one day to months) scored as a whole."""
from __future__ import annotations

import math
from dataclasses import replace
from functools import lru_cache

import numpy as np

from ctxmetrics.config import DetectionSettings
from ctxmetrics.detect.noise import _Noise, _remembered_long_run_var
from ctxmetrics.detect.prepare import _Series
from ctxmetrics.models.change import Change

def _pct(before: float, after: float) -> float:
    """Relative change in percent (infinite when the baseline is zero)."""
    if before == 0:
        return 0.0 if after == 0 else float(np.copysign(np.inf, after))
    return 100.0 * (after - before) / abs(before)


def _episode_widths(n: int, settings: DetectionSettings) -> list[int]:
    """Window widths scanned: every width up to a week, then ~25% apart up to
    `max_temporary_days` (a third of the series at most, so flanks remain). A window a
    little off an episode's length still holds most of it; merging and the boundary
    pass recover the exact ends."""
    widths, w = list(range(1, 8)), 7
    while True:
        w = int(round(w * 1.25))
        if w > settings.max_temporary_days:
            break
        widths.append(w)
    return [w for w in widths if 3 * w <= n]


class _Scan:
    """Window sums and window geometry over a prepared series: every episode candidate is
    scored from these.

    Built once per pass (widths, walls, noise); `exclude` then sets which days may serve
    as baseline, the only part that changes while a pass takes episodes one by one.
    Arrays of the geometry are (widths x starts).
    `counted` (set by each scoring) marks the windows judged by their count likelihood.
    """

    def __init__(self, s: _Series, noise: _Noise, widths, settings: DetectionSettings, walls=(), starts=None, like: "_Scan | None" = None):
        """`like`: a scan of the same series and noise, whose sums and count-model excess
        are taken over instead of computed again (a merged episode's own scan)."""
        n = self.n = len(s.y)
        self.rate = (s, noise) if noise.dispersion is not None else None  # rates: `_rate_window_cap`
        # lasting shifts found are walls: no flank reaches across one, no window spans one
        walls = np.asarray(walls, dtype=np.int64)
        if walls.size:
            marks = np.zeros(n + 1, np.int64)
            marks[walls] = 1
            segment = np.cumsum(marks)  # segment number of each position 0..n
        else:  # one segment (a series' first pass): np.r_ and the sum above cost ~70 us a scan
            segment = np.zeros(n + 1, np.int64)
        bounds = np.concatenate(([0], np.sort(walls), [n]))
        seg_lo, seg_hi = bounds[:-1], bounds[1:]

        if like is None:
            self._sums(s, noise)
        else:
            self.__dict__.update({k: like.__dict__[k] for k in _Scan._SERIES_PARTS})
        self._geometry(noise, widths, settings, starts, segment, seg_lo, seg_hi)

    # what `_sums` sets: the same for every scan of one series and noise
    _SERIES_PARTS = ("_terms", "num", "den", "x", "factor", "shape", "excess", "excess_tail", "excess_long", "_weighted")

    def _sums(self, s: _Series, noise: _Noise) -> None:
        """Cumulative sums of the series and the noise beyond its count model; those of the
        last series and noise again when its arrays are the very ones (`_LAST_SUMS`)."""
        inputs = (s.y, s.num, s.den, s.factor, s.floor_var, s.known, s.shape, noise.scale, noise.tail)
        held, parts = _LAST_SUMS[0]
        if len(held) == len(inputs) and all(a is b for a, b in zip(held, inputs)):
            self.__dict__.update(parts)
            return
        from ctxmetrics.detect.kernels_episodes import count_model_excess, series_sums

        # inverse-variance weights: a quiet weekend day (a few events) says less than a busy
        # weekday. Counts: raw events and weekday factors, for the count likelihood of a window
        self._terms, sums = series_sums(s.y, s.num, s.den, s.factor, noise.scale, noise.tail)
        self.num, self.den, self.x, self.factor, *weighted = sums
        self._weighted = tuple(weighted)
        self.shape = s.shape
        # how much noisier the days are than the count model says (>= 1), for count z:
        # the negative-binomial variance on the stabilised scale is the Poisson part
        # (floor_var) plus the share of the gamma part, 1 - floor_var * factor
        self.excess, self.excess_tail = count_model_excess(noise.scale, noise.tail, s.floor_var, s.factor)
        # a long window's noise beyond the count model, from the long-run variance of y
        # (differences of block means) over the model's mean daily variance: with a few
        # events a day the day scales (MADs of a handful of distinct values) overstate
        # the noise, and `noise.lrv`, floored at their mean, would keep that bias
        self.excess_long = _long_run_excess(s, self.excess)
        _LAST_SUMS[0] = inputs, {k: self.__dict__[k] for k in _Scan._SERIES_PARTS}

    def _geometry(self, noise: _Noise, widths, settings: DetectionSettings, starts, segment, seg_lo, seg_hi) -> None:
        """Every window's flanks, validity and weighted mean (arrays of widths x starts)."""
        from ctxmetrics.detect.kernels import window_geometry

        n = self.n
        w = self.w = np.asarray(widths, dtype=np.int64)[:, None]
        t = self.t = (np.arange(n) if starts is None else np.asarray(starts, dtype=np.int64))[None, :]
        f = _flank(w, settings)  # flank periods each side
        short = self.short = w <= settings.spike_max_days
        self.long_run = noise.lrv / noise.day_var  # autocorrelation: variance of long means grows by this
        self.ramp = 1.0 + (self.long_run - 1.0) * np.minimum(w - 1, 6) / 6
        self.end, self.lo_b, self.hi_a, self.valid, self.m_w, self.v_w = window_geometry(
            n, w[:, 0], t[0], f[:, 0], short[:, 0], self.ramp[:, 0], segment, seg_lo, seg_hi, *self._weighted)

    def exclude(self, excluded: np.ndarray) -> "_Scan":
        """Leave `excluded` days out of every window's flanks (baseline)."""
        from ctxmetrics.detect.kernels import baseline_sums

        # the lowest daily rate of events among the baseline days: no flank's rate is lower
        # (0, no bound, unless every baseline day has events >= 0 over an exposure > 0, or
        # none over none: a dead weekday adds nothing to a flank)
        sums, self.lowest_rate = baseline_sums(self._terms, excluded)  # row by row, as `_cum` sums
        self.kwy, self.kw, self.k, self.knum, self.kden, self.kx, self.kfactor = sums
        return self


# the inputs and `_Scan._SERIES_PARTS` of the last `_Scan._sums`: a series' episode passes
# (short episodes, then the rest between the shifts found) share them (~5% of a 730-day
# candidate's CPU). Held by identity, so no other array can take the place of one held;
# one tuple, replaced whole. The detector never changes these arrays in place.
_LAST_SUMS: list[tuple[tuple, dict]] = [((), {})]


def _long_run_excess(s: _Series, day_excess: float) -> float:
    """How much noisier than the count model a long window is (>= 1): the long-run
    variance of y (differences of block means) over the model's mean daily variance (see
    `_Scan`); `day_excess` where no day has a sampling variance."""
    floor = (s.floor_var > 0) & ~s.known
    if not floor.any():
        return day_excess
    model = s.floor_var + np.maximum(1.0 - s.floor_var * s.factor, 0.0)
    return max(1.0, _remembered_long_run_var(s.y, ~s.known) / float(np.mean(model[floor])))


def _flank(w, settings: DetectionSettings):
    """Periods of baseline each side of a window of width `w`: twice the window, within
    3/4 to 2 of the level window (42-112 days for a daily series; in weeks or months for
    weekly and monthly ones, so that their flanks span the same stretch of the year)."""
    lw = settings.level_window_days
    return np.maximum(3 * lw // 4, np.minimum(2 * w, 2 * lw))


def _cum(v: np.ndarray) -> np.ndarray:
    """Cumulative sums with a leading 0: the sum over [a, b) is c[b] - c[a]."""
    out = np.empty(len(v) + 1)
    out[0] = 0.0
    np.cumsum(v, out=out[1:])
    return out


def _window_scores(sc: _Scan, settings: DetectionSettings):
    """Score, direction sign, levels (before, during) and change % of every window of `sc`.

    Arrays are (widths x starts); a window that would run past the end scores 0. The
    window is compared with the days before it and the days after it (known-event days
    and other episodes left out); an episode must differ from both in the same direction:
    the score is the window against both flanks pooled (counts: by their likelihood), as
    long as each flank alone shows at least half of it (else the weaker flank's score).
    A trend or a lasting shift moves one flank with the window and so scores nothing.
    Near the ends of the series a short window (< `min_segment_days`) is judged against
    the one flank it has.
    """
    from ctxmetrics.detect.kernels import flank_days, window_scores
    from ctxmetrics.detect.kernels_episodes import window_levels

    t, end, w, lo_b, hi_a = sc.t, sc.end, sc.w, sc.lo_b, sc.hi_a
    has_b, has_a = flank_days(sc.k, t[0], end, lo_b, hi_a)
    sc.counted = np.zeros(np.broadcast(w, t).shape, bool)  # windows judged by their count likelihood
    strong, counted_z = sc.counted, _NOT_COUNTED
    if sc.shape is not None:
        # few events: their likelihood, where the normal approximation loses power
        strong, counted_z = _count_z(sc, has_b & has_a, settings.min_score)
    # a window's score is one of its three |z| (or less), so a window whose every |z| is
    # below `min_score` cannot reach it: it scores 0 (`window_scores`)
    floor = settings.min_score
    score, sign, use_a = window_scores(sc.kw, sc.kwy, t[0], end, lo_b, hi_a, sc.m_w, sc.v_w, sc.long_run, has_b, has_a,
                                       sc.counted, strong, counted_z, sc.valid, w[:, 0], settings.min_segment_days, floor)
    if sc.rate is not None:  # rates: windows of 2+ days by their binomial likelihood too
        rows, cols = np.nonzero((score >= floor) & (score > 0))
        score[rows, cols] = _rate_window_cap(sc, *sc.rate, score[rows, cols], sign[rows, cols], rows, cols)
    # levels only where the score passes (few windows): the rest never need them. Windows
    # judged by their count likelihood take that likelihood's levels, events over weekday
    # exposure: the mean of the days' weekday-adjusted counts (the stabilised windows' level)
    # lets a quiet weekend day (factor ~0.1) with one event weigh as ten ordinary days (a
    # six-week -37% at ~3 a day measured -3%, below `min_change_pct`)
    before, during, pct = window_levels(score, floor, use_a, sc.counted, t[0], end, lo_b, hi_a, sc.knum, sc.kden,
                                        sc.num, sc.den, sc.kx, sc.kfactor, sc.x, sc.factor)
    return score, sign, before, during, pct


_FEW_EVENTS = 50  # below this many expected events in a window, counts are judged by their likelihood
# below this many expected events a typical day (where Anscombe's transform stops being
# nearly normal), counts are judged by their likelihood at any window length: the
# stabilised value of a day with a handful of possible counts loses much of their power
# however many days are pooled (a lasting +160% at ~0.7 a day, 56 days each side: 4.1
# on the stabilised scale, 5.4 by the likelihood; benchmarks/README.md, issue-9r4)
_FEW_A_DAY = 3.0


_NOT_COUNTED = np.empty((3, 0, 0))  # `_count_z`'s z where no window is counted


def _count_z(sc: _Scan, where: np.ndarray, floor: float) -> tuple:
    """The windows (among `where`) of few expected events (< `_FEW_EVENTS`) judged by
    their likelihood (`kernels.count_z`) instead of the normal z: against both flanks pooled,
    and where that reaches `floor` (the only windows that may pass) against each flank
    alone. Marks them in `sc.counted`; returns the windows also judged flank by flank
    (`strong`) and their z (before, after, pooled: read only where counted, and before
    and after where strong).
    At low volume this keeps the power a transform loses, for the pooled score and for
    the test that each flank alone shows half of it. Only the few-event windows are
    computed (none at high volume).

    The window's events over its weekday exposure against the flank's events over
    theirs, both rates estimated (so the flank's own sampling error is part of the test,
    exactly rather than as a variance added at the null), then divided by the
    overdispersion of the contrast (a window of w days has variance e + e^2/(k w), its
    flank likewise), by the noise the data shows beyond the count model and by
    autocorrelation (`kernels.count_z`). 0 events where 14 were expected against 84 in
    the flanks is a z of ~5.1.
    """
    from ctxmetrics.detect.kernels import count_z, few_event_windows

    # A flank's rate is at least the lowest daily rate of the baseline days, so widths
    # whose every `where` window expects `_FEW_EVENTS` or more at that rate are left out
    # (busy series: all but the shortest)
    few = few_event_windows(sc.t[0], sc.end, sc.lo_b, sc.hi_a, where, sc.factor, sc.kx, sc.kfactor,
                            sc.lowest_rate, float(_FEW_EVENTS), _FEW_A_DAY)
    if not few.any():
        return np.zeros(few.shape, bool), _NOT_COUNTED
    sc.counted |= few
    return count_z(few, sc.t[0], sc.end, sc.lo_b, sc.hi_a, sc.w[:, 0], sc.short[:, 0], sc.x, sc.factor, sc.k, sc.kx,
                   sc.kfactor, sc.excess, sc.excess_tail, sc.excess_long, sc.shape, floor)


def _two_rates_z(o, f_w, w, fx, ff, days, shape: float) -> np.ndarray:
    """Signed z of the two-sample Poisson likelihood ratio of `o` events over exposure
    `f_w` (w days) against `fx` over `ff` (`days` days), divided by the overdispersion of
    the contrast (negative binomial of gamma shape `shape`); 0 where either side has no
    events expected."""
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = (o + fx) / (f_w + ff)  # one rate for window and flank: the null
        e_w, e_f = rate * f_w, rate * ff
        ratio = 2.0 * (_xlogx_over(o, e_w) + _xlogx_over(fx, e_f))
        # overdispersion of the contrast of the two rates, relative to Poisson
        var_poisson = 1.0 / e_w + 1.0 / e_f
        var_nb = (1.0 + e_w / (shape * w)) / e_w + (1.0 + e_f / (shape * days)) / e_f
        z = np.sign(o / f_w - fx / ff) * np.sqrt(np.maximum(ratio, 0.0) * var_poisson / var_nb)
    return np.where(np.isfinite(z) & (e_w > 0) & (fx > 0), z, 0.0)


def _xlogx_over(x: np.ndarray, e: np.ndarray) -> np.ndarray:
    """x log(x / e) (0 where x is 0): a Poisson log-likelihood term; the -x + e terms of
    the two samples cancel, as their totals equal."""
    return np.where(x > 0, x * np.log(np.maximum(x, 1e-12) / e), 0.0)


# Windows judged on the stabilised scale (normal approximation) score higher than their
# model says once they are long: the clean-series false-alarm rate on autocorrelated
# noise needs a 10% higher bar from `min_segment_days` on (measured, benchmarks/evaluate.py
# tune split), on top of the bar of their width (`_width_bars`). Windows judged by their
# count likelihood are held to `_width_bars` alone; so are the windows of weekly and
# monthly series (`find_changes`: 400 clean series of each, generated as the evaluation's
# weekly and monthly profiles, 1 and 7 false alarms with their width bars, 0 and 7 with
# this one on top).
_LONG_BAR = 1.1


def _bars(widths, settings: DetectionSettings, long_bar: float = _LONG_BAR) -> np.ndarray:
    """Bar of each width (rows): for windows judged by their count likelihood (column 0)
    and for those judged on the stabilised scale (column 1). Both start from the same
    expected false alarms per width (`_width_bars`: wide windows are fewer independent
    tests), so a window's bar does not jump where its expected events cross `_FEW_EVENTS`
    by more than the long bar (`long_bar`, from `min_segment_days` on)."""
    widths = np.asarray(widths)
    by_width = _width_bars(widths, settings.min_score)
    return np.column_stack([by_width, by_width * np.where(widths >= settings.min_segment_days, long_bar, 1.0)])


@lru_cache(maxsize=64)
def _pass_bars(widths: tuple, settings: DetectionSettings, long_bar: float) -> tuple[np.ndarray, DetectionSettings]:
    """`_bars` of an episode pass's widths (read-only) and the settings at the lowest of
    them (the levels of every window that may pass): once per widths, which are the same
    few for every series of a scan (~0.1 ms a pass computed each time)."""
    bars = _bars(np.array(widths), settings, long_bar)
    bars.flags.writeable = False
    return bars, replace(settings, min_score=float(bars.min()))


@lru_cache(maxsize=64)
def _unbarred(settings: DetectionSettings) -> DetectionSettings:
    """`settings` with no bar (min_score 0): a whole episode is scored at any score, then
    judged against its own bar. Once per settings (`replace` is ~60 us, per episode)."""
    return replace(settings, min_score=0.0)


def _width_bars(widths, min_score: float) -> np.ndarray:
    """The score a window of each width must reach: the same expected number of false
    alarms per width as single periods at `min_score`.

    Windows of w periods at every start are a moving sum, correlated 1 - |lag|/w: the
    expected number of crossings of a bar b over n starts is about (n/w) b^2 nu(b sqrt(2/w))
    P(Z > b) (Siegmund's scan approximation, nu his discreteness correction; for w = 1 it
    is n P(Z > b), independent periods). Wide windows are fewer independent tests, so
    their bar is a little lower: 4.9 at two weeks, 4.75 at six weeks for `min_score` 5.
    """
    return np.array([_width_bar(int(w), float(min_score)) for w in np.asarray(widths)])


@lru_cache(maxsize=4096)
def _width_bar(w: int, min_score: float) -> float:
    """`_width_bars` of one width (cached: the same few widths recur for every series)."""
    if w <= 1:
        return min_score
    target = _crossings(min_score, 1)
    lo, hi = min_score - 2.0, min_score
    for _ in range(40):  # bisection: crossings fall as the bar rises
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _crossings(mid, w) > target else (lo, mid)
    return (lo + hi) / 2


def _crossings(b: float, w: int) -> float:
    """Expected crossings of bar b per start by a standardised moving sum of w periods."""
    x = b * math.sqrt(2.0 / w)
    h = x / 2
    cdf = 0.5 * math.erfc(-h / math.sqrt(2.0))
    nu = (2.0 / x) * (cdf - 0.5) / (h * cdf + math.exp(-h * h / 2) / math.sqrt(2 * math.pi))  # Siegmund's
    return b * b * nu * 0.5 * math.erfc(b / math.sqrt(2.0)) / w


def _episodes(s: _Series, noise: _Noise, settings: DetectionSettings, widths, taken: np.ndarray, accept: int, walls=(),
              long_bar: float = _LONG_BAR) -> tuple[list[Change], np.ndarray, np.ndarray]:
    """Temporary episodes of the given widths, each scored as a whole.

    A multiscale scan (every start, each width) compares each window's mean with its
    flanks on the stabilised scale; the strongest window that is both significant
    (`min_score`) and large (`min_change_pct`) is kept, its days leave every other
    window's baseline, and the scan repeats until nothing passes. Days already `taken`
    (other anomalies) are neither scanned nor used as baseline. A winner wider than
    `accept` days is only set aside (its days leave the scan, so no short piece of it is
    reported) and left to a later pass. `long_bar`: see `_bars`.

    Returns:
        The episodes, `taken` with their days added (less those of a new level reaching
        an end of the series, `_merge_adjacent`), and the days set aside.
    """
    from ctxmetrics.detect.kernels_episodes import passing_windows

    taken = taken.copy()
    aside = np.zeros(len(s.y), bool)
    found: list[tuple[int, int, float]] = []  # [start, stop) and sign of each episode
    widths = np.asarray(widths)
    if widths.size == 0:
        return [], taken, aside
    sc = _Scan(s, noise, widths, settings, walls)
    t, end = sc.t, sc.end
    bars, lowest_bar = _pass_bars(tuple(widths.tolist()), settings, long_bar)
    while True:
        sc.exclude(s.known | taken | aside)
        score, sign, before, during, pct = _window_scores(sc, lowest_bar)
        if s.sized and widths[0] == 1:
            # one day of counts or rates: the transform overstates extreme days; the exact
            # negative-binomial or beta-binomial tail (`noise.z`) gives their honest size
            score[0] = np.minimum(score[0], np.abs(noise.z))
        # judged only where the score reaches the lowest bar (few windows)
        passing, row, start = passing_windows(score, lowest_bar.min_score, sc.counted, bars, t[0], end, taken, aside,
                                              s.sized, pct, settings.min_change_pct)
        if row < 0:
            return _merge_adjacent(s, noise, settings, sorted(found), taken, walls, parent=sc), taken, aside
        row, start = _narrowest_fit(row, start, passing, widths)
        if widths[row] <= accept:
            row, start = _widest_fit(row, start, passing, pct, widths, accept)
        w = int(widths[row])
        if w > accept:
            aside[start : start + w] = True
            continue
        taken[start : start + w] = True
        found.append((int(start), int(start) + w, float(sign[row, start])))


def _rate_window_cap(sc: _Scan, s: _Series, noise: _Noise, score, sign, rows, cols) -> np.ndarray:
    """`score` of the rate windows (rows, cols) of 2+ days, capped by the likelihood of
    their counts: the signed root of the binomial likelihood ratio of the window's
    successes, each day's rate one shift theta on the arcsine scale from its flanks' level
    (its weekday offset kept), put on the footing of the window's z (its variance as the
    detector weighs the days, flank and long-run terms included).

    Where the arcsine scale is accurate the two agree; at a few trials it stretches a
    low count (0 of 22 and 1 of 3 at 30% is 5.0 sds on the arcsine scale, its pooled
    binomial tail ~3), which the cap gives its honest size, as `_rate_tail_z` does for
    one day; where every trial converted or none, no more than the exact binomial tail of
    the summed successes. A likelihood whose shift runs against the window's sign caps
    it at 0.
    """
    from scipy import special, stats

    w = (sc.end[rows, cols] - sc.t[0, cols]).astype(np.int64)
    multi = np.flatnonzero(w >= 2)
    if multi.size == 0:
        return score
    trials = np.divide(0.25, s.floor_var, out=np.zeros(len(s.y)), where=s.floor_var > 0)
    trials = np.round(trials)
    x = np.clip(np.round(s.num), 0, trials)
    offset = np.arcsin(np.sqrt(np.divide(x, trials, out=np.zeros(len(x)), where=trials > 0))) - s.y
    r, c = rows[multi], cols[multi]
    a, e, lb, ha = sc.t[0, c], sc.end[r, c], sc.lo_b[r, c], sc.hi_a[r, c]
    kw = sc.kw[a] - sc.kw[lb] + sc.kw[ha] - sc.kw[e]
    level = (sc.kwy[a] - sc.kwy[lb] + sc.kwy[ha] - sc.kwy[e]) / kw
    width = int(w[multi].max())
    days = np.minimum(a[:, None] + np.arange(width)[None, :], len(s.y) - 1)
    inside = np.arange(width)[None, :] < w[multi][:, None]
    n, k = np.where(inside, trials[days], 0.0), np.where(inside, x[days], 0.0)
    base = level[:, None] + offset[days]
    weight = 1.0 / np.where(sc.short[r], noise.tail[days], noise.scale[days]) ** 2 * inside
    # the binomial variance of the window's weighted mean, and the detector's variance of its z
    binomial = (weight**2 * np.where(inside, s.floor_var[days], 0.0)).sum(1) / weight.sum(1) ** 2
    detector = sc.v_w[r, c] + sc.long_run / kw

    # Each day's term is worked out on the windows' own days only (a batch of windows of
    # 2 to 100+ days pads most rows: in a funnel's low-volume conversion pass ~44% of the
    # padded cells are inside a window) and summed along the padded rows, whose other
    # cells hold 0 as before, so every row adds the same terms in the same order.
    rows_in = np.nonzero(inside)[0]
    base_in, k_in, failures_in = base[inside], k[inside], (n - k)[inside]
    terms = np.zeros(inside.shape)

    def loglik(theta):
        p = np.sin(np.clip(base_in + theta[rows_in], 1e-6, np.pi / 2 - 1e-6)) ** 2
        terms[inside] = k_in * np.log(p) + failures_in * np.log1p(-p)
        return terms.sum(1)

    lo, hi = np.full(len(r), -np.pi / 2), np.full(len(r), np.pi / 2)
    golden = (math.sqrt(5.0) - 1.0) / 2.0
    for _ in range(40):  # golden-section search of the best shift (the likelihood is unimodal in it)
        m1, m2 = hi - golden * (hi - lo), lo + golden * (hi - lo)
        left = loglik(m1) > loglik(m2)
        hi, lo = np.where(left, m2, hi), np.where(left, lo, m1)
    theta = (lo + hi) / 2
    ratio = np.maximum(2.0 * (loglik(theta) - loglik(np.zeros(len(r)))), 0.0)
    # at the edge (every trial converted, or none) the root of the ratio overstates (the
    # shift runs to the end of its range): there no more than the exact tail of the
    # summed successes, binomial at the days' mean rate (a sum of binomials of unequal
    # rates is narrower: this errs low). Elsewhere the root is kept: the exact tail of a
    # discrete count sits ~0.1 below it (64 of 120 at 30%: 5.23 against 5.31), and
    # taking it there cost the tune split's ratio profile 0.95 / 1.00 -> 0.91 / 0.95
    trials_w, successes = n.sum(1), k.sum(1)
    mean_rate = np.clip((n * np.sin(np.clip(base, 0.0, np.pi / 2)) ** 2).sum(1) / np.maximum(trials_w, 1.0), 1e-9, 1 - 1e-9)
    tail = np.where(sign[multi] > 0, stats.binom.sf(successes - 1, trials_w, mean_rate),
                    stats.binom.cdf(successes, trials_w, mean_rate))
    edge = (successes == 0) | (successes == trials_w)
    exact = np.where(edge, np.maximum(-special.ndtri(np.clip(tail, 1e-300, 0.5)), 0.0), np.inf)
    cap = np.minimum(np.sqrt(ratio), exact) * np.sqrt(binomial / detector) * (np.sign(theta) == sign[multi])
    out = score.copy()
    out[multi] = np.minimum(score[multi], cap)
    return out


def _narrowest_fit(row: int, start: int, passing: np.ndarray, widths: np.ndarray):
    """The narrowest passing window inside the winner that scores nearly as well (95%):
    a storm day should not take a quiet Sunday along. Returns (row, start)."""
    from ctxmetrics.detect.kernels_episodes import narrowest_fit

    return narrowest_fit(row, start, passing, widths)


def _widest_fit(row: int, start: int, passing: np.ndarray, pct: np.ndarray, widths: np.ndarray, accept: int):
    """The best wider passing window (> `accept` days) holding the short winner, if it
    scores at least 3/4 of it with at least half of its change: the short window is then
    only the peak of a longer episode (a long window that is only the short peak diluted
    has a much smaller change). Returns (row, start) of the window chosen."""
    from ctxmetrics.detect.kernels_episodes import widest_fit

    return widest_fit(row, start, passing, pct, widths, accept)


def _merge_adjacent(s: _Series, noise: _Noise, settings: DetectionSettings, found, taken: np.ndarray, walls=(), parent: _Scan | None = None) -> list[Change]:
    """One change per episode: touching windows that moved the same way are one episode
    (a lockdown that deepens midway), scored again as a whole (`parent`: the scan that
    found them, whose sums each episode's own scan reuses). A run that fails as a whole
    and is a new level reaching an end of the series (`_new_level_to_an_end`) is no
    longer `taken` (changed in place)."""
    merged: list[list] = []
    for a, b, sign in found:
        if merged and a <= merged[-1][1] + 1 and merged[-1][2] == sign:
            merged[-1][1] = b
        else:
            merged.append([a, b, sign])
    changes = []
    for a, b, sign in merged:
        others = taken.copy()
        others[a:b] = False
        run = slice(a, b)
        a, b = _refine_episode(s, noise, settings, a, b, others, walls)
        sc = _Scan(s, noise, [b - a], settings, walls, starts=[a], like=parent).exclude(s.known | others)
        score, sgn, before, during, _ = (float(v[0, 0]) for v in _window_scores(sc, _unbarred(settings)))
        score_ab = score if sgn == sign else 0.0
        # the whole must pass as its parts did (by its count likelihood: the bar of its width)
        bar = _width_bars([b - a], settings.min_score)[0] if sc.counted[0, 0] else settings.min_score
        # counts and rates: the whole must be as large as its parts had to be (merged or
        # moved ends can dilute the change below `min_change_pct`)
        large = not s.sized or abs(_pct(before, during)) >= settings.min_change_pct
        if score_ab >= bar and large:
            changes.append(_level_change("spike", s, a, b - 1, before, during, sign, score_ab))
        elif _new_level_to_an_end(s, run.start, run.stop, slack=max(settings.min_segment_days, 7) - 1):
            # short windows, each judged on its one flank, took a recent lasting shift's new
            # level piece by piece: its days go back to the shift search (bridged, the shift
            # would be dated where they end, weeks late). The slack is at least 6 periods:
            # weekly and monthly series (min_segment 4) left runs 4-6 periods short of the
            # end taken (benchmarks/late_steps.py: misplaced 28 -> 23, others 22 -> 17)
            taken[run] = False
    return changes


def _new_level_to_an_end(s: _Series, a: int, b: int, slack: int = 0) -> bool:
    """Whether the run [a, b), reaching an end of the series, is a new level rather than
    the end of a trend: a step at its inner edge fits the run and as many days beside it
    (least squares on the kept days) better than a straight line does. A run that stops
    at most `slack` days short of an end reaches it: the days beside it are too few to be
    a level of their own (the last day of a recent step, with one flank only, is often
    not among the windows that took the rest; kept taken, the step was lost whole)."""
    n = len(s.y)
    if 0 < n - b <= slack and a > 0:
        b = n
    elif 0 < a <= slack and b < n:
        a = 0
    if b == n and a > 0:
        lo, hi, at = max(0, 2 * a - b), b, a
    elif a == 0 and 0 < b < n:
        lo, hi, at = 0, min(n, 2 * b), b
    else:
        return False
    ok = ~s.known[lo:hi]
    t = np.arange(lo, hi, dtype=float)[ok]
    y = s.y[lo:hi][ok]
    if (t < at).sum() < 2 or (t >= at).sum() < 2:
        return False

    def rss(x: np.ndarray) -> float:
        coef = np.linalg.lstsq(x, y, rcond=None)[0]
        return float(np.sum((y - x @ coef) ** 2))

    ones = np.ones(len(t))
    return rss(np.column_stack((ones, t >= at))) < rss(np.column_stack((ones, t - t.mean())))


def _refine_episode(s: _Series, noise: _Noise, settings: DetectionSettings, a: int, b: int, others: np.ndarray, walls=()) -> tuple[int, int]:
    """Start and stop of the episode [a, b) moved to where it fits the days best.

    The window grid is coarse for long episodes (widths ~25% apart), and at low volume the
    best-scoring window often starts a few days off. Each end moves by up to a quarter of
    the width to the pair that maximises the likelihood of "one level during, one level
    around" over the episode and its flanks: Poisson for counts (weekday factors as
    exposure), binomial for ratios, weighted normal for gauges. Days of other episodes and
    known days are left out; no end crosses another episode or a wall.
    """
    n, w = len(s.y), b - a
    reach = w // 4
    if reach == 0:
        return a, b
    blocked = np.flatnonzero(others)
    stops = np.r_[blocked + 1, np.asarray(walls, dtype=np.int64)]
    lo = int(max([0, *stops[stops <= a]]))
    starts_after = np.r_[blocked, np.asarray(walls, dtype=np.int64)]
    hi = int(min([n, *starts_after[starts_after >= b]]))
    flank = int(_flank(w, settings))
    left, right = max(lo, a - reach - flank), min(hi, b + reach + flank)
    events, exposure = _likelihood_sums(s, noise, ~(s.known | others))
    firsts = np.arange(max(a - reach, left + 1), min(a + reach, b - 1) + 1)[:, None]
    stops_ = np.arange(max(b - reach, a + 1), min(b + reach, right - 1) + 1)[None, :]
    if firsts.size == 0 or stops_.size == 0:
        return a, b
    total_x, total_e = events[right] - events[left], exposure[right] - exposure[left]
    in_x, in_e = events[stops_] - events[firsts], exposure[stops_] - exposure[firsts]
    fit = _segment_fit(in_x, in_e, s) + _segment_fit(total_x - in_x, total_e - in_e, s)
    fit = np.where(stops_ > firsts, fit, -np.inf)
    i, j = np.unravel_index(int(np.argmax(fit)), fit.shape)
    return int(firsts[i, 0]), int(stops_[0, j])


def _likelihood_sums(s: _Series, noise: _Noise, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative events and exposure of the `keep` days for `_segment_fit`: counts
    against their weekday factors, ratio numerators against denominators, gauges as
    inverse-variance weighted values against their weights.

    Counts and ratios are weighted by the share of each day's variance that the Poisson
    or binomial model explains (its sampling variance over the day's robust variance,
    both on the stabilised scale): the quasi-likelihood of an overdispersed count (for a
    negative binomial, the score equation of its level), so that a busy day, whose noise
    is mostly beyond the count model, does not pull a boundary as if it were exact."""
    if s.shape is not None or s.floor_var.any():
        weight = keep * np.minimum(1.0, s.floor_var / noise.scale**2)
        if s.shape is not None:
            return _cum(s.num * s.factor * weight), _cum(s.factor * weight)
        return _cum(s.num * weight), _cum(s.den * weight)
    weight = keep / noise.scale**2
    return _cum(s.y * weight), _cum(weight)


def _segment_fit(x: np.ndarray, e: np.ndarray, s: _Series) -> np.ndarray:
    """Maximised log-likelihood (up to terms that do not depend on the split) of one level
    for `x` over exposure `e`."""
    with np.errstate(invalid="ignore", divide="ignore"):
        if s.shape is not None:  # Poisson: x log(x / e) (the -x terms sum to the total)
            return np.where(x > 0, x * np.log(x / e), 0.0)
        if s.floor_var.any():  # binomial: x log p + (e - x) log(1 - p)
            p = np.clip(x / e, 1e-12, 1 - 1e-12)
            return np.where(e > 0, x * np.log(p) + (e - x) * np.log1p(-p), 0.0)
        return np.where(e > 0, x**2 / e, 0.0) / 2  # normal: the weighted sum of squares explained


def _level_change(kind, s: _Series, first: int, last: int | None, before: float, after: float, sign: float, score: float) -> Change:
    """A change in level units; its direction follows the sign of the change itself."""
    if after != before:
        sign = np.sign(after - before)
    return Change(
        kind=kind, direction="up" if sign > 0 else "down",
        start=int(s.index[first]), end=None if last is None else int(s.index[last]),
        before=float(before), after=float(after), change_pct=_pct(before, after), score=float(score),
    )


def _peaks_within(s: _Series, noise: _Noise, settings: DetectionSettings, episodes: list[Change]) -> list[Change]:
    """Short peaks (up to `spike_max_days`) inside the longer episodes found, each judged
    against the other days of its own episode (a game day in a playoff month, an outage
    during a campaign), with the bars of the first scan: that scan set them aside as
    part of the longer episode, and judged against the days around the episode they
    would be measured from the wrong level."""
    widths = list(range(1, settings.spike_max_days + 1))
    out = []
    for e in episodes:
        if e.end is None:
            continue
        a, b = int(np.searchsorted(s.index, e.start)), int(np.searchsorted(s.index, e.end, side="right"))
        if b - a < 2 * settings.min_segment_days + settings.spike_max_days:
            continue  # too short to hold a peak with a week of the episode beside it
        outside = np.ones(len(s.y), bool)
        outside[a:b] = False
        for other in episodes:  # an episode found inside it already is no baseline, and no peak to find again
            if other is not e and other.end is not None and e.start <= other.start and other.end <= e.end:
                outside[np.searchsorted(s.index, other.start) : np.searchsorted(s.index, other.end, side="right")] = True
        peaks, _, _ = _episodes(s, noise, settings, widths, outside, accept=settings.spike_max_days, walls=[a, b])
        # a peak on the episode's first or last day is that episode's own edge
        out += [p for p in peaks if e.start < p.start and p.end < e.end]
    return out


def _judged_beside_shifts(s: _Series, noise: _Noise, settings: DetectionSettings, episodes: list[Change],
                          walls, taken: np.ndarray) -> list[Change]:
    """The first pass's `episodes` that still pass once the lasting shifts found after them
    are walls (kept-period indexes): no flank then reaches across one.

    The first pass runs before any shift is known, so a window a week or two before a
    lasting step has the new level in its flank beyond: against it, ordinary days look
    like a dip before a rise (a rise before a drop). An episode whose flank reaches a wall
    is scored again as `_merge_adjacent` scores a whole (its own days out of `taken`); the
    rest are as they were."""
    walls = np.asarray(walls, dtype=np.int64)
    if walls.size == 0:
        return episodes
    kept = []
    for e in episodes:
        a, b = int(np.searchsorted(s.index, e.start)), int(np.searchsorted(s.index, e.end, side="right"))
        reach = int(_flank(b - a, settings))
        if not np.any((walls > a - reach) & (walls <= b + reach)):
            kept.append(e)
            continue
        others = taken.copy()
        others[a:b] = False
        sc = _Scan(s, noise, [b - a], settings, walls, starts=[a]).exclude(s.known | others)
        score, sgn, before, during, _ = (float(v[0, 0]) for v in _window_scores(sc, _unbarred(settings)))
        bar = _width_bars([b - a], settings.min_score)[0] if sc.counted[0, 0] else settings.min_score
        large = not s.sized or abs(_pct(before, during)) >= settings.min_change_pct
        if sgn == (1.0 if e.direction == "up" else -1.0) and score >= bar and large:
            kept.append(e)
    return kept
