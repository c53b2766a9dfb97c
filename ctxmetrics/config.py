"""The project file `ctxmetrics.yaml`: schema, defaults and validation."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ctxmetrics.errors import ConfigError, located
from ctxmetrics.yaml_errors import repeated_key, yaml_problem

CONFIG_NAME = "ctxmetrics.yaml"
METRIC_TYPES = ("count", "ratio", "gauge", "amount", "query")
AGGREGATES = ("sum", "mean")  # how rows of one day (sub-daily data) become the day's value
GRANULARITIES = ("daily", "weekly", "fortnightly", "monthly", "quarterly", "yearly")
# A metric's `scale`: its values are natural or base-10 logarithms, by the base of each.
LOG_BASES = {"log": math.e, "log10": 10.0}
LOG_SCALES = tuple(LOG_BASES)
FILE_FORMATS = ("long", "wide", "events", "records")
COLUMN_ROLES = ("date", "metric", "value", "hour")
# Top-level keys of ctxmetrics.yaml (README.md, "The project file", documents each).
PROJECT_KEYS = (
    "store", "timezone", "dimensions", "funnel", "metrics", "detection", "explain",
    "format", "columns", "ignore_columns", "date_format", "decimal_comma", "notify", "inbox", "engine", "spark", "observations",
    "event_types", "melt", "records", "rename_columns", "sheet",
)
EXPECTS = ("up", "down")


@dataclass(frozen=True)
class MetricDef:
    """One metric. `count` sums over segments; `ratio` is numerator/denominator of two
    count metrics; `gauge` is a level that is averaged; `amount` (money: revenue, refunds,
    pipeline value) sums over segments and days like a count but is judged like a gauge
    (cents and negatives: no Poisson likelihood); `query` comes from queries/NAME.sql."""

    name: str
    type: str = "count"
    numerator: str | None = None
    denominator: str | None = None
    query: str | None = None
    description: str = ""
    aggregate: str | None = None  # sum | mean; default: sum for counts and amounts, mean for gauges
    granularity: str | None = None  # daily | weekly | fortnightly | monthly | quarterly | yearly; default: what the dates show
    scale: str | None = None  # log | log10: the values are logarithms; changes are reported as the underlying value's
    cents: bool = False  # the values are written in cents (Stripe's amounts): divided by 100 at ingest

    @property
    def aggregation(self) -> str:
        """How several rows of one day are combined: summed, or averaged for a gauge."""
        return self.aggregate or ("mean" if self.type == "gauge" else "sum")

    @property
    def averaged(self) -> bool:
        """Whether a rollup (a segment of several leaves, a week of days) is the mean of its
        values, as for a gauge, rather than their sum (counts, amounts, a ratio's parts)."""
        return self.type == "gauge"

    @property
    def series_kind(self) -> str:
        """The detector's kind for the metric's series (`find_changes(kind=)`): an amount
        is judged as a gauge, its cents and negatives being no Poisson counts."""
        return {"ratio": "ratio", "gauge": "gauge", "amount": "gauge"}.get(self.type, "count")


@dataclass(frozen=True)
class DetectionSettings:
    """Thresholds that decide whether a change is reported (see README, "How detection decides")."""

    min_change_pct: float = 15.0  # smaller effects are not worth a manager's attention
    min_score: float = 5.0  # effect size in robust noise units
    min_denominator: float = 30.0  # ratio series whose median day has fewer denominator events are too small
    spike_max_days: int = 3  # longer excursions are treated as (temporary) level shifts
    min_segment_days: int = 7  # shortest level-shift segment searched for
    max_temporary_days: int = 90  # a shift that reverts within this is one temporary anomaly
    level_window_days: int = 56  # days each side of a boundary that measure a shift (bounds trend bias)


@dataclass(frozen=True)
class EventWindow:
    """Days before an event's start and after its end in which it can still act."""

    lead: int
    lag: int


@dataclass(frozen=True)
class EventType:
    """What an event type means for linking. It never changes what the detector sees:
    `days_off` only keeps the event's days out of the baseline and noise estimates."""

    window: EventWindow  # days before/after the event in which it can still act
    usual_direction: str | None  # "up"/"down": the usual effect on volumes (None: either)
    temporary: bool  # its effect ends when the event ends
    days_off: bool  # its days are not normal days (left out of the baseline)
    intended: bool = False  # meant to move a metric even without an explicit `expect`
    recurring: bool = False  # a calendar event that comes back (a holiday): the digest lists it after the unexpected


# The built-in event types. A project extends or overrides them under `event_types:` in
# ctxmetrics.yaml (`Config.event_types` is the project's table); their windows also under
# `explain.windows`.
EVENT_TABLE = {
    "campaign": EventType(EventWindow(lead=2, lag=14), "up", temporary=True, days_off=False, intended=True),
    "offsite": EventType(EventWindow(lead=1, lag=3), "down", temporary=True, days_off=True),
    "outage": EventType(EventWindow(lead=0, lag=1), "down", temporary=True, days_off=True),
    "pricing": EventType(EventWindow(lead=3, lag=21), None, temporary=False, days_off=False, intended=True),
    "release": EventType(EventWindow(lead=1, lag=14), None, temporary=False, days_off=False, intended=True),
    "holiday": EventType(EventWindow(lead=1, lag=1), "down", temporary=True, days_off=True, recurring=True),
    "other": EventType(EventWindow(lead=2, lag=7), None, temporary=False, days_off=False),
}
EVENT_TYPES = tuple(EVENT_TABLE)
DAYS_OFF_TYPES = tuple(name for name, t in EVENT_TABLE.items() if t.days_off)  # a project's: Config.days_off_types
EVENT_TYPE_FIELDS = ("lead", "lag", "usual_direction", "temporary", "days_off", "intended", "recurring")
_TYPE_NAME_RE = re.compile(r"[a-z][a-z0-9_-]{0,39}")


@dataclass(frozen=True)
class ExplainSettings:
    min_cause_score: float = 0.35
    funnel_lag_days: int = 7  # how far down-funnel effects may trail the stage an event targets
    min_scope_share: float = 0.6  # share of a rollup's change the scoped children must carry
    correlated_days: int = 3  # anomalies starting this close are listed as correlated


ENGINES = ("local", "spark")
# Stages in funnel order: metrics all named as such stages make a funnel when none is set.
FUNNEL_STAGES = (
    "impressions", "visits", "sessions", "signups", "trials", "leads", "mql", "sql",
    "opportunities", "proposals", "deals", "won", "customers",
)


@dataclass(frozen=True)
class SparkSettings:
    """Where `engine: spark` runs: a master URL (None: whatever spark-submit or the
    environment gives, else local[*]), any Spark configuration properties, and the folder
    the store's observations are staged in as Parquet (None: a temporary folder, which
    only executors on this machine can read)."""

    master: str | None = None
    conf: dict[str, str] = field(default_factory=dict)
    staging: str | None = None


@dataclass(frozen=True)
class WideMelt:
    """Columns of a wide file that are segments of one metric (`date,NA,EMEA,APAC` or
    `leads_NA,leads_EMEA`): each column's values are ingested as that metric's rows with
    `dimension` set to the column's segment."""

    dimension: str
    columns: dict[str, tuple[str, str]]  # column -> (metric, segment)


@dataclass(frozen=True)
class RecordMetric:
    """A metric of a file of one row per record (a deal): the rows whose `date` cell is
    filled and whose `where` columns hold one of the values listed, counted per day of
    `date`, or their `sum` column summed."""

    date: str
    where: dict[str, tuple[str, ...]] = field(default_factory=dict)
    sum: str | None = None


@dataclass(frozen=True)
class RecordsLayout:
    """`format: records`: each row a record (a CRM export's deals); `id`: the column whose
    repeated values are one record, counted once (its last row)."""

    id: str | None
    metrics: dict[str, RecordMetric]


@dataclass(frozen=True)
class Config:
    store: str = "ctxmetrics.duckdb"
    # Calendar days of the data and of annotations are days in this zone; naive datetimes
    # in the timeline are read as local time here.
    timezone: str = "UTC"
    dimensions: tuple[str, ...] = ()
    funnel: tuple[str, ...] = ()
    metrics: dict[str, MetricDef] = field(default_factory=dict)
    detection: DetectionSettings = field(default_factory=DetectionSettings)
    detection_overrides: dict[str, dict[str, float]] = field(default_factory=dict)
    explain: ExplainSettings = field(default_factory=ExplainSettings)
    # Raw `notify:` and `inbox:` lists: validated by `channels` and `inbox` when used, so
    # a command that does not send or collect files never fails on (or expands) them.
    notify: Any = None
    inbox: Any = None
    # How data files are read: their layout, column names per role, and a date format.
    file_format: str = "long"
    columns: dict[str, str] = field(default_factory=dict)
    ignore_columns: tuple[str, ...] = ()  # row numbers, calendar fields: neither metrics nor dimensions
    # columns read under another name (`Campaign name: campaign_name`: a dimension needs a name SQL takes bare)
    rename_columns: dict[str, str] = field(default_factory=dict)
    date_format: str | None = None
    sheet: str | None = None  # the sheet of an Excel workbook to read (default: its first)
    decimal_comma: bool = False  # numbers written 1.234,5 (European spreadsheets): ',' decimal, '.' thousands
    melt: WideMelt | None = None  # wide columns read as one metric's segments
    records: RecordsLayout | None = None  # `format: records`: the metrics counted from rows of records
    engine: str = "local"  # where `scan` builds the cube and detects: local | spark
    spark: SparkSettings = field(default_factory=SparkSettings)
    observations_parquet: str | None = None  # Spark engine: read observations here, not from the store
    # The project's event types: the built-ins with `event_types:` and `explain.windows` applied.
    event_types: dict[str, EventType] = field(default_factory=lambda: dict(EVENT_TABLE))

    def event_type(self, name: str) -> EventType:
        """What an event type means for linking; a name the table lacks reads as `other`."""
        return self.event_types.get(name) or self.event_types["other"]

    @property
    def days_off_types(self) -> tuple[str, ...]:
        """The types whose days are left out of the baseline (`EventType.days_off`)."""
        return tuple(name for name, t in self.event_types.items() if t.days_off)

    @property
    def recurring_types(self) -> frozenset[str]:
        """The types the digest lists after the unexpected events (`EventType.recurring`)."""
        return frozenset(name for name, t in self.event_types.items() if t.recurring)

    def detection_for(self, metric: str) -> DetectionSettings:
        """The detection settings for one metric, with its overrides applied."""
        return replace(self.detection, **self.detection_overrides.get(metric, {}))

    def size_rule_unused(self) -> list[str]:
        """The metrics whose `detection.overrides` set `min_change_pct` while they are judged
        as gauges (gauges and amounts: significance only, a level's units vary), so the
        setting changes nothing; a user who set it expects smaller changes dropped."""
        return sorted(name for name, override in self.detection_overrides.items()
                      if "min_change_pct" in override and self.metric(name).series_kind == "gauge")

    def metric(self, name: str) -> MetricDef:
        """The definition of a metric; metrics only seen in the data are counts."""
        return self.metrics.get(name) or MetricDef(name=name)

    def funnel_of(self, metrics) -> tuple[str, ...]:
        """The funnel, top stage first: `funnel` when set; else, when every one of the
        `metrics` (at least two) is named as a funnel stage, those in `FUNNEL_STAGES` order
        (what `init --from` writes for them)."""
        if self.funnel:
            return self.funnel
        stages = tuple(s for s in FUNNEL_STAGES if s in metrics)
        return stages if len(stages) >= 2 and len(stages) == len(set(metrics)) else ()


def log_factor(before: float, after: float, scale: str) -> float:
    """How many times the underlying value of a metric of logarithms (`scale`) grew from
    the log `before` to the log `after` (8.1 -> 9.96 in natural logs: x6.4)."""
    return LOG_BASES[scale] ** (after - before)


def _fail(path: Path, message: str) -> ConfigError:
    return ConfigError(f"{path}: {message}")


def _check_keys(path: Path, where: str, data: dict, allowed) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise _fail(path, f"unknown key '{unknown[0]}' in {where}; allowed: {', '.join(sorted(allowed))}.")


def _numbers(path: Path, where: str, data: Any, cls) -> dict:
    if not isinstance(data, dict):
        raise _fail(path, f"'{where}' must be a mapping.")
    allowed = {f.name for f in fields(cls)}
    _check_keys(path, where, data, allowed)
    out = {}
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(path, f"'{where}.{key}' must be a number, got {value!r}.")
        if value < 0:  # every threshold, day count and share here is meaningless below 0
            raise _fail(path, f"'{where}.{key}' must not be negative, got {value!r}.")
        out[key] = value
    return out


def _mapping(path: Path, where: str, data: Any, example: str) -> dict:
    """A section that must be a mapping (absent or empty: {})."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise _fail(path, f"'{where}' must be a mapping like {example}, got {data!r}.")
    return data


def _names(path: Path, where: str, data: Any, example: str) -> tuple[str, ...]:
    """A list of names (a bare string would otherwise be read letter by letter)."""
    if data is None:
        return ()
    if not isinstance(data, list) or not all(
        isinstance(n, (str, int)) and not isinstance(n, bool) and str(n).strip() for n in data
    ):
        raise _fail(path, f"'{where}' must be a list of names like {example}, got {data!r}.")
    return tuple(str(n) for n in data)


def _metric(path: Path, name: str, spec: Any) -> MetricDef:
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise _fail(path, f"metric '{name}' must be a mapping like {{type: count}}.")
    _check_keys(path, f"metric '{name}'", spec, {f.name for f in fields(MetricDef)} - {"name"})
    metric = MetricDef(name=name, **spec)
    if metric.type not in METRIC_TYPES:
        raise _fail(path, f"metric '{name}' has type '{metric.type}'; use one of {', '.join(METRIC_TYPES)}.")
    if metric.type == "ratio" and not (metric.numerator and metric.denominator):
        raise _fail(path, f"ratio metric '{name}' needs both 'numerator' and 'denominator'.")
    if metric.aggregate is not None and metric.aggregate not in AGGREGATES:
        raise _fail(path, f"metric '{name}' has aggregate '{metric.aggregate}'; use one of {', '.join(AGGREGATES)}.")
    if metric.granularity is not None and metric.granularity not in GRANULARITIES:
        raise _fail(path, f"metric '{name}' has granularity '{metric.granularity}'; use one of {', '.join(GRANULARITIES)}.")
    if metric.scale is not None and (metric.scale not in LOG_SCALES or metric.type != "gauge"):
        raise _fail(path, f"metric '{name}' has scale '{metric.scale}'; scale is for a gauge of logarithms "
                          f"(type: gauge) and one of {', '.join(LOG_SCALES)} (natural or base-10 logs).")
    if metric.cents is not True and metric.cents is not False:
        raise _fail(path, f"metric '{name}' has cents {metric.cents!r}; use true (its values are written in cents) or false.")
    if metric.cents and metric.type not in ("amount", "gauge"):
        raise _fail(path, f"metric '{name}' has cents: true and type '{metric.type}'; cents are money: type amount (or gauge).")
    if metric.type == "query" and not metric.query:
        raise _fail(path, f"query metric '{name}' needs 'query: NAME' (a file queries/NAME.sql).")
    return metric


def _timezone(path: Path, name: Any) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise _fail(path, f"timezone '{name}' is not a known IANA zone (e.g. Europe/Berlin).") from None
    return str(name)


def _columns(path: Path, data: Any) -> dict[str, str]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise _fail(path, "'columns' must be a mapping like {date: timestamp, value: y}.")
    _check_keys(path, "columns", data, COLUMN_ROLES)
    for role, name in data.items():
        if not isinstance(name, str) or not name.strip():
            raise _fail(path, f"'columns.{role}' must be a column name, got {name!r}.")
    return {role: name.strip() for role, name in data.items()}


def _renames(path: Path, data: Any) -> dict[str, str]:
    """`rename_columns: {Campaign name: campaign_name}`: a file's column read under a new name."""
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and k.strip() and isinstance(v, str) and v.strip() for k, v in data.items()
    ):
        raise _fail(
            path, f"'rename_columns' must map a file's column to its new name, like {{Campaign name: campaign_name}}, got {data!r}."
        )
    return {k.strip(): v.strip() for k, v in data.items()}


