"""The timeline library: schema, timezone rule, ids, writes, safety, round trip, store mirror."""
from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctxmetrics.errors import TimelineError, UnknownName
from ctxmetrics.models.annotation import Annotation
from ctxmetrics.timeline.read import find_annotation, load_timeline, mirror_row, slugify
from ctxmetrics.timeline.write import add_annotation, edit_annotation, end_annotation, remove_annotation

ROOT = Path(__file__).resolve().parents[1]
HAND_WRITTEN = """\
# Our timeline
- id: promo
  title: Spring promo   # the big one
  type: campaign
  start: 2026-03-01
  end: 2026-03-14
  scope: {region: [EMEA]}
# next: the offsite
- title: Company offsite
  type: offsite
  start: 2026-04-02
  end: 2026-04-03
- id: outage
  title: Outage
  type: outage
  start: 2026-03-05T10:00:00+01:00
  end:
"""


@pytest.fixture
def adir(tmp_path):
    return tmp_path / "annotations"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_load_reads_list_and_mapping_files_with_lines(adir):
    write(adir / "team.yaml", HAND_WRITTEN)
    write(adir / "2026" / "01" / "launch.yaml", "id: launch\ntitle: Launch\ntype: release\nstart: 2026-01-10\n")
    events = load_timeline(adir, "UTC")
    assert [e.id for e in events] == ["launch", "promo", "outage", "company-offsite"]
    promo = events[1]
    assert (promo.path, promo.line) == (adir / "team.yaml", 2)
    assert promo.scope == {"region": ("EMEA",)}
    assert events[3].line == 9  # an id-less event gets the slug of its title


def test_missing_end_is_an_instant_and_null_end_is_open(adir):
    write(adir / "team.yaml", HAND_WRITTEN)
    write(adir / "one.yaml", "title: Price change\ntype: pricing\nstart: 2026-02-01\n")
    events = {e.id: e for e in load_timeline(adir, "UTC")}
    assert events["price-change"].end == date(2026, 2, 1)
    assert events["price-change"].last_day("UTC") == date(2026, 2, 1)
    assert events["outage"].is_open and events["outage"].last_day("UTC") is None


def test_timezone_rule(adir):
    write(adir / "t.yaml", """\
        - {id: naive, title: Naive, type: other, start: '2026-03-01T23:30', end: '2026-03-02T00:00'}
        - {id: offset, title: Offset, type: other, start: '2026-03-01T23:30:00-05:00', end: '2026-03-03'}
        """)
    events = {e.id: e for e in load_timeline(adir, "Europe/Berlin")}
    naive, offset = events["naive"], events["offset"]
    assert naive.start.isoformat() == "2026-03-01T23:30:00+01:00"  # read as project-local time
    assert (naive.first_day("Europe/Berlin"), naive.last_day("Europe/Berlin")) == (date(2026, 3, 1),) * 2
    assert offset.start.utcoffset() == timedelta(hours=-5)  # an explicit offset is kept
    assert offset.first_day("Europe/Berlin") == date(2026, 3, 2)
    assert offset.first_day("America/New_York") == date(2026, 3, 1)
    assert offset.last_day("Europe/Berlin") == date(2026, 3, 3)  # a date end is inclusive


def test_scope_relation():
    event = Annotation("x", "X", "campaign", date(2026, 3, 1), scope={"region": ("EMEA", "APAC")})
    assert event.scope_relation({"region": "EMEA", "channel": "paid"}) == "exact"
    assert event.scope_relation({"channel": "paid"}) == "partial"
    assert event.scope_relation({}) == "partial"
    assert event.scope_relation({"region": "AMER"}) == "disjoint"
    assert Annotation("g", "G", "holiday", date(2026, 1, 1)).scope_relation({"region": "AMER"}) == "global"


def test_to_dict_leaves_out_empty_fields():
    event = Annotation("x", "X", "campaign", date(2026, 3, 1), date(2026, 3, 2), metrics=("leads",), path=Path("p"))
    assert event.to_dict() == {
        "id": "x", "title": "X", "type": "campaign", "start": "2026-03-01", "end": "2026-03-02", "metrics": ["leads"]
    }


def test_slugify():
    assert slugify("Spring promo, 20% off!") == "spring-promo-20-off"
    assert slugify("Café Ünïcode") == "cafe-unicode"
    assert slugify("!!!") == "event"
    long = slugify("word " * 30)
    assert len(long) <= 60 and not long.endswith("-")


def test_ids_are_generated_unique_from_title(adir):
    ids = [add_annotation(adir, title="Spring promo", type="campaign", start="2026-03-01").id for _ in range(4)]
    assert ids == ["spring-promo", "spring-promo-2026-03-01", "spring-promo-2026-03-01-2", "spring-promo-2026-03-01-3"]
    assert (adir / "2026" / "03" / "spring-promo-2026-03-01-2.yaml").is_file()
    assert len(load_timeline(adir, "UTC")) == 4


