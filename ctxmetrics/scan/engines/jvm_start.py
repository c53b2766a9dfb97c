"""Starting Spark's JVM with its own output held back: the launcher's and the JVM's lines
(log4j's banner, a Java stack trace) go to the process's stderr, not Python's, so a failed
start printed dozens of lines above the CLI's one. They are kept in an unlinked file while
the JVM starts; a failure is said in one line with what the JVM said."""
from __future__ import annotations

import contextlib
import os
import re
import tempfile
from typing import Callable, TypeVar

T = TypeVar("T")
# `Exception in thread "main" org.apache.spark.SparkException: Master must ...`
_JAVA_EXCEPTION = re.compile(r'^(?:Exception in thread "[^"]*" )?[\w.$]+(?:Exception|Error): (?P<said>.+)$')
# spark-class: `.../spark-class: line 71: /nonexistent/bin/java: No such file or directory`
_SHELL_ERROR = re.compile(r"^\S+: line \d+: (?P<said>.+)$")


def started_quietly(start: Callable[[], T]) -> T:
    """`start()` with fd 2 (which the JVM inherits) in a file; on failure, raises
    RuntimeError with the first line of the JVM's that says what went wrong (or '')."""
    with tempfile.TemporaryFile(mode="w+b") as held, _stderr_to(held.fileno()):
        try:
            return start()
        except Exception:
            held.seek(0)
            raise RuntimeError(jvm_complaint(held.read().decode("utf-8", "replace"))) from None


def jvm_complaint(output: str) -> str:
    """The first line of the launcher's or JVM's output that says what failed, or ''."""
    for line in output.splitlines():
        found = _JAVA_EXCEPTION.match(line.strip()) or _SHELL_ERROR.match(line.strip())
        if found:
            return found["said"].strip()
    return ""


@contextlib.contextmanager
def _stderr_to(fd: int):
    saved = os.dup(2)
    try:
        os.dup2(fd, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
