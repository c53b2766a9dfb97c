"""Exit codes of the command-line interface."""
from enum import IntEnum


class ExitStatus(IntEnum):
    SUCCESS = 0
    ERROR = 1  # a user error: bad input, unknown metric, locked store
    USAGE = 2  # bad flags (click's own code)
    UNEXPLAINED = 3  # `--fail-on-unexplained` and at least one anomaly has no cause
    SEND_FAILED = 4  # `notify`/`run`: a channel did not take its message (it is retried next time)
