"""Every miss of the generated profiles, one line each, with its cause; false alarms by class. Prints, never asserts.

Usage: python benchmarks/misses.py [--split tune|holdout] [--count N] [PROFILE ...]

The profiles, seeds and matching rule are those of benchmarks/evaluate.py. Each planted
change that no detection matched is put in the first class that fits it:

- placed off: a detection in its direction overlaps it but starts more than the
  tolerance away; by how far, and whether the detector's own likelihood of one change
  day (`placement.profile_note`) prefers the found start to the planted one;
- merged: that detection also overlaps another planted change (one report for two);
- a part: that detection lies inside the planted change, starting late (one piece of it);
- wrong direction: only a detection of the other direction overlaps it;
- not reported: nothing overlaps it. Then its exact window is scored as the detector
  scores its own candidates, on the series prepared as usual (calendar and noise fitted
  with the planted days in them): a window with an end by the episode score against its
  flanks (`episodes._window_scores`), a lasting change as a step on a level window each
  side (`shifts._measure`); and again with its days known (left out of the calendar and
  noise, `targeted.window_changes`). Against the bar of its width (`episodes._bars`;
  steps `min_score`) the cause is one of:
  - below the bar: both scores below it;
  - absorbed by the fit: below with its days in the calendar and noise fit, at or above
    the bar with them left out (the trend, season or noise took part of it in);
  - too small: at or above the bar, but the change is under `min_change_pct`;
  - dropped: at or above the bar and large enough, yet not reported (a rule after the
    scan: merging, pruning of boundaries, the width grid, a neighbour taking its days).

False alarms are classed as `benchmarks/false_alarms.py` classes them. The table at the
end counts each cause per profile.
"""
from __future__ import annotations

import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.append(str(Path(__file__).resolve().parents[1]))

from benchmarks.eval.detector import load_detector  # noqa: E402
from benchmarks.eval.profiles import generate, profile_arguments  # noqa: E402
from benchmarks.eval.run import run_case  # noqa: E402
from benchmarks.eval.scoring import match  # noqa: E402
from benchmarks.false_alarms import classify  # noqa: E402
from benchmarks.placement import SPAN, profile_note  # noqa: E402
from ctxmetrics.config import DetectionSettings  # noqa: E402
from ctxmetrics.detect.episodes import _LONG_BAR, _bars, _Scan, _window_scores  # noqa: E402
from ctxmetrics.detect.find import _ready  # noqa: E402
from ctxmetrics.detect.shifts import _measure, _Windows  # noqa: E402
from ctxmetrics.detect.targeted import Window, window_changes  # noqa: E402

DEFAULT_PROFILES = ("weekly", "gauge")
CAUSES = ("placed off", "merged", "a part", "wrong direction", "below the bar", "absorbed by the fit", "too small",
          "dropped")


def _stop(end: int | None, n: int) -> int:
    return n - 1 if end is None else int(end)


def _overlapping(case, p, detections) -> list:
    n = len(case.values)
    return [c for c in detections
            if min(_stop(c.end, n), _stop(p.end, n)) >= max(int(c.start), p.start)]


def _found_cause(case, p, near, ready) -> tuple[str, str]:
    """(cause, note) of a miss with an overlapping detection in its direction."""
    n = len(case.values)
    c = min(near, key=lambda c: abs(int(c.start) - p.start))
    off = int(c.start) - p.start
    others = [q for q in case.planted if q is not p and min(_stop(c.end, n), _stop(q.end, n)) >= max(int(c.start), q.start)]
    if others:
        return "merged", f"found {c.start}-{'' if c.end is None else c.end} also over planted {others[0].start}"
    if off > 0 and p.end is not None and c.end is not None and c.end <= p.end:
        return "a part", f"found {c.start}-{c.end} ({off:+d})"
    note = f"found {c.start}-{'' if c.end is None else c.end} ({off:+d})"
    if ready is not None:
        layout, s, noise = ready[0], ready[2], ready[3]
        at, truth = (int(np.searchsorted(s.index, layout.position[i])) for i in (int(c.start), p.start))
        lo = max(0, min(at, truth) - SPAN)
        hi = (min(len(s.y), max(at, truth) + SPAN) if c.end is None
              else int(np.searchsorted(s.index, layout.position[int(c.end)], side="right")))
        note += "; " + profile_note(s, noise, at, truth, lo, hi)
    return "placed off", note


