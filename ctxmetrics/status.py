"""Exit codes of the command-line interface that ctxmetrics sets itself. The others come
from click: 0 success, 1 a user error (bad input, unknown metric, locked store; any
CtxError), 2 bad flags (docs/contract.md, "Exit codes")."""
from enum import IntEnum


class ExitStatus(IntEnum):
    UNEXPLAINED = 3  # `--fail-on-unexplained` and at least one anomaly has no cause
    SEND_FAILED = 4  # `notify`/`run`: a channel did not take its message (it is retried next time)
