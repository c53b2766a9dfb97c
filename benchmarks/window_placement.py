"""Episodes placed off at low counts: does the likelihood prefer the found window or the planted one? Prints, never asserts.

Usage: python benchmarks/window_placement.py [--split tune|holdout] [--count N] [PROFILE ...]

The count cases of benchmarks/evaluate.py's profiles (same seeds and matching rule; gauge,
ratio and heavy-tailed cases are skipped: no negative binomial drew them). For every planted
change that no detection matched while an unmatched detection in its direction overlaps it
(placed off: its start more than the tolerance away), the found window and the planted one
(a lasting change: to the end of the series) are compared under two likelihoods of "one
level inside the window, one level around it", over the same stretch (both windows and 56
days each side), the other detections' days left out:

- the detector's: its prepared series (weekday and calendar exposure, quasi-likelihood
  weights, `episodes._likelihood_sums`), tempered by the long-run variance as
  `shifts._place_by_likelihood` tempers it;
- the generator's: the negative binomial of the rate and gamma shape the case was drawn
  from (caught at `shapes.sample_counts`), the other planted changes in that rate, the
  window's multiplier fitted.

A log-likelihood gain above 1 either way says which window the data prefer; within 1 is a
tie. Then, over every planted change with a detection in its direction over it: how many
starts are within the tolerance as the detector dates them, and as the generator's Poisson
likelihood dates them (true baseline known, both ends searched +-20 days around the
detection's): what a placement from the days alone could reach.
"""
from __future__ import annotations

import sys
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
from scipy.special import gammaln

sys.path.append(str(Path(__file__).resolve().parents[1]))

from benchmarks.eval import shapes  # noqa: E402
from benchmarks.eval.profiles import PROFILES, SPLITS, profile_arguments  # noqa: E402
from benchmarks.eval.scoring import match  # noqa: E402
from ctxmetrics.config import DetectionSettings  # noqa: E402
from ctxmetrics.detect import find_changes  # noqa: E402
from ctxmetrics.detect.episodes import _likelihood_sums, _segment_fit  # noqa: E402
from ctxmetrics.detect.find import _ready  # noqa: E402

SPAN, REACH = 56, 20
MULTIPLIERS = np.exp(np.linspace(np.log(0.002), np.log(8.0), 400))[:, None]
_DRAWN: dict = {}  # the rate, shape and effects of the case being generated


def _catch(sample_counts, multiplier):
    """`shapes.sample_counts` and `shapes.multiplier` that also keep what a case is drawn from."""
    def sample(rng, rate, shape, heavy=0.0):
        if np.ndim(rate) == 1 and "rate" not in _DRAWN:  # the series itself (a ratio's denominator comes later)
            _DRAWN.update(rate=np.array(rate, float), shape=shape, heavy=heavy)
        return sample_counts(rng, rate, shape, heavy)

    def effects(n, chosen):
        _DRAWN["effects"] = list(chosen)
        return multiplier(n, chosen)
    return sample, effects


def _drawn_cases(profile: str, split: str, count: int):
    """(index, case, rate without the planted changes, shape, effects) of the count cases
    (no heavy tails) that `profiles.generate` draws."""
    number, split_number = zlib.crc32(profile.encode()), SPLITS.index(split)
    for i in range(count):
        _DRAWN.clear()
        case = PROFILES[profile](np.random.default_rng(np.random.SeedSequence([number, split_number, i])), i)
        if case.kind != "count" or "rate" not in _DRAWN or _DRAWN["heavy"]:
            continue
        effects = _DRAWN.get("effects", [])
        rate, mult = _DRAWN["rate"], shapes.multiplier(len(case.values), effects)
        base = np.where(mult > 0, rate / np.where(mult > 0, mult, 1.0), np.nan)
        for t in np.flatnonzero(np.isnan(base)):  # a -100% day: the same weekday a week before
            base[t] = base[t - 7]
        yield i, case, base, _DRAWN["shape"], effects


def _nb_fit(x, base, a: int, b: int, lo: int, hi: int, shape: float) -> float:
    """Negative-binomial log-likelihood of x[lo:hi] with mean `base`, times a fitted multiplier on [a, b)."""
    inside = (np.arange(lo, hi) >= a) & (np.arange(lo, hi) < b)
    mu = np.maximum(base[None, lo:hi] * np.where(inside, MULTIPLIERS, 1.0), 1e-9)
    xs = np.broadcast_to(x[lo:hi], mu.shape)
    ok = np.isfinite(x[lo:hi])
    xs, mu = xs[:, ok], mu[:, ok]
    ll = gammaln(xs + shape) - gammaln(shape) - gammaln(xs + 1) + shape * np.log(shape / (shape + mu)) + xs * np.log(mu / (shape + mu))
    return float(ll.sum(axis=1).max())


def _detector_fit(s, noise, keep, a: int, b: int, lo: int, hi: int) -> float:
    """The detector's tempered log-likelihood of one level in [a, b), one around it in [lo, hi)."""
    events, exposure = _likelihood_sums(s, noise, keep)
    x_in, e_in = events[b] - events[a], exposure[b] - exposure[a]
    x_all, e_all = events[hi] - events[lo], exposure[hi] - exposure[lo]
    fit = _segment_fit(np.array([x_in, x_all - x_in]), np.array([e_in, e_all - e_in]), s).sum()
    return float(fit) / (noise.lrv / noise.day_var)


