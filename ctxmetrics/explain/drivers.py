"""The data's own drivers of each anomaly: the root-cause set of the anomaly in the cube
(see `rootcause`): from the expected and actual value of every leaf under the anomaly's
segment over its window, the smallest set of segments at any layer that carries the
change — or "uniform" when it is everywhere alike; and, where a metric's total was not
flagged, the whole cube's root cause over the windows of its segments' anomalies."""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable, Mapping

from ctxmetrics.explain.cube import _ROOT_CAUSE_WEEKS, _Cube
from ctxmetrics.models.anomaly import Anomaly

_PARALLEL_MIN_ANOMALIES = 2000  # per worker: below this, starting workers costs more than it saves
_CUBE_DAYS = 10  # start days per metric localized in the whole cube when its total was not flagged
# leaves of the windows left to localize before a worker is forked for them: ~0.2 s of work
# at ~4 µs a leaf (100k scan), against 20-40 ms to fork a pool of one (measured at load 6.6)
_PARALLEL_MIN_LEAVES = 50_000


def _fill_root_causes(anomalies: list[Anomaly], cubes: Mapping[str, _Cube]) -> None:
    """`drivers` and `uniform` of every anomaly whose metric has a cube. A wide cube's
    thousands of rollup anomalies are localized in forked worker processes (each
    localization is independent of the others), after the per-window expectations they
    all read were computed once here."""
    import os

    todo = [a for a in anomalies if a.metric in cubes]
    workers = min(os.cpu_count() or 1, len(todo) // _PARALLEL_MIN_ANOMALIES)
    if workers < 2:
        for anomaly in todo:
            anomaly.drivers, anomaly.uniform = cubes[anomaly.metric].root_cause(anomaly)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    for anomaly in todo:
        cubes[anomaly.metric].prepare(anomaly)
    step = -(-len(todo) // (4 * workers))  # a few parts per worker: even when some parts are slower
    starts = range(0, len(todo), step)
    context = multiprocessing.get_context("fork")  # the workers inherit the cubes; nothing is pickled to them
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_share, initargs=(todo, cubes)) as pool:
        for lo, results in zip(starts, pool.map(_root_causes_of, starts, [lo + step for lo in starts])):
            for anomaly, (drivers, uniform) in zip(todo[lo : lo + step], results):
                anomaly.drivers, anomaly.uniform = drivers, uniform


_shared: tuple[list[Anomaly], Mapping[str, _Cube]] = ([], {})  # a worker's anomalies and cubes


def _share(anomalies: list[Anomaly], cubes: Mapping[str, _Cube]) -> None:
    global _shared
    _shared = (anomalies, cubes)


def _root_causes_of(lo: int, hi: int) -> list[tuple[list[dict[str, Any]], bool]]:
    anomalies, cubes = _shared
    return [cubes[a.metric].root_cause(a) for a in anomalies[lo:hi]]


def _locate_in_cube(
    anomalies: list[Anomaly], cubes: Mapping[str, _Cube], whole_cube=None, beside: Callable[[], None] = lambda: None
) -> None:
    """Fill `cube_drivers` of the anomalies of each start day on which their metric's total
    was not flagged: the root-cause set of the whole cube over the window of that day's most
    important anomaly. Cells whose change is too small for their own series (and for the
    total) stand out in the cube once the time is known from the series that were flagged.
    At most `_CUBE_DAYS` start days per metric, the most important first: the cost stays
    that of a few localizations however many anomalies there are. Only where the leaves at
    hand add up to the total (not a gauge's rollups); where `whole_cube` is given, the
    leaves it returns for those windows (`explain_anomalies`). `beside()` (linking that
    reads no cube) runs here meanwhile (`_whole_causes`)."""
    days = list(_cube_days(anomalies, cubes, whole_cube))
    found = _whole_causes([(cube, window) for cube, window, _ in days], beside, parallel=whole_cube is None)
    for (_, _, group), (drivers, _) in zip(days, found):
        for anomaly in group:
            anomaly.cube_drivers = drivers


def _whole_causes(windows: list[tuple[_Cube, tuple[int, int]]], beside: Callable[[], None], parallel: bool):
    """`cube.whole_cause(window)` of each (cube, window), while `beside()` runs. Where the
    windows not localized yet (a scan localizes its guesses beside its workers) are worth a
    worker (`_PARALLEL_MIN_LEAVES`), a forked process localizes them in turn while this one
    runs `beside()`, then takes here those it has not started: on a scan's tail the second
    core otherwise idles, and a localization of 100k leaves is mostly Python (`one_dimension`),
    which a thread would not run beside this one. Each reads only its cube and window, so
    where it runs does not change its answer."""
    import os

    todo = [i for i, (cube, window) in enumerate(windows) if window not in cube._whole_causes]
    leaves = sum(len(windows[i][0].leaf_rows) for i in todo)
    if not parallel or len(todo) < 2 or (os.cpu_count() or 1) < 2 or leaves < _PARALLEL_MIN_LEAVES:
        if parallel:
            _expectations_beside([windows[i] for i in todo], beside)
        else:
            beside()
        return [cube.whole_cause(window) for cube, window in windows]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("fork")  # the worker inherits the cubes; only indexes are sent
    with ProcessPoolExecutor(1, mp_context=context, initializer=_share_windows, initargs=(windows,)) as pool:
        futures = {i: pool.submit(_whole_cause_of, i) for i in todo}
        beside()
        for i in reversed(todo):  # the last in line, not started yet: here
            if futures[i].cancel():
                windows[i][0].whole_cause(windows[i][1])
        for i, future in futures.items():
            if not future.cancelled():
                cube, window = windows[i]
                cube._whole_causes[window] = future.result()
    return [cube.whole_cause(window) for cube, window in windows]


def _expectations_beside(windows: list[tuple[_Cube, tuple[int, int]]], beside: Callable[[], None]) -> None:
    """The windows' leaf expectations (numpy, which releases the GIL) computed in a thread
    while this one runs `beside()`, then those left here too."""
    import threading

    pending, lock = iter(windows), threading.Lock()

    def compute() -> None:  # the next window not taken yet, until none is left
        while True:
            with lock:
                window = next(pending, None)
            if window is None:
                return
            window[0]._leaf_expectation(window[1])

    thread = threading.Thread(target=compute)
    thread.start()
    try:
        beside()
        compute()
    finally:
        thread.join()  # no thread is left running when the caller forks


_shared_windows: list[tuple[_Cube, tuple[int, int]]] = []  # a worker's (cube, window) of `_whole_causes`


def _share_windows(windows: list[tuple[_Cube, tuple[int, int]]]) -> None:
    global _shared_windows
    _shared_windows = windows


def _whole_cause_of(i: int):
    cube, window = _shared_windows[i]
    return cube.whole_cause(window)


def prepare_cube_days(anomalies: list[Anomaly], cube: _Cube, stop: Callable[[], bool]) -> None:
    """Localize the whole cube over each window `_locate_in_cube` would read for `anomalies`
    (all of `cube`'s metric), the most important first, into `cube` (`cube.whole_cause`, its
    leaf expectations with it), until `stop()`. A scan calls it beside its workers with the
    anomalies found so far: the windows it guessed are not computed again after them (both
    are the cube's caches), the others are computed then as before. One window at a time,
    whole: a window done is one the scan's tail skips."""
    for _, window, _ in _cube_days(anomalies, {cube.series_set.metric: cube}):
        if stop():
            return
        cube.whole_cause(window)


def _cube_days(anomalies: list[Anomaly], cubes: Mapping[str, _Cube], whole_cube=None):
    """(cube, window, anomalies of its start day) of each start day `_locate_in_cube`
    localizes, in its order."""
    totals: dict[str, list[Anomaly]] = {}
    days: dict[tuple[str, dt.date], list[Anomaly]] = {}
    for anomaly in anomalies:
        if anomaly.metric in cubes:
            if anomaly.segment:
                days.setdefault((anomaly.metric, anomaly.start), []).append(anomaly)
            else:
                totals.setdefault(anomaly.metric, []).append(anomaly)
    leads = sorted(((max(group, key=lambda a: a.importance), group) for group in days.values()), key=lambda p: -p[0].importance)
    candidates = [  # a day whose total was flagged is left out: its drivers are the cube's root cause
        (lead, group, window) for lead, group in leads
        if (window := cubes[lead.metric].window(lead)) is not None
        and not any(_overlap_in_time(total, lead) for total in totals.get(lead.metric, []))
    ]
    wholes = _WholeCubes(cubes, whole_cube)
    done: dict[str, int] = {}
    for i, (lead, group, window) in enumerate(candidates):
        if done.get(lead.metric, 0) >= _CUBE_DAYS:
            continue
        cube, window = wholes.over(lead.metric, window, candidates[i:], done)
        if not cube.whole(window):
            continue
        done[lead.metric] = done.get(lead.metric, 0) + 1
        yield cube, window, group


class _WholeCubes:
    """The whole cube `_locate_in_cube` localizes a window in: the metric's own, or where an
    engine holds the cube elsewhere, its total and leaves over the window's days and the
    weeks before, fetched (`whole_cube`) for the windows next in line in one request."""

    def __init__(self, cubes: Mapping[str, _Cube], fetch):
        self.cubes, self.fetch = cubes, fetch
        self.held: dict[tuple[str, tuple[int, int]], _Cube] = {}
        self.asked: set[tuple[str, tuple[int, int]]] = set()

    def over(self, metric: str, window: tuple[int, int], upcoming, done: dict[str, int]):
        """(cube, the window in its days) of `window`; `upcoming` the (lead, group, window)
        in line from this one on, `done` the days localized per metric so far."""
        key = (metric, self._days(window))
        if self.fetch is not None and key not in self.asked:
            wanted: dict[str, list[tuple[int, int]]] = {}
            for lead, _, later in upcoming:  # each metric's windows it may still localize
                ranges = wanted.setdefault(lead.metric, [])
                if len(ranges) < _CUBE_DAYS - done.get(lead.metric, 0) and (lead.metric, self._days(later)) not in self.asked:
                    ranges.append(self._days(later))
            self.asked |= {(m, r) for m, ranges in wanted.items() for r in ranges}
            self.held.update({k: _Cube(series_set) for k, series_set in self.fetch(wanted).items()})
        if key not in self.held:
            return self.cubes[metric], window
        first = key[1][0]
        return self.held[key], (window[0] - first, window[1] - first)

    @staticmethod
    def _days(window: tuple[int, int]) -> tuple[int, int]:
        """The days a window's localization reads: the weeks of history before it, and it."""
        return max(window[0] - 7 * _ROOT_CAUSE_WEEKS, 0), window[1]


def _overlap_in_time(a: Anomaly, b: Anomaly) -> bool:
    return (b.end is None or a.start <= b.end) and (a.end is None or b.start <= a.end)


def _split_from_drivers(anomaly: Anomaly, scope) -> tuple[float, float, None] | None:
    """Scope share from stored drivers when the series were not rebuilt in this scan."""
    dims = set(scope)
    relevant = [d for d in anomaly.drivers if dims <= set(d["segment"])]
    if not relevant:
        return None
    share = sum(d["share"] for d in relevant if all(d["segment"][k] in v for k, v in scope.items()))
    return share, 1.0, None

