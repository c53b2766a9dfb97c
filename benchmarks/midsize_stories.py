"""A mid-size funnel with the stories of issue 9, generated independently of `eval/funnel.py`.

    python benchmarks/midsize_stories.py --split tune            # 20 funnels, blind and tagged
    python benchmarks/midsize_stories.py --split tune --part 1/4 --json t1.json   # a quarter of them
    python benchmarks/midsize_stories.py --rescore t*.json --verbose   # score saved runs, misses' causes

Each funnel: daily leads by region (NA, EMEA, LATAM, APAC) x channel (organic, paid, partner,
events) over 455 days (a year and three months), ~490 leads a day growing ~15% a year,
stages leads -> mql -> sql -> opportunities -> won with binomial conversions landing 0-12
days later; negative-binomial leads, weekends low, public holidays low, quarter-end
pushes on won. Written as a CRM export's CSV, then `init`, `ingest`, `scan`, `digest --format json` run through the CLI
(click's CliRunner) in a temporary folder, blind (no timeline) or tagged (stories, decoys
and holidays in annotations/timeline.yaml).

Stories (truth: metric, segment, start, end, direction), at random dates >= 21 days apart:
the sales offsite (opportunities -65% Tue-Thu, ~46/day in total), the paid campaign (+70%
for 14 days on LATAM paid leads, ~16/day), APAC opportunities -40% for good (~3/day), a
one-day sign-up outage of one region's leads (-85%), a pricing change lifting lead -> mql
conversion +35% for good, a release week (organic leads +45% for 7 days); and two decoy
events that did nothing.

Scoring (one rule, written here and in `classify`):
- A story is **found** when an anomaly on its metric (or its ratio metric, for a story that
  moves a conversion) and on its segment or a segment within one level of it (one more or
  one fewer dimension, same values: a rollup or a part) starts within 2 days of the story's
  start with the story's direction.
- Every other anomaly is a **false alarm** unless it is
  `story`: on a found or missed story's metric, or a lower funnel stage or a ratio built
  from them, on a segment that overlaps the story's cells, starting between 2 days before
  the story's start and 14 days after its end (a lasting story: after its start) (a rollup's or part's repeat, a lower stage's
  echo), with the story's direction (ratios: either direction);
  `holiday`: starting within 2 days of a public holiday the generator made low (a real
  effect in the data, not a story to find).
- False alarms are classed: `end_edge` (opposite direction, within 3 days after a
  temporary story's end on its family), `misdated` (the story's family and direction,
  starting 3-30 days off), `quarter_end` (won or win_rate in a quarter's last 10 days or
  the first 5 of the next), `decoy` (within 3 days of a decoy event), `other`.
Recall is per story over funnels; precision = 1 - false alarms / anomalies, printed without
the holiday anomalies (the stories' precision) and with them (every segment and stage of a
holiday is flagged: most of a funnel's anomalies).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np

START = date(2024, 12, 23)  # a Monday; the export starts BURN_IN days later
DAYS = 469
# Later stages trail leads by up to ~3 weeks: generated from two weeks before the export's
# first day, so that its first days hold the conversions of leads from before it.
BURN_IN = 14
REGIONS = {"NA": 0.45, "EMEA": 0.30, "LATAM": 0.14, "APAC": 0.11}
CHANNELS = {"organic": 0.40, "paid": 0.25, "partner": 0.20, "events": 0.15}
STAGES = ("leads", "mql", "sql", "opportunities", "won")
RATIOS = {"lead_to_mql": ("mql", "leads"), "win_rate": ("won", "opportunities")}
LEADS_PER_DAY = 450.0
GROWTH_PER_YEAR = 0.15
NB_SIZE = 25.0  # negative binomial size of daily leads: variance = mean + mean^2 / 25
WEEKDAY = np.array([1.05, 1.1, 1.1, 1.05, 0.95, 0.35, 0.3])
# Stage -> (conversion from the stage above, lag probabilities of days 0..n)
CONVERSION = {"mql": 0.35, "sql": 0.5, "opportunities": 0.6, "won": 0.25}
REGION_OPP_RATE = {"APAC": 0.40}  # APAC converts fewer SQLs: ~3 opportunities a day
LAGS = {
    "mql": np.array([0.4, 0.3, 0.2, 0.1]),
    "sql": np.array([0.1, 0.3, 0.3, 0.2, 0.1]),
    "opportunities": np.array([0.05, 0.15, 0.3, 0.3, 0.2]),
    "won": np.full(13, 1 / 13),
}
SALES_WEEKEND = 0.4  # opportunities and won landing on a weekend: most of sales is off
QUARTER_END_DAYS = 7
QUARTER_END_EXTRA = 1.2  # won x2.2 in each quarter's last week
HOLIDAY_FACTOR = 0.3
MIN_GAP = 21  # days between two planted events

# The project file a user writes for this export: the demo's shape, default detection.
CONFIG = "\n".join([
    "store: ctxmetrics.duckdb", "timezone: UTC", "dimensions: [region, channel]", f"funnel: [{', '.join(STAGES)}]",
    "metrics:", *(f"  {stage}: {{type: count}}" for stage in STAGES),
    *(f"  {name}: {{type: ratio, numerator: {num}, denominator: {den}}}" for name, (num, den) in RATIOS.items()),
]) + "\n"


@dataclass(frozen=True)
class Story:
    name: str
    metric: str
    segment: dict
    start: date
    end: date | None  # None: lasting
    direction: str
    factor: float
    stage_moved: str  # the stage whose counts (or conversion, for a ratio story) the effect acts on
    ratio: str | None = None  # the ratio metric that also shows the story
    type: str = "other"


@dataclass(frozen=True)
class Decoy:
    name: str
    start: date
    end: date
    type: str


@dataclass
class Funnel:
    seed: int
    counts: dict  # stage -> array (regions, channels, days)
    stories: list[Story]
    decoys: list[Decoy]
    holidays: list[tuple[date, dict]] = field(default_factory=list)


def _day(i: int) -> date:
    return START + timedelta(days=i)


def _index(d: date) -> int:
    return (d - START).days


def _holidays() -> list[tuple[date, dict]]:
    """Public holidays made low: (day, scope); scope {} = everywhere."""
    days = [(date(2025, 1, 1), {}), (date(2025, 5, 26), {"region": "NA"}), (date(2025, 7, 4), {"region": "NA"}),
            (date(2025, 11, 27), {"region": "NA"}), (date(2025, 12, 24), {}), (date(2025, 12, 25), {}),
            (date(2025, 12, 26), {}), (date(2026, 1, 1), {})]
    return [(d, s) for d, s in days if 0 <= _index(d) < DAYS]


def _quarter_end_days() -> np.ndarray:
    mask = np.zeros(DAYS, bool)
    for i in range(DAYS):
        d = _day(i)
        nxt = d + timedelta(days=QUARTER_END_DAYS)
        if d.month in (3, 6, 9, 12) and nxt.month != d.month:
            mask[i] = True
    return mask


def _pick_dates(rng: np.random.Generator, kinds: list[tuple[str, int, int]]) -> dict[str, int]:
    """A start index per name: (name, days of history needed after day 0, days needed after start),
    >= MIN_GAP apart and >= 5 days from holidays and quarter ends."""
    blocked = {_index(d) for d, _ in _holidays()}
    qe = np.flatnonzero(_quarter_end_days())
    for _ in range(1000):
        chosen: dict[str, int] = {}
        for name, before, after in kinds:
            for _ in range(200):
                i = int(rng.integers(before, DAYS - after))
                if name == "offsite":
                    i += (1 - _day(i).weekday()) % 7  # a Tuesday
                elif name == "outage":
                    i += (2 - _day(i).weekday()) % 7  # a Wednesday
                elif _day(i).weekday() >= 5:
                    i += 7 - _day(i).weekday()  # launches start on a working day
                if i >= DAYS - after:
                    continue
                if any(abs(i - j) < MIN_GAP for j in chosen.values()):
                    continue
                if any(abs(i - b) < 5 for b in blocked) or np.any(np.abs(qe - i) < 5):
                    continue
                chosen[name] = i
                break
            else:
                break
        if len(chosen) == len(kinds):
            return chosen
    raise RuntimeError("no room for the stories")


def plant_stories(rng: np.random.Generator) -> tuple[list[Story], list[Decoy]]:
    at = _pick_dates(rng, [("offsite", 60, 20), ("campaign", 60, 30), ("apac", 90, 45), ("outage", 60, 20),
                           ("pricing", 90, 45), ("release", 60, 20), ("decoy_a", 60, 20), ("decoy_b", 60, 20)])
    outage_region = str(rng.choice(["NA", "EMEA"]))
    d = {k: _day(v) for k, v in at.items()}
    stories = [
        Story("offsite", "opportunities", {}, d["offsite"], d["offsite"] + timedelta(2), "down", 0.35,
              "opportunities", type="offsite"),
        Story("campaign", "leads", {"region": "LATAM", "channel": "paid"}, d["campaign"],
              d["campaign"] + timedelta(13), "up", 1.7, "leads", type="campaign"),
        Story("apac_drop", "opportunities", {"region": "APAC"}, d["apac"], None, "down", 0.6, "opportunities",
              type="other"),
        Story("outage", "leads", {"region": outage_region}, d["outage"], d["outage"], "down", 0.15, "leads",
              type="outage"),
        Story("pricing", "mql", {}, d["pricing"], None, "up", 1.35, "mql", ratio="lead_to_mql", type="pricing"),
        Story("release", "leads", {"channel": "organic"}, d["release"], d["release"] + timedelta(6), "up", 1.45,
              "leads", type="release"),
    ]
    decoys = [Decoy("decoy_webinar", d["decoy_a"], d["decoy_a"] + timedelta(1), "campaign"),
              Decoy("decoy_newsletter", d["decoy_b"], d["decoy_b"], "release")]
    return stories, decoys


def _cells(segment: dict) -> np.ndarray:
    """(regions, channels) mask of the leaf cells a segment covers."""
    r = np.array([segment.get("region", x) == x for x in REGIONS])
    c = np.array([segment.get("channel", x) == x for x in CHANNELS])
    return r[:, None] & c[None, :]


def _days_mask(story: Story) -> np.ndarray:
    mask = np.zeros(DAYS, bool)
    last = DAYS - 1 if story.end is None else _index(story.end)
    mask[_index(story.start): last + 1] = True
    return mask


def _effect(stories: list[Story], stage: str) -> np.ndarray:
    """Multiplier (regions, channels, days) of the stories acting on `stage`."""
    out = np.ones((len(REGIONS), len(CHANNELS), DAYS))
    for s in stories:
        if s.stage_moved == stage:
            out[_cells(s.segment)[:, :, None] & _days_mask(s)[None, None, :]] *= s.factor
    return out


def _spread(rng: np.random.Generator, converted: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """Each day's conversions landed over the next days (multinomial over the lag profile)."""
    parts = rng.multinomial(converted.ravel(), lags / lags.sum()).reshape(*converted.shape, len(lags))
    landed = np.zeros_like(converted)
    for k in range(len(lags)):
        landed[..., k:] += parts[..., : DAYS - k, k]
    return landed


