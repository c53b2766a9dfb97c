"""Where a conversion-rate episode loses power between its exact likelihood and the detector.

For each planted ratio window (pure binomial and beta-binomial series generated here, and
the ratio and small_company discount cases of the evaluation's tune split) it prints the
window's z on its exact days, step by step from an oracle to the detector's score:

- oracle: the likelihood ratio of the window's counts against the true baseline rate
  (binomial; beta-binomial at the true dispersion where the series has one), signed z;
- arcsine/p0: the window on the arcsine scale against the true baseline, binomial variance;
- dropped: as arcsine/p0 without the days the detector leaves out (unknown or without
  trials; days below `min_denominator` were left out too until issue-9bl), i.e. on the
  days it keeps;
- flanks: against the window's flanks instead of the true rate (binomial variance);
- quasi: day variance scaled by one overdispersion factor (the quasi-binomial model that
  rates had before the beta-binomial one, `quasi_binomial_floor`), for comparison;
- beta-binomial: the detector's body scale of each day instead, 0.25 / n * (1 + (n - 1) rho)
  at the fitted rho (`noise._beta_binomial_scales`; a weekday's own scale only where measured);
- tail: short windows weighed with the tail scale (the 95th percentile, where measured);
- ramp: the long-run (autocorrelation) inflation, where measured (`noise._RATE_LONG_RUN_GATE`);
- detector: the detector's score of that window (the rule: each flank alone shows half;
  a window of 2+ days capped by the binomial likelihood of its counts,
  `episodes._rate_window_cap`);
- bb-LR: for comparison, the two-sample likelihood ratio of the window's pooled counts
  against its flanks' (binomial, divided by the beta-binomial overdispersion of the
  contrast at the fitted rho), no weekday scales, tail or long-run terms.

Each line is the median over the cases of one source; the loss of an ingredient is the
drop from the line above. The bar of the width (`episodes._width_bars`; windows of 7 days and more on the stabilised scale are held to 1.1 times it) is printed below.

    PYTHONPATH=$PWD python3 benchmarks/ratio_power.py --seeds 40

`--clean N` instead counts the series with any detection among N clean 730-day rates of
each source (the ratio profile without effects, binomial and beta-binomial rates with flat
and business-week denominators): the false alarms a noise model for rates must not raise.

    PYTHONPATH=$PWD python3 benchmarks/ratio_power.py --clean 100
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.eval.profiles import generate  # noqa: E402
from ctxmetrics.config import DetectionSettings  # noqa: E402
from ctxmetrics.detect.episodes import _Scan, _width_bars, _window_scores  # noqa: E402
from ctxmetrics.detect.find import _ready  # noqa: E402
from ctxmetrics.detect.robust import mad  # noqa: E402

DAYS = 730
DATES = np.datetime64("2024-01-01") + np.arange(DAYS)
STEPS = ("oracle", "arcsine/p0", "dropped", "flanks", "quasi", "beta-binomial", "tail", "ramp", "detector", "bb-LR")


def generated(seed: int, concentration: float | None, level: float = 40.0, length: int = 3, lift: float = 0.8):
    """Numerators, denominators, window [a, b), base rate and dispersion of one series:
    Poisson(level) trials a day, rate 0.3 (x(1 + lift) in the window), beta-distributed
    around it at `concentration` (None: pure binomial)."""
    rng = np.random.default_rng(seed)
    den = rng.poisson(level, DAYS).astype(float)
    a = int(rng.integers(120, DAYS - 120))
    rate = np.where((np.arange(DAYS) >= a) & (np.arange(DAYS) < a + length), 0.3 * (1 + lift), 0.3)
    if concentration is not None:
        rate = rng.beta(rate * concentration, (1 - rate) * concentration)
    num = rng.binomial(den.astype(int), rate).astype(float)
    return num, den, DATES, (a, a + length), 0.3, concentration


def oracle_z(num, den, p0: float, concentration: float | None) -> float:
    """Signed z of the likelihood ratio of one rate over the window's days against `p0`."""
    from scipy import optimize, stats

    x, n = num.sum(), den.sum()
    if concentration is None:
        def loglik(p):
            return float(stats.binom.logpmf(num, den, p).sum())
    else:
        def loglik(p):
            return float(stats.betabinom.logpmf(num, den, p * concentration, (1 - p) * concentration).sum())
    best = optimize.minimize_scalar(lambda p: -loglik(p), bounds=(1e-4, 1 - 1e-4), method="bounded")
    ratio = 2.0 * (-best.fun - loglik(p0))
    return float(np.sign(x / n - p0) * math.sqrt(max(ratio, 0.0)))


