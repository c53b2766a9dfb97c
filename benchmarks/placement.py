"""Boundary placement: how far from the truth a change is dated, against what the data allow (issue 9).

Usage: python benchmarks/placement.py [--seeds N] | --tune PROFILE [PROFILE ...] [--count N]

Controlled series (default): 730 days of business-week counts (weekend days at a fifth
of a weekday), a lasting +-30% step or a 30-day +-30% episode that starts on a Monday
(after the quiet weekend), a Thursday or a Saturday, at 5, 15 and 50 events a weekday
(gamma-Poisson, shape 30). Per seed, two starts:
- the detector's: the detection (`find_changes`) in the change's direction nearest it,
  within 30 days;
- the data's: the exact-likelihood change day, the Poisson maximum with the weekday
  factors known (the generator's), over the days the detector measures a step on (56
  before; 56 after a lasting step, the episode's own days after an episode's start).
Prints, per setting, how many of the seeds the detector found, and how many starts are
within 2 days of the truth: the detector's, and the data's on the same seeds and on all.

`--tune`: every misplaced detection of the evaluation's tune split (a planted change with
no detection within 2 days, but one in its direction 3-40 days off), with its planted and
found start, width, events a day, weekdays between the two, and the start's likelihood
profile under the detector's own model (its prepared series: weekday and close
exposure, quasi-likelihood weights, tempered by the long-run variance as
`shifts._place_by_likelihood` tempers it) over +-14 days: how much more likely the found
start is than the planted one (log-likelihood), and the posterior mass within 2 days of
each. Prints, never asserts.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.append(str(Path(__file__).resolve().parents[1]))

from benchmarks.eval.profiles import generate  # noqa: E402
from benchmarks.eval.scoring import match  # noqa: E402
from ctxmetrics.config import DetectionSettings  # noqa: E402
from ctxmetrics.detect import find_changes  # noqa: E402
from ctxmetrics.detect.episodes import _likelihood_sums, _segment_fit  # noqa: E402
from ctxmetrics.detect.find import _ready  # noqa: E402

DAYS, SPAN, TOLERANCE = 730, 56, 2
WEEK = np.r_[np.ones(5), 0.2, 0.2] / np.mean(np.r_[np.ones(5), 0.2, 0.2])
WEEKDAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")


def controlled(rng, rate: float, size: float, weekday: int, length: int | None):
    """(values, dates, start) of one business-week series with one step or episode."""
    dates = np.datetime64("2024-01-01") + np.arange(DAYS)  # a Monday
    start = 7 * int(rng.integers(40, 60)) + weekday
    mult = np.ones(DAYS)
    mult[start : DAYS if length is None else start + length] *= 1.0 + size
    lam = rate * WEEK[np.arange(DAYS) % 7] * mult * rng.gamma(30.0, 1 / 30.0, DAYS)
    return rng.poisson(lam).astype(float), dates, start


def likeliest_start(values: np.ndarray, start: int, length: int | None, reach: int = 14) -> int:
    """The Poisson maximum-likelihood change day near `start`, weekday factors known."""
    lo, hi = start - SPAN, start + (SPAN if length is None else length)
    x, e = np.r_[0, np.cumsum(values)], np.r_[0, np.cumsum(WEEK[np.arange(DAYS) % 7])]
    days = np.arange(start - reach, start + reach + 1)
    fit = _poisson_fit(x[days] - x[lo], e[days] - e[lo]) + _poisson_fit(x[hi] - x[days], e[hi] - e[days])
    return int(days[np.argmax(fit)])


def _poisson_fit(x: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Maximised Poisson log-likelihood of `x` events over exposure `e` (up to the split's constants)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > 0, x * np.log(x / e), 0.0)


def run_controlled(seeds: int) -> None:
    print(f"{'a day':>5} {'change':<9} {'size':>5} {'starts':<7} {'found':>6} {'detector within 2':>18} "
          f"{'data within 2 (found)':>22} {'data within 2 (all)':>20}")
    total = np.zeros(5, int)
    for rate in (5, 15, 50):
        for length in (None, 30):
            for size in (0.3, -0.3):
                for weekday in (0, 3, 5):
                    found = near = data_found = data = 0
                    for seed in range(seeds):
                        rng = np.random.default_rng([seed, rate, weekday, 1 if size > 0 else 0, length or 0])
                        values, dates, start = controlled(rng, rate, size, weekday, length)
                        best = abs(likeliest_start(values, start, length) - start) <= TOLERANCE
                        data += best
                        direction = "up" if size > 0 else "down"
                        starts = [c.start for c in find_changes(values, dates=dates)
                                  if c.direction == direction and abs(c.start - start) <= 30]
                        if starts:
                            found += 1
                            near += min(abs(d - start) for d in starts) <= TOLERANCE
                            data_found += best
                    total += (found, near, data_found, data, seeds)
                    change = "lasting" if length is None else f"{length} days"
                    print(f"{rate:>5} {change:<9} {size:>+5.0%} {WEEKDAYS[weekday]:<7} {found:>3}/{seeds:<2} "
                          f"{near:>15}/{found:<2} {data_found:>19}/{found:<2} {data:>17}/{seeds:<2}")
    found, near, data_found, data, series = total
    print(f"all: found {found}; of those, the detector's start within 2 days {near}, the data's {data_found}; "
          f"the data's on every seed {data} of {series}")


def profile_note(s, noise, at: int, truth: int, lo: int, hi: int) -> str:
    """The found start `at` against the planted `truth` (positions of `s`) under the
    detector's likelihood of one change day in [lo, hi)."""
    days = np.arange(max(lo + 1, min(at, truth) - 14), min(hi - 1, max(at, truth) + 14) + 1)
    if days.size == 0 or not (days[0] <= truth <= days[-1] and days[0] <= at <= days[-1]):
        return "planted start outside the found change's stretch"
    events, exposure = _likelihood_sums(s, noise, ~s.known)
    fit = _segment_fit(events[days] - events[lo], exposure[days] - exposure[lo], s) + _segment_fit(
        events[hi] - events[days], exposure[hi] - exposure[days], s)
    loglik = fit / (noise.lrv / noise.day_var)
    post = np.exp(loglik - loglik.max())
    post /= post.sum()
    day = s.index[days]

    def mass(centre: int) -> float:
        return float(post[np.abs(day - s.index[centre]) <= TOLERANCE].sum())

    gain = loglik[days == at][0] - loglik[days == truth][0]
    return (f"loglik(found) - loglik(planted) {gain:+.1f}, likeliest day {int(day[np.argmax(loglik)] - s.index[truth]):+d}, "
            f"posterior within 2 days: planted {mass(truth):.2f}, found {mass(at):.2f}")


