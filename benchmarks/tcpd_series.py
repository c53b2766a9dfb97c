"""TCPD dataset by dataset: what the detector found against what was annotated. Prints, never asserts.

Usage: python benchmarks/tcpd_series.py [--split tune|holdout] [--ext DIR]

One block per dataset of the chosen half (`external.tcpd_half`: sorted by name,
alternately tune and holdout; work on tune, read holdout only to report): its length and
time axis with the frequency the detector reads from it (`infer_frequency`), the annotators' change points (their union, and how many annotators marked
each), each detection of each column (kind, direction, start, end, score, change) and the
change points it gives, then F1 with the margin of the benchmark for the detector, Binseg
and "no change". A detected point with no annotated point within the margin is marked
`x` (it costs precision); an annotated point no detection comes near is listed as missed.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1]))

from benchmarks.eval import external  # noqa: E402
from benchmarks.eval.detector import change_points, load_detector  # noqa: E402
from benchmarks.eval.run import run_case  # noqa: E402
from ctxmetrics.detect import infer_frequency  # noqa: E402


def _near(point: int, others: set[int]) -> bool:
    return any(abs(point - o) <= external.MARGIN for o in others)


def print_dataset(detector, name: str, cases: list, notes: dict[str, list[int]]) -> dict:
    """One dataset's block; returns its scores."""
    outcomes = [run_case(detector, case) for case in cases]
    row = external.score_tcpd_dataset(name, outcomes, notes)
    votes = Counter(p for points in notes.values() for p in set(points))
    union = set(votes)
    axis = cases[0].dates
    read_as = infer_frequency(axis, len(axis)).name  # the frequency the detector reads
    print(f"\n{name}: n={row['n']}, {len(cases)} column(s), {axis[0]} .. {axis[-1]} ({read_as}); "
          f"F1 detector {row['detector']:.3f}, Binseg {row['binseg']:.3f}, no change {row['no_change']:.3f}")
    print("  annotated (point: annotators of " + f"{len(notes)}): "
          + ", ".join(f"{p}:{votes[p]}" for p in sorted(union)) if union else "  annotated: no change point")
    for outcome in outcomes:
        if outcome.error:
            print(f"  {outcome.case.name}: ERROR {outcome.error}")
        for c in outcome.detections:
            points = change_points([c], len(outcome.case.values))
            marks = " ".join(f"{p}{'' if _near(p, union | {0}) else 'x'}" for p in points)
            end = "-" if c.end is None else c.end
            print(f"  {outcome.case.name}: {c.kind} {c.direction} "
                  f"{c.start}..{end} score {c.score:.1f} change {c.change_pct:+.0f}% -> points {marks}")
    found = set(row["points"])
    missed = sorted(p for p in union if p and not _near(p, found | {0}))
    print(f"  detected points {sorted(found)}; annotated points missed: {missed if missed else 'none'}")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=external.TCPD_HALVES, default="tune")
    parser.add_argument("--ext", type=Path, default=external.DEFAULT_FOLDER, help="folder of external public series")
    args = parser.parse_args()
    try:
        datasets = external.tcpd_datasets(args.ext / "tcpd")
    except (OSError, ValueError) as exc:
        sys.exit(f"tcpd_series.py: error: {exc}")
    detector = load_detector()
    half_of = external.tcpd_half(list(datasets))
    rows = [print_dataset(detector, name, cases, notes)
            for name, (cases, notes) in sorted(datasets.items()) if half_of[name] == args.split]
    mean = {k: sum(r[k] for r in rows) / len(rows) for k in ("detector", "binseg", "no_change")} if rows else {}
    print(f"\n{args.split} half, {len(rows)} datasets, mean F1: " + ", ".join(f"{k} {v:.3f}" for k, v in mean.items()))


if __name__ == "__main__":
    main()
