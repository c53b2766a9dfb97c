"""Compiled kernels (numba) for the detector's per-window and per-boundary loops.

Each kernel does, element by element and in the same order, the float operations of the
numpy or C code it replaces, so its results are the same to the last bit (numba without
fastmath does no reassociation or fused multiply-add; tests/test_detect_kernels.py
compares them); the calendar's `trimmed_fit` and `trimmed_cost` only to float rounding
(their sums run in another order), and the episode scan's `count_z` (libm's logarithm,
not numpy's). Imported only on the detector's path (`why`, `query`
and `digest` never load numba); compiled at import from explicit signatures, or loaded from numba's on-disk
cache: in `__pycache__` next to this file, in numba's user-wide cache dir
(`$XDG_CACHE_HOME/numba`, else `~/.cache/numba`) when that is not writable (a read-only
site-packages); `NUMBA_CACHE_DIR` overrides both; else not cached. A scan imports this
module before it forks, so its workers share the compiled code. A fresh install's compile
is ~35 s of CPU (benchmarks/kernels_compile.py measures it kernel by kernel):
hence no numpy function with heavy generic overloads (np.partition) and no compiled
wrapper that only calls another kernel (numba compiles the callee's code into it again).
"""
from __future__ import annotations

import math
import re

import numpy as np
from numba import njit, types


def _compiled(signatures, *, other_types_when_called: bool = False):
    """Compile at import for `signatures` (one or a list), cached on disk; compiled afresh
    each time when numba finds no writable cache dir (read-only install and home): slower
    to start, same results. error_model="numpy": a division by zero gives inf/NaN as numpy
    does. With `other_types_when_called`, arguments of other types (a strided array, say)
    compile (and cache) their own version at their first call, not at import; else they
    raise numba's TypeError."""
    def compile_(function):
        try:
            kernel = njit(cache=True, error_model="numpy")(function)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            kernel = njit(error_model="numpy")(function)
        for signature in [signatures] if isinstance(signatures, str) else signatures:
            kernel.compile(signature)
        if not other_types_when_called:
            kernel.disable_compile()
        return kernel
    return compile_


def _contiguous(signature: str):
    """Compile `signature` with every array C-contiguous at import: numba calls it for the
    detector's own arrays (all contiguous), whose indexing it then compiles without strides
    (the episode scan's kernels ~15-25% faster, issue-9s30). Any other layout compiles its
    own version at its first call: no caller of the detector's makes one, and compiling
    the general layout at import too took ~5 s of a fresh install's compile (issue-9cc)."""
    return _compiled(re.sub(r"\[((?::, )*):\]", r"[\1::1]", signature), other_types_when_called=True)


@_compiled("f8(f8)")
def _sign(x):
    """np.sign of one float (NaN for NaN)."""
    return 1.0 if x > 0 else -1.0 if x < 0 else 0.0 if x == 0 else x


_LARGEST = float(np.finfo(np.float64).max)  # np.nan_to_num's stand-in for inf


_AHEAD = 4  # steps whose cross-product sums `pelt_l2` runs side by side


@_compiled("void(f8[:], i8, i8, f8[:, ::1])")
def _cross_sums(signal, t, s_min, out):
    """For each of the `_AHEAD` steps t + k (x = signal[t + k - 1]), `pelt_l2`'s running sum
    c_r of signal[s] * x from s = t + k - 1 down to `s_min`, in out[k, s]: each sum added
    in the C code's order, but the steps' sums side by side (one chain of additions per
    step was the loop's whole time). Steps past the end get x = 0, never read."""
    n = signal.shape[0]
    c = np.zeros(_AHEAD)
    x = np.zeros(_AHEAD)
    for k in range(_AHEAD):
        if t + k - 1 < n:
            x[k] = signal[t + k - 1]
        for s in range(min(t + k - 1, n - 1), t - 1, -1):  # the days of the steps after t
            c[k] += 0.0 + signal[s] * x[k]
            out[k, s] = c[k]
    c0, c1, c2, c3 = c[0], c[1], c[2], c[3]
    x0, x1, x2, x3 = x[0], x[1], x[2], x[3]
    day = signal[s_min:t]  # slices: indices from 0, no negative-index check to vectorise around
    o0, o1, o2, o3 = out[0, s_min:t], out[1, s_min:t], out[2, s_min:t], out[3, s_min:t]
    for j in range(t - s_min - 1, -1, -1):
        v = day[j]
        c0 += 0.0 + v * x0
        c1 += 0.0 + v * x1
        c2 += 0.0 + v * x2
        c3 += 0.0 + v * x3
        o0[j], o1[j], o2[j], o3[j] = c0, c1, c2, c3


@_compiled("i8(f8[::1], f8, f8)")
def _first_below(costs, beta, bound):
    """The first j whose costs[j] + beta is the least and below `bound` (-1: none), as the
    C code's running `if (m_v[t] > cost)` finds it (NaN never taken; of equal costs, the
    first); the least found by four running minima side by side, then looked up."""
    m = costs.shape[0]
    m0 = m1 = m2 = m3 = bound
    j = 0
    while j + 4 <= m:
        a0, a1, a2, a3 = costs[j] + beta, costs[j + 1] + beta, costs[j + 2] + beta, costs[j + 3] + beta
        m0 = a0 if a0 < m0 else m0
        m1 = a1 if a1 < m1 else m1
        m2 = a2 if a2 < m2 else m2
        m3 = a3 if a3 < m3 else m3
        j += 4
    for i in range(j, m):
        a0 = costs[i] + beta
        m0 = a0 if a0 < m0 else m0
    m0 = m1 if m1 < m0 else m0
    m2 = m3 if m3 < m2 else m2
    m0 = m2 if m2 < m0 else m0
    if not m0 < bound:
        return -1
    for i in range(m):
        if costs[i] + beta == m0:
            return i
    return -1


@_compiled("i8[:](f8[:], f8, i8)")
def pelt_l2(signal, beta, min_size):
    """Penalised least-squares segmentation of a 1-d signal, exact: ruptures' KernelCPD
    with the linear kernel and `pen=beta` (its C `ekcpd_pelt_compute`, operation for
    operation). Returns the path: the start of the last segment ending at each t.

    Each float operation as the C code does it, in its order, so the same path; arranged
    for speed (issue-9s30, ~half the time): the running cross-product sums of `_AHEAD`
    steps at once (`_cross_sums`), a step's costs in one vectorised pass (t - s as a
    difference of floats, the same float), then their first minimum (`_first_below`)."""
    n = signal.shape[0]
    d, s_sum, m_v, m_pruning = np.zeros(n + 1), np.zeros(n + 1), np.zeros(n + 1), np.zeros(n + 1)
    path = np.zeros(n + 1, np.int64)
    at = np.arange(n + 1).astype(np.float64)
    cross = np.zeros((_AHEAD, n + 1))
    s_min = 0
    for t in range(1, n + 1):
        k = (t - 1) % _AHEAD
        if k == 0:
            _cross_sums(signal, t, s_min, cross)
        x = signal[t - 1]
        diag = 0.0 + x * x
        d[t] = d[t - 1] + diag
        sums, c_r = s_sum[s_min:t], cross[k, s_min:t]
        for j in range(t - s_min):
            sums[j] += 2 * c_r[j] - diag
        if t < 2 * min_size:  # no change point fits yet
            m_v[t] = d[t] - d[0] - s_sum[0] / t + beta
            continue
        s = s_min
        cost_sum = m_v[s] + (d[t] - d[s] - s_sum[s] / (t - s))
        m_pruning[s] = cost_sum
        m_v[t] = cost_sum + beta
        path[t] = s
        first, last = max(s_min + 1, min_size), t - min_size + 1
        if first < last:
            d_t, at_t = d[t], at[t]
            costs, m_s, d_s, sums, at_s = m_pruning[first:last], m_v[first:last], d[first:last], s_sum[first:last], at[first:last]
            for j in range(last - first):
                costs[j] = m_s[j] + (d_t - d_s[j] - sums[j] / (at_t - at_s[j]))
            j = _first_below(costs, beta, m_v[t])
            if j >= 0:
                m_v[t], path[t] = costs[j] + beta, first + j
        while m_pruning[s_min] >= m_v[t] and s_min < t - min_size + 1:
            s_min += min_size if s_min == 0 else 1
    return path


