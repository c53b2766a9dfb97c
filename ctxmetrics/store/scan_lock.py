"""One scan, and one notify, of a project at a time: advisory locks on files beside the store.

A scan reads the store, lets go of it while it detects, then writes its results: two
scans at once would both write, the later one over the earlier. A notify reads what each
channel was sent, sends, then records it: two at once (cron's `run` started twice) would
both send the same anomalies. The kernel releases a lock when its holder exits, however
it exits, so a killed scan never blocks the next one; the file's text only names the
holder for the message.
"""
from __future__ import annotations

import datetime as dt
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ctxmetrics.errors import CtxError, StoreLocked
from ctxmetrics.waiting import wait_for_lock


def lock_path(store_path: Path, activity: str = "scan") -> Path:
    """The lock file of `activity` (scan, notify) on the store at `store_path`."""
    return store_path.with_name(f"{store_path.name}.{activity}.lock")


def scan_lock(store_path: Path, timeout: float):
    """Hold the project's scan lock, waiting up to `timeout` seconds for another scan.

    Raises:
        StoreLocked: another process still holds it after `timeout` seconds.
    """
    return activity_lock(store_path, "scan", timeout)


def notify_lock(store_path: Path, timeout: float):
    """Hold the project's notify lock (from reading what was sent to recording it),
    waiting up to `timeout` seconds for another notify.

    Raises:
        StoreLocked: another process still holds it after `timeout` seconds.
    """
    return activity_lock(store_path, "notify", timeout)


@contextmanager
def activity_lock(store_path: Path, activity: str, timeout: float) -> Iterator[None]:
    """Hold the lock of `activity` on the project's store; see `scan_lock`."""
    from ctxmetrics.store.database import check_store_folder

    check_store_folder(store_path)
    path = lock_path(store_path, activity)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise CtxError(f"{path}: cannot create the {activity}'s lock file ({exc.strerror}).") from None
    try:
        # This process's own lock: detector workers forked during the scan do not inherit
        # it and cannot keep it after a kill.
        if not wait_for_lock(fd, timeout, this_process_only=True):
            raise StoreLocked(
                f"{store_path}: another {activity} of this project is running ({_holder(path)}); "
                f"waited {timeout:g}s. Try again when it has finished."
            )
        started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"process {os.getpid()}, started {started}\n".encode())
        yield
    finally:
        os.close(fd)  # closing it releases the lock (the file stays: removing it would race a waiter)


def _holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        text = ""
    return text or "holder unknown"