def arcsine_z(num, den, p0: float) -> float:
    """The window's inverse-variance weighted arcsine mean against `p0`, binomial variance."""
    keep = den > 0
    y = np.arcsin(np.sqrt(num[keep] / den[keep]))
    weight = 4.0 * den[keep]
    return float(np.sum(weight * (y - np.arcsin(math.sqrt(p0)))) / math.sqrt(weight.sum()))


def window_score(s, noise, settings, a: int, b: int, rule: bool = False) -> float:
    """The z of the window [a, b) of prepared series `s` with `noise` (other days all
    baseline) against both flanks pooled, as the detector computes it; with `rule`, the
    detector's score (each flank alone must show half of it), signed as the pooled z."""
    sc = _Scan(s, noise, [b - a], settings, starts=[a]).exclude(s.known)
    score, *_ = _window_scores(sc, replace(settings, min_score=0.0))
    lo, hi, end = sc.lo_b[0, 0], sc.hi_a[0, 0], sc.end[0, 0]
    kw = sc.kw[a] - sc.kw[lo] + sc.kw[hi] - sc.kw[end]
    kwy = sc.kwy[a] - sc.kwy[lo] + sc.kwy[hi] - sc.kwy[end]
    pooled = (sc.m_w[0, 0] - kwy / kw) / math.sqrt(sc.v_w[0, 0] + sc.long_run / kw)
    return float(np.sign(pooled) * score[0, 0]) if rule else float(pooled)


def lr_score(s, noise, settings, a: int, b: int) -> float:
    """The bb-LR step: signed z of the two-sample binomial likelihood ratio of the window's
    pooled counts against its flanks' (both flanks, baseline days), divided by the
    beta-binomial overdispersion of the contrast at the fitted rho (1 + rho (sum n^2 / sum n - 1)
    each side)."""
    sc = _Scan(s, noise, [b - a], settings, starts=[a]).exclude(s.known)
    lo, hi, end = int(sc.lo_b[0, 0]), int(sc.hi_a[0, 0]), int(sc.end[0, 0])
    days = np.arange(len(s.y))
    window = (days >= a) & (days < end)
    flanks = (((days >= lo) & (days < a)) | ((days >= end) & (days < hi))) & ~s.known
    rho = noise.dispersion or 0.0

    def sums(mask):
        """Successes, trials and the beta-binomial overdispersion of their pooled rate."""
        n = s.den[mask]
        return s.num[mask].sum(), n.sum(), 1.0 + rho * ((n**2).sum() / n.sum() - 1.0)

    def deviance(k, m, q):
        """k log(k / mq) + (m - k) log((m - k) / m(1 - q)), 0 log 0 = 0."""
        hits = k * math.log(k / (m * q)) if k > 0 else 0.0
        return hits + ((m - k) * math.log((m - k) / (m * (1 - q))) if m > k else 0.0)

    (x, n, over_w), (xf, nf, over_f) = sums(window), sums(flanks)
    pooled = (x + xf) / (n + nf)
    ratio = 2.0 * (deviance(x, n, pooled) + deviance(xf, nf, pooled))
    return math.copysign(math.sqrt(max(ratio, 0.0) * (1 / n + 1 / nf) / (over_w / n + over_f / nf)), x / n - xf / nf)


