"""A deals export's won value per owner × region is lumpy: a day with one big deal stands
out as a spike of the sum. Where the export also counts the won deals, each temporary
change of the won value carries the number of deals on its days (JSON `records`); one
made of a single deal is said so and ranks like a change just past the bar."""
from __future__ import annotations

import datetime as dt
import json

from ctxmetrics.models.anomaly import Anomaly
from ctxmetrics.project import Project
from ctxmetrics.scan.one_record import count_records
from ctxmetrics.wording import score_text
from test_export_columns_and_window import FIRST, pipedrive_export
from test_quarterly import invoke


def stored_won(root, segment, day):
    where = "".join(f" and {d} = '{v}'" for d, v in segment.items())
    sql = f"select coalesce(sum(value), 0) as n from observations where metric = 'deals_won' and ts = '{day}'{where}"
    return json.loads(invoke("--project", root, "query", sql, "--json").output)[0]["n"]


def test_a_won_value_change_carries_its_deals_and_one_deal_ranks_low(tmp_path):
    data, root = tmp_path / "pipedrive_deals.csv", tmp_path / "p"
    pipedrive_export(data)
    invoke("init", root, "--from", data)
    invoke("--project", root, "ingest", data)
    project = Project(root)
    segment = {"Region": "EMEA", "owner_name": "Chen"}
    days = [FIRST + dt.timedelta(days=i) for i in range(60, 120)]
    one = next(d for d in days if stored_won(root, segment, d) == 1)
    two = next(d for d in days if stored_won(root, segment, d) == 2)
    spikes = [Anomaly("won_value", dict(segment), "spike", "up", d, d, 900.0, 9000.0, 900.0, 9.0, volume=900.0)
              for d in (one, two)]
    lasting = Anomaly("won_value", dict(segment), "level_shift", "up", one, None, 900.0, 1500.0, 66.7, 9.0, volume=900.0)
    counted = Anomaly("deals_won", dict(segment), "spike", "up", one, one, 1.0, 5.0, 400.0, 9.0, volume=1.0)
    with project.store(read_only=True) as store:
        count_records([*spikes, lasting, counted], project.config, store)
    assert [a.records for a in (*spikes, lasting, counted)] == [1, 2, None, None]
    assert spikes[0].importance < spikes[1].importance == lasting.importance
    assert score_text(spikes[0]) == "score 9.0, a single record (one deal's size, not a change of pace)"
    assert score_text(spikes[1]) == "score 9.0, 2 records on its days"
    assert Anomaly.from_json(spikes[0].to_json()).records == 1 and "records" not in lasting.to_json()
