"""Two analysts tag the same happening at once (`annotate start "Checkout errors"` from two
processes): both events are written (nothing lost), and the one written second says that
the other is open already and how to remove its own, instead of leaving two open events of
one outage in silence."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from test_quarterly import invoke

ROOT = Path(__file__).resolve().parents[1]


def test_two_analysts_starting_the_same_event_at_once_keep_both_and_the_second_is_told(tmp_path):
    invoke("init", tmp_path / "p")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "ctxmetrics", "--project", str(tmp_path / "p"), "annotate", "start",
               "Checkout errors", "--type", "outage"]
    runs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    files = sorted(p.stem for p in (tmp_path / "p" / "annotations").rglob("*.yaml"))
    assert len(files) == 2 and files[0] == "checkout-errors", files
    notes = [err for _, err in outputs if "is open already" in err]
    assert len(notes) == 1, outputs
    assert notes[0].startswith("Note: 'Checkout errors' is open already as ")
    # the second to take the timeline's lock gets the id with its day, and is told
    assert notes[0].rstrip().endswith(f"if it is the same happening, remove this one: ctxmetrics annotate rm {files[1]}")
    assert invoke("--project", tmp_path / "p", "annotate", "lint").output == "Timeline OK.\n"