def kernel_cpd_l2(signal: np.ndarray, pen: float, min_size: int) -> list[int]:
    """Breakpoints (segment ends, the last = len(signal)) of
    `ruptures.KernelCPD(kernel="linear", min_size=min_size).fit(signal).predict(pen=pen)`,
    without its per-call overhead; raises ruptures' BadSegmentationParameters as it does
    when no change point can fit."""
    n = len(signal)
    if 2 * min_size > n:
        from ruptures.exceptions import BadSegmentationParameters

        raise BadSegmentationParameters
    assert pen > 0, f"The penalty must be positive: {pen}"
    path = pelt_l2(np.ascontiguousarray(signal, dtype=np.float64), float(pen), int(min_size))
    bkps, at = [], n
    while at > 0:
        bkps.append(at)
        at = int(path[at])
    return bkps[::-1]


@_compiled("f8(f8[::1], i8, i8)")
def _select(a, n, k):
    """The k-th smallest of a[:n] (no NaN among them), a[:n] reordered in place so that
    a[k] holds it and none after it is smaller: a quickselect with a median-of-three pivot,
    the order statistic np.partition gives. Written out because numba's np.partition
    brings its generic overloads (kth checks, np.unique, a sort), ~8 s of a fresh
    install's compile each time a kernel links it (issue-9cc)."""
    low, high = 0, n - 1
    while low < high:
        mid = (low + high) >> 1
        if a[mid] < a[low]:  # order a[low] <= a[mid] <= a[high]: a[mid] is the pivot
            a[low], a[mid] = a[mid], a[low]
        if a[high] < a[mid]:
            a[high], a[mid] = a[mid], a[high]
        if a[mid] < a[low]:
            a[low], a[mid] = a[mid], a[low]
        pivot = a[mid]
        a[high], a[mid] = a[mid], a[high]  # parked at the end while the rest is split
        i, j = low, high - 1
        while True:
            while i < high and a[i] < pivot:
                i += 1
            while j >= low and pivot < a[j]:
                j -= 1
            if i >= j:
                break
            a[i], a[j] = a[j], a[i]
            i += 1
            j -= 1
        a[i], a[high] = a[high], a[i]  # the pivot's final place: none before it larger, none after smaller
        if i == k:
            break
        if i < k:
            low = i + 1
        else:
            high = i - 1
    return a[k]


@_compiled("f8(f8[::1], i8, i8)")
def _smallest(a, start, stop):
    """The least of a[start:stop] (not empty, no NaN)."""
    least = a[start]
    for i in range(start + 1, stop):
        if a[i] < least:
            least = a[i]
    return least


@_compiled("UniTuple(f8, 2)(f8[:])")
def _middle(v):
    """The two middle order statistics of a non-empty 1-D array (the middle one twice for
    an odd count; NaN twice when it holds one)."""
    n = v.shape[0]
    for x in v:
        if math.isnan(x):
            return x, x
    k = (n - 1) // 2
    part = v.copy()
    low = _select(part, n, k)
    return (low, low) if n % 2 else (low, _smallest(part, k + 1, n))


@_compiled("f8(f8[:])")
def _median(v):
    """`robust.median` of a non-empty 1-D array (NaN when it holds one): the same order
    statistics, averaged the same way."""
    low, high = _middle(v)
    return low if v.shape[0] % 2 else (low + high) / 2


@_compiled("f8[:](f8[::1], f8[:, ::1], f8[::1])")
def _residuals(y, design, coef):
    """y - design @ coef, day by day."""
    n, p = design.shape
    resid = np.empty(n)
    for i in range(n):
        fitted = 0.0
        for a in range(p):
            fitted += design[i, a] * coef[a]
        resid[i] = y[i] - fitted
    return resid


# a guessed bracket's half-width, as a fraction of the guessed MAD (25 of 6,952 guesses
# missed in 2,018 fits of 200 scan candidates)
_WITHIN = 0.1


@_compiled("UniTuple(f8, 2)(f8[:], f8, f8)")
def _middle_within(v, lo, hi):
    """`_middle` of v, the same order statistics, when the guess [lo, hi] holds them: one
    pass counts the values below lo and gathers those within, and only those are
    partitioned, not all the days (the trimmed fit's guesses: ~20% less CPU a fit). A guess
    that misses them, or is NaN, falls back to `_middle`. Ties of +0.0 and -0.0 may give
    the other zero, which no caller can tell apart (they subtract it and take abs)."""
    n = v.shape[0]
    if not lo <= hi:
        return _middle(v)
    k = (n - 1) // 2
    top = k if n % 2 else k + 1  # the highest rank needed
    band = np.empty(n)
    below = within = above = 0
    for x in v:  # without branches: the comparisons' outcomes are hard to predict
        band[within] = x
        within += (x >= lo) & (x <= hi)
        below += x < lo
        above += x > hi
    if below + within + above != n:  # a NaN, counted nowhere
        return math.nan, math.nan
    if not below <= k or not top < below + within:
        return _middle(v)
    j = k - below
    low = _select(band, within, j)
    return (low, low) if n % 2 else (low, _smallest(band, j + 1, within))


@_compiled("f8(f8[:], f8, f8)")
def _median_within(v, lo, hi):
    """`_median` of v, from `_middle_within`."""
    low, high = _middle_within(v, lo, hi)
    return low if v.shape[0] % 2 else (low + high) / 2


@_compiled("Tuple((f8[:], b1, f8, f8))(f8[::1], f8[:, ::1], b1[::1], f8[::1])")
def _trimmed_fit_and_scale(y, design, ok, guess):
    """`trimmed_fit`, also returning the median and MAD of the `ok` days' residuals in its
    last trimming round (NaN without one): a guess for the cost's medians. From the
    second round on, the residuals' median and MAD are looked for near the round
    before's (`_middle_within`): the fit moved a little, the order statistics with it;
    in the first round near `guess` (median, MAD; NaN: none), which it then holds this
    fit's first-round ones: a fit of similar columns' guess."""
    n, p = design.shape
    use = ok.copy()
    coef = np.zeros(p)
    center, mad = guess[0], guess[1]
    for round_ in range(3):
        if np.sum(use) <= 2 * p:
            return coef, False, math.nan, math.nan
        x = design[use]
        coef = np.linalg.pinv(x.T @ x) @ (x.T @ y[use])
        if round_ == 2:  # the last fit: the days it would trim are not refitted
            break
        resid = _residuals(y, design, coef)
        kept = resid[ok]
        near = _WITHIN * mad
        center = _median_within(kept, center - near, center + near)
        mad = _median_within(np.abs(kept - center), mad * (1 - _WITHIN), mad * (1 + _WITHIN))
        spread = 1.4826 * mad  # robust.MAD_TO_SD
        if 1e-9 > spread:  # as max(spread, 1e-9), NaN kept
            spread = 1e-9
        bar = 3.5 * spread
        same = True
        for i in range(n):
            now = ok[i] and abs(resid[i] - center) <= bar
            same = same and now == use[i]
            use[i] = now
        if round_ == 0:
            guess[0], guess[1] = center, mad
        if same:
            break
    return coef, True, center, mad


