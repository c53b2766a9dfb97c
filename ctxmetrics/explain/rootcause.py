"""Root-cause localization in a cube: which segments at any layer carry a change.

Given, for every leaf of a cube, the value expected over an anomaly's window, the actual
value and the noise of that difference, find the smallest set of elements — a dimension
value, a pair of values, ... — whose own change explains the deviation.

The model borrows from the published methods and keeps what each does best:

- Squeeze's generalized ripple effect: the leaves under one root-cause element all change
  by about the same factor (`actual ≈ k · expected`), whatever the element's layer;
- HotSpot/AutoRoot: search elements of every layer, fitting that factor per element;
- RiskLoc: leaves are judged against their own noise, so a small, noisy cell is not
  blamed for what a large steady one did.

Elements are chosen greedily: each step takes the element whose fitted factor removes the
most noise-weighted squared error from the leaves no chosen element covers yet, as long as
that gain is beyond what the best of all candidates would reach on noise alone. Squared
error favours the most specific element that carries a change (one changed cell beats its
row, whose four unchanged cells the row's factor would misfit); a whole row that changed
beats each of its cells. Elements that add nothing once the others are in are dropped
again, and a coarse element is split into finer ones inside it when they fit better for
their number (three changed cells of one column), or narrowed to the one finer element
inside it that moved when the rest of it did not. When no element clears the bound
alone, a few of one layer that moved the same way by one factor are taken together when
their joint gain clears the bound over every set of their size. Elements that moved by
the very factor the chosen ones share then join on weaker evidence (no factor of their own
to fit). Once a change is found, which elements carry it is settled by their posterior
probability over the sets of 1-3 elements of one layer moving by one factor (a likelier
element swaps in; one more joins only when clearly likely). The change is "uniform"
(everywhere alike) when one factor for every leaf fits as well as the chosen set does,
given the set's extra parameters.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations
from typing import Mapping, Sequence

import numpy as np

__all__ = [
    "RootCause", "WeekdayBaseline", "candidate_count", "candidate_groups", "encode_leaves", "localize",
    "localize_codes", "null_gain", "window_expectation",
]

_MAX_ELEMENTS = 3  # a business reads at most a few places; more is "spread out"
_FALSE_ALARM = 0.05  # chance that noise alone adds an element, over all candidates
_MIN_GAIN_SHARE = 0.02  # an element must remove this share of the unexplained error
# Which elements carry a change once one is found (`_likeliest`):
# a root-cause element's relative change: log-uniform from 5% to 100% (a drop of at most 95%)
_CHANGE_SIZES = np.exp(np.linspace(np.log(0.05), np.log(1.0), 12))[None, :]  # its grid, averaged over
_POOL = 4  # per group and way: the elements most σ off, from which sets are drawn
_POOL_CAP = 12  # at most so many per layer (sets of 3 of 12: 220), so a wide cube stays cheap
_REPORT = 0.4  # an element above this probability is reported: about half the F1 reached, where pooled F1 gains
_ADD = 0.65  # ... and only above this one beyond as many elements as the search chose


@dataclass(frozen=True)
class RootCause:
    """The localized root cause: `elements` as [(segment, share of the deviation)], most
    important first; `uniform` when the change is everywhere alike."""

    elements: list[tuple[dict[str, str], float]]
    uniform: bool


def localize(
    leaves: Sequence[Mapping[str, str]],
    expected: np.ndarray,
    actual: np.ndarray,
    noise: np.ndarray | None = None,
    max_layer: int = 3,
    direction: int = 0,
) -> RootCause:
    """The smallest set of segments that explains how `actual` departs from `expected`.

    Args:
        leaves: One segment per leaf, every leaf with the same dimensions (those that vary
            inside the cube being searched).
        expected: Expected value of each leaf over the window (its baseline).
        actual: Actual value of each leaf over the window.
        noise: Standard deviation of `actual - expected` per leaf under no change; by
            default Poisson-like, the square root of the expected value.
        max_layer: Deepest layer searched (1 = single dimension values).
        direction: +1 or -1, the way the anomaly went; only elements that moved that way
            are drivers. 0: the way the chosen elements moved together.

    Returns:
        The root-cause set with each element's share of the total deviation.
    """
    dims = list(leaves[0]) if len(leaves) else []
    codes, names = encode_leaves(leaves, dims)
    return localize_codes(codes, dims, names, expected, actual, noise, max_layer, direction)


def localize_codes(
    codes: np.ndarray,
    dims: Sequence[str],
    names: Sequence[Sequence[str]],
    expected: np.ndarray,
    actual: np.ndarray,
    noise: np.ndarray | None = None,
    max_layer: int = 3,
    direction: int = 0,
) -> RootCause:
    """`localize` for leaves given as codes: `codes[i, j]` indexes `names[j]`, the values
    of dimension `dims[j]` (no dictionaries per leaf in a cube of many leaves)."""
    expected = np.asarray(expected, dtype=float)
    actual = np.asarray(actual, dtype=float)
    if noise is None:
        noise = np.sqrt(np.maximum(np.abs(expected), 1.0))
    noise = np.maximum(np.asarray(noise, dtype=float), 1e-9)
    deviation = float((actual - expected).sum())
    if not len(dims) or len(codes) < 2 or deviation == 0:
        return RootCause([], False)
    weight = 1.0 / noise**2
    start_error = float((weight * (actual - expected) ** 2).sum())
    found = _choose_in_one_dimension(codes, expected, actual, weight, start_error) if max_layer >= 1 else None
    if found is not None:
        fit, chosen = found
        shared = False

        def segment(i: int) -> dict[str, str]:
            return {dims[0]: names[0][codes[chosen[i], 0]]}
    else:
        groups = candidate_groups(codes, min(max_layer, len(dims)))
        fit, chosen, shared = _choose(groups, expected, actual, weight, start_error)
        chosen = _likeliest(chosen, fit, codes, direction)

        def segment(i: int) -> dict[str, str]:
            g, e = chosen[i]
            return _segment(groups[g][0], codes, groups[g][1], e, dims, names)
    threshold = _null_gain(fit.candidates)
    set_error, owner = fit(chosen)
    uniform_error = fit.uniform_error()
    # One factor for all leaves as good as the set, given the set's extra factors. A shared
    # set is judged on its own hypothesis, one factor for all its leaves: all values of a
    # dimension moving by one factor is the whole cube moving alike, not those values.
    extra = 0 if shared else max(len(chosen) - 1, 0)
    if shared:
        set_error = fit.common_error(owner >= 0)
    if uniform_error <= set_error + threshold * extra and start_error - uniform_error > threshold:
        return RootCause([], True)
    carried = [float((actual - expected)[owner == i].sum()) for i in range(len(chosen))]
    # Only parts that moved the way the anomaly did carry it; without its direction, the way
    # the element most standard deviations off moved (the sum of all leaves, or of the
    # chosen set, can follow a bigger element that moved less for its noise the other way).
    way = direction or _strongest_way(carried, owner, noise) or math.copysign(1.0, deviation)
    drivers = [i for i in range(len(chosen)) if carried[i] * way > 0]
    # Shares are of the anomaly's deviation or of the drivers' own when noise elsewhere
    # cancels part of it, so they never add past 100%.
    moved = sum(carried[i] for i in drivers)
    scale = math.copysign(max(abs(deviation) if deviation * way > 0 else 0.0, abs(moved)), way)
    elements = [(segment(i), round(carried[i] / scale, 2)) for i in drivers]
    elements.sort(key=lambda pair: -pair[1])
    return RootCause(elements, False)


def _choose(groups, expected, actual, weight, start_error):
    """(fits, chosen (group, element) pairs, whether they are a shared set) of the general
    path: greedy, pruned and refined, or the shared set; narrowed, then extended."""
    fit = _Fits(groups, weight, expected, actual)
    threshold = _null_gain(fit.candidates)
    everything = np.ones(len(expected), dtype=bool)
    chosen = _greedy(fit, everything, [], threshold, start_error)
    shared = not chosen
    if chosen:
        chosen = _prune(chosen, fit, threshold)
        chosen = _refine(chosen, fit, threshold, start_error)
    else:  # nothing stands out alone: the set that moved by one factor together, if any
        chosen = _shared_set(fit)
    chosen = _narrow(chosen, fit)
    chosen = _extend_alike(chosen, fit, fit.candidates)
    return fit, chosen, shared


def _choose_in_one_dimension(codes, expected, actual, weight, start_error):
    """(fits, chosen leaves) by `one_dimension`'s path where it applies and some leaf
    clears the bound alone (refining and narrowing find no finer element there); else None."""
    from ctxmetrics.explain.one_dimension import OneDimensionFit

    if not OneDimensionFit.applies(codes, expected, actual, weight):
        return None
    fit = OneDimensionFit(codes, expected, actual, weight)
    threshold = _null_gain(fit.candidates)
    chosen = fit.greedy(threshold, start_error, _MAX_ELEMENTS, _MIN_GAIN_SHARE)
    if not chosen:
        return None
    chosen = _prune(chosen, fit, threshold)
    return fit, fit.extend_alike(chosen, fit.candidates, _MAX_ELEMENTS)


def window_expectation(
    values: np.ndarray, first: int, last: int, weeks: int = 4
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(expected, actual, noise) per row over days `first..last`, from each row's own history.

    Expected: per weekday, the median of the same weekday in the `weeks` weeks before
    `first` (robust to a past spike). Noise: the spread of those weeks around their
    weekday medians (MAD), at least Poisson-like for counts, scaled to the window's length
    and to the uncertainty of a median of `weeks` values. Unknown (NaN) days are skipped.
    """
    return WeekdayBaseline.before(values, first, weeks).window(values, first, last)