def _date_format(path: Path, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or "%" not in value:  # `5` or `dd/mm/yyyy` would match no date at all
        raise _fail(path, f"'date_format' must be strftime codes like \"%m/%d/%Y\", got {value!r}.")
    return value


def _sheet(path: Path, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (str, int)) or not str(value).strip():
        raise _fail(path, f"'sheet' must be the name of a workbook's sheet, like Leads, got {value!r}.")
    return str(value)


def _melt(path: Path, data: Any) -> WideMelt | None:
    """`melt: {dimension: region, columns: {leads_NA: [leads, NA], ...}}`."""
    if data is None:
        return None
    example = "{dimension: region, columns: {leads_NA: [leads, NA]}}"
    if not isinstance(data, dict) or set(data) != {"dimension", "columns"}:
        raise _fail(path, f"'melt' must be a mapping like {example}, got {data!r}.")
    dimension, columns = data["dimension"], data["columns"]
    if not isinstance(dimension, str) or not dimension.strip():
        raise _fail(path, f"'melt.dimension' must be a dimension name like region, got {dimension!r}.")
    if not isinstance(columns, dict) or not columns:
        raise _fail(path, f"'melt.columns' must map each column to [metric, segment], like {example}.")
    parsed = {}
    for column, pair in columns.items():
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, (str, int)) and not isinstance(p, bool) and str(p).strip() for p in pair)):
            raise _fail(path, f"'melt.columns.{column}' must be [metric, segment], got {pair!r}.")
        parsed[str(column)] = (str(pair[0]), str(pair[1]))
    return WideMelt(dimension.strip(), parsed)