def trimmed_fit(y: np.ndarray, design: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, bool]:
    """`calendar._robust_fit`'s loop: least squares of y on all columns of `design` over
    the `ok` days, refitted up to three times without the days beyond 3.5 robust sds of
    the residuals (a fit on the same days again stops it). Returns the coefficients and
    whether a fit was made (False: too few days for the columns).

    Unlike the kernels above, not the same to the last bit: numba's products and `pinv`
    call BLAS and LAPACK as numpy does, but not the same routines in the same order (the
    normal matrix by a general product, not numpy's symmetric one), which moves the
    coefficients by ~1e-15 relative (the detector's Change lists of scan candidates
    compared equal to 9 significant digits, benchmarks/README.md). `pinv` of the normal
    matrix keeps an empty column's coefficient at ~0 as before (the minimum-norm answer)."""
    coef, fitted, _, _ = _trimmed_fit_and_scale(y, design, ok, np.full(2, math.nan))
    return coef, fitted  # a compiled wrapper would compile the fit a second time (issue-9cc)


@_compiled("f8(f8[::1], b1[::1], f8, f8)")
def _trimmed_cost_near(resid, ok, center_guess, mad_guess):
    """`trimmed_cost`, its two partitions looked for near a guessed median and MAD of the
    `ok` residuals (`_middle_within`; NaN guesses: none)."""
    kept = resid[ok]
    near = _WITHIN * mad_guess
    low, high = _middle_within(kept, center_guess - near, center_guess + near)
    odd = kept.shape[0] % 2
    median = low if odd else (low + high) / 2
    r = kept - median
    if math.isfinite(median):  # x - median keeps the days' order: r's middle order statistics
        center = low - median if odd else ((low - median) + (high - median)) / 2  # without a partition
    else:  # NaN or infinite: r's NaNs decide
        center = _median(r)
    spread = _median_within(np.abs(r - center), mad_guess * (1 - _WITHIN), mad_guess * (1 + _WITHIN))
    cap = (3.5 * (1.4826 * spread)) ** 2  # robust.MAD_TO_SD
    total = 0.0
    for x in r:
        square = x * x
        total += math.nan if math.isnan(cap) else min(square, cap)  # np.minimum keeps NaN
    return total


def trimmed_cost(resid: np.ndarray, ok: np.ndarray) -> float:
    """`calendar._trimmed_cost`: the sum of the squared residuals of the `ok` days (at
    least one) about their median, each capped at 3.5 robust sds. Summed day by day
    where np.sum adds pairwise: the same to float rounding. The residuals' median about
    their median comes from the same two order statistics (issue-9s24: one partition of
    three saved; the step elimination asks for ~10 costs a series)."""
    return _trimmed_cost_near(resid, ok, math.nan, math.nan)  # not compiled: see `trimmed_fit`


@_contiguous(
    "Tuple((i8[:, :], i8[:, :], i8[:, :], b1[:, :], f8[:, :], f8[:, :]))"
    "(i8, i8[:], i8[:], i8[:], b1[:], f8[:], i8[:], i8[:], i8[:], f8[:], f8[:], f8[:], f8[:])"
)
def window_geometry(n, widths, starts, flank, short, ramp, segment, seg_lo, seg_hi, wy_body, w_body, wy_tail, w_tail):
    """`episodes._Scan._geometry` of every window (widths x starts): its end, flank
    bounds (within its wall segment), validity (inside the series, spanning no wall) and
    weighted mean and variance (the tail weights for short widths, else the body's)."""
    rows, cols = widths.shape[0], starts.shape[0]
    end, lo_b, hi_a = np.empty((rows, cols), np.int64), np.empty((rows, cols), np.int64), np.empty((rows, cols), np.int64)
    valid = np.empty((rows, cols), np.bool_)
    m_w, v_w = np.empty((rows, cols)), np.empty((rows, cols))
    for r in range(rows):
        w, f = widths[r], flank[r]
        wy, wt = (wy_tail, w_tail) if short[r] else (wy_body, w_body)
        for c in range(cols):
            t = starts[c]
            e = min(t + w, n)
            seg = segment[t]
            end[r, c] = e
            lo_b[r, c] = max(t - f, seg_lo[seg])
            hi_a[r, c] = min(e + f, seg_hi[seg])
            valid[r, c] = t + w <= n and segment[max(e - 1, 0)] == seg
            weight = wt[e] - wt[t]
            m_w[r, c] = (wy[e] - wy[t]) / weight
            v_w[r, c] = ramp[r] / weight
    return end, lo_b, hi_a, valid, m_w, v_w


@_contiguous("b1[:, :](i8[:], i8[:, :], i8[:, :], i8[:, :], b1[:, :], f8[:], f8[:], f8[:], f8, f8, f8)")
def few_event_windows(starts, end, lo_b, hi_a, where, factor, kx, kfactor, lowest_rate, few_events, few_a_day):
    """Which `where` windows expect few events (`episodes._count_z`: < `few_events` at
    their flanks' rate, or a flank rate < `few_a_day`; widths x starts; `factor`, `kx`,
    `kfactor` cumulative weekday factors, baseline events and baseline factors). A width
    whose every `where` window expects `few_events` or more at `lowest_rate` (no flank's
    rate is lower) is skipped without reading its flanks."""
    rows, cols = end.shape
    few = np.zeros((rows, cols), np.bool_)
    for r in range(rows):
        least = math.inf  # np.min of the `where` windows' exposure (NaN kept)
        for c in range(cols):
            if where[r, c]:
                x = factor[end[r, c]] - factor[starts[c]]
                if math.isnan(x) or x < least:
                    least = x
                if math.isnan(x):
                    break
        # 0 x inf (a width without `where` windows): NaN, skipped
        if not (lowest_rate * least < few_events * (1 + 1e-9) or lowest_rate < few_a_day):
            continue
        for c in range(cols):
            if not where[r, c]:
                continue
            t, e, lo, hi = starts[c], end[r, c], lo_b[r, c], hi_a[r, c]
            rate = (kx[t] - kx[lo] + kx[hi] - kx[e]) / (kfactor[t] - kfactor[lo] + kfactor[hi] - kfactor[e])
            few[r, c] = rate * (factor[e] - factor[t]) < few_events or rate < few_a_day  # NaN (no flank): not few
    return few


@_compiled("f8(f8[::1])")
def _nan_max(values):
    """np.max of a non-empty array (NaN if any is NaN)."""
    best = values[0]
    for v in values:
        if v != v:
            return v
        if v > best:
            best = v
    return best


