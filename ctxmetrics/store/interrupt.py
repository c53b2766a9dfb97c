"""Running a user's query so that it can be stopped: DuckDB holds the main thread inside
C code, where neither Ctrl-C nor a timer reaches it. The query runs in a worker thread
while the main thread waits, and either of them interrupts the connection."""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

from ctxmetrics.errors import CtxError


class QueryStopped(CtxError):
    """A query ran past its time limit and was stopped."""


def run_stoppable(connection, work: Callable[[], Any], time_limit: float | None) -> Any:
    """`work()` (a query on `connection`), stopped after `time_limit` seconds or on Ctrl-C.

    Raises:
        QueryStopped: the time limit passed; DuckDB stopped the query.
        KeyboardInterrupt: Ctrl-C, after DuckDB stopped the query.
    """
    outcome: dict[str, Any] = {}
    # An Event, not Thread.join: a Ctrl-C that interrupts join() leaves the thread marked
    # stopped while it still runs (CPython 3.11), and the store would be closed under it.
    done = threading.Event()

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # handed to the waiting thread
            outcome["error"] = exc
        finally:
            done.set()

    deadline = None if time_limit is None else time.monotonic() + time_limit
    threading.Thread(target=target, name="ctxmetrics-query", daemon=True).start()
    try:
        while not done.wait(0.1):  # short waits: Python runs the Ctrl-C handler between them
            if deadline is not None and time.monotonic() >= deadline:
                connection.interrupt()
                done.wait()
                raise QueryStopped(
                    f"query stopped after {time_limit:g} s; give it longer with --timeout SECONDS, "
                    "or narrow it (a WHERE on metric or ts)."
                )
    except KeyboardInterrupt:
        connection.interrupt()
        done.wait()  # DuckDB stops within moments; the connection must be idle before it closes
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
