"""The normal calendar: month- and quarter-end closes and, over two years, the yearly season and the trend when significant; fitted and removed."""
from __future__ import annotations

import functools
from dataclasses import replace

import numpy as np

from ctxmetrics.config import DetectionSettings
from ctxmetrics.detect.frequency import long_run_unit
from ctxmetrics.detect.curve import _curve_for, _curve_may_matter
from ctxmetrics.detect.noise import _Noise, _remembered_long_run_var
from ctxmetrics.detect.prepare import _calendar_as_exposure, _Series, nb_transform
from ctxmetrics.detect.episodes import _cum, _episode_widths, _width_bars
from ctxmetrics.detect.shifts import _candidates

_YEARLY_MIN_DAYS = 730  # two years: only a season seen twice can be told from a slow wander or a shift
_CLOSE_DAYS = (7, 3)  # the sales calendar: last 7 days of a quarter, last 3 of other months


def _calendar_columns(days: np.ndarray, span: int, daily: bool) -> tuple[np.ndarray | None, int]:
    """Regressors of the normal calendar: yearly harmonics (two years of data) and,
    for daily series, quarter-end and month-end closes (each seen at least 3 times).

    Returns the columns (None: none) and how many of them, first, are the yearly season.
    """
    cols = []
    if span >= _YEARLY_MIN_DAYS:
        year_day = (days - days.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64)
        angle = 2 * np.pi * year_day / 365.25
        cols += [np.sin(angle), np.cos(angle), np.sin(2 * angle), np.cos(2 * angle)]
    yearly = len(cols)
    if daily:
        cols += [close.astype(float) for close in _close_days(days)]
    return (np.column_stack(cols) if cols else None), yearly


@functools.lru_cache(maxsize=16)
def _shared_columns(days: bytes, span: int, daily: bool) -> tuple[np.ndarray | None, int]:
    """`_calendar_columns` of the days in `days` (datetime64[D] bytes), built once for
    all the series of a scan that share their days (read-only: they are shared)."""
    columns, yearly = _calendar_columns(np.frombuffer(days, dtype="datetime64[D]"), span, daily)
    if columns is not None:
        columns.flags.writeable = False
    return columns, yearly


def _close_days(days: np.ndarray) -> list[np.ndarray]:
    """Masks of the sales calendar's closes among `days` (datetime64[D]): the last 7 days
    of each quarter, the last 3 of other months; each only when seen at least 3 times."""
    month = days.astype("datetime64[M]")
    to_end = ((month + 1).astype("datetime64[D]") - days).astype(np.int64)
    quarter_month = month.astype(np.int64) % 3 == 2
    closes = (quarter_month & (to_end <= _CLOSE_DAYS[0]), ~quarter_month & (to_end <= _CLOSE_DAYS[1]))
    return [close for close in closes if np.unique(month[close]).size >= 3]


def _robust_fit(y: np.ndarray, calendar: np.ndarray, ok: np.ndarray, trend: bool = True) -> np.ndarray | None:
    """Calendar coefficients of y ~ intercept (+ linear trend) + calendar, refitted three
    times without the days beyond 3.5 robust sds (episodes must not bend the season).
    `trend=False` when `calendar` carries its own trend column. Compiled
    (`kernels.trimmed_fit`): ~10 such fits per daily series were a quarter of its CPU."""
    from ctxmetrics.detect.kernels import trimmed_fit

    centred_time = [np.arange(len(y)) / 365.25] if trend else []
    design = np.column_stack((np.ones(len(y)), *[t - t.mean() for t in centred_time], calendar))
    coef, fitted = trimmed_fit(np.asarray(y, dtype=np.float64), design, np.ascontiguousarray(ok, dtype=bool))
    return coef[1 + trend:] if fitted else None


def _two_years(days: np.ndarray) -> bool:
    return int((days[-1] - days[0]).astype(np.int64)) + 1 >= 730


def _same_season_each_year(s: _Series, days: np.ndarray, yearly: np.ndarray) -> bool:
    """With two years or more, the yearly shape (`yearly`: its harmonics) fitted on the
    first and on the last year must agree (correlation >= 0.5): a year upset by
    months-long anomalies (a lockdown) is no season to learn."""
    if not _two_years(days):
        return True
    curves = []
    for part in (days < days[0] + 365, days >= days[-1] - 365):
        fitted = _robust_fit(s.y[part], yearly[part], ~s.known[part])
        if fitted is None:
            return False
        curves.append(yearly @ fitted)
    return bool(np.corrcoef(curves[0], curves[1])[0, 1] >= 0.5)