@_compiled("f4(f4[::1])")
def _largest_nonnegative(values):
    """np.max of a non-empty array of non-negative floats (NaN if any is NaN; its sign bit
    clear, as `abs` leaves it), compared as their int32 bits: those order non-negative
    floats as their values and put such a NaN above +inf. An integer max the compiler
    vectorises (2,048 x 730 rows: 0.9 -> 0.2 ms); the float max with its NaN check it does not."""
    bits = values.view(np.int32)
    best = bits[0]
    for i in range(1, bits.shape[0]):
        best = max(best, bits[i])
    return np.int32(best).view(np.float32)


@_compiled("f4[:](f4[:, ::1], i8, i8, i8, i8, f4, f4, b1[:])")
def pooled_contrast_max(cs, first, last, width, flank, inside_weight, around_weight, skip):
    """The pre-screen's interior episode bound (`prescreen_windows._episode_keep`): per row, the
    largest |(cs[t + width] - cs[t]) * inside_weight - (cs[t + width + flank] -
    cs[t - flank]) * around_weight| over the cumulative-sum columns t in [first, last),
    in single precision as the numpy expression, without its temporaries; 0 for the rows
    to `skip` (already kept)."""
    rows, cols = cs.shape[0], last - first
    out = np.zeros(rows, np.float32)
    values = np.empty(cols, np.float32)
    for r in range(rows):
        if skip[r]:
            continue
        # slices, not indexes computed in the loop (numba would check each for a negative
        # one): the loop has no branch and the compiler vectorises it
        end, start = cs[r, first + width : last + width], cs[r, first:last]
        after, before = cs[r, first + width + flank : last + width + flank], cs[r, first - flank : last - flank]
        for i in range(cols):
            values[i] = abs((end[i] - start[i]) * inside_weight - (after[i] - before[i]) * around_weight)
        out[r] = _largest_nonnegative(values)
    return out


@_compiled("f8[:](f4[:, ::1], i8, i8, i8, i8, i8, f8[:], f8[:])")
def pooled_bound_max(cs, first, last, width, flank, n, ramp, long_run):
    """The pre-screen's pooled bound of windows near the ends (`prescreen_windows._window_bound`):
    per row, the largest |window mean - mean of both flanks (clipped at the ends)| over
    its standard error, for the window starts t in [first, last) (`cs`: `_padded_cumsum`
    rows, start t at column `_PAD` + t); single precision up to the standard error, as
    the numpy expression."""
    pad = (cs.shape[1] - 1 - n) // 2
    rows, cols = cs.shape[0], last - first
    out = np.empty(rows)
    w32 = np.float32(width)
    days = np.empty(cols, np.float32)
    for t in range(first, last):
        days[t - first] = np.float32(t - max(t - flank, 0)) + np.float32(min(t + width + flank, n) - t - width)
    values = np.empty(cols)
    for r in range(rows):
        a, b = ramp[r] / width, long_run[r]
        # slices, as in `pooled_contrast_max`
        c = pad + first
        start, end = cs[r, c : c + cols], cs[r, c + width : c + width + cols]
        before, after = cs[r, c - flank : c - flank + cols], cs[r, c + width + flank : c + width + flank + cols]
        for i in range(cols):
            around = (start[i] - before[i]) + (after[i] - end[i])
            pooled = abs((end[i] - start[i]) / w32 - around / days[i])
            values[i] = pooled / math.sqrt(a + b / days[i])
        out[r] = _nan_max(values)
    return out


@_compiled("f4[:, ::1](f4[:, :], i8)")
def centered_mean(v, width):
    """The pre-screen's per-row centred moving mean (`prescreen_rows._row_centered_mean`): each
    full window's sum as a difference of the row's running sums (accumulated in single
    precision, day by day, as numpy's cumsum), over `width`; the days within width // 2
    of an end repeat their nearest full window. The running sums of 8 rows advance
    together: one row's sum is a chain of dependent additions, 8 chains overlap
    (2,048 x 730 rows: 3.0 -> 2.5 ms)."""
    rows, n = v.shape
    half, full = width // 2, n + 1 - width
    w32 = np.float32(width)
    out = np.empty((rows, n), np.float32)
    group = 8
    sums = np.empty((n + 1, group), np.float32)  # day-major: the group's sums of one day side by side
    for first in range(0, rows, group):
        size = min(group, rows - first)
        for k in range(size):
            sums[0, k] = 0
            sums[1, k] = v[first + k, 0]
        for i in range(n):
            if i:
                for k in range(size):
                    sums[i + 1, k] = sums[i, k] + v[first + k, i]
            if i + 1 >= width:  # the window ending on day i is complete
                for k in range(size):
                    out[first + k, half + i + 1 - width] = (sums[i + 1, k] - sums[i + 1 - width, k]) / w32
        for k in range(size):
            r = first + k
            for i in range(half):
                out[r, i] = out[r, half]
            for i in range(half + full, n):
                out[r, i] = out[r, half + full - 1]
    return out


# --- The episode scan's window scores: flank days, then z and rule in one pass that
# skips the windows clearly below the bar (issue-9s17)


@_contiguous("Tuple((b1[:, :], b1[:, :]))(f8[:], i8[:], i8[:, :], i8[:, :], i8[:, :])")
def flank_days(k, starts, end, lo_b, hi_a):
    """Whether each window's flank before and after holds at least 7 baseline days
    (`k`: cumulative baseline days; widths x starts)."""
    rows, cols = end.shape
    has_b, has_a = np.empty((rows, cols), np.bool_), np.empty((rows, cols), np.bool_)
    for r in range(rows):
        for c in range(cols):
            t, e = starts[c], end[r, c]
            has_b[r, c] = k[t] - k[lo_b[r, c]] >= 7
            has_a[r, c] = k[hi_a[r, c]] - k[e] >= 7
    return has_b, has_a


@_compiled("b1(f8, f8, f8, f8, f8, f8)")
def _clearly_below(m, kw_f, sum_f, v, long_run, bar2):
    """Whether a window of mean `m` and variance `v` is below the bar against a flank of
    weight `kw_f` and weighted sum `sum_f` by more than float rounding can move its z,
    tested without a division or square root: z^2 = (m kw - sum)^2 / ((v kw + long_run) kw)
    for kw > 0, against `bar2` (the bar squared, less 0.2%, far more than the rounding of
    either form while the terms' size over the bar's is below 1e10). Degenerate flanks
    (no weight, NaN, infinities) are never clearly below."""
    d = m * kw_f - sum_f
    bar = bar2 * (v * kw_f + long_run) * kw_f
    size = abs(m * kw_f) + abs(sum_f)  # what the rounding of d scales with
    return d * d < bar and size * size * 1e-20 < bar