def test_explicit_id_must_be_unused_and_valid(adir):
    add_annotation(adir, id="promo", title="Promo", type="campaign", start="2026-03-01")
    with pytest.raises(TimelineError, match=r"id 'promo' is already used at .*promo.yaml:1; choose another id."):
        add_annotation(adir, id="promo", title="Other", type="campaign", start="2026-05-01")
    with pytest.raises(TimelineError, match="'id' 'Bad Id' is not a valid id"):
        add_annotation(adir, id="Bad Id", title="Other", type="campaign", start="2026-05-01")


def test_add_rejects_invalid_fields_with_all_reasons(adir):
    with pytest.raises(TimelineError) as info:
        add_annotation(adir, title="X", type="promo", start="2026-13-01", expect="sideways")
    message = str(info.value)
    assert "'type' is 'promo'" in message and "'start' is not a valid date" in message and "'expect'" in message


def test_start_and_end(adir):
    opened = add_annotation(adir, title="Sign-up down", type="outage", start="2026-03-05T10:00", open_ended=True,
                            tz="Europe/Berlin")
    assert opened.is_open
    closed = end_annotation(adir, opened.id, "2026-03-05T12:30", tz="Europe/Berlin")
    assert closed.end == datetime(2026, 3, 5, 12, 30, tzinfo=timezone(timedelta(hours=1)))
    assert find_annotation(adir, opened.id, "Europe/Berlin") == closed
    with pytest.raises(TimelineError, match="is not open"):
        end_annotation(adir, opened.id, "2026-03-06", tz="Europe/Berlin")


def test_end_before_start_is_refused(adir):
    opened = add_annotation(adir, title="Down", type="outage", start="2026-03-05", open_ended=True)
    with pytest.raises(TimelineError, match="'end' 2026-03-01 is before 'start' 2026-03-05."):
        end_annotation(adir, opened.id, "2026-03-01")


def test_edit_and_remove_in_a_list_file_keep_other_events_and_comments(adir):
    path = write(adir / "team.yaml", HAND_WRITTEN)
    edited = edit_annotation(adir, "promo", "UTC", end="2026-03-21", owner="ana", scope={"region": ["EMEA", "APAC"]})
    assert (edited.end, edited.owner, edited.line) == (date(2026, 3, 21), "ana", 2)
    remove_annotation(adir, "company-offsite", "UTC")
    text = path.read_text()
    assert "# Our timeline" in text and "# next: the offsite" in text
    assert [e.id for e in load_timeline(adir, "UTC")] == ["promo", "outage"]
    assert find_annotation(adir, "promo", "UTC").scope == {"region": ("EMEA", "APAC")}
    assert find_annotation(adir, "outage", "UTC").is_open


def test_edit_moving_an_instant_keeps_it_an_instant(adir):
    add_annotation(adir, id="launch", title="Launch", type="release", start="2026-01-10")
    assert edit_annotation(adir, "launch", start="2026-02-01").end == date(2026, 2, 1)


def test_edit_new_id_renames_a_one_event_file(adir):
    old = add_annotation(adir, id="launch", title="Launch", type="release", start="2026-01-10")
    new = edit_annotation(adir, "launch", id="launch-v2")
    assert not old.path.exists() and new.path == old.path.with_name("launch-v2.yaml")
    assert find_annotation(adir, "launch-v2", "UTC").title == "Launch"


def test_remove_deletes_a_one_event_file(adir):
    event = add_annotation(adir, title="Launch", type="release", start="2026-01-10")
    remove_annotation(adir, "launch")
    assert not event.path.exists()
    with pytest.raises(UnknownName, match="No annotation with id 'launch'."):
        remove_annotation(adir, "launch")


def test_unknown_id_suggests_the_closest(adir):
    add_annotation(adir, title="Spring promo", type="campaign", start="2026-03-01")
    with pytest.raises(UnknownName, match="No annotation with id 'spring-prom' \\(did you mean 'spring-promo'\\?\\)."):
        find_annotation(adir, "spring-prom", "UTC")


def test_load_error_names_file_and_line(adir):
    write(adir / "bad.yaml", "- id: a\n  title: A\n  type: campaign\n  start: 2026-02-30\n")
    with pytest.raises(TimelineError) as info:
        load_timeline(adir, "UTC")
    assert str(info.value).startswith(f"{adir / 'bad.yaml'}:4: 'start' is not a valid date or datetime: '2026-02-30'")


def test_other_files_do_not_block_adding(adir):
    write(adir / "broken.yaml", "- title: [unclosed\n")
    assert add_annotation(adir, title="Launch", type="release", start="2026-01-10").id == "launch"


def test_a_writer_stuck_holding_the_lock_makes_the_next_give_up_with_nothing_written(adir, monkeypatch):
    import fcntl
    import os

    add_annotation(adir, title="Launch", type="release", start="2026-01-10")
    before = {p.name: p.read_text() for p in adir.glob("*.yaml")}
    monkeypatch.setenv("CTXMETRICS_LOCK_TIMEOUT", "0.2")
    holder = os.open(adir / ".lock", os.O_RDWR)  # another open file: flock excludes it like another process
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        with pytest.raises(TimelineError, match=r"\.lock: another change to the timeline is still being written; waited 0\.2s"):
            add_annotation(adir, title="Webinar", type="campaign", start="2026-02-01")
    finally:
        os.close(holder)
    assert {p.name: p.read_text() for p in adir.glob("*.yaml")} == before
    assert add_annotation(adir, title="Webinar", type="campaign", start="2026-02-01").id == "webinar"


