"""The JSON texts a scan stores (`scan.stored_texts`) and the keys an anomaly builds once
(`Anomaly.segment_key`, `Anomaly.rollup_keys`): the same as built afresh, one process or
shared with a forked worker."""
from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import multiprocessing
import os
import pickle

from ctxmetrics.config import Config
from ctxmetrics.models.anomaly import Anomaly, Cause
from ctxmetrics.models.segments import rollup_keys, segment_key
from ctxmetrics.scan import stored_texts
from ctxmetrics.store.results import anomaly_texts, result_frames


def _anomalies(count: int) -> list[Anomaly]:
    regions, channels = ("NA", "EMEA", "APAC"), ("web", "partner")
    out = []
    for i in range(count):
        segment = {"region": regions[i % 3], "channel": channels[i % 2]} if i % 4 else {"region": regions[i % 3]}
        start = dt.date(2026, 3, 1) + dt.timedelta(days=i % 5)
        out.append(Anomaly(
            metric="leads", segment=segment, kind="spike", direction="up", start=start, end=start, before=10.0,
            after=12.5 + i, change_pct=25.0 + 10 * i, score=4.0 + i / 7, volume=11.0,
            causes=[Cause("promo", "Promo é", "campaign", 0.8, "starts 1 day before")] if i % 3 == 0 else [],
            drivers=[{"segment": {"region": "NA"}, "share": 0.5}] if i % 2 else [],
        ))
    return out


def test_texts_shared_with_a_forked_worker_equal_one_process(monkeypatch):
    anomalies = _anomalies(57)
    alone = anomaly_texts(anomalies)
    assert alone[5] == (json.dumps(anomalies[5].segment), json.dumps(anomalies[5].to_json()))
    parent, worker_done = os.getpid(), multiprocessing.get_context("fork").Event()

    def worker_first(part: list[Anomaly]) -> list:  # this process waits until the worker has made a slice
        if os.getpid() == parent:
            assert worker_done.wait(timeout=60)
        else:
            worker_done.set()
        return anomaly_texts(part)

    monkeypatch.setattr(stored_texts, "anomaly_texts", worker_first)
    monkeypatch.setattr(stored_texts, "_PARALLEL_MIN_ANOMALIES", 0)
    assert stored_texts.stored_texts(anomalies) == alone
    assert worker_done.is_set()


def test_rows_from_texts_built_before_equal_rows_built_here():
    anomalies, config = _anomalies(9), Config()
    given = result_frames(anomalies, config, anomaly_texts(anomalies))["anomalies"].drop("scanned_at")
    here = result_frames(anomalies, config)["anomalies"].drop("scanned_at")
    assert given.rows() == here.rows()
    assert given["data"][2] == json.dumps(anomalies[2].to_json())


def test_an_anomaly_builds_its_keys_once_per_segment():
    a = _anomalies(2)[1]
    assert a.segment_key == segment_key(a.segment) == "channel=partner,region=EMEA"
    assert a.rollup_keys == rollup_keys(a.segment) == ["", "channel=partner", "region=EMEA"]
    assert a.id == "leads|channel=partner,region=EMEA|2026-03-02"
    a.segment = {"region": "APAC"}  # a segment replaced is read afresh
    assert (a.segment_key, a.rollup_keys) == ("region=APAC", [""])
    moved = dataclasses.replace(a, segment={"region": "NA", "channel": "web"})
    assert moved.segment_key == "channel=web,region=NA"
    copied = copy.copy(a)
    copied.segment = {"channel": "web"}
    assert (copied.segment_key, a.segment_key) == ("channel=web", "region=APAC")
    assert pickle.loads(pickle.dumps(a)).rollup_keys == [""]
    assert a == dataclasses.replace(a) and "rollup" not in repr(a)  # the cache is no field