@_compiled("Tuple((f8, f8, b1))(f8, f8, f8, b1, b1, b1, f8)")
def _rule_at(z_b, z_a, z_ba, has_b, has_a, one_sided, floor):
    """Score (nan_to_num), direction sign and whether the flank after is the baseline, of
    one window from its z against the flank before, after and both. Below `floor` (when
    > 0) on all three: 0, 0, False."""
    ab, aa, aba = abs(z_b), abs(z_a), abs(z_ba)
    if floor > 0 and not (ab >= floor or aa >= floor or aba >= floor):
        return 0.0, 0.0, False
    both = has_b and has_a and _sign(z_b) == _sign(z_a)
    weaker = math.nan if math.isnan(ab) or math.isnan(aa) else min(ab, aa)  # as np.minimum
    # both flanks pooled give the power; each flank alone must still show half of it
    s = (aba if weaker >= 0.5 * aba else weaker) if both else 0.0
    after = both and aa < ab  # the flank closer to the window is the baseline reported
    if one_sided and has_b and not has_a:
        s = ab
    elif one_sided and has_a and not has_b:
        s, after = aa, True
    if not math.isfinite(s):  # as np.nan_to_num
        s = 0.0 if math.isnan(s) else _LARGEST if s > 0 else -_LARGEST
    return s, _sign(z_a if after else z_b), after


@_contiguous(
    "Tuple((f8[:, :], f8[:, :], b1[:, :]))"
    "(f8[:], f8[:], i8[:], i8[:, :], i8[:, :], i8[:, :], f8[:, :], f8[:, :], f8, b1[:, :], b1[:, :],"
    " b1[:, :], b1[:, :], f8[:, :, :], b1[:, :], i8[:], i8, f8)"
)
def window_scores(kw, kwy, starts, end, lo_b, hi_a, m_w, v_w, long_run, has_b, has_a, counted, strong, counted_z,
                  valid, widths, min_segment_days, floor):
    """Score, direction sign and whether the flank after is the baseline, of every window
    (`episodes._window_scores`; widths x starts): its z against the flank before, after
    and both pooled (`kw`, `kwy`: cumulative baseline weights and weighted values; `m_w`,
    `v_w`: the window's weighted mean and variance), then the scoring rule (`_rule_at`:
    both flanks the same way, the weaker at least half the pooled z, one-sided short
    windows where a flank lacks days, `valid`). `counted` windows take their pooled z
    from `counted_z[2]` and, where `strong`, their z before and after from
    `counted_z[0]`, `counted_z[1]` (their count likelihood). With `floor` > 0 a window
    whose three z are clearly below it (`_clearly_below`) scores 0 without its z: most
    of the grid, whose square roots and divisions were the cost of the scan."""
    rows, cols = end.shape
    score, sign = np.zeros((rows, cols)), np.zeros((rows, cols))
    use_a = np.zeros((rows, cols), np.bool_)
    bar2 = 0.998 * floor * floor
    for r in range(rows):
        one_sided = widths[r] < min_segment_days
        for c in range(cols):
            t, e, lo, hi = starts[c], end[r, c], lo_b[r, c], hi_a[r, c]
            kw_b, kw_a = kw[t] - kw[lo], kw[hi] - kw[e]
            sum_b, sum_a = kwy[t] - kwy[lo], kwy[hi] - kwy[e]
            m, v = m_w[r, c], v_w[r, c]
            if (floor > 0 and not counted[r, c] and _clearly_below(m, kw_b, sum_b, v, long_run, bar2)
                    and _clearly_below(m, kw_a, sum_a, v, long_run, bar2)
                    and _clearly_below(m, kw_b + kw_a, sum_b + sum_a, v, long_run, bar2)):
                continue
            z_b = (m - sum_b / kw_b) / math.sqrt(v + long_run / kw_b)
            z_a = (m - sum_a / kw_a) / math.sqrt(v + long_run / kw_a)
            z_ba = (m - (sum_b + sum_a) / (kw_b + kw_a)) / math.sqrt(v + long_run / (kw_b + kw_a))
            if counted[r, c]:
                z_ba = counted_z[2, r, c]
                if strong[r, c]:
                    z_b, z_a = counted_z[0, r, c], counted_z[1, r, c]
            s, sg, after = _rule_at(z_b, z_a, z_ba, has_b[r, c], has_a[r, c], one_sided, floor)
            score[r, c] = s if valid[r, c] else 0.0
            sign[r, c] = sg
            use_a[r, c] = after
    return score, sign, use_a


@_contiguous("Tuple((f8[:, :], f8))(f8[:, :], b1[:])")
def baseline_sums(terms, excluded):
    """`episodes._Scan.exclude`: the cumulative sums (a leading 0) of each row of `terms`
    over the days not `excluded` (each term times 1.0 or 0.0, as numpy multiplies by the
    mask, then summed in order as np.cumsum sums), and the lowest daily rate of events
    (row 5) over exposure (row 6) among those days (np.min, NaN kept): 0 unless some day
    has exposure > 0 and every day has events >= 0 over an exposure > 0, or none over none."""
    rows, n = terms.shape
    sums = np.zeros((rows, n + 1))
    for r in range(rows):
        for i in range(n):
            term = terms[r, i] * (0.0 if excluded[i] else 1.0)
            sums[r, i + 1] = term if i == 0 else sums[r, i] + term
    lowest, live, bounded = math.inf, False, True
    for i in range(n):
        if excluded[i]:
            continue
        events, exposure = terms[5, i], terms[6, i]
        if exposure > 0:
            live = True
            rate = events / exposure
            if math.isnan(rate) or rate < lowest:  # a NaN stays, as np.min keeps it
                lowest = rate
        if not (events >= 0 and (exposure > 0 or (exposure == 0 and events == 0))):
            bounded = False
    return sums, (lowest if live and bounded else 0.0)


@_compiled("f8(f8, f8)")
def _xlogx_over(x, e):
    """`episodes._xlogx_over` of one pair: x log(x / e), 0 where x is not > 0."""
    return x * math.log(max(x, 1e-12) / e) if x > 0 else 0.0


@_compiled("f8(f8, f8, f8, f8, f8, f8, f8)")
def _two_rates_z_at(o, f_w, w, fx, ff, days, shape):
    """`episodes._two_rates_z` of one window, operation for operation; its logarithm is
    numba's (libm's), which differs from numpy's vectorised one in the last bit of ~1 in
    1,000 values: the same to float rounding, not to the bit."""
    rate = (o + fx) / (f_w + ff)
    e_w, e_f = rate * f_w, rate * ff
    ratio = 2.0 * (_xlogx_over(o, e_w) + _xlogx_over(fx, e_f))
    var_poisson = 1.0 / e_w + 1.0 / e_f
    var_nb = (1.0 + e_w / (shape * w)) / e_w + (1.0 + e_f / (shape * days)) / e_f
    ratio = ratio if math.isnan(ratio) or ratio > 0.0 else 0.0  # as np.maximum(ratio, 0.0)
    z = _sign(o / f_w - fx / ff) * math.sqrt(ratio * var_poisson / var_nb)
    return z if math.isfinite(z) and e_w > 0 and fx > 0 else 0.0