def _years_to_compare(step_days: int) -> bool:
    """Whether one year can be fitted alone to compare its season with another's (daily
    series). A year of 52 weeks has too few points: a 1-12 week effect in it bends the
    six-parameter fit, and the years of 15 of 40 weekly tune series "disagreed" (their
    fitted curves correlated < 0.5), seasons of +-23-27% among them, which were then
    left in and read as level shifts. Weekly series rely on the fit over all their
    years, with their episodes and steps alongside (`_fit_with_episodes`), and its Wald test."""
    return step_days == 1


_CHANCE = 1e-3  # the season or trend is removed only when noise alone would fit one as large this rarely


def _significant(columns: np.ndarray, coef: np.ndarray, ok: np.ndarray, lrv: float) -> bool:
    """True when the fitted part (`columns` @ `coef`) is jointly significant (Wald test at
    the long-run variance per day): a season or a trend fitted to noise is left in, not
    removed (removing it would only add noise)."""
    if lrv <= 0:
        return True
    x = columns[ok] - columns[ok].mean(axis=0)
    wald = float(coef @ (x.T @ x) @ coef) / lrv
    return wald >= _chi2_threshold(columns.shape[1])


@functools.lru_cache(maxsize=None)
def _chi2_threshold(degrees: int, chance: float = _CHANCE) -> float:
    """The Wald statistic noise alone exceeds with probability `chance` (a scipy call
    costs more than the rest of the test: looked up once per degrees of freedom)."""
    from scipy import stats

    return float(stats.chi2.isf(chance, degrees))


_MAY_MATTER_CHANCE = 0.05  # the quick test's chance: 50x looser than `_CHANCE`
_MAY_AGREE = 0.3  # the quick test's agreement of the years: looser than `_same_season_each_year`'s 0.5


def _season_may_matter(s: _Series, days: np.ndarray, calendar: np.ndarray, yearly: int, day_var: float) -> bool:
    """Whether the yearly season (the first `yearly` columns of `calendar`) could be
    removed at all, before the costly robust fits of both years and of both fit orders.

    Plain least squares, each test looser than the robust one it stands for: the
    harmonics of a fit of intercept, trend and calendar pass a Wald test at the daily
    variance (a lower bound of the long-run variance `_significant` uses) and a 50x
    looser chance; with two years, the first and the last year's fitted curves correlate
    at >= 0.3. A series failing either keeps only its trend and closes (as one whose
    years disagree). Measured on both evaluation splits, the real series and 300
    pre-screened `many_series` rows: of 126 seasons removed without this test, 125 still
    are (the other was fitted to a `many_series` row, which has no season).
    """
    ok = ~s.known
    x, inverse, years = _season_equations(days.tobytes(), ok.tobytes(), yearly)
    if day_var <= 0 or len(x) <= 2 * x.shape[1]:
        return True
    coef = inverse @ (x.T @ s.y[ok])
    harmonics = slice(2, 2 + yearly)
    try:
        wald = float(coef[harmonics] @ np.linalg.solve(inverse[harmonics, harmonics], coef[harmonics])) / day_var
        if wald < _chi2_threshold(yearly, _MAY_MATTER_CHANCE):
            return False
        if not _two_years(days):
            return True
        curves = []
        for use, x, gram in years:
            # a year's own intercept, trend and harmonics (its normal equations)
            fitted = np.linalg.solve(gram, x.T @ s.y[use])
            curve = calendar[:, :yearly] @ fitted[2:]
            curves.append(curve - curve.mean())
    except np.linalg.LinAlgError:  # a singular fit: no quick answer, the robust checks decide
        return True
    first, last = curves
    return bool(first @ last >= _MAY_AGREE * np.sqrt((first @ first) * (last @ last)))