# --- safety: run in a child process with a timeout and a memory cap --------------------

SAFETY_CHILD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
from pathlib import Path
from ctxmetrics.timeline.read import load_timeline
from ctxmetrics.errors import TimelineError
try:
    load_timeline(Path(sys.argv[1]), "UTC")
except TimelineError as exc:
    print(exc)
"""


def load_in_child(adir: Path) -> str:
    result = subprocess.run([sys.executable, "-c", SAFETY_CHILD, str(adir)], capture_output=True, text=True,
                            timeout=30, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_alias_bomb_is_refused(adir):
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    write(adir / "bomb.yaml", "id: bomb\ntitle: Bomb\ntype: other\nstart: 2026-01-01\nnotes:\n" +
          "".join(f"  {level}\n" for level in levels))
    assert load_in_child(adir) == (f"{adir / 'bomb.yaml'}:6: YAML aliases expand to too many values "
                                   "(an alias bomb?); refusing to read.")


def test_recursive_alias_and_deep_nesting_are_refused(adir):
    write(adir / "loop.yaml", "- &e {id: loop, title: L, type: other, start: 2026-01-01, tags: *e}\n")
    write(adir / "deep.yaml", "- {id: deep, title: D, type: other, start: 2026-01-01, tags: " + "[" * 5000 + "]" * 5000 + "}\n")
    assert "YAML is nested too deeply." in load_in_child(adir)
    (adir / "deep.yaml").unlink()
    assert "a YAML alias refers to a value that contains it." in load_in_child(adir)


def test_huge_file_is_refused_before_parsing(adir):
    path = adir / "huge.yaml"
    path.parent.mkdir(parents=True)
    path.write_text("- {id: x, title: X, type: other, start: 2026-01-01}\n" * 1_000_000)  # ~50 MB
    assert load_in_child(adir) == (f"{path}: file is larger than 5 MB; annotation files must be small, "
                                   "split it into several files.")


# --- round trip -----------------------------------------------------------------------

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
texts = st.text(min_size=1, max_size=40).filter(str.strip)
offsets = st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
moments = st.one_of(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 1, 1)),
    st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2200, 1, 1), timezones=offsets),
)


@st.composite
def events(draw):
    start = draw(moments)
    shape = draw(st.sampled_from(["instant", "open", "range"]))
    end = {"instant": start, "open": None, "range": start + timedelta(days=draw(st.integers(0, 400)))}[shape]
    return Annotation(
        id=draw(st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,30}", fullmatch=True)),
        title=draw(texts),
        type=draw(st.sampled_from(["campaign", "offsite", "outage", "pricing", "release", "holiday", "other"])),
        start=start,
        end=end,
        scope=draw(st.dictionaries(names, st.lists(texts, min_size=1, max_size=3).map(tuple), max_size=3)),
        metrics=tuple(draw(st.lists(names, max_size=3))),
        expect=draw(st.sampled_from([None, "up", "down"])),
        owner=draw(st.none() | texts),
        links=tuple(draw(st.lists(texts, max_size=2))),
        tags=tuple(draw(st.lists(texts, max_size=2))),
        notes=draw(st.none() | st.text(min_size=1, max_size=200).filter(str.strip)),
    )


@settings(max_examples=60, deadline=None)
@given(event=events(), tz=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]))
def test_round_trip_any_valid_event(event, tz):
    with tempfile.TemporaryDirectory() as folder:
        fields = {k: v for k, v in event.to_dict().items() if k not in ("id", "start", "end")}
        written = add_annotation(Path(folder), id=event.id, start=event.start, end=event.end,
                                 open_ended=event.is_open, tz=tz, **fields)
        assert written == event
        assert load_timeline(Path(folder), tz) == [event]


def test_annotation_mirror(adir, tmp_path):
    from ctxmetrics.store.results import save_annotation_mirror
    from ctxmetrics.store.database import Store

    write(adir / "team.yaml", HAND_WRITTEN)
    events = load_timeline(adir, "Europe/Berlin")
    with Store(tmp_path / "mirror.duckdb") as store:
        for _ in range(2):  # replaces, never appends
            save_annotation_mirror(store, [mirror_row(e, "Europe/Berlin") for e in events])
        _, rows = store.query_rows(
            "select id, first_day, last_day, scope->>'$.region[0]', epoch(end_ts) - epoch(start_ts), line "
            "from annotations order by id"
        )
    assert rows == [
        ("company-offsite", date(2026, 4, 2), date(2026, 4, 3), None, 2 * 86400, 9),
        ("outage", date(2026, 3, 5), None, None, None, 13),
        ("promo", date(2026, 3, 1), date(2026, 3, 14), "EMEA", 14 * 86400, 2),
    ]