def _poisson_start(x, base, start: int, stop: int, lasting: bool) -> int:
    """The start of the likeliest window (Poisson, true baseline) with ends within `REACH` of [start, stop)."""
    n = len(x)
    ok = np.isfinite(x)
    cx, cb = np.r_[0, np.cumsum(np.where(ok, x, 0.0))], np.r_[0, np.cumsum(np.where(ok, base, 0.0))]
    firsts = np.arange(max(1, start - REACH), min(start + REACH, stop - 1) + 1)[:, None]
    stops = np.array([[n]]) if lasting else np.arange(max(start + 1, stop - REACH), min(stop + REACH, n) + 1)[None, :]
    inx, ine = cx[stops] - cx[firsts], cb[stops] - cb[firsts]
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.where(inx > 0, inx * np.log(inx / ine), 0.0) - inx + ine
    gain = np.where(stops > firsts, gain, -np.inf)
    return int(firsts[np.unravel_index(int(np.argmax(gain)), gain.shape)[0], 0])


def _who(gain: float) -> str:
    return "found" if gain > 1 else "planted" if gain < -1 else "tie"


def run(profile: str, split: str, count: int, settings: DetectionSettings) -> None:
    table, near, by_detector, by_data = Counter(), 0, 0, 0
    for i, case, base, shape, effects in _drawn_cases(profile, split, count):
        x, n = np.asarray(case.values, dtype=float), len(case.values)
        changes = find_changes(case.values, kind=case.kind, dates=case.dates, denominators=case.denominators)
        spans = [(c.start, n if c.end is None else c.end + 1) for c in changes]
        pairs = match(list(case.planted), [(c.start, c.direction) for c in changes], case.tolerance)
        found, used = {k for k, _ in pairs}, {j for _, j in pairs}
        ready = _ready(x, case.kind, case.dates, case.denominators, None, settings, 0)
        for k, (p, effect) in enumerate(zip(case.planted, effects)):
            stop = n if p.end is None else p.end + 1
            over = [j for j, c in enumerate(changes) if c.direction == p.direction and min(spans[j][1], stop) > max(c.start, p.start)]
            if not over:
                continue
            j = min(over, key=lambda j: abs(changes[j].start - p.start))
            # this change's baseline: the other planted changes stay in it
            own = base * shapes.multiplier(n, [e for e in effects if e is not effect])
            a, b = spans[j]
            near += 1
            by_detector += abs(a - p.start) <= case.tolerance
            by_data += abs(_poisson_start(x, own, a, b, changes[j].end is None) - p.start) <= case.tolerance
            if k in found or j in used or ready is None or abs(a - p.start) <= case.tolerance:
                continue
            off = a - p.start
            far = "3-5" if abs(off) <= 5 else "6-10" if abs(off) <= 10 else ">10"
            if changes[j].end is None and p.end is not None:
                table[far, "lasting over temporary"] += 1  # its window is not the question: see false_alarms.py
                continue
            s, noise, position = ready[2], ready[3], ready[0].position
            prepared = np.searchsorted(s.index, np.r_[position, position[-1] + 1])  # index of `x` -> of `s`
            others = np.zeros(len(s.y), bool)
            for q, (qa, qb) in enumerate(spans):
                others[prepared[qa]:prepared[qb]] |= q != j and changes[q].end is not None
            lo, hi = max(0, min(a, p.start) - SPAN), min(n, max(b, stop) + SPAN)
            keep = ~(s.known | others)
            mine = _detector_fit(s, noise, keep, *prepared[[a, b, lo, hi]]) - _detector_fit(
                s, noise, keep, *prepared[[p.start, stop, lo, hi]])
            data = _nb_fit(x, own, a, b, lo, hi, shape) - _nb_fit(x, own, p.start, stop, lo, hi, shape)
            table[far, "compared"] += 1
            table[far, "detector " + _who(mine)] += 1
            table[far, "generator " + _who(data)] += 1
            width = "lasting" if p.end is None else f"{stop - p.start}d"
            print(f"  {profile} #{i} planted {p.start} {width} {p.direction}, found {a}-{'' if changes[j].end is None else b - 1} "
                  f"({off:+d}) at {np.nanmean(x[max(0, p.start - SPAN):p.start]):.2f} a day: loglik(found) - loglik(planted) "
                  f"detector {mine:+.1f} ({_who(mine)}), generator {data:+.1f} ({_who(data)})")
    print(f"{profile}: misplaced by offset (detector's likelihood prefers found / tie / planted; generator's the same):")
    for far in ("3-5", "6-10", ">10"):
        print(f"  {far:>4} days: {table[far, 'compared']:>3} windows compared; detector "
              + " / ".join(str(table[far, f"detector {w}"]) for w in ("found", "tie", "planted")) + "; generator "
              + " / ".join(str(table[far, f"generator {w}"]) for w in ("found", "tie", "planted"))
              + f"; and {table[far, 'lasting over temporary']} lasting shifts over a temporary change")
    print(f"  {near} planted changes with a detection in their direction over them; start within the tolerance: "
          f"the detector's {by_detector}, the generator's Poisson likelihood (ends +-{REACH} days) {by_data}\n")


def main() -> None:
    args = profile_arguments(__doc__.splitlines()[0], ("sparse", "small_company", "volumes"))
    # the profiles draw through `shapes`' functions: caught there, each case's rate is known
    shapes.sample_counts, shapes.multiplier = _catch(shapes.sample_counts, shapes.multiplier)
    settings = DetectionSettings()
    for profile in args.profiles:
        run(profile, args.split, args.count, settings)


if __name__ == "__main__":
    main()