@functools.lru_cache(maxsize=8)
def _season_equations(days: bytes, ok: bytes, yearly: int):
    """What `_season_may_matter` fits that depends only on the days (datetime64[D]
    bytes of a daily series) and which of them are `ok` (bool bytes), built once for the
    series of a scan that share them (read-only: they are shared). Returns the design of
    intercept, trend and calendar over the ok days, the inverse of its normal matrix and,
    for the first and the last year, the ok days, their design of intercept, trend and
    the first `yearly` columns, and its normal matrix."""
    days, ok = np.frombuffer(days, dtype="datetime64[D]"), np.frombuffer(ok, dtype=bool)
    calendar, _ = _shared_columns(days.tobytes(), int((days[-1] - days[0]).astype(np.int64)) + 1, True)
    t = np.arange(len(days)) / 365.25
    design = np.column_stack((np.ones(len(t)), t - t.mean(), calendar))
    x = design[ok]
    inverse = np.linalg.pinv(x.T @ x) if len(x) > 2 * x.shape[1] else None
    years = []
    for part in (days < days[0] + 365, days >= days[-1] - 365):
        year = design[part & ok, : 2 + yearly]
        years.append((part & ok, year, year.T @ year))
    for array in (x, inverse, *(a for year in years for a in year)):
        if array is not None:
            array.flags.writeable = False
    return x, inverse, years


def _fit_with_steps(s: _Series, noise: _Noise, settings: DetectionSettings, calendar: np.ndarray, repeated: bool,
                    curved: int = 0) -> np.ndarray | None:
    """Calendar coefficients fitted with the clear level steps alongside, so that a lasting
    shift is not mistaken for part of the season or the trend.

    Steps and calendar are each fitted given the other's last fit (twice). Which goes
    first decides what an ambiguous rise is: the step, or (with the season `repeated`,
    two years or more) the season. Both are tried then, and the fit with the smaller
    penalised cost is kept: a steep seasonal rise seen every year is no step, and a
    lasting shift is no bend of season and trend.

    With a curve (the last `curved` columns of `calendar`, `_curve_columns`), the fit with
    it competes too, each of its columns at a step's price: steps along a curved rise
    must beat the curve, and a lasting step the curve that would take it in.
    """
    from ctxmetrics.detect.kernels import step_fit_cost, steps_worth_their_price

    strong = replace(settings, min_score=1.5 * settings.min_score)  # only clear steps: a season bends, it does not jump
    penalty = 0.5 * strong.min_score**2 * noise.lrv  # the segmentation's price of a step
    # the two orders often meet (no clear step at first, or the same steps again): each
    # segmentation and each fit is computed once per distinct input
    segmented: dict[bytes, list[int]] = {}
    fits: dict[tuple, tuple[np.ndarray | None, float]] = {}
    eliminated: dict[tuple, set[int]] = {}  # the two orders often give the same steps
    shapes = _trend_shapes(calendar, curved)
    y, ok = np.ascontiguousarray(s.y, dtype=np.float64), np.ascontiguousarray(~s.known)
    scale_guess = np.full(2, np.nan)  # the last fit's residual median and MAD: near the next fit's

    def fit(bounds: set[int], trended: int = 0) -> tuple[np.ndarray | None, float]:
        """Calendar and step coefficients (`_robust_fit`) and their `_trimmed_cost`, compiled
        in one call (`kernels.step_fit_cost`); `trended` indexes `shapes`."""
        key = (*sorted(bounds), trended)
        if key not in fits:  # the elimination asks again for the costs of the sets it keeps
            columns, steps = shapes[trended][0], np.array(key[:-1], dtype=np.int64)
            try:
                full, fitted, cost = step_fit_cost(y, columns, ok, steps, scale_guess)
            except (ValueError, np.linalg.LinAlgError):  # a least-squares step that did not converge
                full, fitted, cost = None, False, np.inf
            fits[key] = (full if fitted else None), cost
        return fits[key]

    def worth_their_price(bounds: set[int], trended: int) -> set[int]:
        """`bounds` less the steps the calendar fits as well without: backward elimination,
        the step whose removal costs least dropped while that is less than its `penalty`,
        in one compiled call (`kernels.steps_worth_their_price`: each round's fits called
        from Python were ~10% of a 730-day candidate's CPU); the kept steps' fit then
        remembered as the others'. With the trend in the calendar, a step found on the
        trended series, or in the staircase a segmentation lays along a trend, must beat
        the trend, not only a flat fit: kept together, the steps took the trend in
        (holdout funnel won, ~35% a year: three steps left a trend of 0.06 a year, not
        significant, and the growth was read as a 96-day +24% episode and a lasting +47%
        step)."""
        key = (*sorted(bounds), trended)
        if key not in eliminated:
            cost = fit(bounds, trended)[1]
            steps = np.array(key[:-1], dtype=np.int64)
            kept, full, fitted, kept_cost = steps_worth_their_price(y, shapes[trended][0], ok, steps, scale_guess, cost,
                                                                     penalty)
            eliminated[key] = set(kept.tolist())
            if len(kept) < len(steps):  # else `bounds` were fitted above
                fits.setdefault((*kept.tolist(), trended), ((full if fitted else None), kept_cost))
        return eliminated[key]

    best, best_cost = None, np.inf
    for coef in [np.zeros(calendar.shape[1])] + ([fit(set())[0]] if repeated else []):
        bounds: set[int] = set()
        for _ in range(2):
            if coef is None:
                break
            rest = s.y - calendar @ coef
            if rest.tobytes() not in segmented:
                segmented[rest.tobytes()] = _candidates(rest, noise, strong)
            # a clear step once found stays fitted: refitted without it, the trend would
            # take it in and leave it too small to find again
            bounds = set(_clearest(rest, sorted(bounds | set(segmented[rest.tobytes()])), noise.lrv))
            full, _ = fit(bounds)
            coef = None if full is None else full[: calendar.shape[1]]
        if coef is None:
            continue
        # trend and steps each at the segmentation's price: the steps along growth must
        # beat the trend, and a lasting step the trend that would half take it in
        for trended, (_, columns_priced) in enumerate(shapes):
            kept = worth_their_price(bounds, trended)
            full, cost = fit(kept, trended)
            cost += penalty * (len(kept) + columns_priced)
            if cost < best_cost:
                best, best_cost = full[: calendar.shape[1]], cost
    return best


