"""`init --from`'s reading of a CRM export of one row per record (deals, opportunities):
a creation date column and a close date column (HubSpot's `Create Date`/`Close Date`,
Salesforce's `Created Date`/`Close Date`) make it a file of records, whose metrics are
counted rows, not column values: records created per day by the creation date; records
won per day by the close date (rows of a won stage when a stage column has one; rows
without a close date are not won); the amount won summed by the close date."""
from __future__ import annotations

import re

import polars as pl

from ctxmetrics.config import Config, RecordMetric, RecordsLayout
from ctxmetrics.ingest.amounts import AMOUNT_WORDS, _words
from ctxmetrics.ingest.dates import BadCell, parse_days
from ctxmetrics.ingest.money import money_column

# Name words of the columns (without accents, as `amounts._words` reads them) in English,
# German, French, Spanish, Dutch and Portuguese (Erstellt am, Date de création, Fecha de
# cierre, Aanmaakdatum, Data de fechamento), and Pipedrive's (add_time, won_time).
CREATED_WORDS = frozenset({
    "create", "created", "creation", "opened", "open", "add", "added", "erstellt", "erstelldatum", "angelegt",
    "cree", "creee", "creacion", "creado", "creada", "aangemaakt", "aanmaakdatum", "criacao", "criado", "criada",
})
CLOSED_WORDS = frozenset({
    "close", "closed", "won", "abschluss", "abschlussdatum", "geschlossen", "cloture", "fermeture", "cierre",
    "cerrado", "sluitingsdatum", "sluiting", "gesloten", "fechamento", "fechado", "encerramento",
})
# A column of an expected or forecast date (Pipedrive's "Expected close date") is no close date.
EXPECTED_WORDS = frozenset({"expected", "forecast", "erwartet", "prevue", "prevista", "previsto", "verwacht"})
STAGE_WORDS = frozenset({"stage", "status", "phase", "stufe", "etape", "statut", "etapa", "estado", "fase", "estagio"})
ID_WORDS = frozenset({"id"})
ONE = {"deals": "deal", "opportunities": "opportunity"}  # the noun of a row, by the metrics' prefix
# A stage value that means won: "Closed Won", "closedwon", "Won", "Gewonnen", "Fermée gagnée",
# "Cerrado ganado", "Fechado/Ganho" (read without accents); never "Lost" or "Not won".
WON = re.compile(
    r"^((closed|fermee?|cerrad[oa]|fechad[oa]|gesloten|geschlossen)[\s/_-]*)?(won|gagnee?|ganad[oa]|ganh[oa]|gewonnen)$",
    re.IGNORECASE,
)


def records_layout(raw: pl.DataFrame, columns: list[str], noun_source: str, settle) -> tuple[RecordsLayout, str | None] | None:
    """The layout of a file of records and the format of its dates (None: ISO 8601), or
    None. A file of records has a creation and a close date column of dates (their filled
    cells), or a close date alone repeated over rows that an id or name column tells apart
    (a Salesforce report of won opportunities). `noun_source`: the file's name, which with
    the columns names the metrics (`deals_created` for deals.csv or a `Deal ID` column;
    `opportunities_`; else `records_`); `settle`: the one non-ISO format that reads every
    date of a column, or None (`infer._settled_format`)."""
    created, created_format = _date_column(raw, columns, CREATED_WORDS, settle)
    closed, date_format = _date_column(raw, columns, CLOSED_WORDS, settle)
    if closed is None or created == closed or (created is not None and created_format != date_format):
        return None
    record_id = next((c for c in columns if set(_words(c)) & ID_WORDS), None)
    if created is None and not _records_of_one_date(raw, closed, record_id, columns):
        return None
    noun = _noun(noun_source, columns)
    won = _won_filter(raw, columns)
    metrics = {f"{noun}_created": RecordMetric(created)} if created else {}
    metrics[f"{noun}_won"] = RecordMetric(closed, won)
    amount = next((c for c in columns if set(_words(c)) & AMOUNT_WORDS and _numeric(raw[c])), None)
    if amount is not None:
        metrics[f"won_{'_'.join(_words(amount))}"] = RecordMetric(closed, won, amount)
    return RecordsLayout(record_id, metrics), date_format