def run_tune(profiles: list[str], count: int) -> None:
    settings = DetectionSettings()
    for profile in profiles:
        misplaced = planted = 0
        for i, case in enumerate(generate(profile, "tune", count)):
            changes = find_changes(case.values, kind=case.kind, dates=case.dates, denominators=case.denominators)
            pairs = match(list(case.planted), [(c.start, c.direction) for c in changes], case.tolerance)
            found, used = {p for p, _ in pairs}, {d for _, d in pairs}
            ready = _ready(np.asarray(case.values, dtype=float), case.kind, case.dates, case.denominators, None,
                           settings, 0)
            if ready is None:
                continue
            s, noise = ready[2], ready[3]
            weekday = (case.dates.astype("datetime64[D]").astype(np.int64) + 3) % 7
            planted += len(case.planted)
            for k, p in enumerate(case.planted):
                near = [(abs(c.start - p.start), j) for j, c in enumerate(changes)
                        if j not in used and c.direction == p.direction and TOLERANCE < abs(c.start - p.start) <= 40]
                if k in found or not near:
                    continue
                c = changes[min(near)[1]]
                misplaced += 1
                at, truth = int(np.searchsorted(s.index, c.start)), int(np.searchsorted(s.index, p.start))
                lo = max(0, at - SPAN)
                hi = min(len(s.y), at + SPAN) if c.end is None else int(np.searchsorted(s.index, c.end, side="right"))
                for other in changes:  # the stretch stops at the neighbouring changes
                    o_start = int(np.searchsorted(s.index, other.start))
                    o_stop = len(s.y) if other.end is None else int(np.searchsorted(s.index, other.end, side="right"))
                    lo = o_stop if lo < o_stop <= min(at, truth) else lo
                    hi = o_start if max(at, truth) < o_start < hi else hi
                width = "lasting" if p.end is None else f"{p.end - p.start + 1}d"
                between = weekday[min(p.start, c.start) : max(p.start, c.start)]
                a_day = float(np.nanmean(case.values[max(p.start - SPAN, 0) : p.start]))
                print(f"{profile}#{i} {width:>7} {p.direction:<4} planted {p.start} ({WEEKDAYS[weekday[p.start]]}) "
                      f"found {c.start} ({c.start - p.start:+d}, {WEEKDAYS[weekday[c.start]]}, {c.kind}) {a_day:.1f} a day, "
                      f"{np.sum(between >= 5)} weekend days of {len(between)} between; "
                      + profile_note(s, noise, at, truth, lo, hi))
        print(f"{profile}: {misplaced} misplaced of {planted} planted\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8, help="seeds per controlled setting")
    parser.add_argument("--tune", nargs="+", metavar="PROFILE", help="misplaced detections of these tune profiles")
    parser.add_argument("--count", type=int, default=100, help="series per tune profile")
    args = parser.parse_args()
    if args.tune:
        run_tune(args.tune, args.count)
    else:
        run_controlled(args.seeds)


if __name__ == "__main__":
    main()