def _trend_shapes(calendar: np.ndarray, curved: int) -> list[tuple[np.ndarray, int]]:
    """The calendars the fits compare, each with how many trend columns it prices: the
    whole `calendar` (its trend first, its last `curved` columns a curve), then without
    the curve, then without the trend either. A column left out is zeroed, so every
    calendar has the same columns (its coefficient there is 0)."""
    shapes = [(calendar, 1 + curved)]
    if curved:
        straight = calendar.copy()
        straight[:, -curved:] = 0.0
        shapes.append((straight, 1))
    flat = shapes[-1][0].copy()
    flat[:, 0] = 0.0  # the trend is the first column
    return shapes + [(flat, 0)]


# More clear steps than this are no staircase of levels but a spiky or intermittent
# series (a count on every 30th day only): the segmentation gave 99-141 boundaries there
# and the backward elimination below (a fit per step per round, each fit wider by a
# column per step) ran for more than 9 minutes on one series.
_MOST_CLEAR_STEPS = 16


def _clearest(y: np.ndarray, bounds: list[int], lrv: float) -> list[int]:
    """`bounds` when there are at most `_MOST_CLEAR_STEPS` of them, else that many with
    the largest t of the step between the means of the segments either side."""
    if len(bounds) <= _MOST_CLEAR_STEPS:
        return bounds
    edges = [0, *bounds, len(y)]
    t = []
    for lo, b, hi in zip(edges, edges[1:], edges[2:]):
        jump = np.mean(y[b:hi]) - np.mean(y[lo:b])
        t.append(abs(jump) / np.sqrt(max(lrv, 1e-300) * (1 / (b - lo) + 1 / (hi - b))))
    keep = np.argsort(t, kind="stable")[-_MOST_CLEAR_STEPS:]
    return sorted(bounds[i] for i in keep)