def _records_of_one_date(raw: pl.DataFrame, date: str, record_id: str | None, columns: list[str]) -> bool:
    """Whether rows repeat the date and a column tells them apart: an id, or a name on
    every row (`Opportunity Name`): rows of records, not one value per date and segment."""
    if not raw[date].is_duplicated().any():
        return False
    names = [record_id] if record_id else [c for c in columns if set(_words(c)) & {"name", "title"}]
    return any(raw[c].drop_nulls().n_unique() > 0.9 * raw.height for c in names)


def _date_column(raw: pl.DataFrame, columns: list[str], words: frozenset[str], settle) -> tuple[str | None, str | None]:
    """The first column named with one of `words` whose filled cells are dates, and their format."""
    for name in columns:
        if set(_words(name)) & words and not set(_words(name)) & EXPECTED_WORDS:
            text = raw[name].cast(pl.Utf8).str.strip_chars()
            filled = text.filter(text.is_not_null() & (text != ""))
            if filled.len() == 0:
                continue
            try:
                parse_days(filled.head(1000), Config.timezone)
            except (BadCell, pl.exceptions.PolarsError):
                date_format = settle(filled)
                if date_format is not None:
                    return name, date_format
                continue
            return name, None
    return None, None


def _noun(file_name: str, columns: list[str]) -> str:
    words = set(_words(file_name)) | {w for c in columns for w in _words(c)}
    if words & {"deal", "deals", "affaire", "affaires", "trato", "tratos", "negocio", "negocios"}:
        return "deals"
    if words & {"opportunity", "opportunities", "opp", "opps", "opportunite", "opportunites", "oportunidad",
                 "oportunidades", "oportunidade", "kans", "kansen"}:
        return "opportunities"
    return "records"


def _won_filter(raw: pl.DataFrame, columns: list[str]) -> dict[str, tuple[str, ...]]:
    """{stage column: its won values} when a stage column has any; else {} (every row with
    a close date is won)."""
    for name in columns:
        if set(_words(name)) & STAGE_WORDS:
            values = raw[name].cast(pl.Utf8).str.strip_chars().drop_nulls().unique().sort().to_list()
            won = tuple(v for v in values if WON.match(" ".join(_words(v))))
            if won:
                return {name: won}
    return {}


def _numeric(column: pl.Series) -> bool:
    """Numbers, plain or written as money (`$1,234.50`, `26,000.00`)."""
    text = column.cast(pl.Utf8).str.strip_chars()
    filled = text.filter(text.is_not_null() & (text != ""))
    if filled.len() == 0:
        return False
    if filled.cast(pl.Float64, strict=False).is_not_null().all():
        return True
    try:
        return money_column(filled) is not None
    except BadCell:
        return False


def describe(path, layout: RecordsLayout) -> str:
    """What `init` says of the guess and how to change it."""
    parts = []
    for name, spec in layout.metrics.items():
        rows = "rows" if not spec.where else "rows whose " + "; ".join(
            f"{column} is {' or '.join(values)}" for column, values in spec.where.items()
        )
        if spec.sum is None:
            parts.append(f"{name} ({rows}, counted by {spec.date})" if spec.where else f"{name} (rows counted by {spec.date})")
        else:
            parts.append(f"{name} (their {spec.sum} summed by {spec.date})")
    listed = ", ".join(parts[:-1]) + f" and {parts[-1]}" if len(parts) > 1 else parts[0]
    dates = dict.fromkeys(spec.date for name, spec in layout.metrics.items() if spec.where or spec.sum)
    noun = ONE.get(next(iter(layout.metrics)).rsplit("_", 1)[0], "record")
    per = f"one row per {noun}" + (f" ({layout.id})" if layout.id else "")
    undated = "".join(f"; a row without a {d} is no won {noun}" for d in dates)
    return f"{path} has {per}: read as {listed}{undated}. Change or add metrics under 'records:' in ctxmetrics.yaml."