@dataclass(frozen=True)
class WeekdayBaseline:
    """Each row's weekday medians over the weeks before day `origin` and its spread around
    them: the expected value of any later day and that day's noise (`window_expectation`).
    The spread is relative to each day's median: a count's noise grows with its level, so
    one absolute spread for all days understated a busy weekday's noise by as much as a
    quiet weekend's is lower."""

    origin: int
    medians: np.ndarray  # rows x 7: column (day - origin) % 7
    spread: np.ndarray  # per row: the days' MAD around their weekday medians, relative to them
    weeks: int  # weeks of history actually read

    @classmethod
    def before(cls, values: np.ndarray, origin: int, weeks: int) -> "WeekdayBaseline":
        history = np.arange(max(origin - 7 * weeks, 0), origin)
        if len(history) < 7:
            raise ValueError("at least one week of history is needed before the window.")
        hist = values[:, history[0] : origin]  # a view: the history is contiguous
        weekday = (history - origin) % 7
        medians = np.full((values.shape[0], 7), np.nan)
        for d in range(7):
            cols = hist[:, (d - weekday[0]) % 7 :: 7]  # that weekday's days, as a strided view
            if cols.shape[1] and not np.all(np.isnan(cols)):
                medians[:, d] = _row_medians(cols)
        typical = medians[:, weekday]
        deviation = hist - typical
        np.abs(typical, out=typical)
        np.abs(deviation, out=deviation)
        with np.errstate(divide="ignore", invalid="ignore"):
            np.divide(deviation, typical, out=deviation)
        np.copyto(deviation, np.nan, where=~(typical > 0))  # no level: no relative spread
        spread = 1.4826 * _row_medians(deviation)
        return cls(origin, medians, spread, max(len(history) // 7, 1))

    def window(self, values: np.ndarray, first: int, last: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(expected, actual, noise) per row over days `first..last` (at or after `origin`)."""
        days = np.arange(first, last + 1)
        per_day = self.medians[:, (days - self.origin) % 7]
        now = values[:, days]
        keep = ~np.isnan(now) & ~np.isnan(per_day)
        expected = np.where(keep, per_day, 0.0).sum(axis=1)
        actual = np.where(keep, now, 0.0).sum(axis=1)
        level = np.where(keep, np.abs(per_day), 0.0)
        # each day's noise at least Poisson-like; a window with no known day has one day's
        day = np.fmax(np.nan_to_num(self.spread)[:, None] * level, np.sqrt(np.maximum(level, 1.0)))
        variance = np.where(keep, day**2, 0.0).sum(axis=1)
        noise = np.sqrt(np.maximum(variance, 1.0) * (1.0 + math.pi / 2 / self.weeks))
        return expected, actual, noise


def candidate_count(codes: np.ndarray, max_layer: int = 3, size: int = 1) -> int:
    """How many elements (segments at layers 1..`max_layer`) `localize_codes` weighs in a
    cube of these leaves: the number of tests behind one localization; with `size`, how
    many sets of that many elements of one layer and dimensions there are."""
    return _set_count(candidate_groups(codes, min(max_layer, codes.shape[1])), size)


def null_gain(candidates: int, false_alarm: float) -> float:
    """The gain noise alone exceeds with probability `false_alarm` over `candidates`
    one-factor fits (Bonferroni)."""
    return _null_gain(candidates, false_alarm)


# ------------------------------------------------------------------------ internals


def _row_medians(block: np.ndarray) -> np.ndarray:
    """Median of each row, unknown (NaN) values skipped, the same as `np.nanmedian` (NaN for
    a row with no known value): each row sorted (NaN last) and its middle known value, or
    the mean of its two middle ones. A full sort of rows of a few weeks' days is several
    times faster than `np.median`'s partition, and `np.nanmedian` was slower still."""
    ordered = np.sort(block, axis=1)
    width = block.shape[1]
    if not np.isnan(ordered[:, -1]).any():  # every value known (NaN sorts last): the middle columns
        low, high = ordered[:, (width - 1) // 2], ordered[:, width // 2]
    else:
        known = width - np.isnan(ordered).sum(axis=1)
        rows = np.arange(len(block))
        low = ordered[rows, np.maximum(known - 1, 0) // 2]  # NaN in a row with no known value
        high = ordered[rows, known // 2]
    return np.mean(np.stack([low, high], axis=1), axis=1)  # as np.median averages its two middle values


def encode_leaves(leaves: Sequence[Mapping[str, str]], dims: Sequence[str]) -> tuple[np.ndarray, list[list[str]]]:
    """(codes, names): `codes[i, j]` is the index of leaf i's value of `dims[j]` in `names[j]`."""
    codes = np.empty((len(leaves), len(dims)), dtype=np.int64)
    names: list[list[str]] = []
    for j, dim in enumerate(dims):
        index: dict[str, int] = {}
        for i, leaf in enumerate(leaves):
            codes[i, j] = index.setdefault(leaf[dim], len(index))
        names.append(list(index))
    return codes, names


def candidate_groups(codes: np.ndarray, max_layer: int) -> list[tuple[tuple[int, ...], np.ndarray]]:
    """Per combination of dimensions up to `max_layer`: each leaf's element id in it."""
    groups = []
    radix = codes.max(axis=0) + 1
    for layer in range(1, max_layer + 1):
        for combo in combinations(range(codes.shape[1]), layer):
            key = np.zeros(len(codes), dtype=np.int64)
            for j in combo:
                key = key * radix[j] + codes[:, j]
            ids = _dense_ids(key, int(np.prod(radix[list(combo)])))
            if int(ids.max()) > 0:  # an element covering everything is not a subset
                groups.append((combo, ids))
    return groups


def _dense_ids(key: np.ndarray, size: int) -> np.ndarray:
    """The rank of each key among the distinct keys (`np.unique`'s inverse). Keys below
    `size`: by a table of the keys present, with no sort (a rollup's few leaves are
    localized thousands of times in a wide cube, and the sort's overhead dominated)."""
    if size > 4 * len(key) + 1024:
        return np.unique(key, return_inverse=True)[1].reshape(-1)
    present = np.zeros(size, dtype=np.int64)
    present[key] = 1
    return (np.cumsum(present) - 1)[key]


def _set_count(groups, size: int) -> int:
    """How many sets of `size` elements of one group there are."""
    return sum(math.comb(int(ids.max()) + 1, size) for _, ids in groups)


@lru_cache(maxsize=256)
def _null_gain(candidates: int, false_alarm: float = _FALSE_ALARM) -> float:
    """Largest gain noise alone reaches over `candidates` one-factor fits (chi-square, one
    degree of freedom, with a Bonferroni bound): z² at probability false_alarm/candidates."""
    p = false_alarm / max(candidates, 1)
    # Two-sided normal tail: z with erfc(z/sqrt2) = p, by bisection (numpy only).
    lo, hi = 0.0, 40.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if math.erfc(mid / math.sqrt(2)) > p else (lo, mid)
    return lo * lo


def _greedy(fit, free, chosen, threshold, start_error, allowed=None):
    """Add elements one by one while the best one's gain is beyond noise; `allowed` limits
    the candidate groups, `free` the leaves they may take."""
    groups = fit.groups
    chosen = list(chosen)
    free = free.copy()
    for g, e in chosen:
        free &= groups[g][1] != e
    while len(chosen) < _MAX_ELEMENTS and free.any():
        best = _best_element(fit, free, chosen, allowed)
        if best is None or best[0] <= threshold or best[0] < _MIN_GAIN_SHARE * start_error:
            break
        _, g, e = best
        free &= groups[g][1] != e
        chosen.append((g, e))
    return chosen


def _best_element(fit, free, chosen, allowed=None):
    """(gain, group, element) of the candidate that removes the most error from
    the leaves not covered yet; None when none has any."""
    taken = set(chosen)
    best = None
    w = fit.weight * free
    # the leaves' terms once for every group, not per group (a wide cube's rollups are
    # localized thousands of times, each on a few leaves: numpy's per-call cost dominates)
    wae, wee = w * fit.actual * fit.expected, w * fit.expected * fit.expected
    for g, (_, ids) in enumerate(fit.groups):
        if allowed is not None and g not in allowed:
            continue
        size = fit.sizes[g]
        b = np.bincount(ids, wae, size)
        c = np.bincount(ids, wee, size)
        # error before, a - 2b + c (leaves at expected), minus error after, a - b²/c, with
        # a = Σ w·actual² cancelling out; 0 where an element has no weight (divided only
        # where it has: no floating-point state to switch per call)
        gain = np.divide((b - c) ** 2, c, out=np.zeros(size), where=c > 0)
        for e in [e for gg, e in taken if gg == g]:
            gain[e] = -np.inf
        e = int(gain.argmax())
        if gain[e] > 0 and (best is None or gain[e] > best[0]):
            best = (float(gain[e]), g, e)
    return best


def _shared_set(fit) -> list[tuple[int, int]]:
    """When no element clears the bound alone: the 2 to `_MAX_ELEMENTS` elements of one
    group (the same dimensions) that moved the same way by one common factor (Squeeze's
    one cause, one deviation), when their joint gain clears a Bonferroni bound over every
    set of that many elements of one group; of those that do, the one furthest beyond its
    bound; [] when none does. Per group and direction the candidate sets are the elements
    most standard deviations off, taken in that order."""
    groups = fit.groups
    sizes = range(2, _MAX_ELEMENTS + 1)  # one element alone had the greedy's test
    bounds = {k: _null_gain(_set_count(groups, k)) for k in sizes}
    best, best_margin = [], 0.0
    for g, (_, ids) in enumerate(groups):
        size = fit.sizes[g]
        c = np.bincount(ids, fit.wee, size)
        excess = np.bincount(ids, fit.wae, size) - c
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(c > 0, excess / np.sqrt(c), 0.0)
        for way in (1, -1):
            top = np.argsort(-way * z)[: _MAX_ELEMENTS]
            for k in sizes:
                if k > size or way * z[top[k - 1]] <= 0:
                    break
                margin = float(excess[top[:k]].sum() ** 2 / c[top[:k]].sum()) - bounds[k]
                if margin > best_margin:
                    best, best_margin = [(g, int(e)) for e in top[:k]], margin
    return best


def _refine(chosen, fit, threshold, start_error):
    """Replace a coarse element by finer ones inside it when they fit better, counting each
    extra element as `threshold` of error: three changed cells of a column are three cells,
    not the column, whose factor would misfit its unchanged cells."""
    groups = fit.groups
    best = list(chosen)
    best_cost = fit(best)[0] + threshold * len(best)
    for g, e in chosen:
        finer = _finer(groups, g)
        if not finer:
            continue
        rest = [c for c in best if c != (g, e)]
        inside = groups[g][1] == e
        trial = _greedy(fit, inside, rest, threshold, start_error, finer)
        if len(trial) <= len(rest):  # no finer element cleared the bound: nothing to weigh
            continue
        cost = fit(trial)[0] + threshold * len(trial)
        if cost < best_cost:
            best, best_cost = trial, cost
    return best


def _finer(groups, g) -> set[int]:
    """The groups whose elements lie inside those of group `g` (its dimensions and more)."""
    combo = set(groups[g][0])
    return {h for h, (other, _) in enumerate(groups) if combo < set(other)}


def _narrow(chosen, fit):
    """Replace a coarse element by the finer one inside it that carries its change when the
    rest of it did not move (a single test at _FALSE_ALARM): a whole value explains only
    when its other parts moved too, not when one changed cell and its neighbours' noise add
    up past the bound a cell alone would need."""
    groups = fit.groups
    chosen = list(chosen)
    for i, (g, e) in enumerate(chosen):
        finer = _finer(groups, g)
        inside = groups[g][1] == e
        best = _best_element(fit, inside, chosen, finer) if finer else None
        if best is None:
            continue
        rest = inside & (groups[best[1]][1] != best[2])
        c = fit.wee[rest].sum()
        moved = (fit.wae[rest].sum() - c) ** 2 / c if c > 0 else 0.0
        if moved <= _null_gain(1):
            chosen[i] = best[1:]
    return chosen


def _extend_alike(chosen, fit, n_candidates):
    """Add elements that changed by the factor the chosen ones share (Squeeze's one cause,
    one deviation): such an element needs no factor of its own, so it enters on a likelihood
    ratio beyond the odds of one candidate among all (2·ln N in squared error) rather than on
    the free fit's Bonferroni bound. A second cell 3σ off by the first one's factor is found;
    an unchanged cell is not, however noisy, since its fit to that factor is poor."""
    if not chosen:
        return chosen
    groups, weight, expected, actual = fit.groups, fit.weight, fit.expected, fit.actual
    _, owner = fit(chosen)
    factors = [fit.factor(owner == i) for i in range(len(chosen))]
    if not (all(f > 1 for f in factors) or all(f < 1 for f in factors)):
        return chosen  # no one factor to share
    k = fit.factor(owner >= 0)
    penalty = 2 * math.log(n_candidates)
    # per element: error at expected minus error at k·expected, summed over its leaves
    b, c = weight * expected * (actual - expected), fit.wee
    gains = []
    for g, (_, ids) in enumerate(groups):
        size = fit.sizes[g]
        gains.append(2 * (k - 1) * np.bincount(ids, b, size) - (k - 1) ** 2 * np.bincount(ids, c, size))
    chosen = list(chosen)
    free = owner < 0
    while len(chosen) < _MAX_ELEMENTS and free.any():
        best = None
        for g, (_, ids) in enumerate(groups):
            taken = np.bincount(ids, ~free, len(gains[g])) > 0  # only elements whose leaves are all free
            gain = np.where(taken, -np.inf, gains[g])
            e = int(np.argmax(gain))
            if best is None or gain[e] > best[0]:
                best = (float(gain[e]), g, e)
        if best[0] <= penalty:
            break
        chosen.append(best[1:])
        free &= groups[best[1]][1] != best[2]
    return chosen


def _likeliest(chosen, fit, codes, direction):
    """Once the search has found a change: which elements carry it, by their posterior
    probability over one-factor sets of every layer (`_layer_sets`; the prior even over
    layers, set sizes and the sets of each size). The search's bounds ask whether each
    element alone is beyond noise; once a change is known to be there the question is where:
    an element the search chose gives way to likelier ones (a row to the two cells that
    moved in it), and a second cell 2.5σ off by the first one's factor, more likely in than
    out, joins. The answer keeps the search's count of elements when that many pass
    `_REPORT`; an element beyond that count must pass `_ADD` (`why` reads places from several
    anomalies' drivers, where an extra one rarely adds a true place but adds a wrong one
    each time it is wrong)."""
    if codes.shape[1] < 2:
        return chosen  # one dimension: `one_dimension`'s path must answer as this one does
    if not chosen or not _apart(chosen, fit, codes):
        return chosen  # not a hypothesis of the posterior's (a region and a channel overlap)
    coarsest = min(len(fit.groups[g][0]) for g, _ in chosen)  # `_narrow` settled coarser ones
    layers = sorted({len(combo) for combo, _ in fit.groups if len(combo) >= coarsest})
    found = [_layer_sets(fit, codes, layer, direction) for layer in layers]
    scores = [x for _, sets in found for x, _ in sets if len(x)]
    if not scores:
        return chosen
    top = max(float(x.max()) for x in scores)
    total = sum(float(np.exp(x - top).sum()) for x in scores)
    probable = []
    for pool, sets in found:
        probability = np.zeros(len(pool))
        for x, members in sets:
            weight = np.exp(x - top) / total
            probability += np.bincount(members.ravel(), np.repeat(weight, members.shape[1]), len(pool))
        probable += [(float(p), element) for p, element in zip(probability, pool) if p > _REPORT]
    probable.sort(key=lambda pair: -pair[0])
    count = max(len(chosen), sum(p > _ADD for p, _ in probable))
    return [element for _, element in probable[: min(count, _MAX_ELEMENTS)]] or chosen


@lru_cache(maxsize=64)
def _subsets(n: int, k: int) -> np.ndarray:
    """Every set of `k` of `n` indexes, one row each (the same few shapes recur in a scan)."""
    return np.array(list(combinations(range(n), k)), dtype=np.int64).reshape(-1, k)


def _apart(chosen, fit, codes) -> bool:
    """True when the chosen elements share no leaf (a hypothesis of `_layer_sets`)."""
    apart = _disjoint(np.array([_place(fit.groups[g], e, codes) for g, e in chosen]))
    return bool(apart[np.triu_indices(len(chosen), 1)].all())


def _disjoint(places: np.ndarray) -> np.ndarray:
    """Pairwise: True when two elements (codes per dimension, -1 for any value) share no
    leaf, i.e. differ on a dimension both fix."""
    fixed = (places[:, None, :] >= 0) & (places[None, :, :] >= 0)
    return (fixed & (places[:, None, :] != places[None, :, :])).any(axis=2)


def _place(group, element, codes) -> np.ndarray:
    """An element's codes per dimension, -1 for a dimension it does not fix."""
    combo, ids = group
    place = np.full(codes.shape[1], -1)
    place[list(combo)] = codes[int(np.flatnonzero(ids == element)[0]), list(combo)]
    return place


def _layer_sets(fit, codes, layer, direction):
    """(pool, [(log posterior, members)] per set size) of one layer's hypotheses "these 1 to
    `_MAX_ELEMENTS` disjoint elements changed by one common factor, nothing else did", up to
    a constant shared by every layer. The pool: per group and way the `_POOL` elements most
    standard deviations off, `_POOL_CAP` in all (the others weigh next to nothing), as
    (group, element); members index it, one row per set. The likelihood is Gaussian against
    the leaves' noise, the factor's size averaged over its prior (`_CHANGE_SIZES`)."""
    parts = []  # per group and way: (|z|, group, element, c, s, way, place: codes per dimension, -1 for any)
    elements = 0
    for g, (combo, ids) in enumerate(fit.groups):
        if len(combo) != layer:
            continue
        n = fit.sizes[g]
        elements += n
        c = np.bincount(ids, fit.wee, n)
        s = np.bincount(ids, fit.wae, n) - c
        z = np.divide(s, np.sqrt(c), out=np.zeros(n), where=c > 0)
        leaf = np.empty(n, dtype=np.int64)
        leaf[ids] = np.arange(len(ids))  # a leaf of each element
        for way in (direction,) if direction else (1, -1):
            top = np.argsort(-way * z)[:_POOL]
            top = top[way * z[top] > 0]
            place = np.full((len(top), codes.shape[1]), -1)
            place[:, list(combo)] = codes[leaf[top]][:, list(combo)]
            parts.append((np.abs(z[top]), np.full(len(top), g), top, c[top], s[top], np.full(len(top), way), place))
    strength, group, element, c, s, ways, places = (np.concatenate(column) for column in zip(*parts))
    keep = np.argsort(-strength, kind="stable")[:_POOL_CAP]
    if not len(keep):
        return [], []
    group, element, c, s, ways, places = group[keep], element[keep], c[keep], s[keep], ways[keep], places[keep]
    apart = _disjoint(places) & (ways[:, None] == ways[None, :])
    sets = []
    for k in range(1, min(_MAX_ELEMENTS, len(keep)) + 1):
        members = _subsets(len(keep), k)
        for i, j in combinations(range(k), 2):
            members = members[apart[members[:, i], members[:, j]]]
        way = ways[members[:, 0], None]
        delta = np.where(way > 0, _CHANGE_SIZES, -np.minimum(_CHANGE_SIZES, 0.95))
        # log likelihood ratio of the set's leaves scaled by 1 + δ against unchanged
        log_ratio = delta * s[members].sum(axis=1)[:, None] - delta**2 * c[members].sum(axis=1)[:, None] / 2
        peak = log_ratio.max(axis=1)
        evidence = peak + np.log(np.exp(log_ratio - peak[:, None]).mean(axis=1))
        sets.append((evidence - math.log(math.comb(elements, k)), members))
    return [(int(g), int(e)) for g, e in zip(group, element)], sets


def _strongest_way(carried, owner, noise) -> float:
    """+1 or -1: the way the chosen element that moved most standard deviations went
    (0.0 when none moved)."""
    z = [c / math.sqrt(float((noise[owner == i] ** 2).sum()) or 1.0) for i, c in enumerate(carried)]
    strongest = max(z, key=abs, default=0.0)
    return math.copysign(1.0, strongest) if strongest else 0.0


class _Fits:
    """One localization's leaves and candidate groups, with what every step reads of them
    computed once: the leaves' weighted products, each group's element count, each
    element's leaves, and the fit of each set of chosen elements (pruning, refining,
    extending and the answer itself refit the same sets). A wide cube's thousands of small
    localizations pay numpy's per-call cost for each recomputation; the arithmetic is the
    same, so the results are the same bits."""

    def __init__(self, groups, weight, expected, actual):
        self.groups, self.weight, self.expected, self.actual = groups, weight, expected, actual
        self.wee, self.wae = weight * expected * expected, weight * actual * expected
        self.sizes = [int(ids.max()) + 1 for _, ids in groups]  # elements per group
        self.candidates = sum(self.sizes)  # the elements weighed: the tests behind the bound
        self.done: dict[tuple, tuple[float, np.ndarray]] = {}
        self.members: dict[tuple[int, int], np.ndarray] = {}

    def __call__(self, chosen) -> tuple[float, np.ndarray]:
        """Error of the model where each element in order takes the leaves not taken yet and
        scales them by its fitted factor; the owner of each leaf (-1: none). Callers only
        read the owner array (it is shared by every call with the same set)."""
        key = tuple(chosen)
        if key not in self.done:
            self.done[key] = self._fit(key)
        return self.done[key]

    def _fit(self, chosen) -> tuple[float, np.ndarray]:
        expected = self.expected
        owner = np.full(len(expected), -1)
        pred = expected.copy()
        for i, element in enumerate(chosen):
            members = (owner == -1) & self._leaves_of(element)
            c = self.wee[members].sum()
            if c > 0:
                pred[members] = self.wae[members].sum() / c * expected[members]
            owner[members] = i
        return float((self.weight * (self.actual - pred) ** 2).sum()), owner

    def factor(self, members) -> float:
        """Least-squares factor of `actual ≈ factor · expected` over the member leaves."""
        return float(self.wae[members].sum() / max(self.wee[members].sum(), 1e-300))

    def uniform_error(self) -> float:
        """Error when every leaf changes by one common fitted factor."""
        return self.common_error(slice(None))

    def common_error(self, members) -> float:
        """Error when the member leaves change by one common fitted factor, the others not."""
        pred = self.expected.copy()
        pred[members] = self.factor(members) * self.expected[members]
        return float((self.weight * (self.actual - pred) ** 2).sum())

    def _leaves_of(self, element) -> np.ndarray:
        """Which leaves an element (group, element id) holds, computed once per element."""
        if element not in self.members:
            g, e = element
            self.members[element] = self.groups[g][1] == e
        return self.members[element]


def _prune(chosen, fit, threshold):
    """Drop elements that, once the others are in, no longer remove more than noise would."""
    chosen = list(chosen)
    changed = True
    while changed and len(chosen) > 1:
        changed = False
        full = fit(chosen)[0]
        losses = [fit(chosen[:i] + chosen[i + 1 :])[0] - full for i in range(len(chosen))]
        i = int(np.argmin(losses))
        if losses[i] <= threshold:
            del chosen[i]
            changed = True
    return chosen


def _segment(combo, codes, ids, element, dims, names) -> dict[str, str]:
    row = int(np.flatnonzero(ids == element)[0])
    return {dims[j]: names[j][codes[row, j]] for j in combo}
