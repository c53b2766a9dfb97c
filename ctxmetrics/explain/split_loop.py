"""Loops over independent items shared between this process and forked workers."""
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


class ForkedSlices:
    """`part(0, count)` as `parts` slices, started in `workers` forked processes that claim
    the next slice in turn while this process goes on with other work; `results()` then
    takes here the slices no worker has claimed yet and returns every item in order.

    Unlike `with_forked_worker` (a pool whose management thread lives until it returns),
    this process keeps no thread while the workers run, so it may fork again meanwhile.
    `part` must read only what it was built with (the workers inherit it; only the claimed
    slice number is shared, and each worker's results are sent back once, at its end).
    Which process computes a slice does not change it, so neither does the split.
    Leaving the `with` block before `results()` stops the workers."""

    def __init__(self, part: Callable[[int, int], list], count: int, parts: int, workers: int):
        import multiprocessing

        context = multiprocessing.get_context("fork")  # the workers inherit `part`: nothing it holds is pickled
        bounds = [count * k // parts for k in range(parts + 1)]
        self._part, self._slices = part, list(zip(bounds, bounds[1:]))
        self._next = context.Value("i", 0)  # the first slice not claimed yet
        self._workers = []
        for _ in range(workers):
            receive, send = context.Pipe(duplex=False)
            worker = context.Process(target=self._work, args=(send,), daemon=True)
            worker.start()
            send.close()
            self._workers.append((worker, receive))

    def _claim(self) -> int | None:
        with self._next.get_lock():
            k = self._next.value
            if k >= len(self._slices):
                return None
            self._next.value = k + 1
            return k

    def _computed(self) -> dict[int, list]:
        done = {}
        while (k := self._claim()) is not None:
            done[k] = self._part(*self._slices[k])
        return done

    def _work(self, send) -> None:  # in a worker
        try:
            send.send(self._computed())
        except BaseException as exc:  # this process raises it
            send.send(exc)

    def results(self) -> list:
        done = self._computed()
        for worker, receive in self._workers:
            sent = receive.recv()
            worker.join()
            if isinstance(sent, BaseException):
                raise sent
            done.update(sent)
        self._workers = []
        return [item for k in range(len(self._slices)) for item in done[k]]

    def __enter__(self) -> "ForkedSlices":
        return self

    def __exit__(self, *exc) -> None:
        for worker, _ in self._workers:  # left early (an error): their results are not wanted
            worker.terminate()
            worker.join()