@_contiguous(
    "Tuple((b1[:, :], f8[:, :, :]))"
    "(b1[:, :], i8[:], i8[:, :], i8[:, :], i8[:, :], i8[:], b1[:], f8[:], f8[:], f8[:], f8[:], f8[:], f8, f8, f8, f8, f8)"
)
def count_z(few, starts, end, lo_b, hi_a, widths, short, x, factor, k, kx, kfactor, excess, excess_tail, excess_long,
            shape, floor):
    """The signed z of the two-sample count likelihood ratio (`_two_rates_z_at`) of the
    `few` windows (widths x starts) against both flanks pooled, and where that reaches
    `floor` against each flank alone (`episodes._count_z`). Each window's events (`x`:
    cumulative events) over its weekday exposure (`factor`) against its flanks' baseline
    events and exposure (`kx`, `kfactor`; `k`: baseline days), divided by the noise
    beyond the count model (`excess_tail` for short widths, else `excess`, ramped to
    `excess_long` at a week). Returns which windows were judged flank by flank
    (`strong`) and the z (before, after, pooled: written only where few, and before and
    after where strong)."""
    rows, cols = few.shape
    strong = np.zeros((rows, cols), np.bool_)
    z = np.empty((3, rows, cols))
    for r in range(rows):
        w = widths[r]
        day_excess = excess_tail if short[r] else excess
        # from the day's excess for one day to the long-run excess at a week, as `ramp` grows
        beyond = math.sqrt(day_excess + (excess_long - day_excess) * min(w - 1, 6) / 6)
        for c in range(cols):
            if not few[r, c]:
                continue
            t, e, lo, hi = starts[c], end[r, c], lo_b[r, c], hi_a[r, c]
            o, f_w = x[e] - x[t], factor[e] - factor[t]
            # each flank's sums added to 0 first, as Python's sum over the flanks adds them
            x_b, f_b, k_b = 0.0 + (kx[t] - kx[lo]), 0.0 + (kfactor[t] - kfactor[lo]), 0.0 + (k[t] - k[lo])
            x_a, f_a, k_a = 0.0 + (kx[hi] - kx[e]), 0.0 + (kfactor[hi] - kfactor[e]), 0.0 + (k[hi] - k[e])
            pooled = _two_rates_z_at(o, f_w, w, x_b + (kx[hi] - kx[e]), f_b + (kfactor[hi] - kfactor[e]),
                                     k_b + (k[hi] - k[e]), shape) / beyond
            z[2, r, c] = pooled
            if abs(pooled) >= floor:
                strong[r, c] = True
                z[0, r, c] = _two_rates_z_at(o, f_w, w, x_b, f_b, k_b, shape) / beyond
                z[1, r, c] = _two_rates_z_at(o, f_w, w, x_a, f_a, k_a, shape) / beyond
    return strong, z


# --- The pre-screen's count likelihood, its window sums and its row sums (issue-9s21).
# Single precision throughout, rounded after every operation as numpy's float32
# expressions; the logarithms stay numpy's (taken on the arguments these kernels write).

_F32_TINY = np.float32(1e-12)  # `episodes._xlogx_over`'s floor, as numpy casts it for float32 rows


@_compiled("void(f4[:, ::1], f4[:, ::1], i8, i8, i8, i8, f4[:, :, ::1])")
def pooled_count_log_args(events, exposure, pad, width, flank, n, out):
    """The arguments of the two logarithms of `episodes._two_rates_z` (x / e of both
    `_xlogx_over` terms, x floored at 1e-12) for every `width`-day window of the rows
    against both its flanks pooled (`prescreen_windows._count_best`); out[0]: the window's, out[1]:
    the flanks'. `events`, `exposure`: `prescreen_rows._padded_cumsum` rows (`pad` columns each
    side), window start t at column pad + t."""
    rows, starts = events.shape[0], out.shape[2]
    for r in range(rows):
        for t in range(starts):
            c = pad + t
            o, f_w = events[r, c + width] - events[r, c], exposure[r, c + width] - exposure[r, c]
            fx = (events[r, c] - events[r, c - flank]) + (events[r, c + width + flank] - events[r, c + width])
            ff = (exposure[r, c] - exposure[r, c - flank]) + (exposure[r, c + width + flank] - exposure[r, c + width])
            rate = (o + fx) / (f_w + ff)
            out[0, r, t] = max(o, _F32_TINY) if o == o else o
            out[0, r, t] /= rate * f_w
            out[1, r, t] = max(fx, _F32_TINY) if fx == fx else fx
            out[1, r, t] /= rate * ff


@_compiled("void(f4[:, ::1], f4[:, ::1], i8, i8, i8, i8, f4[:], f4[:, :, ::1], f4[:, ::1])")
def pooled_count_z(events, exposure, pad, width, flank, n, shape, logs, out):
    """`episodes._two_rates_z` of every `width`-day window of the rows against both its
    flanks pooled (clipped at the ends), as `prescreen_windows._count_best` calls it on float32
    rows, from the logarithms of `pooled_count_log_args`' arguments (`logs`), into `out`
    (rows x starts). `shape`: each row's gamma shape."""
    rows, starts = events.shape[0], out.shape[1]
    one, two, zero = np.float32(1.0), np.float32(2.0), np.float32(0.0)
    w = np.float32(width)
    for r in range(rows):
        k_w = shape[r] * w
        for t in range(starts):
            c = pad + t
            o, f_w = events[r, c + width] - events[r, c], exposure[r, c + width] - exposure[r, c]
            fx = (events[r, c] - events[r, c - flank]) + (events[r, c + width + flank] - events[r, c + width])
            ff = (exposure[r, c] - exposure[r, c - flank]) + (exposure[r, c + width + flank] - exposure[r, c + width])
            days = np.float32(t - max(t - flank, 0)) + np.float32(min(t + width + flank, n) - t - width)
            rate = (o + fx) / (f_w + ff)
            e_w, e_f = rate * f_w, rate * ff
            term_w = o * logs[0, r, t] if o > zero else zero
            term_f = fx * logs[1, r, t] if fx > zero else zero
            ratio = two * (term_w + term_f)
            var_poisson = one / e_w + one / e_f
            var_nb = (one + e_w / k_w) / e_w + (one + e_f / (shape[r] * days)) / e_f
            ratio = ratio if ratio != ratio or ratio > zero else zero  # as np.maximum(ratio, 0.0)
            d = o / f_w - fx / ff
            sign = one if d > zero else -one if d < zero else zero if d == zero else d  # np.sign
            z = sign * np.sqrt(ratio * var_poisson / var_nb)
            out[r, t] = z if np.isfinite(z) and e_w > zero and fx > zero else zero


@_compiled("f4[:, ::1](f4[:, :], i8[:], i8)")
def padded_row_cumsum(v, rows, pad):
    """`prescreen_rows._padded_cumsum(v[rows])` without the gathered copy: each row's running
    sums accumulated day by day in single precision (as numpy's cumsum), after `pad` + 1
    zeros and followed by `pad` repeats of the last sum."""
    n = v.shape[1]
    out = np.empty((rows.shape[0], n + 1 + 2 * pad), np.float32)
    for i in range(rows.shape[0]):
        r = rows[i]
        out[i, : pad + 1] = 0
        total = v[r, 0]
        out[i, pad + 1] = total
        for j in range(1, n):
            total += v[r, j]
            out[i, pad + 1 + j] = total
        out[i, pad + n + 1 :] = total
    return out


