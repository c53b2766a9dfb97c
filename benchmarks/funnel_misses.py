"""Every miss and false alarm of funnel_e2e, one line each, with its class. Prints, never asserts.

Usage: python benchmarks/funnel_misses.py [--split tune|holdout] [--count N] [--first I] [--tagged]

The funnels, seeds and matching rule are those of benchmarks/evaluate.py's funnel_e2e
(benchmarks/eval/funnel.py). Each miss is put in the first class that fits it:

- placed wrong: an anomaly on the effect's stage and scope in its direction overlaps it
  but starts more than 2 days away (printed: its days from the effect's start, its view);
- found elsewhere: only an anomaly on another scope of its stage (a rollup or a part)
  matches it in time and direction;
- not reported: nothing on its stage and scope near it, with the effect's size in
  sigmas of the generator's daily noise on that scope (the power it gives the detector).

Each false alarm is put in the first class that fits it:

- early part: it shares leaf segments with an effect of its stage and direction and
  starts 3-30 days before it (a change placed early or found as two pieces); "on a
  crossing scope" when its scope neither holds nor lies within the effect's (paid for an
  effect on NA: `scan.crossings`);
- echo beyond the rule: it shares leaf segments with an effect and starts 13-30 days
  after its start or recovery (the funnel's lags, a slow recovery);
- inside: it lies within an effect (on any stage) but matches nothing;
- latest days: it starts within the last 14 days of the series (the latest-days check);
- no effect near: nothing planted within 30 days of it.

The false alarms are also counted as stories: one chance change shows on several scopes
and stages (a cell, its region and its channel the same day; mql, then sql two days
later), each a false alarm of its own. Two false alarms tell one story when they move
the same way, their scopes share cells and they start within the echo span (12 days) of
each other.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.append(str(Path(__file__).resolve().parents[1]))

from benchmarks.eval.funnel import DAYS, ECHO_DAYS, START, TOLERANCE_DAYS, draw_effects, draw_tags, false_alarms, funnel_rng, match_effects, scan_funnel, tally_funnel  # noqa: E402
from benchmarks.eval.profiles import SPLITS  # noqa: E402

NEAR_DAYS = 30


def _overlaps(segment: dict, scope: dict) -> bool:
    return all(segment.get(key, value) == value for key, value in scope.items())


def _direction(effect) -> str:
    return "up" if effect.magnitude > 0 else "down"


def _edges(effect) -> list:
    import datetime as dt

    return [effect.start] + ([effect.end + dt.timedelta(days=1)] if effect.end else [])


def _end(thing):
    import datetime as dt

    return thing.end or dt.date.max


def _sigmas(effect, frame) -> float:
    """The effect's size over the generator's daily noise on its scope and stage: the
    daily mean change over the standard deviation of the days before it, times the
    square root of its length in days (28 for a lasting one)."""
    import polars as pl

    rows = frame.filter(pl.col("metric") == effect.metric)
    for key, value in effect.segment.items():
        rows = rows.filter(pl.col(key) == value)
    daily = rows.group_by("date").agg(pl.col("value").sum()).sort("date")
    dates, values = daily["date"].to_list(), daily["value"].to_numpy().astype(float)
    i = dates.index(effect.start)
    before = values[max(0, i - 56):i]
    length = 28 if effect.end is None else (effect.end - effect.start).days + 1
    sd = np.std(before - np.convolve(before, np.ones(7) / 7, mode="same")) or 1.0
    return abs(effect.magnitude) * float(np.mean(before)) / sd * np.sqrt(min(length, 28))


def classify_miss(effect, anomalies, frame) -> str:
    direction = _direction(effect)
    own = [a for a in anomalies if a.metric == effect.metric and a.segment == effect.segment and a.direction == direction]
    placed = [a for a in own if a.start <= _end(effect) and effect.start <= _end(a)]
    if placed:  # each with the view that dated it, so that the misplaced finds can be listed by view
        return "placed wrong (" + ", ".join(f"{(a.start - effect.start).days:+d} days {a.found_by}" for a in placed) + ")"
    related = [a for a in anomalies if a.metric == effect.metric and a.direction == direction
               and a.segment != effect.segment
               and (_overlaps(a.segment, effect.segment) or _overlaps(effect.segment, a.segment))]
    if any(abs((a.start - effect.start).days) <= TOLERANCE_DAYS for a in related):
        return "found elsewhere"
    return f"not reported ({_sigmas(effect, frame):.1f} sigma)"


def classify_alarm(anomaly, effects) -> str:
    from ctxmetrics.scan.crossings import crossing

    last_day = START.toordinal() + DAYS - 1
    for e in effects:
        if (e.metric == anomaly.metric and _direction(e) == anomaly.direction and _overlaps(anomaly.segment, e.segment)
                and 3 <= (e.start - anomaly.start).days <= NEAR_DAYS):
            return "early part" + (" on a crossing scope" if crossing(anomaly.segment, e.segment) else "")
    for e in effects:
        if _overlaps(anomaly.segment, e.segment) and any(13 <= (anomaly.start - s).days <= NEAR_DAYS for s in _edges(e)):
            return "echo beyond the rule"
    for e in effects:
        if _overlaps(anomaly.segment, e.segment) and e.start <= anomaly.start <= _end(e):
            return "inside"
    if last_day - anomaly.start.toordinal() < 14:
        return "latest days"
    return "no effect near"


def _share_cells(a: dict, b: dict) -> bool:
    """Two scopes share cells when no dimension both name has different values."""
    return all(a[key] == b[key] for key in a.keys() & b.keys())


def alarm_stories(alarms: list) -> int:
    """How many stories `alarms` (one funnel's false alarms) tell (module docstring): the
    groups of alarms linked, directly or through others, by direction, shared cells and
    starts within `ECHO_DAYS`."""
    story = list(range(len(alarms)))

    def root(i: int) -> int:
        while story[i] != i:
            i = story[i]
        return i

    for i, a in enumerate(alarms):
        for j in range(i):
            b = alarms[j]
            if (a.direction == b.direction and _share_cells(a.segment, b.segment)
                    and abs((a.start - b.start).days) <= ECHO_DAYS):
                story[root(i)] = root(j)
    return len({root(i) for i in range(len(alarms))})


def _describe(thing) -> str:
    scope = ",".join(f"{k}={v}" for k, v in thing.segment.items()) or "all"
    end = "lasting" if thing.end is None else f"to {thing.end}"
    return f"{thing.metric:<14}{scope:<28}{thing.start} {end}"


def main() -> None:
    from ctxmetrics.synth import generate_funnel

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=SPLITS, default="tune")
    parser.add_argument("--count", type=int, default=3, help="funnels (evaluate.py's split has its own count)")
    parser.add_argument("--first", type=int, default=0, help="index of the first funnel")
    parser.add_argument("--tagged", action="store_true", help="with funnel_tagged's tags and decoys")
    args = parser.parse_args()
    classes: Counter = Counter()
    found = planted = judged = stories = 0
    for i in range(args.first, args.first + args.count):
        rng = funnel_rng(SPLITS.index(args.split), i)
        effects = draw_effects(rng)
        data_seed = int(rng.integers(2**31))
        tags: list[dict] = []
        if args.tagged:
            effect_tags, decoys = draw_tags(np.random.default_rng([data_seed, 1]), effects)
            tags = effect_tags + decoys
        anomalies = scan_funnel(data_seed, effects, tags)
        frame = generate_funnel(data_seed, start=START, days=DAYS, effects=tuple(effects)).frame
        tally = tally_funnel(effects, anomalies)
        found, planted, judged = found + tally.found, planted + tally.planted, judged + tally.detections
        print(f"funnel {i}: found {tally.found}/{tally.planted}, {tally.detections - tally.found} false alarms "
              f"in {tally.detections} judged ({len(anomalies)} anomalies)")
        for e in effects:
            print(f"    effect {_describe(e)} {e.magnitude:+.2f}")
        for t in tags:
            print(f"    tag    {t['id']:<10}{t['type']:<10}{t['start']} to {t.get('end', 'lasting')} {t['scope']}")
        for e in [e for e, hit in zip(effects, match_effects(effects, anomalies)[0]) if not hit]:
            kind = classify_miss(e, anomalies, frame)
            classes["miss: " + kind.split(" (")[0]] += 1
            print(f"  MISS  {_describe(e)} {e.magnitude:+.2f}: {kind}")
        alarms = false_alarms(effects, anomalies)
        stories += alarm_stories(alarms)
        for a in alarms:
            kind = classify_alarm(a, effects)
            classes["false alarm: " + kind] += 1
            print(f"  FA    {_describe(a)} {a.direction} {a.change_pct:+.0f}% score {a.score} {a.found_by}: {kind}")
    print(f"\n{args.split} funnels {args.first}..{args.first + args.count - 1}: recall {found}/{planted}, "
          f"precision {found}/{judged}; {judged - found} false alarms in {stories} stories")
    for kind, n in classes.most_common():
        print(f"  {n:>3}  {kind}")


if __name__ == "__main__":
    main()
