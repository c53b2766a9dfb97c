"""Recall of the planted changes by what each one is, and where the found-but-misplaced ones
were dated. Prints, never asserts.

Usage: python benchmarks/recall_by.py [--split tune|holdout] [--count N] [PROFILE ...]

The profiles, seeds and matching rule are those of benchmarks/evaluate.py. Each planted
change is counted found (a detection matched it) or not, under each of: its length
(1-3, 5-14, 21-90 periods or lasting), its direction, the series' volume (mean per
period), the weekday of its first day (daily series), and whether its first 90 days hold
a quarter's last week (the closes of `shapes.close_days`). Comparing rows of one grouping
only says something when the other groupings are alike across them: e.g. lasting changes
span a quarter's last week more often than short ones do, so the rows "over a close" are
also given by length.

Then, over every planted change that a detection of its direction overlaps, the signed
offset of the nearest such detection's start (found minus planted): within the tolerance,
more than it late, more than it early, by direction and by episode or lasting change.
A placement that the data leave uncertain spreads both ways; a skew to one side is a
bias of the placement itself.
"""
from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.append(str(Path(__file__).resolve().parents[1]))

from benchmarks.eval import shapes  # noqa: E402
from benchmarks.eval.detector import load_detector  # noqa: E402
from benchmarks.eval.profiles import generate, profile_arguments  # noqa: E402
from benchmarks.eval.run import run_case  # noqa: E402
from benchmarks.eval.scoring import match  # noqa: E402

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
VOLUMES = (1.0, 3.0, 10.0, 30.0)  # bucket edges of the mean per period
CLOSE_REACH = 90  # days of a change looked at for a quarter close (a lasting change's sizing window)


def length_class(start: int, end: int | None) -> str:
    if end is None:
        return "lasting"
    days = end - start + 1
    return "1-3" if days <= 3 else "5-14" if days <= 14 else "21-90"


def volume_class(mean: float) -> str:
    edges = [0.0, *VOLUMES, np.inf]
    k = int(np.searchsorted(VOLUMES, mean, side="right"))
    return f"{edges[k]:g}-{edges[k + 1]:g}" if k < len(VOLUMES) else f">={VOLUMES[-1]:g}"


def groups(case, p, n: int) -> list[tuple]:
    """The (grouping, value) rows planted change `p` of `case` counts in."""
    length = length_class(p.start, p.end)
    rows = [("length", length), ("direction", p.direction), ("volume per period", volume_class(float(np.nanmean(case.values))))]
    if case.freq == "D":
        rows.append(("first weekday", WEEKDAYS[int(shapes.weekday(case.dates[p.start : p.start + 1])[0])]))
        quarter, _ = shapes.close_days(case.dates)
        stop = n if p.end is None else p.end + 1
        over = bool(quarter[p.start : min(stop, p.start + CLOSE_REACH)].any())
        rows += [("over a quarter's last week", over), ("over a quarter's last week, by length", (length, over))]
    return rows


def offset(p, detections, n: int) -> int | None:
    """Start of the nearest detection of `p`'s direction overlapping it, minus `p`'s start."""
    stop = n - 1 if p.end is None else p.end
    near = [int(c.start) - p.start for c in detections if str(c.direction) == p.direction
            and min(n - 1 if c.end is None else int(c.end), stop) >= max(int(c.start), p.start)]
    return min(near, key=abs) if near else None


def main() -> None:
    args = profile_arguments(__doc__.splitlines()[0], ("sparse", "quarter_close"))
    detector = load_detector()
    print(f"recall by kind of change, split {args.split}, {args.count} series per profile; detector: {detector.name}")
    for profile in args.profiles:
        found = defaultdict(lambda: [0, 0])
        placed = defaultdict(lambda: [0, 0, 0])  # within / late / early
        for case in generate(profile, args.split, args.count):
            outcome = run_case(detector, case)
            n = len(case.values)
            hits = {k for k, _ in match(list(case.planted), outcome.starts, case.tolerance)}
            for k, p in enumerate(case.planted):
                for key in groups(case, p, n):
                    found[key][0] += k in hits
                    found[key][1] += 1
                off = offset(p, outcome.detections, n)
                if off is not None:
                    slot = 0 if abs(off) <= case.tolerance else 1 if off > 0 else 2
                    placed[(p.direction, "lasting" if p.end is None else "episode")][slot] += 1
        print(f"\n{profile}: found / planted")
        for grouping in dict.fromkeys(g for g, _ in found):
            cells = sorted(((v, f) for (g, v), f in found.items() if g == grouping), key=lambda c: str(c[0]))
            print(f"  {grouping}: " + ", ".join(f"{v} {f[0]}/{f[1]}" for v, f in cells))
        print(f"{profile}: a detection of its direction over the change, start within the tolerance / later / earlier")
        for (direction, kind), (within, late, early) in sorted(placed.items()):
            print(f"  {direction} {kind}: {within} / {late} / {early}")


if __name__ == "__main__":
    main()
