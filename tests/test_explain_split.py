"""A loop shared with a forked worker (`explain.split_loop`) and the correlated links it
splits: the same results as the loop run in one process."""
from __future__ import annotations

import datetime as dt
import multiprocessing
import os

import numpy as np

from ctxmetrics.config import Config
from ctxmetrics.explain import related
from ctxmetrics.explain.split_loop import with_forked_worker
from ctxmetrics.models.anomaly import Anomaly


def test_the_worker_and_this_process_meet_with_every_item_in_order():
    parent = os.getpid()
    worker_done = multiprocessing.get_context("fork").Event()

    def part(lo: int, hi: int) -> list:
        if os.getpid() == parent:  # this process waits until the worker has computed a slice
            assert worker_done.wait(timeout=60)
        else:
            worker_done.set()
        return [(i * i, os.getpid()) for i in range(lo, hi)]

    results = with_forked_worker(part, 103, 8)
    assert [value for value, _ in results] == [i * i for i in range(103)]
    where = [pid for _, pid in results]
    assert where[0] == parent and where[-1] != parent  # the worker took the last slices
    first_elsewhere = where.index(where[-1])
    assert set(where[first_elsewhere:]) == {where[-1]}  # ... and every slice after its first


def test_fewer_items_than_slices():
    assert with_forked_worker(lambda lo, hi: list(range(lo, hi)), 3, 8) == [0, 1, 2]


def _anomalies(count: int, seed: int) -> list[Anomaly]:
    """A cube's worth of anomalies: two metrics, segments at every layer of region × channel,
    starts over three weeks (most on one day, as in a wide cube), ties of size."""
    rng = np.random.default_rng(seed)
    regions, channels = ("NA", "EMEA", "APAC"), ("web", "partner", "ads")
    out = []
    for _ in range(count):
        segment = {}
        if rng.random() < 0.7:
            segment["region"] = str(rng.choice(regions))
        if rng.random() < 0.7:
            segment["channel"] = str(rng.choice(channels))
        start = dt.date(2026, 3, 1) + dt.timedelta(days=int(0 if rng.random() < 0.6 else rng.integers(0, 21)))
        change = float(rng.choice([10.0, 25.0, -40.0, float(rng.normal(0, 30))]))
        out.append(Anomaly(
            metric=str(rng.choice(["leads", "mql"])), segment=segment, kind="spike", direction="up" if change > 0 else "down",
            start=start, end=start + dt.timedelta(days=2), before=100.0, after=100.0 + change, change_pct=change,
            score=5.0, volume=float(rng.choice([50.0, 100.0])),
        ))
    return out


def test_correlated_links_split_with_a_worker_equal_one_process(monkeypatch):
    config = Config()
    alone = _anomalies(400, seed=3)
    related._link_correlated(alone, config)
    parent, worker_done, computed_in = os.getpid(), multiprocessing.get_context("fork").Event(), []

    def worker_first(part, count, parts):  # as `with_forked_worker`, this process waiting for the worker's first slice
        def waiting(lo, hi):
            if os.getpid() == parent:
                assert worker_done.wait(timeout=60)
            else:
                worker_done.set()
            return [(os.getpid(), best) for best in part(lo, hi)]

        found = with_forked_worker(waiting, count, parts)
        computed_in.extend(pid for pid, _ in found)
        return [best for _, best in found]

    monkeypatch.setattr(related, "_PARALLEL_MIN_ANOMALIES", 0)
    monkeypatch.setattr(related, "with_forked_worker", worker_first)
    split = _anomalies(400, seed=3)
    related._link_correlated(split, config)
    assert [a.correlated for a in split] == [a.correlated for a in alone]
    assert computed_in[0] == parent and computed_in[-1] != parent  # both processes linked some
    assert sum(len(a.correlated) for a in alone) > 1000  # most anomalies list five