def _records(path: Path, data: Any) -> RecordsLayout | None:
    """`records: {id: Record ID, metrics: {deals_won: {date: Close Date, where: {Stage: [Won]}, sum: Amount}}}`."""
    if data is None:
        return None
    example = "{id: Record ID, metrics: {deals_created: {date: Create Date}}}"
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict) or not data["metrics"]:
        raise _fail(path, f"'records' must be a mapping like {example}, got {data!r}.")
    _check_keys(path, "records", data, ("id", "metrics"))
    if data.get("id") is not None and not (isinstance(data["id"], str) and data["id"].strip()):
        raise _fail(path, f"'records.id' must be a column name, got {data['id']!r}.")
    metrics = {}
    for name, spec in data["metrics"].items():
        where = f"records.metrics.{name}"
        if not isinstance(spec, dict) or not isinstance(spec.get("date"), str):
            raise _fail(path, f"'{where}' must be a mapping with a date column, like {{date: Close Date}}, got {spec!r}.")
        _check_keys(path, where, spec, ("date", "where", "sum"))
        filters = _mapping(path, f"{where}.where", spec.get("where"), "{Deal Stage: [Closed Won]}")
        if spec.get("sum") is not None and not isinstance(spec["sum"], str):
            raise _fail(path, f"'{where}.sum' must be a column name, got {spec['sum']!r}.")
        metrics[str(name)] = RecordMetric(
            spec["date"], {str(c): tuple(str(v) for v in (vs if isinstance(vs, list) else [vs])) for c, vs in filters.items()},
            spec.get("sum"),
        )
    return RecordsLayout(data.get("id"), metrics)