def _blind_score(ready, p, settings: DetectionSettings, weekly_or_slower: bool):
    """(score, bar, change %) of planted change `p` on the series prepared as usual."""
    layout, _, s, noise, _ = ready
    local = layout.local
    first = int(np.searchsorted(s.index, layout.position[p.start]))
    if p.end is None:
        width = local.level_window_days
        if not 0 < first < len(s.y):
            return None
        step = _measure(_Windows(s, s.y, s.known, noise), noise, max(0, first - width), first, min(len(s.y), first + width))
        return step.score, local.min_score, step.pct
    stop = int(np.searchsorted(s.index, layout.position[p.end], side="right"))
    sc = _Scan(s, noise, [stop - first], local, starts=[first]).exclude(s.known)
    score, _, before, during, pct = (float(v[0, 0]) for v in _window_scores(sc, replace(local, min_score=0.0)))
    bars = _bars([stop - first], local, 1.0 if weekly_or_slower else _LONG_BAR)[0]
    change = 100.0 * (during - before) / abs(before) if before else float("nan")
    return score, float(bars[0] if sc.counted[0, 0] else bars[1]), change


def _unreported_cause(case, p, ready, settings: DetectionSettings) -> tuple[str, str]:
    """(cause, note) of a miss that no detection overlaps."""
    if ready is None:
        return "below the bar", "series not prepared"
    weekly_or_slower = ready[0].freq.name in ("weekly", "monthly")
    blind = _blind_score(ready, p, settings, weekly_or_slower)
    if blind is None:
        return "below the bar", "window outside the series"
    score, bar, pct = blind
    known = window_changes(case.values, [Window(p.start, p.end)], kind=case.kind, dates=case.dates,
                           denominators=case.denominators, settings=settings)[0]
    known_score = 0.0 if known is None else float(known.score)
    note = f"score {score:.2f} (days left out {known_score:.2f}) vs bar {bar:.2f}, change {pct:+.0f}%"
    sized = ready[2].sized
    if score < bar:
        return ("absorbed by the fit" if known_score >= bar else "below the bar"), note
    if sized and abs(pct) < settings.min_change_pct:
        return "too small", note
    return "dropped", note


def miss_cause(case, p, detections, ready, settings: DetectionSettings) -> tuple[str, str]:
    """(cause, note) of planted change `p` of `case` that no detection matched."""
    overlapping = _overlapping(case, p, detections)
    near = [c for c in overlapping if str(c.direction) == p.direction]
    if near:
        return _found_cause(case, p, near, ready)
    if overlapping:
        c = overlapping[0]
        return "wrong direction", f"found {c.start}-{'' if c.end is None else c.end} {c.direction}"
    return _unreported_cause(case, p, ready, settings)


def _describe(case, p) -> str:
    width = "lasting" if p.end is None else f"{p.end - p.start + 1} periods"
    a_period = float(np.nanmean(case.values[max(p.start - 12, 0) : p.start])) if p.start else float("nan")
    return f"{p.start} {width} {p.direction} (level before ~{a_period:.3g})"


def main() -> None:
    args = profile_arguments(__doc__.splitlines()[0], DEFAULT_PROFILES)
    settings = DetectionSettings()
    detector = load_detector()
    print(f"misses and false alarms, split {args.split}, {args.count} series per profile; detector: {detector.name}")
    table = {}
    for profile in args.profiles:
        causes, alarms, planted = Counter(), Counter(), 0
        for i, case in enumerate(generate(profile, args.split, args.count)):
            outcome = run_case(detector, case)
            pairs = match(list(case.planted), outcome.starts, case.tolerance)
            found, matched = {k for k, _ in pairs}, {j for _, j in pairs}
            planted += len(case.planted)
            ready = None
            if len(found) < len(case.planted):
                ready = _ready(np.asarray(case.values, dtype=float), case.kind, case.dates, case.denominators, None,
                               settings, 0)
            for k, p in enumerate(case.planted):
                if k in found:
                    continue
                cause, note = miss_cause(case, p, outcome.detections, ready, settings)
                causes[cause] += 1
                print(f"  {profile} #{i} ({case.name}) missed {_describe(case, p)}: {cause}; {note}")
            for j, c in enumerate(outcome.detections):
                if j not in matched:
                    label = classify(case, int(c.start), None if c.end is None else int(c.end), str(c.direction))
                    alarms[label] += 1
                    print(f"  {profile} #{i} ({case.name}) false alarm {c.kind} {c.start}-{'' if c.end is None else c.end} "
                          f"{c.direction} score {c.score:.2f}: {label}")
        table[profile] = (planted, causes, alarms)
        print()
    print("misses by cause (planted changes missed):")
    print(f"{'profile':<14} {'planted':>7} {'missed':>6} " + " ".join(f"{c:>{max(len(c), 5)}}" for c in CAUSES))
    for profile, (planted, causes, _) in table.items():
        print(f"{profile:<14} {planted:>7} {sum(causes.values()):>6} "
              + " ".join(f"{causes[c]:>{max(len(c), 5)}}" for c in CAUSES))
    print("\nfalse alarms by class:")
    for profile, (_, _, alarms) in table.items():
        print(f"{profile}: {sum(alarms.values())} ({'; '.join(f'{k} {v}' for k, v in alarms.most_common()) or 'none'})")


if __name__ == "__main__":
    main()
