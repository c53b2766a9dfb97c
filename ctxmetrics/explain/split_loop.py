"""A loop over independent items shared between this process and one forked worker."""
from __future__ import annotations

from typing import Callable

_shared_part: Callable[[int, int], list] | None = None  # the worker's `part` (inherited by the fork)


def with_forked_worker(part: Callable[[int, int], list], count: int, parts: int) -> list:
    """`part(0, count)`, a list with one result per item, computed as `parts` slices by this
    process (from the first) and one forked worker (from the last) until they meet.

    `part(lo, hi)` must read only what it was built with (the worker inherits it and
    everything it holds; only slice bounds are sent and result lists are sent back) and
    return one picklable result per item. Which process computes a slice does not change
    it, so neither does the split. The worker takes the slices last first; this process
    takes a slice only while the worker has not started it (`Future.cancel`): once one is
    the worker's, so are all those after it.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    bounds = [count * k // parts for k in range(parts + 1)]
    slices = list(zip(bounds, bounds[1:]))
    results: list[list | None] = [None] * parts
    context = multiprocessing.get_context("fork")  # the worker inherits `part`: nothing it holds is pickled
    with ProcessPoolExecutor(1, mp_context=context, initializer=_share, initargs=(part,)) as pool:
        futures = {k: pool.submit(_run_part, *slices[k]) for k in reversed(range(parts))}
        for k, (lo, hi) in enumerate(slices):
            if not futures[k].cancel():
                break
            results[k] = part(lo, hi)
        for k in range(parts):
            if results[k] is None:
                results[k] = futures[k].result()
    return [item for result in results for item in result]


def _share(part: Callable[[int, int], list]) -> None:
    global _shared_part
    _shared_part = part


def _run_part(lo: int, hi: int) -> list:
    return _shared_part(lo, hi)