@_compiled(["f4[:, ::1](f4[:, :], i8[:], i8)", "f8[:, ::1](f8[:, :], i8[:], i8)"])
def rolling_median(v, rows, half):
    """`prescreen_noise._row_rolling_median` of the rows `rows` (every value finite): per day the
    median of the 2 * half + 1 days around it, edges reflected (half < days), from a
    window kept sorted as it slides (one value out, one in) instead of partitioning each
    window afresh: the same order statistic, so the same value."""
    n, width = v.shape[1], 2 * half + 1
    out = np.empty((rows.shape[0], n), v.dtype)
    padded = np.empty(n + 2 * half, v.dtype)
    window = np.empty(width, v.dtype)
    for i in range(rows.shape[0]):
        r = rows[i]
        for j in range(half):  # reflected edges, as numpy's concatenation of the reversed ends
            padded[j] = v[r, half - j]
            padded[half + n + j] = v[r, n - 2 - j]
        for j in range(n):
            padded[half + j] = v[r, j]
        for j in range(width):  # the first window, sorted by insertion
            value, k = padded[j], j
            while k > 0 and window[k - 1] > value:
                window[k] = window[k - 1]
                k -= 1
            window[k] = value
        out[i, 0] = window[half]
        for day in range(1, n):
            old, new = padded[day - 1], padded[day - 1 + width]
            k = 0
            while window[k] != old:  # (every value finite: it is there)
                k += 1
            while k + 1 < width and window[k + 1] < new:  # slide up while the next is smaller
                window[k] = window[k + 1]
                k += 1
            while k > 0 and window[k - 1] > new:  # or down while the previous is larger
                window[k] = window[k - 1]
                k -= 1
            window[k] = new
            out[i, day] = window[half]
    return out


@_compiled("f4[:, ::1](f4[:, :], i8)")
def step_differences(cs, width):
    """`prescreen_windows._step_stat`'s differences of adjacent `width`-day means at every boundary,
    (cs[t + 2 width] - 2 cs[t + width] + cs[t]) / width per row (`cs`: cumulative sums),
    in single precision as the numpy expression, in one pass."""
    rows, n = cs.shape[0], cs.shape[1] - 1
    starts = n - 2 * width + 1
    out = np.empty((rows, starts), np.float32)
    two, w = np.float32(2.0), np.float32(width)
    for r in range(rows):
        after, middle, before = cs[r, 2 * width : n + 1], cs[r, width : n - width + 1], cs[r, :starts]  # slices, as above
        for t in range(starts):
            out[r, t] = (after[t] - two * middle[t] + before[t]) / w
    return out


@_compiled("f4[:](f4[:, ::1], f4[:])")
def largest_deviation(v, centre):
    """Per row, the largest |v - centre| (NaN if any is NaN), as numpy's (v - centre[:, None]),
    abs and max, in one pass."""
    rows, cols = v.shape
    out = np.empty(rows, np.float32)
    for r in range(rows):
        best = abs(v[r, 0] - centre[r])
        for t in range(cols):
            size = abs(v[r, t] - centre[r])
            if size != size:
                best = size
                break
            if size > best:
                best = size
        out[r] = best
    return out


@_compiled("f4[:, ::1](f4[:, :], f4[:, :], i8)")
def neighbour_residuals(y, cs, half):
    """`prescreen_noise._neighbour_residuals`: each day's residual against the mean of the `half`
    days each side (fewer at the ends), y - (window sum - y) / neighbours, in single
    precision as the numpy expression, in one pass (`cs`: the rows' cumulative sums)."""
    rows, n = y.shape
    out = np.empty((rows, n), np.float32)
    neighbours = np.empty(n, np.float32)
    for i in range(n):
        neighbours[i] = np.float32(min(i + half + 1, n) - max(i - half, 0) - 1)
    for r in range(rows):
        for i in range(n):
            lo, hi = max(i - half, 0), min(i + half + 1, n)
            out[r, i] = y[r, i] - ((cs[r, hi] - cs[r, lo]) - y[r, i]) / neighbours[i]
    return out


# --- The calendar fit's sets of steps: design, trimmed fit and trimmed cost in one call (issue-9s20)


@_compiled("Tuple((f8[:], b1, f8))(f8[::1], f8[:, ::1], b1[::1], i8[:], f8[::1])")
def step_fit_cost(y, calendar, ok, bounds, guess):
    """`calendar._fit_with_steps`' fit of one set of steps: `trimmed_fit` of y on an
    intercept, the `calendar` columns and a step column (1.0 from day b on) for each of
    the sorted `bounds`, then `trimmed_cost` of y less the fit without its intercept.
    Returns the coefficients without the intercept, whether a fit was made and the
    cost (inf without one). `guess`: the median and MAD of a similar fit's first-round
    residuals (NaN: none), replaced by this fit's (`_trimmed_fit_and_scale`): the
    order statistics are then looked for near them, the same ones. The same arrays as
    the numpy code builds, and its product (`np.dot` calls the BLAS routine numpy's `@`
    calls), so the same numbers: the design and the residuals in Python took as long as
    the fit itself."""
    n, c = calendar.shape
    steps = bounds.shape[0]
    design = np.empty((n, 1 + c + steps))  # intercept, calendar, steps: the fit's design
    columns = np.empty((n, c + steps))  # without the intercept: the cost's
    for i in range(n):
        design[i, 0] = 1.0
        for a in range(c):
            design[i, 1 + a] = columns[i, a] = calendar[i, a]
        for j in range(steps):
            design[i, 1 + c + j] = columns[i, c + j] = 1.0 if i >= bounds[j] else 0.0
    coef, fitted, center, mad = _trimmed_fit_and_scale(y, design, ok, guess)
    full = coef[1:].copy()
    if not fitted:
        return full, False, math.inf
    # the cost's residuals are the fit's plus its intercept: their median and MAD are near
    return full, True, _trimmed_cost_near(y - np.dot(columns, full), ok, center + coef[0], mad)


@_compiled("Tuple((i8[:], f8[:], b1, f8))(f8[::1], f8[:, ::1], b1[::1], i8[::1], f8[::1], f8, f8)")
def steps_worth_their_price(y, calendar, ok, bounds, guess, cost, penalty):
    """`calendar._fit_with_steps`' backward elimination over `step_fit_cost`'s fits, in
    one call (issue-9cb): from the sorted `bounds`, whose fit costs `cost`, each
    round fits every set less one step, in the order of the steps, and drops the first
    step whose removal costs least while that is less than `penalty` (a fit that fails
    costs inf, as the Python fit's caught error did). Returns the steps kept and, when a
    step was dropped, their coefficients, whether they were fitted and their cost (else
    an empty array, False and `cost`: the caller fitted `bounds`). The same fits in the
    same order as the Python loop (`guess` too), so the same numbers: its per-fit Python
    (a set, a key, an array, a call) cost ~a fifth of the fits' time."""
    kept = bounds.copy()
    full, fitted = np.empty(0), False
    while kept.shape[0]:
        weakest, least = -1, math.inf
        least_full, least_fitted = np.empty(0), False
        for j in range(kept.shape[0]):
            rest = np.concatenate((kept[:j], kept[j + 1 :]))
            try:
                coef, made, trial = step_fit_cost(y, calendar, ok, rest, guess)
            except Exception:  # a least-squares step that did not converge
                coef, made, trial = np.empty(0), False, math.inf
            if j == 0 or trial < least:  # min() keeps the first of equal costs
                weakest, least, least_full, least_fitted = j, trial, coef, made
        if least - cost >= penalty:
            break
        kept = np.concatenate((kept[:weakest], kept[weakest + 1 :]))
        cost, full, fitted = least, least_full, least_fitted
    return kept, full, fitted, cost


