"""Waiting for another process to let go of the store, the scan lock or the timeline, and
taking the advisory file locks of the last two.

Every command that finds one of them held retries with a growing pause (20 ms, doubling,
at most 0.5 s) for up to `CTXMETRICS_LOCK_TIMEOUT` seconds (default 15), then gives up
with a message naming what it waited for: a command never hangs on a stuck process.
"""
from __future__ import annotations

import errno
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


def wait_for_lock(fd: int, timeout: float, *, this_process_only: bool = False) -> bool:
    """Take `try_lock`, retrying for up to `timeout` seconds; False if it never came free."""
    return try_lock(fd, this_process_only=this_process_only) or any(
        try_lock(fd, this_process_only=this_process_only) for _ in retry_pauses(timeout)
    )


def try_lock(fd: int, *, this_process_only: bool = False) -> bool:
    """Take an exclusive advisory lock on the open file `fd` without waiting; False when
    another holds it. The kernel drops it when its holder exits, however it exits.

    `this_process_only`: a POSIX record lock (lockf) instead of flock: it belongs to the
    process alone, so children forked while it is held neither inherit nor keep it.
    """
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        if this_process_only:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EAGAIN):
            return False
        raise
    return True