def quasi_binomial_floor(s, level: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """The binomial variance of each day scaled by one overdispersion factor (the squared
    MAD of the residuals standardised by it, at least 1): the rates' noise floor before
    the beta-binomial model."""
    usable = ok & (s.floor_var > 0)
    if usable.sum() < 28:
        return s.floor_var
    standardised = (s.y - level)[usable] / np.sqrt(s.floor_var[usable])
    return s.floor_var * max(1.0, mad(standardised) ** 2)


def steps(num, den, dates, window, p0, concentration, settings) -> dict | None:
    """The z of each step of `STEPS` for one series (None when the detector drops it)."""
    start, stop = window
    ready = _ready(num.astype(float), "ratio", dates, den, None, settings, 0)
    if ready is None:
        return None
    _, _, s, noise, _ = ready
    a, b = int(np.searchsorted(s.index, start)), int(np.searchsorted(s.index, stop))
    if b <= a:
        return None
    days = slice(start, stop)
    kept = s.index[a:b]
    out = {
        "oracle": oracle_z(num[days], den[days], p0, concentration),
        "arcsine/p0": arcsine_z(num[days], den[days], p0),
        "dropped": arcsine_z(num[kept], den[kept], p0),
    }
    binomial = np.sqrt(s.floor_var)
    flat = replace(noise, scale=binomial, tail=binomial, day_var=float(np.mean(s.floor_var)))
    flat = replace(flat, lrv=flat.day_var)
    out["flanks"] = window_score(s, flat, settings, a, b)
    quasi = np.sqrt(quasi_binomial_floor(s, noise.level, ~s.known))
    out["quasi"] = window_score(s, replace(flat, scale=quasi, tail=quasi), settings, a, b)
    body = replace(flat, scale=noise.scale, tail=noise.scale)
    out["beta-binomial"] = window_score(s, body, settings, a, b)
    out["tail"] = window_score(s, replace(body, tail=noise.tail), settings, a, b)
    out["ramp"] = window_score(s, noise, settings, a, b)
    out["detector"] = window_score(s, noise, settings, a, b, rule=True)
    out["bb-LR"] = lr_score(s, noise, settings, a, b)
    out["bar"] = float(_width_bars([b - a], settings.min_score)[0])
    return out


def profile_cases(profile: str, count: int, keep):
    for case in generate(profile, "tune", count):
        if case.kind != "ratio" or not keep(case):
            continue
        for p in case.planted:
            if p.end is None or p.end - p.start + 1 > 14:
                continue
            yield case, (p.start, p.end + 1)


def _outside_rate(case, window) -> float:
    inside = np.zeros(len(case.values), bool)
    inside[window[0] : window[1]] = True
    ok = ~inside & np.isfinite(case.values) & np.isfinite(case.denominators)
    return float(case.values[ok].sum() / case.denominators[ok].sum())


def clean_series(seed: int, concentration: float | None, level: float, business: bool):
    """Numerators and denominators of one clean rate at 0.3: Poisson(level) trials a day
    (Saturdays and Sundays at a tenth of it when `business`), binomial or beta-binomial."""
    rng = np.random.default_rng(10_000 + seed)
    weekend = (np.arange(DAYS) % 7) >= 5
    den = rng.poisson(level * np.where(business & weekend, 0.1, 1.0)).astype(float)
    rate = np.full(DAYS, 0.3) if concentration is None else rng.beta(0.3 * concentration, 0.7 * concentration, DAYS)
    return rng.binomial(den.astype(int), rate).astype(float), den


def clean_alarms(count: int) -> None:
    """Print how many of `count` clean rates of each source raise any detection."""
    from benchmarks.eval.profiles import PROFILES
    from ctxmetrics.detect import find_changes

    sources = {
        "ratio profile, no effects": lambda i: PROFILES["clean"](np.random.default_rng([7, i]), 7),
        "binomial 40/day": lambda i: clean_series(i, None, 40.0, False),
        "binomial 40/business day": lambda i: clean_series(i, None, 40.0, True),
        "beta-binomial c=100, 200/business day": lambda i: clean_series(i, 100.0, 200.0, True),
        "beta-binomial c=300, 40/day": lambda i: clean_series(i, 300.0, 40.0, False),
    }
    for name, make in sources.items():
        alarmed = detections = 0
        for i in range(count):
            made = make(i)
            num, den, dates = (made.values, made.denominators, made.dates) if hasattr(made, "values") else (*made, DATES)
            found = find_changes(num, kind="ratio", denominators=den, dates=dates)
            alarmed += bool(found)
            detections += len(found)
        print(f"{name}: {alarmed} of {count} series alarmed ({detections} detections)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--clean", type=int, default=0, help="count false alarms on this many clean rates instead")
    args = parser.parse_args()
    if args.clean:
        clean_alarms(args.clean)
        return
    settings = DetectionSettings()
    sources = {
        "binomial 40/day, 3 days +80%": [generated(seed, None) for seed in range(args.seeds)],
        "beta-binomial c=300": [generated(seed, 300.0) for seed in range(args.seeds)],
        "binomial 40/day, 7 days +40%": [generated(seed, None, length=7, lift=0.4) for seed in range(args.seeds)],
    }
    rows = {}
    for name, series in sources.items():
        rows[name] = [steps(*one, settings) for one in series]
    tune = {
        "tune small_company discount": list(profile_cases("small_company", 100, lambda c: "discount" in c.name)),
        "tune ratio (<= 14 days)": list(profile_cases("ratio", 100, lambda c: True)),
    }
    for name, cases in tune.items():
        # the base rate as the days outside the window show it; binomial oracle
        rows[name] = [steps(c.values, c.denominators, c.dates, w, _outside_rate(c, w), None, settings) for c, w in cases]
    for name, results in rows.items():
        results = [r for r in results if r is not None]
        print(f"{name}: {len(results)} windows")
        bars = np.array([r["bar"] for r in results])
        for step in STEPS:
            values = np.array([abs(r[step]) for r in results])
            print(f"  {step:12s} median {np.median(values):5.2f}  q25 {np.quantile(values, 0.25):5.2f}"
                  f"  at the bar of its width: {np.mean(values >= bars):4.0%}")
        print(f"  bar          median {np.median(bars):5.2f}")


if __name__ == "__main__":
    main()
