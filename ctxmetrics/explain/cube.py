"""The cube of one metric as linking reads it: its series with an index of the leaves, and
the change of any segment over an anomaly's window against its baseline (what the scope
rule and root-cause localization measure)."""
from __future__ import annotations

from itertools import product
from typing import TYPE_CHECKING, Any, Mapping

from ctxmetrics.models.anomaly import Anomaly

if TYPE_CHECKING:
    from ctxmetrics.models.series import SeriesSet

_BASELINE_WEEKS = 4
# Weeks of history behind each leaf's expected value and noise in root-cause localization:
# a median of 8 same weekdays and a spread of 56 days, √2 less uncertain than with 4 weeks,
# which is what lets a 20% change of one cell stand out.
_ROOT_CAUSE_WEEKS = 8
_MEASURE_DAYS = 28  # window measured for a persistent shift


def linking_cube(series_set: "SeriesSet") -> "_Cube":
    """What `explain_anomalies` reads of a metric's series whatever was found (its leaves
    encoded), to build beforehand and pass as `cubes`."""
    return _Cube(series_set)


class _Cube:
    """A SeriesSet with an index of child segments and before/after measurements."""

    def __init__(self, series_set: "SeriesSet"):
        import numpy as np  # scan-only: the read paths that import this module never build a cube

        from ctxmetrics.explain.rootcause import encode_leaves

        self.series_set = series_set
        depth = max((len(s) for s in series_set.segments), default=0)
        self.dims = list(next((s for s in series_set.segments if len(s) == depth), {}))
        self.leaf_rows = np.array([r for r, s in enumerate(series_set.segments) if depth and len(s) == depth], dtype=int)
        self.leaf_codes, self.leaf_names = encode_leaves([series_set.segments[r] for r in self.leaf_rows], self.dims)
        self._expectations: dict[tuple[int, int], tuple] = {}
        self._whole_causes: dict[tuple[int, int], tuple] = {}  # window -> `localize({}, window)`
        self._members: dict[tuple[int, int], Any] = {}  # (dim, value code) -> indexes of its leaves
        self._codes = [{name: code for code, name in enumerate(names)} for names in self.leaf_names]  # per dim: value -> code

    def window(self, anomaly: Anomaly) -> tuple[int, int] | None:
        """(first, last) day index the anomaly's change is measured over; None without a
        week of history before it or when it ends before it starts."""
        s = self.series_set.day_index(anomaly.start)
        last = self.series_set.days - 1
        e = last if anomaly.end is None else self.series_set.day_index(anomaly.end)
        if anomaly.end is None:
            e = min(e, s + _MEASURE_DAYS - 1)
        if s < 7 or s > last or e < s:  # no week of history, or no day to measure
            return None
        return s, min(e, last)

    def delta(self, rows: list[int], window: tuple[int, int]):
        """(excess, baseline) summed over the window, one entry per row.

        Counts: actual minus the mean of the same weekday in the four weeks before.
        Ratios: numerator minus denominator times the baseline rate (additive over
        segments). Gauges: like counts, on values with unknown days ignored.
        """
        import numpy as np

        s, e = window
        days = np.arange(s, e + 1)
        first = s - 7 * _BASELINE_WEEKS
        base_idx = first + ((days - first) % 7)[:, None] + 7 * np.arange(_BASELINE_WEEKS)[None, :]
        base_idx = np.where(base_idx >= 0, base_idx, -1)
        values = self.series_set.values[rows]
        with np.errstate(invalid="ignore", divide="ignore"):
            if self.series_set.denominators is None:
                valid = base_idx >= 0
                picked = np.where(valid[None], values[:, np.clip(base_idx, 0, None)], np.nan)
                base = np.nanmean(picked, axis=2)  # rows x days
                actual = values[:, days]
                keep = ~np.isnan(actual) & ~np.isnan(base)
                excess = np.where(keep, actual - base, 0.0).sum(axis=1)
                baseline = np.where(keep, base, 0.0).sum(axis=1)
                return excess, baseline
            den = self.series_set.denominators[rows]
            flat = np.unique(base_idx[base_idx >= 0])
            rate = values[:, flat].sum(axis=1) / den[:, flat].sum(axis=1)
            rate = np.where(np.isfinite(rate), rate, 0.0)
            expected = den[:, days] * rate[:, None]
            return (values[:, days] - expected).sum(axis=1), expected.sum(axis=1)

    def root_cause(self, anomaly: Anomaly) -> tuple[list[dict[str, Any]], bool]:
        """(drivers, uniform) of an anomaly on a rollup, localized over the leaves under it;
        a leaf has no drivers."""
        window = self.window(anomaly)
        if window is None:
            return [], False
        return self.localize(anomaly.segment, window, 1 if anomaly.direction == "up" else -1)

    def prepare(self, anomaly: Anomaly) -> None:
        """Compute what `root_cause` of this anomaly reads from the whole cube (its
        window's expectations), so that forked workers share it."""
        window = self.window(anomaly)
        if window is not None and len(anomaly.segment) < len(self.dims):
            self._leaf_expectation(window)

    def whole(self, window: tuple[int, int]) -> bool:
        """True when the leaves at hand add up to the total over `window`: the whole cube,
        not only the series an engine returned for linking."""
        import numpy as np

        total = self.series_set.row({})
        if total is None or not len(self.leaf_rows):
            return False
        days = slice(window[0], window[1] + 1)
        top = float(np.nansum(self.series_set.values[total, days]))
        leaves = float(np.nansum(self.series_set.values[self.leaf_rows, days]))
        return abs(top - leaves) <= 1e-6 * max(abs(top), 1.0)

    def localize(self, segment: Mapping[str, str], window: tuple[int, int], direction: int = 0):
        """(drivers, uniform) over the leaves under `segment` in `window` (see `rootcause`)."""
        from ctxmetrics.explain.rootcause import localize_codes

        free = [d for d in self.dims if d not in segment]
        if not free:  # a leaf
            return [], False
        inside = self._leaves_under(segment)
        if len(inside) < 2:
            return [], False
        expected, actual, noise = (None if part is None else part[inside] for part in self._leaf_expectation(window))
        columns = [self.dims.index(d) for d in free]
        found = localize_codes(
            self.leaf_codes[inside][:, columns], free, [self.leaf_names[j] for j in columns], expected, actual, noise,
            direction=direction,
        )
        drivers = [
            {"segment": {d: {**segment, **part}[d] for d in self.dims if d in segment or d in part}, "share": share}
            for part, share in found.elements
        ]
        return drivers, found.uniform

    def whole_cause(self, window: tuple[int, int]):
        """`localize({}, window)`: the root cause in the whole cube over `window`, computed
        once per window (a scan computes the windows it guesses beside its workers). It reads
        only the cube and the window, so a stored answer is the answer; each call gets its
        own copy of the drivers."""
        if window not in self._whole_causes:
            self._whole_causes[window] = self.localize({}, window)
        drivers, uniform = self._whole_causes[window]
        return [{"segment": dict(d["segment"]), "share": d["share"]} for d in drivers], uniform

    def _leaves_under(self, segment: Mapping[str, str]):
        """Indexes of the leaves inside `segment`: the leaves of its rarest value, narrowed
        by the others (cheap even in a cube of many leaves)."""
        import numpy as np

        parts = []
        for dim, value in segment.items():
            j = self.dims.index(dim)
            code = self._codes[j].get(value, -1)  # a dict: a list's index scans 100k values per anomaly
            if (j, code) not in self._members:
                self._members[(j, code)] = np.flatnonzero(self.leaf_codes[:, j] == code)
            parts.append((len(self._members[(j, code)]), j, code))
        if not parts:
            return np.arange(len(self.leaf_rows))
        parts.sort()
        found = self._members[parts[0][1:]]
        for _, j, code in parts[1:]:
            found = found[self.leaf_codes[found, j] == code]
        return found

    def _leaf_expectation(self, window: tuple[int, int]):
        """(expected, actual, noise) of every leaf over `window`, computed once per window."""
        if window not in self._expectations:
            from ctxmetrics.explain.rootcause import window_expectation

            rows = self.leaf_rows
            if self.series_set.denominators is None and window[0] >= 7:
                # only the days it reads (the weeks before and the window): not a copy of the cube
                lo = max(window[0] - 7 * _ROOT_CAUSE_WEEKS, 0)
                self._expectations[window] = window_expectation(
                    self.series_set.values[rows, lo : window[1] + 1], window[0] - lo, window[1] - lo, _ROOT_CAUSE_WEEKS
                )
            else:  # rates: numerators against the denominators times the baseline rate
                excess, baseline = self.delta(list(rows), window)
                self._expectations[window] = (baseline, baseline + excess, None)
        return self._expectations[window]

    def _rows(self, base: Mapping[str, str], scope: Mapping[str, tuple[str, ...]]) -> list[int]:
        """Rows of `base` narrowed to every combination of the scope's values on dims it lacks."""
        free = [d for d in scope if d not in base]
        rows = []
        for combo in product(*(scope[d] for d in free)):
            row = self.series_set.row({**base, **dict(zip(free, combo))})
            if row is not None:
                rows.append(row)
        return rows

    def scope_split(self, anomaly: Anomaly, scope) -> tuple[float, float, float | None] | None:
        """For a rollup wider than the scope: (share of the change inside the scope,
        relative change inside, relative change outside)."""
        window = self.window(anomaly)
        whole = self.series_set.row(anomaly.segment)
        inside_rows = self._rows(anomaly.segment, scope)
        if window is None or whole is None:
            return None
        if not inside_rows:
            return 0.0, 0.0, None
        ex_all, base_all = (float(v[0]) for v in self.delta([whole], window))
        ex_in, base_in = (float(v.sum()) for v in self.delta(inside_rows, window))
        if ex_all == 0 or base_in <= 0:
            return 0.0, 0.0, None
        outside = (ex_all - ex_in) / (base_all - base_in) if base_all - base_in > 0 else None
        return ex_in / ex_all, ex_in / base_in, outside

    def outside_change(self, anomaly: Anomaly, scope) -> tuple[float, float] | None:
        """For a segment inside the scope: (its relative change, the relative change of
        the same segment outside the scope), or None when there is no outside."""
        window = self.window(anomaly)
        if window is None:
            return None
        parent = {k: v for k, v in anomaly.segment.items() if k not in scope}
        row, parent_row = self.series_set.row(anomaly.segment), self.series_set.row(parent)
        inside_rows = self._rows(parent, scope)
        if row is None or parent_row is None or not inside_rows:
            return None
        ex, base = (float(v[0]) for v in self.delta([row], window))
        ex_p, base_p = (float(v[0]) for v in self.delta([parent_row], window))
        ex_in, base_in = (float(v.sum()) for v in self.delta(inside_rows, window))
        if base <= 0 or base_p - base_in <= 0:
            return None
        return ex / base, (ex_p - ex_in) / (base_p - base_in)

