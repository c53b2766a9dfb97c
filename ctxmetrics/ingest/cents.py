"""Amounts written in cents (Stripe's `amount` of 2900 for $29.00): told apart by `init
--from` where the export says so, and divided by 100 at ingest for a metric declared
`cents: true`.

A payments API writes money in the currency's smallest unit, so read as it is a month of
$29 subscriptions is reported as 2,900 dollars a sale. What says so: a column name with
`cents` in it (`amount_cents`, `Amount (cents)`), or Stripe's own shape, whole numbers in
an amount column beside a `currency` column of lowercase ISO codes (`usd`), which is how
Stripe's API and exports write them (CRM exports write `USD`, and their amounts are whole
currency units). Currencies without cents (Stripe's zero-decimal list: JPY, KRW, ...) are
written in whole units and are not divided.
"""
from __future__ import annotations

import re

import polars as pl

from ctxmetrics.config import Config
from ctxmetrics.ingest.amounts import AMOUNT_WORDS, _words

CENTS_WORDS = frozenset({"cents", "cent", "pence", "minor"})
# Stripe's zero-decimal currencies: their amounts are whole units already.
ZERO_DECIMAL = frozenset({
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf",
})
_WHOLE = re.compile(r"-?\d+")
_LOWER_CODE = re.compile(r"[a-z]{3}")


def cents_reason(name: str, cells: pl.Series, currency: pl.Series | None) -> str | None:
    """Why the column `name` of `cells` (as written) holds cents, or None when nothing says so."""
    words = set(_words(name))
    if words & CENTS_WORDS:
        return f"its name says cents ('{name}')"
    if currency is None or not words & AMOUNT_WORDS:
        return None
    text = cells.cast(pl.Utf8).str.strip_chars().drop_nulls()
    codes = currency.cast(pl.Utf8).str.strip_chars().drop_nulls()
    if text.len() == 0 or codes.len() == 0:
        return None
    if not (text.str.contains(f"^{_WHOLE.pattern}$").all() and codes.str.contains(f"^{_LOWER_CODE.pattern}$").all()):
        return None
    return (
        f"whole numbers ({text[0]}) beside a column of lowercase currency codes ('{codes[0]}'), "
        "as Stripe writes amounts in cents"
    )


def currency_column(columns: list[str]) -> str | None:
    return next((c for c in columns if c.strip().lower() == "currency"), None)


def in_currency_units(frame: pl.DataFrame, config: Config) -> tuple[pl.DataFrame, list[str]]:
    """The rows of `frame` (metric, ts, value, dimensions) with the values of metrics
    declared `cents: true` divided by 100, but for rows whose currency has no cents; and
    what to say of it."""
    metrics = [name for name, spec in config.metrics.items() if spec.cents]
    if not metrics or frame.height == 0:
        return frame, []
    scaled = pl.col("metric").is_in(metrics)
    currency = currency_column(frame.columns)
    if currency is not None:
        scaled = scaled & ~pl.col(currency).str.to_lowercase().is_in(list(ZERO_DECIMAL)).fill_null(False)
    present = sorted(set(frame.filter(pl.col("metric").is_in(metrics))["metric"].unique().to_list()))
    if not present:
        return frame, []
    frame = frame.with_columns(pl.when(scaled).then(pl.col("value") / 100).otherwise(pl.col("value")).alias("value"))
    whole = f"; rows in {', '.join(sorted(ZERO_DECIMAL & _codes(frame, currency)))}, a currency without cents, as written" if (
        currency is not None and ZERO_DECIMAL & _codes(frame, currency)) else ""
    return frame, [
        f"{', '.join(present)}: written in cents (cents: true in ctxmetrics.yaml), stored in whole currency units, "
        f"divided by 100{whole}."
    ]


def _codes(frame: pl.DataFrame, currency: str) -> set[str]:
    return {str(c).lower() for c in frame[currency].unique().drop_nulls().to_list()}
