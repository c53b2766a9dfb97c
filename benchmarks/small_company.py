"""The small company's stories, one line per case: found blind, found with its tags, and for
each miss the score its window reached and the bar it had to pass. Prints, never asserts.

Usage: python benchmarks/small_company.py [--split tune|holdout] [--count N]

The cases, seeds and matching rule are those of `evaluate.py`'s `small_company` (blind)
and `small_co_tagd` (each story tagged with probability `TAGGED_SHARE`, plus decoy tags;
`benchmarks/eval/tagged.py`). A blind miss gets its cause from `misses.miss_cause` (the
exact window's score against the bar of its width); a tagged story missed with its tag
gets its tagged window's score against the family's bar. The table at the end counts,
per story, what was found and how the rest was lost, and the false alarms.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

sys.path.append(str(Path(__file__).resolve().parents[1]))

from benchmarks.eval.detector import load_detector  # noqa: E402
from benchmarks.eval.profiles import SPLITS, generate  # noqa: E402
from benchmarks.eval.run import run_case  # noqa: E402
from benchmarks.eval.scoring import match  # noqa: E402
from benchmarks.eval.tagged import case_windows, tagged_outcome  # noqa: E402
from benchmarks.false_alarms import classify  # noqa: E402
from benchmarks.misses import miss_cause  # noqa: E402
from ctxmetrics.config import DetectionSettings  # noqa: E402
from ctxmetrics.detect.find import _ready  # noqa: E402


def _story(case) -> str:
    return case.name.split(": ", 1)[1]


def _unmatched(case, detections) -> tuple[list, set]:
    """(detections matching no planted change, indexes of the planted changes matched)."""
    pairs = match(list(case.planted), [(int(c.start), str(c.direction)) for c in detections], case.tolerance)
    matched = {j for _, j in pairs}
    return [c for j, c in enumerate(detections) if j not in matched], {k for k, _ in pairs}


def _tag_note(case, seed: int, i: int, settings: DetectionSettings) -> tuple[bool, str]:
    """(tagged?, its window's score against the family's bar) of the case's story."""
    from ctxmetrics.detect.targeted import bar, window_changes
    from ctxmetrics.scan.tagged import FAMILY_ALPHA

    tagged, decoys = case_windows(case, np.random.default_rng([seed, i]))
    if not tagged:
        return False, "untagged"
    threshold = bar(len(tagged) + len(decoys), FAMILY_ALPHA, settings.min_score)
    change = window_changes(case.values, tagged, kind=case.kind, dates=case.dates, denominators=case.denominators)[0]
    if change is None:
        return True, "tagged, not measurable"
    return True, f"tagged, score {change.score:.2f} vs bar {threshold:.2f}, change {change.change_pct:+.0f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=SPLITS, default="tune")
    parser.add_argument("--count", type=int, default=100)
    args = parser.parse_args()
    settings, detector, seed = DetectionSettings(), load_detector(), SPLITS.index(args.split)
    print(f"small company stories, split {args.split}, {args.count} cases; detector: {detector.name}")
    table: dict[str, Counter] = defaultdict(Counter)
    for i, case in enumerate(generate("small_company", args.split, args.count)):
        story, p = _story(case), case.planted[0]
        row = table[story]
        row["planted"] += 1
        blind = run_case(detector, case)
        alarms, found = _unmatched(case, blind.detections)
        row["found blind"] += bool(found)
        if not found:
            ready = _ready(np.asarray(case.values, dtype=float), case.kind, case.dates, case.denominators, None,
                           settings, 0)
            cause, note = miss_cause(case, p, blind.detections, ready, settings)
            row[f"blind: {cause}"] += 1
            print(f"  #{i} {story} at {p.start}: blind miss, {cause}; {note}")
        for c in alarms:
            row["blind false alarms"] += 1
            label = classify(case, int(c.start), None if c.end is None else int(c.end), str(c.direction))
            print(f"  #{i} {story}: blind false alarm {c.kind} {c.start}-{'' if c.end is None else c.end} "
                  f"{c.direction} score {c.score:.2f}: {label}")
        with_tags, decoy_alarms = tagged_outcome(case, np.random.default_rng([seed, i]))
        tag_alarms, tag_found = _unmatched(case, with_tags.detections)
        row["found with tags"] += bool(tag_found)
        row["tagged false alarms"] += len(tag_alarms)
        row["decoy false alarms"] += decoy_alarms
        if not tag_found:
            tagged, note = _tag_note(case, seed, i, settings)
            row["tagged, missed" if tagged else "untagged, missed"] += 1
            print(f"  #{i} {story} at {p.start}: missed with tags ({note})")
    columns = sorted({k for row in table.values() for k in row}, key=lambda k: (k != "planted", k))
    print("\n" + "story".ljust(28) + " ".join(f"{c:>{max(len(c), 5)}}" for c in columns))
    for story, row in table.items():
        print(story.ljust(28) + " ".join(f"{row[c]:>{max(len(c), 5)}}" for c in columns))


if __name__ == "__main__":
    main()
