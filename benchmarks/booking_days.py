"""How often `ingest.cadence.booking_of` reads a daily count as booked once a month or once
a week: sparse daily counts (Poisson, which must stay daily) and counts booked on a day of
each period (which must not).

For each class, `--count` generated series of each span; prints the share read monthly,
weekly, too few to tell, and daily. Deterministic (seeded).

Usage: python benchmarks/booking_days.py [--count 2000]
"""
from __future__ import annotations

import argparse
import datetime as dt

import numpy as np
import polars as pl

from ctxmetrics.ingest.cadence import Booking, booking_of

FIRST = dt.date(2024, 1, 1)
SPANS = (120, 365, 730)  # days: four months, a year, two years


def _days(span: int) -> list[dt.date]:
    return [FIRST + dt.timedelta(days=i) for i in range(span)]


def _last_business_day(day: dt.date) -> bool:
    following = day + dt.timedelta(days=1)
    while following.weekday() >= 5:
        following += dt.timedelta(days=1)
    return day.weekday() < 5 and following.month != day.month


def _first_business_day(day: dt.date) -> bool:
    before = day - dt.timedelta(days=1)
    while before.weekday() >= 5:
        before -= dt.timedelta(days=1)
    return day.weekday() < 5 and before.month != day.month


BOOKED = {  # which days of a daily file carry the booked count
    "the 1st": lambda d: d.day == 1,
    "the 15th": lambda d: d.day == 15,
    "the last day": lambda d: (d + dt.timedelta(days=1)).day == 1,
    "the last business day": _last_business_day,
    "the first business day": _first_business_day,
    "Fridays": lambda d: d.weekday() == 4,
    "Mondays": lambda d: d.weekday() == 0,
}


def _verdict(found) -> str:
    if isinstance(found, Booking):
        return found.granularity
    return "too few" if found is None else "daily"


def _shares(verdicts: list[str]) -> str:
    return "  ".join(f"{k} {verdicts.count(k) / len(verdicts):.4f}" for k in ("monthly", "weekly", "too few", "daily"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    rng = np.random.default_rng(9)
    print("sparse daily counts (must stay daily):")
    for rate in (0.02, 0.05, 0.1, 0.2, 0.5):
        for span in SPANS:
            days = pl.Series(_days(span), dtype=pl.Date)
            verdicts = [
                _verdict(booking_of(days.filter(pl.Series(rng.poisson(rate, span) > 0)))) for _ in range(args.count)
            ]
            print(f"  Poisson {rate}/day, {span} days: {_shares(verdicts)}")
    print("booked counts (a Poisson 20 on each booking day, 0 elsewhere; 5% of booking days 0):")
    for name, booked in BOOKED.items():
        for span in SPANS:
            on = [d for d in _days(span) if booked(d)]
            verdicts = [
                _verdict(booking_of(pl.Series([d for d in on if rng.random() > 0.05 and rng.poisson(20) > 0], dtype=pl.Date)))
                for _ in range(args.count // 10)
            ]
            print(f"  {name}, {span} days: {_shares(verdicts)}")


if __name__ == "__main__":
    main()