def _fit_with_episodes(s: _Series, noise: _Noise, settings: DetectionSettings, calendar: np.ndarray,
                       step_days: int, curved: int = 0) -> tuple[np.ndarray | None, list[int]]:
    """Calendar coefficients of a weekly or monthly series fitted with its episodes and
    lasting steps alongside (`_episode_columns`), so that neither is taken in by the
    season or the trend; and, for weekly series, the first period of each lasting step
    so fitted (`_steps_as_shifts` judges them with a linear trend alongside, a model of a
    few years' growth; monthly series span decades: on TCPD's jfk_passengers, 39 years,
    a false step, F1 0.723 -> 0.531, while the monthly tune series found the same
    changes without them).

    A calendar without the trend competes (the smaller penalised cost is kept): a
    lasting step fitted with a trend alongside is half taken in by it (a step midway
    through a line correlates with it ~0.87). The trend's price is that of one column
    fixed in advance (the Wald threshold `_significant` sets it), each window's that of a
    step of the segmentation (`_fit_with_steps`). A curve (the last `curved` columns)
    competes the same way, each of its columns at a window's price.
    """
    noise = _noise_around(s, noise, calendar, step_days)
    penalty = 0.5 * (1.5 * settings.min_score) ** 2 * noise.lrv
    best, best_cost, steps = None, np.inf, []
    for cal, priced in _trend_shapes(calendar, curved):
        # the trend at its Wald threshold; each curve column at a window's price (at the
        # Wald threshold of three columns the curve took in weekly and monthly episodes)
        price = (_chi2_threshold(1) * noise.lrv + penalty * (priced - 1)) if priced else 0.0
        windows = _episode_columns(s.y, cal, ~s.known, noise, settings)
        design = np.column_stack((cal, *windows))
        full = _robust_fit(s.y, design, ~s.known, trend=False)
        if full is None:
            continue
        cost = _trimmed_cost(s.y - design @ full, ~s.known) + penalty * len(windows) + price
        if cost < best_cost:
            best, best_cost, steps = full[: cal.shape[1]], cost, _step_starts(windows) if step_days == 7 else []
    return best, steps


_RIVAL_EPISODES = 2  # a season is seen once a year: its rival over two years is an episode in each


def _season_beside_episodes(s: _Series, noise: _Noise, settings: DetectionSettings, calendar: np.ndarray,
                            yearly: int) -> bool:
    """Whether the yearly season of a daily series (columns 1 to `yearly` of `calendar`,
    after the trend) fits better than its rival, the (at most) two clearest episodes or
    lasting steps chosen against the calendar without it (`_episode_columns`): the
    fits with and without the season, each with and without those windows, are
    compared at their penalised costs, the season priced at its Wald threshold
    (`_significant`), each window at the square of its width's bar (the price at which
    the episode scan takes one).

    A season is what recurs, not two unrelated episodes a year apart: two such (tune
    quarter_close, a 28-day dip and, a year later, a 60-day -28%) make both years' curves
    agree and the harmonics significant, and then the season took in most of the second
    (-16% left, scoring 2.85 where it scored 8.09 alone). A real season also bends the
    rest of the year, which two windows leave in.
    """
    noise = _noise_around(s, noise, calendar, 1)
    ok = ~s.known
    without = np.delete(calendar, np.s_[1 : 1 + yearly], axis=1)
    windows = _episode_columns(s.y, without, ok, noise, settings, most=_RIVAL_EPISODES)
    if not windows:
        return True
    bars = [settings.min_score if w[-1] > 0 else _width_bars([int(w.sum())], settings.min_score)[0] for w in windows]
    windows_price = float(np.sum(np.square(bars))) * noise.lrv
    season_price = _chi2_threshold(yearly) * noise.lrv

    def cost(design: np.ndarray) -> float:
        full = _robust_fit(s.y, design, ok, trend=False)
        return np.inf if full is None else _trimmed_cost(s.y - design @ full, ok)

    with_season = season_price + min(cost(calendar), cost(np.column_stack((calendar, *windows))) + windows_price)
    return with_season <= min(cost(without), cost(np.column_stack((without, *windows))) + windows_price)


def _noise_around(s: _Series, noise: _Noise, calendar: np.ndarray, step_days: int) -> _Noise:
    """`noise` with its long-run variance measured around a first fit of `calendar`:
    measured before it, adjacent blocks of weeks differ by the season's slope too, which
    made the t of every window too small and the price of every step too large (a
    -25% step of a seasonal weekly series went unchosen in 1 of 12 seeds)."""
    coef = _robust_fit(s.y, calendar, ~s.known, trend=False)
    if coef is None:
        return noise
    lrv = _remembered_long_run_var(s.y - calendar @ coef, ~s.known, long_run_unit(step_days))
    return replace(noise, lrv=max(lrv, noise.day_var))


