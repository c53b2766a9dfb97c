"""`init --from`'s guess between an amount and a gauge for a column that is not a count.

Both hold numbers that are not non-negative whole numbers; what tells them apart is
whether the segments add up to the total (revenue, refunds: an amount) or not (a price,
a rate, a temperature, a log value: a gauge). The values alone cannot say so, so the
guess reads the metric's name first and its values second, and says which it used:
`init` prints it with the way to change it.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import polars as pl

# Name words of a level: values that do not add up across segments (an average, a price,
# a share). They win over the amount words: "avg_revenue", "revenue_per_user" are levels.
LEVEL_WORDS = frozenset({
    "price", "prices", "rate", "rates", "avg", "average", "mean", "median", "ratio", "pct", "percent",
    "percentage", "share", "temp", "temperature", "score", "index", "log", "per", "conversion", "cvr", "ctr",
    "cpc", "cpm", "cpa", "aov", "arpu", "arpa", "nps", "balance", "inventory", "stock", "latency", "duration",
    "utilization", "utilisation", "uptime", "speed", "weight", "level", "yield",
})
# Name words of money that adds up across segments and days.
AMOUNT_WORDS = frozenset({
    "revenue", "revenues", "amount", "amounts", "sales", "pipeline", "refund", "refunds", "value", "arr", "mrr",
    "gmv", "cost", "costs", "spend", "spent", "income", "payment", "payments", "billing", "billed", "invoiced",
    "bookings", "turnover", "profit", "fee", "fees", "tax", "discount", "discounts", "payout", "payouts",
    "usd", "eur", "gbp", "dollars", "euros", "money", "cash", "umsatz", "kosten", "betrag",
    "montant", "valeur", "importe", "monto", "valor", "bedrag", "waarde", "omzet",
})


@dataclass(frozen=True)
class TypeGuess:
    """`amount` or `gauge`, and why (the words `init` says)."""

    type: str
    reason: str


def amount_or_gauge(name: str, values: pl.Series) -> TypeGuess:
    """The type of a metric whose values are not all non-negative whole numbers."""
    words = set(_words(name))
    if words & LEVEL_WORDS:
        return TypeGuess("gauge", f"its name reads as a level ('{sorted(words & LEVEL_WORDS)[0]}')")
    if words & AMOUNT_WORDS:
        return TypeGuess("amount", f"its name reads as money ('{sorted(words & AMOUNT_WORDS)[0]}')")
    if _in_cents(values.drop_nulls()):
        return TypeGuess("amount", "its values are written in cents (two decimals)")
    return TypeGuess("gauge", "its values are not whole numbers and its name does not read as money")


def written_as_money(name: str, first_cell: str) -> TypeGuess:
    """The type of a metric whose cells carry a currency (`$1,234.50`): an amount, unless
    its name reads as a level (a cost per click is money but no sum)."""
    words = set(_words(name))
    if words & LEVEL_WORDS:
        return TypeGuess("gauge", f"its name reads as a level ('{sorted(words & LEVEL_WORDS)[0]}')")
    return TypeGuess("amount", f"its values are written as money ({first_cell!r})")


def written_with_cents(name: str, cells: pl.Series) -> TypeGuess | None:
    """An amount for a money-named column whose every cell is a whole number written with
    cents (Stripe's dashboard export: `Amount` 29.00), which the count rule would take: it is
    money (a count's Poisson noise would judge a day of 3,000 dollars as 3,000
    events). None otherwise."""
    words = set(_words(name))
    if not words & AMOUNT_WORDS or words & LEVEL_WORDS or cells.dtype != pl.Utf8:
        return None
    text = cells.str.strip_chars().drop_nulls()
    text = text.filter(text != "")
    if text.len() == 0 or not text.str.contains(r"^\d+\.00$").all():  # other values are no count: amount_or_gauge
        return None
    return TypeGuess("amount", f"its name reads as money ('{sorted(words & AMOUNT_WORDS)[0]}') and its values are "
                               f"written with cents ({text[0]!r})")


def _words(name: str) -> list[str]:
    """Lowercase words of a column name without accents (`Date de clôture`: date, de,
    cloture): snake_case, kebab-case, spaces and camelCase split."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    plain = "".join(c for c in unicodedata.normalize("NFKD", spaced) if not unicodedata.combining(c))
    return [w for w in re.split(r"[^a-z0-9]+", plain.lower()) if w]


def _in_cents(values: pl.Series) -> bool:
    """Every value a whole number of cents, some with a cents digit other than 0 (21.5
    degrees has none), and not all within ±1 (a share written 0.25 is no money)."""
    if values.len() == 0 or bool((values.abs() <= 1).all()):
        return False
    cents = values * 100
    whole_cents = ((cents - cents.round(0)).abs() <= 1e-6 * cents.abs().clip(lower_bound=1)).all()
    tenths = values * 10
    finer_than_tenths = ((tenths - tenths.round(0)).abs() > 1e-6 * tenths.abs().clip(lower_bound=1)).any()
    return bool(whole_cents) and bool(finer_than_tenths)
