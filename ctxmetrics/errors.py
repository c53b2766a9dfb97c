"""Typed exceptions. Every message is a full sentence naming the object and, where
possible, the fix; the CLI prints it as one line and exits 1."""


class CtxError(Exception):
    """Base class for every error a user can cause and fix."""


class ProjectNotFound(CtxError):
    """No ctxmetrics.yaml in the current folder or any parent."""


class ConfigError(CtxError):
    """ctxmetrics.yaml is missing a field or has a bad value."""


class InputError(CtxError):
    """A data file cannot be ingested (bad column, row or value)."""


class BookingBroken(InputError):
    """Incoming rows of a count stored as booked once a week or month put a second
    non-zero value in one period: `metric` and `day` say where, for ingest to name the
    file's line (the store sees rows, not lines)."""

    def __init__(self, message: str, metric: str, day):
        super().__init__(message)
        self.metric, self.day = metric, day


class StoreLocked(CtxError):
    """Another process holds the write lock on the store."""


class NothingToScan(CtxError):
    """The store holds no observations yet."""


class QueryRefused(CtxError):
    """SQL tried to do more than read the store (write, reach a file, the network or a setting)."""


class TimelineError(CtxError):
    """An annotation file cannot be read or an annotation is invalid."""


class UnknownName(CtxError):
    """A metric, dimension, query or annotation id that does not exist."""


def located(path, line=None, column=None) -> str:
    """Format 'file:line: column 'x'' prefixes used by every located message."""
    where = str(path)
    if line is not None:
        where += f":{line}"
    if column is not None:
        where += f": column '{column}'"
    return where