def _step_starts(columns: list[np.ndarray]) -> list[int]:
    """First period of each lasting step among indicator `columns` (those that hold to
    the end of the series)."""
    return sorted(int(np.argmax(c > 0)) for c in columns if c[-1] > 0)


def _episode_columns(y: np.ndarray, design: np.ndarray, ok: np.ndarray, noise: _Noise, settings: DetectionSettings,
                     most: int = 8) -> list[np.ndarray]:
    """Indicators of the episodes and lasting steps that stand out of the calendar fit,
    chosen one at a time (forward selection, at most `most`).

    A window's evidence is the t statistic of its own indicator added to the design
    (intercept, `design`, the windows chosen so far), for every window at once
    (Frisch-Waugh: its sum of the fit's residuals over their variance once the design
    has taken its share): the calendar fitted with the window left out. Fitted in, a
    12-week bump bent the trend and the second yearly harmonic and then scored 3-4.5,
    where against a calendar fitted without its days it scored 6-8 (weekly tune series).
    A window is chosen when its t reaches the bar of its width (`_width_bars`, as the
    episode scan of weekly and monthly series holds their windows to; a lasting step,
    a window to the end of the series, `min_score`): the penalised comparison of the
    calendar with and without it, at the detector's own price of a change.
    """
    n = len(y)
    widths = _episode_widths(n, settings)
    size = settings.min_segment_days
    spans = [(w, bar, np.arange(0, n - w + 1)) for w, bar in zip(widths, _width_bars(widths, settings.min_score))]
    spans.append((None, settings.min_score, np.arange(size, n - size + 1)))  # lasting steps
    index = np.arange(n)
    chosen: list[np.ndarray] = []
    taken = np.zeros(n, bool)  # days of the episodes chosen
    for _ in range(most):
        x = np.column_stack((np.ones(n), design, *chosen)) * ok[:, None]
        gram = np.linalg.pinv(x.T @ x)
        resid = np.where(ok, y - x @ (gram @ (x.T @ np.where(ok, y, 0.0))), 0.0)
        cr, ck, ct = _cum(resid), _cum(ok.astype(float)), _cum(taken.astype(float))
        cx = np.vstack((np.zeros(x.shape[1]), np.cumsum(x, axis=0)))
        best, best_margin = None, 1.0
        for w, bar, a in spans:
            b = a + w if w is not None else np.full(len(a), n)
            k, sums = ck[b] - ck[a], cx[b] - cx[a]
            left = k - np.einsum("ij,jk,ik->i", sums, gram, sums)  # the window's variance the design leaves
            with np.errstate(invalid="ignore", divide="ignore"):
                t = (cr[b] - cr[a]) / np.sqrt(k * noise.se2(k) * left)
            usable = (k >= (b - a) / 2) & (left > 1e-6 * k) & np.isfinite(t)
            if w is not None:
                usable &= ct[b] == ct[a]  # no overlap with an episode chosen
            margin = np.where(usable, np.abs(t) / bar, 0.0)
            if margin.size and margin.max() >= best_margin:
                i = int(np.argmax(margin))
                best, best_margin = (int(a[i]), int(b[i])), float(margin[i])
        if best is None:
            break
        lo, hi = best
        chosen.append(((index >= lo) & (index < hi)).astype(float))
        if hi < n:
            taken[lo:hi] = True
    return chosen


def _trimmed_cost(resid: np.ndarray, ok: np.ndarray) -> float:
    """Sum of squared residuals, each capped at 3.5 robust sds (as `_robust_fit` trims);
    compiled (`kernels.trimmed_cost`): the step elimination asks for ~10 per series."""
    from ctxmetrics.detect.kernels import trimmed_cost

    return float(trimmed_cost(np.asarray(resid, dtype=np.float64), np.ascontiguousarray(ok, dtype=bool)))


_CLOSE_LEVEL_DAYS = 21  # a close is measured against the level of the three weeks either side of it