# --- The segmentation's boundaries moved to their best day (issue-9s24)


@_compiled("i8[:](f8[:], i8[:], i8, i8)")
def refine_bounds(y, bounds, reach, size):
    """`shifts._refine`'s loop: each boundary moved (at most `reach` days) to the day with
    the largest l2 gain of the stretch between its neighbours (the previous one as
    moved), the first such day as np.argmax takes it (a NaN gain first of all), from
    cumulative sums added in order as np.cumsum does: the same days as the numpy code,
    without its ~10 array operations per boundary."""
    n = y.shape[0]
    cs = np.empty(n + 1)
    cs[0] = 0.0
    if n:
        cs[1] = y[0]
    for i in range(1, n):
        cs[i + 1] = cs[i] + y[i]
    out = np.empty(bounds.shape[0], np.int64)
    for i in range(bounds.shape[0]):
        b = bounds[i]
        lo = out[i - 1] if i else 0
        hi = bounds[i + 1] if i + 1 < bounds.shape[0] else n
        first, last = max(b - reach, lo + size), min(b + reach, hi - size)
        out[i] = b
        best = 0.0
        for day in range(first, last + 1):
            before, after = cs[day] - cs[lo], cs[hi] - cs[day]
            gain = before * before / (day - lo) + after * after / (hi - day)
            if day == first or gain > best or gain != gain:
                best, out[i] = gain, day
                if gain != gain:
                    break
    return out


# --- The noise model's long-run variance: the MADs of its block-mean differences (issue-9s25)

_READ_ONLY_F8, _READ_ONLY_B1 = (types.Array(t, 1, "C", readonly=True) for t in (types.float64, types.boolean))


@_compiled([types.Tuple((types.float64[::1], types.boolean[::1]))(_READ_ONLY_F8, _READ_ONLY_B1, types.int64[::1])])
def block_difference_mads(y, ok, blocks):
    """`noise._long_run_var`'s loop over block lengths: for each of `blocks`, the robust sd
    (robust.mad) of the differences of adjacent block means over the `ok` days, blocks
    starting every quarter block with at least half their days each, and whether it was
    measured (a series of 8 blocks or more, 24 differences or more). The cumulative sums
    added in order as np.cumsum does, each mean and difference as numpy forms it, the same
    order statistics: the same numbers, without ~15 array operations a block. Read-only
    arrays accepted (the remembered variance's are `np.frombuffer`'s)."""
    n = y.shape[0]
    cs = np.zeros(n + 1)
    ck = np.zeros(n + 1, np.int64)
    for i in range(n):
        term = y[i] if ok[i] else 0.0
        cs[i + 1] = cs[i] + term if i else term  # np.cumsum's first sum is its first term
        ck[i + 1] = ck[i] + ok[i]
    mads = np.full(blocks.shape[0], math.nan)
    measured = np.zeros(blocks.shape[0], np.bool_)
    diffs = np.empty(n)
    for b in range(blocks.shape[0]):
        block = blocks[b]
        if n < 8 * block:
            continue
        m = 0
        for t in range(0, n - 2 * block + 1, max(1, block // 4)):  # every quarter block
            n1, n2 = ck[t + block] - ck[t], ck[t + 2 * block] - ck[t + block]
            if n1 >= block / 2 and n2 >= block / 2:
                diffs[m] = (cs[t + 2 * block] - cs[t + block]) / n2 - (cs[t + block] - cs[t]) / n1
                m += 1
        if m >= 24:
            center = _median(diffs[:m])
            mads[b] = 1.4826 * _median(np.abs(diffs[:m] - center))  # robust.MAD_TO_SD
            measured[b] = True
    return mads, measured


# --- The noise model's day scales from its weekday MADs (issue-9cb)


@_compiled("f8(f8[::1], i8, f8)")
def _quantile(v, n, q):
    """`np.quantile(v[:n], q)`, its default linear method (no NaN among them; reordered in
    place): the same two order statistics, combined by the same arithmetic."""
    virtual = (n - 1) * q
    lo = int(math.floor(virtual))
    if lo >= n - 1:  # the largest
        return -_smallest(-v[:n], 0, n)
    a = _select(v, n, lo)
    b = _smallest(v, lo + 1, n)
    t = virtual - lo
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


@_compiled("i8(f8[::1], f8, f8)")
def _runs_beyond(v, bar, sign):
    """Runs of consecutive days with `sign * v` beyond `bar`."""
    runs, inside = 0, False
    for x in v:
        now = sign * x > bar
        if now and not inside:
            runs += 1
        inside = now
    return runs


@_compiled("f8(f8[::1], f8[::1])")
def quieter_tail(body, deviation):
    """The 95th percentile of |deviation| over the `body` days (within 5 MADs), taken on
    the quieter side alone when the runs of days beyond it (among all `deviation`s, the
    extreme days included) lean to one side more than chance allows (a sign test at 5%).

    Heavy-tailed noise spreads both ways; the events of a series mostly go one way
    (holidays and the days beside them down, game days up), and those below 5 MADs would
    otherwise set the threshold meant to find them (daily taxi demand: 9 runs of low days
    beyond it, 2 of high days). Runs of consecutive days are counted, not days:
    autocorrelated noise strays in runs, and counting each day would take one wander for
    a lean. For symmetric noise both sides have the same 95th percentile of |deviation|.
    The order statistics and arithmetic of numpy's linear quantile (the numpy code's
    numbers, issue-9cb)."""
    size = np.abs(body)
    q = _quantile(size.copy(), size.shape[0], 0.95)
    low, high = _runs_beyond(deviation, q, -1.0), _runs_beyond(deviation, q, 1.0)
    if abs(low - high) < 2.0 * math.sqrt(low + high):
        return q
    quieter = np.empty(size.shape[0])
    m = 0
    for i in range(body.shape[0]):
        if (body[i] > 0) if low > high else (body[i] < 0):
            quieter[m] = size[i]
            m += 1
    return _quantile(quieter, m, 0.95) if m >= 50 else q


@_compiled("UniTuple(f8[::1], 2)(f8[::1], i8[::1], b1[::1], f8[::1], f8[::1], f8, f8, f8[::1])")
def day_scales(resid, weekday, ok, floor_var, rel, center, pooled, day_mad):
    """`noise._scales_from`'s body and tail scales before any zero is replaced, in one call
    (its ~20 array operations and two quantiles were ~5% of a 730-day candidate): each
    operation day by day as numpy does it (np.maximum keeps a NaN; a square is x * x)."""
    pooled_tails = pooled
    if np.sum(ok) >= 100:
        deviation = resid[ok] - center
        body = deviation[np.abs(deviation) <= 5 * pooled]
        if body.shape[0] >= 100:
            tail = quieter_tail(body, deviation) / 1.96
            pooled_tails = tail if tail > pooled else pooled  # Python's max(pooled, tail)
    n = resid.shape[0]
    scales = (np.empty(n), np.empty(n))
    for which in range(2):
        out, floor = scales[which], (pooled, pooled_tails)[which]
        for i in range(n):
            day = day_mad[weekday[i]]
            day_sd = day if day >= floor or day != day else floor
            spread = (day_sd * rel[i]) * (day_sd * rel[i])
            out[i] = math.sqrt(spread if spread >= floor_var[i] or spread != spread else floor_var[i])
    return scales