def _day_factor(scope_days: list[tuple[date, dict]]) -> np.ndarray:
    out = np.ones((len(REGIONS), len(CHANNELS), DAYS))
    for d, scope in scope_days:
        out[_cells(scope)[:, :, None] & (np.arange(DAYS) == _index(d))[None, None, :]] *= HOLIDAY_FACTOR
    return out


def generate(seed: int) -> Funnel:
    """One funnel with its stories' truth."""
    rng = np.random.default_rng(seed)
    stories, decoys = plant_stories(rng)
    holidays = _holidays()
    t = np.arange(DAYS)
    weekday = WEEKDAY[[(_day(0).weekday() + i) % 7 for i in t]]
    trend = (1 + GROWTH_PER_YEAR) ** (t / 365.0)
    share = np.outer(list(REGIONS.values()), list(CHANNELS.values()))
    holiday = _day_factor(holidays)
    weekend = np.where(weekday < 0.5, SALES_WEEKEND, 1.0)
    mean = LEADS_PER_DAY * share[:, :, None] * (weekday * trend)[None, None, :] / WEEKDAY.mean()
    mean = mean * holiday * _effect(stories, "leads")
    counts = {"leads": rng.poisson(rng.gamma(NB_SIZE, mean / NB_SIZE))}
    opp_rate = np.array([REGION_OPP_RATE.get(r, CONVERSION["opportunities"]) for r in REGIONS])
    for upper, stage in zip(STAGES, STAGES[1:]):
        rate = np.full(counts[upper].shape, CONVERSION[stage])
        if stage == "opportunities":
            rate = np.broadcast_to(opp_rate[:, None, None], rate.shape).copy()
        converted = rng.binomial(counts[upper], np.clip(rate * _effect(stories, stage) if stage == "mql" else rate, 0, 1))
        landed = _spread(rng, converted, LAGS[stage])
        keep = holiday.copy()
        if stage in ("opportunities", "won"):
            keep = keep * weekend[None, None, :]
        if stage == "opportunities":
            keep = keep * _effect(stories, "opportunities")
        landed = rng.binomial(landed, np.clip(keep, 0, 1))
        if stage == "won":
            qe = _quarter_end_days()[None, None, :] & np.ones(landed.shape, bool)
            landed = landed + np.where(qe, rng.poisson(QUARTER_END_EXTRA * landed), 0)
        counts[stage] = landed
    return Funnel(seed, counts, stories, decoys, holidays)