def _flag(path: Path, field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(path, f"'{field}' must be true or false, got {value!r}.")
    return value


def _one_of(path: Path, field: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise _fail(path, f"{field} '{value}' is not one of {', '.join(allowed)}.")
    return value


def parse_config(data: Any, path: Path) -> Config:
    """Validate the parsed YAML of a project file and build a Config."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _fail(path, "the project file must be a mapping.")
    _check_keys(path, "the project file", data, PROJECT_KEYS)
    metrics = {
        name: _metric(path, str(name), spec)
        for name, spec in _mapping(path, "metrics", data.get("metrics"), "{leads: {type: count}}").items()
    }
    for metric in metrics.values():
        if metric.type == "ratio":
            for part in (metric.numerator, metric.denominator):
                if part in metrics and metrics[part].type != "count":
                    raise _fail(path, f"ratio metric '{metric.name}' uses '{part}', which is not a count.")
    detection = dict(_mapping(path, "detection", data.get("detection"), "{min_score: 5}"))
    overrides = _mapping(path, "detection.overrides", detection.pop("overrides", None), "{won: {min_change_pct: 25}}")
    base = DetectionSettings(**_numbers(path, "detection", detection, DetectionSettings))
    checked_overrides = {
        str(m): _numbers(path, f"detection.overrides.{m}", o, DetectionSettings) for m, o in overrides.items()
    }
    explain = dict(_mapping(path, "explain", data.get("explain"), "{min_cause_score: 0.35}"))
    event_types = _event_types(path, data.get("event_types"))
    explain_windows = _mapping(path, "explain.windows", explain.pop("windows", None), "{campaign: {lead: 2, lag: 14}}")
    for event_type, window in explain_windows.items():
        if event_type in (data.get("event_types") or {}):  # one place per type, so neither silently wins
            raise _fail(path, f"event type '{event_type}' is set both in 'event_types' and in 'explain.windows'; "
                              f"give its lead and lag under 'event_types.{event_type}' only.")
        if event_type not in EVENT_TYPES:
            raise _fail(path, f"explain.windows has unknown event type '{event_type}'.")
        window = EventWindow(**_numbers(path, f"explain.windows.{event_type}", window, EventWindow))
        event_types[event_type] = replace(event_types[event_type], window=window)
    explain_settings = ExplainSettings(**_numbers(path, "explain", explain, ExplainSettings))
    return Config(
        store=str(data.get("store", Config.store)),
        timezone=_timezone(path, data.get("timezone", Config.timezone)),
        dimensions=_names(path, "dimensions", data.get("dimensions"), "[region, channel]"),
        funnel=_names(path, "funnel", data.get("funnel"), "[leads, mql, won]"),
        metrics=metrics,
        detection=base,
        detection_overrides=checked_overrides,
        explain=explain_settings,
        notify=data.get("notify"),
        inbox=data.get("inbox"),
        file_format=_one_of(path, "format", data.get("format", Config.file_format), FILE_FORMATS),
        columns=_columns(path, data.get("columns")),
        ignore_columns=_names(path, "ignore_columns", data.get("ignore_columns"), "[instant, weekday]"),
        rename_columns=_renames(path, data.get("rename_columns")),
        date_format=_date_format(path, data.get("date_format")),
        sheet=_sheet(path, data.get("sheet")),
        decimal_comma=_flag(path, "decimal_comma", data.get("decimal_comma", False)),
        melt=_melt(path, data.get("melt")),
        records=_records(path, data.get("records")),
        engine=_one_of(path, "engine", data.get("engine", Config.engine), ENGINES),
        spark=_spark(path, data.get("spark")),
        observations_parquet=_observations(path, data.get("observations")),
        event_types=event_types,
    )


def _event_types(path: Path, data: Any) -> dict[str, EventType]:
    """The built-in table with `event_types:` applied: a new name adds a type (fields it
    leaves out are `other`'s), a built-in name changes only the fields given."""
    table = dict(EVENT_TABLE)
    for name, spec in _mapping(path, "event_types", data, "{webinar: {lag: 7, usual_direction: up}}").items():
        where = f"event_types.{name}"
        if not isinstance(name, str) or not _TYPE_NAME_RE.fullmatch(name):
            raise _fail(path, f"'{where}': an event type name must be a lowercase slug like 'webinar' "
                              "(letters, digits, '-' or '_', starting with a letter).")
        spec = _mapping(path, where, spec, "{lag: 7, usual_direction: up}")
        _check_keys(path, f"'{where}'", spec, EVENT_TYPE_FIELDS)
        table[name] = _event_type(path, where, table.get(name, EVENT_TABLE["other"]), spec)
    return table


def _event_type(path: Path, where: str, base: EventType, spec: dict) -> EventType:
    lead, lag = (_days(path, f"{where}.{key}", spec.get(key, getattr(base.window, key))) for key in ("lead", "lag"))
    direction = spec.get("usual_direction", base.usual_direction)
    if direction is not None and direction not in EXPECTS:
        raise _fail(path, f"'{where}.usual_direction' must be up, down or null, got {direction!r}.")
    flags = {
        key: _flag(path, f"{where}.{key}", spec.get(key, getattr(base, key)))
        for key in ("temporary", "days_off", "intended", "recurring")
    }
    return EventType(EventWindow(lead=lead, lag=lag), direction, **flags)


def _days(path: Path, field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(path, f"'{field}' must be a whole number of days, 0 or more, got {value!r}.")
    return value


def _spark(path: Path, data: Any) -> SparkSettings:
    if data is None:
        return SparkSettings()
    if not isinstance(data, dict):
        raise _fail(path, "'spark' must be a mapping like {master: 'local[4]', conf: {...}}.")
    _check_keys(path, "spark", data, {"master", "conf", "staging"})
    conf = data.get("conf") or {}
    if not isinstance(conf, dict):
        raise _fail(path, "'spark.conf' must be a mapping of Spark properties to values.")
    master, staging = data.get("master"), data.get("staging")
    return SparkSettings(
        master=None if master is None else str(master),
        conf={str(k): _conf_value(v) for k, v in conf.items()},
        staging=None if staging is None else str(staging),
    )


def _conf_value(value: Any) -> str:
    """Spark reads booleans as true/false; YAML gives Python's True/False."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _observations(path: Path, data: Any) -> str | None:
    if data is None:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("parquet"), str) or not data["parquet"]:
        raise _fail(path, "'observations' must be a mapping like {parquet: 's3://bucket/obs/*.parquet'}.")
    _check_keys(path, "observations", data, {"parquet"})
    return data["parquet"]


def load_config(path: Path) -> Config:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
        # libyaml's safe loader when built in (same safety, ~10x faster than pure Python)
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        data = yaml.load(text, Loader=loader)
        repeated = repeated_key(text, loader)
    except yaml.YAMLError as exc:
        problem, line = yaml_problem(exc, text)
        raise ConfigError(f"{located(path, line)}: not valid YAML: {problem}.") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: is not UTF-8 text (byte {exc.start}).") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror}).") from None
    if repeated is not None:
        key, line = repeated
        raise ConfigError(f"{located(path, line)}: '{key}' is given twice in one mapping (YAML would keep only the "
                          "last); merge the two into one.")
    try:
        return parse_config(data, path)
    except TypeError as exc:  # a dataclass got a bad argument
        raise ConfigError(f"{path}: {exc}.") from None


DEFAULT_CONFIG_TEXT = """\
# ctxmetrics project file. README.md ("The project file") describes every field;
# `ctxmetrics init DIR --from FILE` writes one fitted to your own files.
store: ctxmetrics.duckdb          # DuckDB file, relative to this folder
timezone: UTC                     # rows and annotations are put on days in this zone

# Dimension columns of your data. While this list is empty any column besides the date,
# metric and value is a dimension; once it names some, a file with another column is
# refused (most often a typo) unless ingest gets --dims NAME.
dimensions: []

# Metrics: count (summed; metrics not listed here are counts), gauge (averaged),
# ratio (numerator/denominator of two counts) or query (queries/NAME.sql), e.g.
#   signups: {type: count}
#   temperature: {type: gauge}
metrics: {}
"""

# The demo organisation's project file (`ctxmetrics demo`).
DEMO_CONFIG_TEXT = """\
# ctxmetrics project file. README.md ("The project file") describes every field.
store: ctxmetrics.duckdb          # DuckDB file, relative to this folder
timezone: UTC                     # days of the data and the timeline are days in this zone

# Dimension columns of your data; a file with another column is refused unless
# ingest gets --dims NAME.
dimensions: [region, channel]

# Funnel stages, top to bottom: used to trace a change to the stage that moved first.
funnel: [leads, mql, sql, opportunities, won]

metrics:
  leads: {type: count}
  mql: {type: count}
  sql: {type: count}
  opportunities: {type: count}
  won: {type: count}
  lead_to_mql: {type: ratio, numerator: mql, denominator: leads}
  win_rate: {type: ratio, numerator: won, denominator: opportunities}

detection:
  min_change_pct: 15       # counts and rates: ignore smaller relative changes (gauges: significance only)
  min_score: 5.0           # effect size in robust noise units
  overrides:
    won: {min_change_pct: 25}

explain:
  min_cause_score: 0.35    # below this an anomaly is reported as unexplained
"""
