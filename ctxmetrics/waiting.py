"""Waiting for another process to let go of the store, the scan lock or the timeline.

Every command that finds one of them held retries with a growing pause (20 ms, doubling,
at most 0.5 s) for up to `CTXMETRICS_LOCK_TIMEOUT` seconds (default 15), then gives up
with a message naming what it waited for: a command never hangs on a stuck process.
"""
from __future__ import annotations

import os
import time
from typing import Iterator

LOCK_TIMEOUT_ENV = "CTXMETRICS_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 15.0  # seconds a command waits for another process


def default_lock_timeout() -> float:
    """Seconds a command waits for another process to let go."""
    return float(os.environ.get(LOCK_TIMEOUT_ENV, DEFAULT_LOCK_TIMEOUT))


def retry_pauses(timeout: float) -> Iterator[bool]:
    """Pause before each retry, yielding True, until `timeout` seconds have passed.

    `next(pauses, False)` is False once the time is up: then the caller gives up.
    """
    deadline = time.monotonic() + timeout
    delay = 0.02
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(delay, left))
        yield True
        delay = min(delay * 2, 0.5)
