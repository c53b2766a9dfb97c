"""Every false alarm of the generated profiles, one line each, with its class. Prints, never asserts.

Usage: python benchmarks/false_alarms.py [--split tune|holdout] [--count N] [PROFILE ...]

The profiles, seeds and matching rule are those of benchmarks/evaluate.py (a detection
that matches no planted change is a false alarm). Each false alarm is put in the first
class that fits it:

- misplaced: it overlaps a planted change of its own direction but starts more than the
  tolerance away (the change's own detection, placed off; it also leaves that change
  missed unless another detection matched it), by how far: 3-5, 6-10 or more periods;
- lasting over a temporary change: a lasting shift overlapping a temporary planted change
  of its own direction (a trend or a season read as a step, or the episode's return missed);
- opposite inside: it lies within a planted change and moves the other way;
- echo at end: it starts within 12 periods of a planted change's end;
- before a change: it ends within 30 periods before a planted change starts;
- no change near: nothing planted near it, by length (1 period, 2-6, 7 or more, lasting)
  and, for quarter_close, whether it touches a month- or quarter-end close.
"""
from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path


sys.path.append(str(Path(__file__).resolve().parents[1]))

from benchmarks.eval import shapes  # noqa: E402
from benchmarks.eval.detector import load_detector  # noqa: E402
from benchmarks.eval.profiles import generate, profile_arguments  # noqa: E402
from benchmarks.eval.run import run_case  # noqa: E402
from benchmarks.eval.scoring import match  # noqa: E402

DEFAULT_PROFILES = ("heavy_tails", "sparse", "quarter_close", "weekly", "small_company", "season_trend")


def _length_class(first: int, last: int | None) -> str:
    if last is None:
        return "lasting"
    width = last - first + 1
    return "1 period" if width == 1 else "2-6 periods" if width < 7 else "7+ periods"


def classify(case, first: int, last: int | None, direction: str) -> str:
    """The class of one false alarm of `case` (see the module docstring)."""
    n = len(case.values)
    stop = n - 1 if last is None else last
    for p in case.planted:
        p_stop = n - 1 if p.end is None else p.end
        overlap = min(p_stop, stop) >= max(p.start, first)
        if overlap and direction == p.direction and last is None and p.end is not None:
            return "lasting over a temporary change"
        if overlap and direction == p.direction:
            off = abs(first - p.start)
            return "misplaced " + ("3-5" if off <= 5 else "6-10" if off <= 10 else ">10")
        if overlap:
            return "opposite inside"
    for p in case.planted:
        if p.end is not None and 0 <= first - (p.end + 1) <= 12:
            return "echo at end"
        if 0 < p.start - stop <= 30:
            return "before a change"
    label = f"no change near, {_length_class(first, last)}"
    if case.name == "quarter_close":
        quarter, month = shapes.close_days(case.dates)
        if (quarter | month)[first : stop + 1].any():
            label += ", on a close"
    return label


def main() -> None:
    args = profile_arguments(__doc__.splitlines()[0], DEFAULT_PROFILES)
    detector = load_detector()
    print(f"false alarms, split {args.split}, {args.count} series per profile; detector: {detector.name}")
    for profile in args.profiles:
        classes, missed = Counter(), 0
        for i, case in enumerate(generate(profile, args.split, args.count)):
            outcome = run_case(detector, case)
            pairs = match(list(case.planted), outcome.starts, case.tolerance)
            matched = {j for _, j in pairs}
            missed += len(case.planted) - len(pairs)
            planted = ", ".join(f"{p.start}-{'' if p.end is None else p.end} {p.direction}" for p in case.planted)
            for j, c in enumerate(outcome.detections):
                if j in matched:
                    continue
                last = None if c.end is None else int(c.end)
                label = classify(case, int(c.start), last, str(c.direction))
                classes[label] += 1
                print(f"  {profile} #{i}: {c.kind} {c.start}-{'' if last is None else last} {c.direction} "
                      f"score {c.score:.2f} change {c.change_pct:+.0f}% | planted: {planted or 'none'} | {label}")
        summary = "; ".join(f"{k} {v}" for k, v in classes.most_common())
        print(f"{profile}: {sum(classes.values())} false alarms ({summary or 'none'}); {missed} planted changes missed\n")


if __name__ == "__main__":
    main()