def _closes_by_counts(s: _Series, closes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The coefficients of a count series' `closes` (indicator columns) on its stabilised
    scale, each from the ratio of the events counted on its days to the events the days
    around them predict there (the likelihood's estimate of a multiplier: unbiased at any
    count), and whether each close is seen: significant (`_CHANCE`) in its direction with
    any one of its occurrences left out. Fitted as a shift of the stabilised scale with
    the trimmed fit, a close shrank at low counts (the mid-size funnel's won x2.2 read
    x1.0-1.9 on cells of 0.4-4 wins a day, whose quarter ends were then flagged +150% to
    +1000%); a close not seen keeps that fit.

    The level of a close day is the mean deseasonalised count of the days within
    `_CLOSE_LEVEL_DAYS` of it that are in no close; known days are left out of both."""
    plain, days, lo, hi, around, runs, which = _close_layout(np.ascontiguousarray(closes).tobytes(), closes.shape[1],
                                                             s.known.tobytes())
    if not len(days):
        return np.zeros(closes.shape[1]), np.zeros(closes.shape[1], bool)
    cs = _cum(np.where(plain, s.num, 0.0))
    level = (cs[hi] - cs[lo]) / around
    mu = s.factor[days] * level  # each close day's events expected without a close
    # per occurrence of a close (a run of its days), so that one abnormal occurrence (a
    # holiday in a quarter's last week) cannot make a close of a series that has none
    counted, due, spread = np.add.reduceat(
        which[:, :, None] * np.column_stack((s.num[days] * s.factor[days], mu, mu + mu**2 / s.shape))[:, None, :],
        runs, axis=0).transpose(2, 0, 1)
    observed, expected, rest = counted.sum(axis=0), due.sum(axis=0), spread.sum(axis=0) - spread
    ratio = np.divide(observed, expected, out=np.ones(len(expected)), where=expected > 0)
    # the z of the close in its direction with any one occurrence left out: the weakest must
    # pass (a close seen once leaves nothing: not seen)
    left_out = np.divide(((observed - counted) - (expected - due)) * np.sign(observed - expected), np.sqrt(rest),
                         out=np.full(rest.shape, -np.inf), where=rest > 0)
    weakest = left_out.min(axis=0)
    seen = (weakest > 0) & (weakest**2 >= _chi2_threshold(1))
    if not seen.any():  # most series: no close of their own
        return np.zeros(closes.shape[1]), seen
    typical = max(float(np.sum(s.num * s.factor) / np.sum(s.factor)), 1e-9)
    return nb_transform(typical * ratio, s.shape) - nb_transform(typical, s.shape), seen


@functools.lru_cache(maxsize=8)
def _close_layout(closes: bytes, columns: int, known: bytes):
    """What `_closes_by_counts` reads that depends only on the days (the `columns`
    indicator columns of the closes, float64 bytes, and the `known` days, bool bytes),
    built once for the series of a scan that share them (read-only: they are shared):
    the days in no close and not known; the close days with such days around them, each
    with the bounds of its window of `_CLOSE_LEVEL_DAYS` either side and how many such
    days it holds; where each occurrence (run of close days) starts; which close each
    close day is in."""
    closes = np.frombuffer(closes, dtype=np.float64).reshape(-1, columns)
    ok = ~np.frombuffer(known, dtype=bool)
    in_close = closes.any(axis=1)
    plain = ok & ~in_close
    days = np.flatnonzero(ok & in_close)
    lo, hi = np.maximum(days - _CLOSE_LEVEL_DAYS, 0), np.minimum(days + _CLOSE_LEVEL_DAYS + 1, len(plain))
    counts = _cum(plain)
    around = counts[hi] - counts[lo]
    days, lo, hi, around = (a[around > 0] for a in (days, lo, hi, around))
    runs = np.flatnonzero(np.diff(days, prepend=-2) > 1)
    which = closes[days] > 0
    layout = (plain, days, lo, hi, around, runs, which)
    for array in layout:
        array.flags.writeable = False
    return layout


def _remove_calendar(s: _Series, noise: _Noise, settings: DetectionSettings, first_day, step_days: int) -> list[int]:
    """Take the month-/quarter-end closes and, with two years or more, the yearly season
    and the smooth trend out of `s` (in place).

    Fitted with an intercept and a linear trend on the stabilised scale, clear level steps
    alongside (`_fit_with_steps`); the yearly season only when the years agree. Season and
    trend are removed only when significant (`_significant`), a daily series' season only
    when it also fits better than two episodes (`_season_beside_episodes`). The trend of a shorter
    series stays, for the episode scan (flanks) and the boundary pruning to judge: within
    a year a trend, a season and a lasting shift look too much alike. Weekly and monthly
    series are fitted with their episodes and lasting steps alongside, each chosen
    against the calendar (`_fit_with_episodes`; tune weekly recall / precision 0.60 /
    0.96 -> 0.69 / 0.97, monthly with the horizon of `frequency.settings_for` 0.84 /
    0.87 -> 0.86 / 0.99).

    Returns the first period of each lasting step so chosen (weekly series), for
    `_steps_as_shifts`.
    """
    if step_days == 30:  # monthly: months are not 30 days, each period is placed on its first day
        days = (np.datetime64(first_day, "M") + s.index).astype("datetime64[D]")
    else:
        days = np.datetime64(first_day, "D") + s.index * step_days
    calendar, yearly = _shared_columns(days.tobytes(), int(s.index[-1] - s.index[0] + 1) * step_days, step_days == 1)
    two_years = _two_years(days)
    if yearly and _years_to_compare(step_days) and not (
        _season_may_matter(s, days, calendar, yearly, noise.day_var) and _same_season_each_year(s, days, calendar[:, :yearly])
    ):
        calendar, yearly = (calendar[:, yearly:] if calendar.shape[1] > yearly else None), 0  # the closes still hold
    if calendar is None and not two_years:
        return []
    t = np.arange(len(s.y)) / 365.25
    trend = (t - t.mean())[:, None]
    calendar = trend if calendar is None else np.column_stack((trend, calendar))
    curved = 0
    # gauges only: a count's or a rate's stabilising scale already bends its growth (their
    # growth classes were not cut into steps), and on the daily counts of tune
    # season_trend the curve took in 3 late lasting steps
    if two_years and not s.sized and _curve_may_matter(s.y, ~s.known, noise.lrv, calendar):
        curve = _curve_for(s.y, ~s.known, calendar, step_days == 1, settings, noise.lrv)
        calendar, curved = np.column_stack((calendar, curve)), curve.shape[1]
    if step_days == 1:
        if curved:  # a step's price at the noise around the curve, not at the curve's bends (`curve._curve_for`)
            noise = _noise_around(s, noise, calendar, 1)
        coef, steps = _fit_with_steps(s, noise, settings, calendar, yearly > 0 and two_years, curved), []
    else:
        coef, steps = _fit_with_episodes(s, noise, settings, calendar, step_days, curved)
    if coef is None:
        return []
    # judged against the noise left once the calendar is out: the first noise estimate
    # still holds the season (blocks of weeks differ by it), which would hide the season
    lrv = max(_remembered_long_run_var(s.y - calendar @ coef, ~s.known, long_run_unit(step_days)), noise.day_var)
    # the trend on its own, the yearly harmonics together; the closes are always removed
    # (a count's, when seen, at the size its counts say: `_closes_by_counts`)
    parts = [slice(0, 1)] + ([slice(1, 1 + yearly)] if yearly else []) + ([slice(-curved, None)] if curved else [])
    for part in parts:
        if not _significant(calendar[:, part], coef[part], ~s.known, lrv):
            coef[part] = 0.0
    season = slice(1, 1 + yearly)
    if yearly and step_days == 1 and coef[season].any() and not _season_beside_episodes(s, noise, settings, calendar, yearly):
        coef[season] = 0.0  # two episodes a year apart, not a season
    if not two_years:
        coef[0] = 0.0
    closes = slice(1 + yearly, calendar.shape[1] - curved)
    if s.shape is not None and step_days == 1 and closes.stop > closes.start:
        by_counts, seen = _closes_by_counts(s, calendar[:, closes])
        coef[closes] = np.where(seen, by_counts, coef[closes])
    if not coef.any():
        return steps  # nothing to remove: the series stays as prepared
    s.y = s.y - calendar @ coef
    if s.shape is not None:
        _calendar_as_exposure(s, calendar @ coef)
    else:  # rates and gauges (a log-scale gauge's inverse is exp; the others' the identity)
        s.num = s.inverse(s.y) * s.den
    return steps

