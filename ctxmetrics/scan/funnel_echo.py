"""How many days a known day off's dip lasts past it on each lower funnel stage.

A holiday's (offsite's, outage's: `Config.days_off_types`) days leave the baseline of the
series it scopes (`scan.known_masks`). But a lower stage's count holds the conversions of
the stage above's earlier days: MQLs land 0-3 days after their leads, SQLs 0-4 days after
their MQLs, so the holiday's dip on mql, sql and below lasts days past the holiday. Those
days stayed in the baseline as a dip, and a step just after the holiday was dated at the
dip's end, 16-18 days late (benchmarks/README.md, branches issue-9md and issue-9he).

So on each lower stage such an event's known days reach on by the days its conversions
land on: per adjacent pair of daily count stages, the longest lag at which the stage
above's day-to-day ups and downs (`conversion._wiggles`, on the totals, as the scan's
conversion pass reads its lag) still show in the stage's own, fitted over all lags at once
(one lag's correlation alone mixes in its neighbours': the wiggles of adjacent days are
correlated), summed down the funnel and capped at `MAX_ECHO_DAYS`. A pair whose lags show
nothing clearly breaks the chain: the stages below it get no echo days.
"""
from __future__ import annotations

import numpy as np

from ctxmetrics.models.series import SeriesSet
from ctxmetrics.scan.conversion import MAX_LAG_DAYS, _comparable, _total, _wiggles

MAX_ECHO_DAYS = 14  # no stage's known days reach further than two weeks past the event
# A lag counts when its coefficient is this many standard errors above none: on the
# mid-size funnels' totals the lags a stage's conversions land on show at 3-20, the
# lags past them within +-2.5.
MIN_LAG_T = 3.0


def echo_days(sets: dict[str, SeriesSet], funnel: tuple[str, ...]) -> dict[str, int]:
    """Per lower funnel stage of `sets`, the days past a known day off's last day that stay
    unknown on it (stages without any left out)."""
    out: dict[str, int] = {}
    carried = 0
    for upper, lower in zip(funnel, funnel[1:]):
        above, below = sets.get(upper), sets.get(lower)
        reach = None
        if _comparable(above, below):
            reach = lag_reach(_total(above), _total(below), (below.start - above.start).days)
        carried = 0 if reach is None else min(carried + reach, MAX_ECHO_DAYS)
        if carried:
            out[lower] = carried
    return out


def lag_reach(upper: np.ndarray, lower: np.ndarray, offset: int = 0) -> int | None:
    """The last lag (0 to `MAX_LAG_DAYS`) of the first run of consecutive lags at which
    `lower` follows `upper`'s ups and downs by at least `MIN_LAG_T` standard errors, all
    lags fitted at once (least squares of `lower`'s wiggles on `upper`'s lagged ones); None
    when no lag does or the days are too few. `offset`: days from `upper`'s first day to `lower`'s."""
    a, b = _wiggles(upper), _wiggles(lower)
    # lower[j] pairs with upper[j + offset - lag] for each lag
    rows = np.arange(len(b))
    columns = [rows + offset - lag for lag in range(MAX_LAG_DAYS + 1)]
    inside = np.all([(c >= 0) & (c < len(a)) for c in columns], axis=0)
    X = np.column_stack([np.where(inside, a[np.clip(c, 0, len(a) - 1)], np.nan) for c in columns])
    usable = np.isfinite(X).all(axis=1) & np.isfinite(b)
    X, y = X[usable], b[usable]
    if len(y) < 8 * 7:
        return None
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    residual = y - X @ beta
    variance = residual @ residual / (len(y) - X.shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        t = beta / np.sqrt(np.diag(np.linalg.pinv(X.T @ X)) * variance)
    clear = np.flatnonzero(t >= MIN_LAG_T)
    if not clear.size:
        return None
    # conversions land on consecutive days: the reach ends where the first run of clear lags does
    breaks = np.flatnonzero(np.diff(clear) > 1)
    return int(clear[breaks[0]] if breaks.size else clear[-1])