def write_csv(funnel: Funnel, path: Path) -> None:
    """The funnel as a CRM export: date,region,channel,metric,value (long format)."""
    lines = ["date,region,channel,metric,value"]
    for i in range(BURN_IN, DAYS):
        d = _day(i).isoformat()
        for ri, r in enumerate(REGIONS):
            for ci, c in enumerate(CHANNELS):
                for stage in STAGES:
                    lines.append(f"{d},{r},{c},{stage},{int(funnel.counts[stage][ri, ci, i])}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def timeline_yaml(funnel: Funnel) -> str:
    import yaml

    events = []
    for s in funnel.stories:
        ev = {"id": s.name.replace("_", "-"), "title": s.name, "type": s.type, "start": s.start}
        if s.end is not None:
            ev["end"] = s.end
        if s.segment:
            ev["scope"] = {k: [v] for k, v in s.segment.items()}
        events.append(ev)
    for x in funnel.decoys:
        events.append({"id": x.name.replace("_", "-"), "title": x.name, "type": x.type, "start": x.start, "end": x.end})
    for k, (d, scope) in enumerate(funnel.holidays):
        ev = {"id": f"holiday-{k}", "title": f"holiday {d}", "type": "holiday", "start": d}
        if scope:
            ev["scope"] = {key: [v] for key, v in scope.items()}
        events.append(ev)
    return yaml.safe_dump(events, sort_keys=False)


def run_cli(funnel: Funnel, tagged: bool, folder: Path) -> list[dict]:
    """init, ingest, scan and digest --format json as a user runs them; the anomalies."""
    from click.testing import CliRunner

    from ctxmetrics.cli import cli

    data = folder / "crm_export.csv"
    write_csv(funnel, data)
    project = folder / "proj"
    runner = CliRunner()

    def call(*args):
        result = runner.invoke(cli, ["--project", str(project), *args] if args[0] != "init" else list(args),
                               catch_exceptions=False)
        if result.exit_code not in (0, 3):
            raise RuntimeError(f"{args[0]} exited {result.exit_code}: {result.output[-500:]}")
        return result.output

    call("init", str(project))
    (project / "ctxmetrics.yaml").write_text(CONFIG, encoding="utf-8")
    if tagged:
        (project / "annotations" / "timeline.yaml").write_text(timeline_yaml(funnel), encoding="utf-8")
    call("ingest", str(data))
    call("scan")
    out = call("digest", "--format", "json")
    return json.loads(out)["anomalies"]


# --- scoring ---------------------------------------------------------------------------

def _within_one_level(a: dict, b: dict) -> bool:
    small, big = (a, b) if len(a) <= len(b) else (b, a)
    return len(big) - len(small) <= 1 and all(big.get(k) == v for k, v in small.items())


def _overlaps(a: dict, b: dict) -> bool:
    return all(a[k] == b[k] for k in a.keys() & b.keys())


def _stage_metrics(story: Story) -> set[str]:
    """The story's stage and every lower one, and the ratios built from them."""
    lower = set(STAGES[STAGES.index(story.metric):])
    return lower | {r for r, (num, den) in RATIOS.items() if num in lower or den in lower}


def _date(text: str) -> date:
    return date.fromisoformat(text[:10])


def story_matches(story: Story, anomaly: dict) -> bool:
    """The found rule: its metric (or ratio), within one level, start within 2 days, its direction."""
    metrics = {story.metric} | ({story.ratio} if story.ratio else set())
    return (anomaly["metric"] in metrics and _within_one_level(story.segment, anomaly["segment"])
            and abs((_date(anomaly["start"]) - story.start).days) <= 2 and anomaly["direction"] == story.direction)


def _story_part(story: Story, anomaly: dict) -> bool:
    if anomaly["metric"] not in _stage_metrics(story) or not _overlaps(story.segment, anomaly["segment"]):
        return False
    start = _date(anomaly["start"])
    last = (story.end or story.start) + timedelta(14)  # a lasting story's echoes start within two weeks too
    if not story.start - timedelta(2) <= start <= last:
        return False
    return anomaly["metric"] in RATIOS or anomaly["direction"] == story.direction


def _false_alarm_class(funnel: Funnel, anomaly: dict) -> str:
    start = _date(anomaly["start"])
    for s in funnel.stories:
        if anomaly["metric"] not in _stage_metrics(s) or not _overlaps(s.segment, anomaly["segment"]):
            continue
        if s.end is not None and anomaly["direction"] != s.direction and 0 <= (start - s.end).days <= 3:
            return "end_edge"
        if anomaly["direction"] == s.direction and 3 <= abs((start - s.start).days) <= 30:
            return "misdated"
    if anomaly["metric"] in ("won", "win_rate"):
        qe = _quarter_end_days()
        near = [i for i in range(-5, 11) if 0 <= _index(start) + i < DAYS and qe[_index(start) + i]]
        if near:
            return "quarter_end"
    if any(abs((start - x.start).days) <= 3 for x in funnel.decoys):
        return "decoy"
    return "other"


def classify(funnel: Funnel, anomalies: list[dict]) -> dict:
    """Found stories (name -> the matching anomaly's id) and each anomaly's class."""
    found = {s.name: next((a["id"] for a in anomalies if story_matches(s, a)), None) for s in funnel.stories}
    classes = []
    for a in anomalies:
        if any(story_matches(s, a) for s in funnel.stories):
            classes.append("match")
        elif any(_story_part(s, a) for s in funnel.stories):
            classes.append("story")
        elif any(abs((_date(a["start"]) - d).days) <= 2 and _overlaps(scope, a["segment"])
                 for d, scope in funnel.holidays):
            classes.append("holiday")
        else:
            classes.append("fa:" + _false_alarm_class(funnel, a))
    return {"found": found, "classes": classes}


def _seeds(split: str, count: int) -> list[int]:
    base = {"tune": 0, "holdout": 100}[split]
    return list(range(base, base + count))


def _closest(story: Story, anomalies: list[dict]) -> str:
    """The nearest anomaly on the story's metric family, to read a miss's cause from."""
    same = [a for a in anomalies if a["metric"] in ({story.metric, story.ratio} - {None})
            and _overlaps(story.segment, a["segment"])]
    if not same:
        return "nothing on its metric and cells"
    a = min(same, key=lambda a: abs((_date(a["start"]) - story.start).days))
    return (f"nearest {a['metric']} {a['segment']} {a['start']} {a['direction']} "
            f"({(_date(a['start']) - story.start).days:+d} d, score {a.get('score')})")


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def miss_cause(funnel: Funnel, story: Story, anomalies: list[dict]) -> str:
    """A missed story's cause, read on its own series: `power` (the detector alone, with its
    bars at 3 and 1%, scores it under 5 or sizes it under 15%), `misdated` (the detector alone finds it
    3+ days off), `pre-screen` (found alone, the scan's screen drops the row) or
    `scan` (found alone and screened in: the scan folded, restated or re-dated it)."""
    from ctxmetrics.config import DetectionSettings
    from ctxmetrics.detect import find_changes
    from ctxmetrics.detect.prescreen import prescreen

    if story.metric in RATIOS or story.ratio:
        num, den = RATIOS[story.ratio] if story.ratio else RATIOS[story.metric]
        values = funnel.counts[num][_cells(story.segment)].sum(axis=0)[BURN_IN:].astype(float)
        denominators = funnel.counts[den][_cells(story.segment)].sum(axis=0)[BURN_IN:].astype(float)
        kind = "ratio"
    else:
        values = funnel.counts[story.metric][_cells(story.segment)].sum(axis=0)[BURN_IN:].astype(float)
        denominators, kind = None, "count"
    dates = [_day(i) for i in range(BURN_IN, DAYS)]
    index = _index(story.start) - BURN_IN

    def near(changes, days):
        same = [c for c in changes if c.direction == story.direction and abs(c.start - index) <= days]
        return min(same, key=lambda c: abs(c.start - index)) if same else None

    kw = {"kind": kind, "dates": dates, "denominators": denominators}
    alone = near(find_changes(values, **kw), 2)
    if alone is None:
        late = near(find_changes(values, **kw), 30)
        if late is not None:
            return f"misdated: alone {late.start - index:+d} d, score {late.score:.1f}"
        loose = near(find_changes(values, settings=DetectionSettings(min_score=3.0, min_change_pct=1.0), **kw), 7)
        if loose is None:
            return "power: nothing near it with the bars at 3 and 1%"
        return f"power: alone score {loose.score:.2f}, {loose.change_pct:+.0f}% ({loose.start - index:+d} d)"
    kept = prescreen(np.array([values]), DetectionSettings(), kind=kind,
                     denominators=None if denominators is None else np.array([denominators]),
                     start_weekday=dates[0].weekday(), start_date=dates[0])
    if not kept[0]:
        return f"pre-screen: alone score {alone.score:.1f}, the screen drops the row"
    return f"scan: alone score {alone.score:.1f} {alone.start - index:+d} d; " + _closest(story, anomalies)


def _report(mode: str, runs: list[tuple[Funnel, list[dict]]], verbose: bool) -> None:
    """Recall per story, precision and false alarms by class of one mode's runs."""
    found: dict[str, int] = {}
    fa_classes: dict[str, int] = {}
    total = holidays = 0
    for funnel, anomalies in runs:
        result = classify(funnel, anomalies)
        total += len(anomalies)
        holidays += result["classes"].count("holiday")
        for name, hit in result["found"].items():
            found[name] = found.get(name, 0) + (hit is not None)
            if hit is None and verbose:
                s = next(s for s in funnel.stories if s.name == name)
                print(f"  miss seed {funnel.seed} {mode} {name} {s.metric} {s.segment} {s.start}: "
                      f"{miss_cause(funnel, s, anomalies)}")
        for a, c in zip(anomalies, result["classes"]):
            if c.startswith("fa:"):
                fa_classes[c[3:]] = fa_classes.get(c[3:], 0) + 1
                if verbose:
                    print(f"  false alarm seed {funnel.seed} {mode} {c[3:]}: {a['metric']} {a['segment']} "
                          f"{a['start']}..{a['end']} {a['direction']} {a['change_pct']}% score {a['score']}")
    n = len(runs)
    stories = sum(found.values())
    false_alarms = sum(fa_classes.values())
    print(f"{mode}: recall {stories}/{n * len(found)} = {stories / max(n * len(found), 1):.3f}; "
          f"precision {1 - false_alarms / max(total - holidays, 1):.3f} without the {holidays} holiday anomalies, "
          f"{1 - false_alarms / max(total, 1):.3f} with them ({false_alarms} false alarms of {total} anomalies)")
    print("  per story: " + ", ".join(f"{k} {v}/{n}" for k, v in found.items()))
    print("  false alarms by class: " + (", ".join(f"{k} {v}" for k, v in sorted(fa_classes.items())) or "none"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", choices=("tune", "holdout"), default="tune")
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--mode", choices=("blind", "tagged", "both"), default="both")
    parser.add_argument("--part", default="1/1", help="K/M: run every M-th funnel from the K-th (parallel runs)")
    parser.add_argument("--verbose", action="store_true", help="list each miss and false alarm")
    parser.add_argument("--json", type=Path, help="write every funnel's anomalies here")
    parser.add_argument("--rescore", type=Path, nargs="+", help="score the anomalies of earlier --json files")
    args = parser.parse_args(argv)
    modes = ["blind", "tagged"] if args.mode == "both" else [args.mode]
    if args.rescore:
        dumps = [run for path in args.rescore for run in json.loads(path.read_text(encoding="utf-8"))]
        for mode in modes:
            runs = [(generate(d["seed"]), d["anomalies"]) for d in sorted(dumps, key=lambda d: d["seed"])
                    if d["mode"] == mode]
            _report(mode, runs, args.verbose)
        return 0
    import ctxmetrics

    print(f"ctxmetrics from {Path(ctxmetrics.__file__).parent}; split {args.split}, {args.count} funnels")
    k, m = (int(x) for x in args.part.split("/"))
    seeds = _seeds(args.split, args.count)[k - 1::m]
    dump = []
    for mode in modes:
        runs = []
        began = _cpu()
        for seed in seeds:
            funnel = generate(seed)
            with tempfile.TemporaryDirectory() as tmp:
                runs.append((funnel, run_cli(funnel, mode == "tagged", Path(tmp))))
            dump.append({"seed": seed, "mode": mode, "anomalies": runs[-1][1]})
        _report(mode, runs, args.verbose)
        print(f"  CPU {_cpu() - began:.0f} s for {len(seeds)} funnels (this process and the children it waited for)")
        sys.stdout.flush()
    if args.json:
        args.json.write_text(json.dumps(dump, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
