"""The cube build's read: Arrow columns to numpy without pyarrow's pandas layer."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

from ctxmetrics.ingest.ingest import ingest_paths
from ctxmetrics.project import Project
from ctxmetrics.store.series import _column_values
from ctxmetrics.synth import generate_funnel


@pytest.mark.parametrize("column", [
    pa.array(np.arange(-5, 20, dtype=np.int64)),
    pa.array(np.arange(-5, 20, dtype=np.int64)).slice(7, 9),  # an offset into the buffer
    pa.array(np.array([0.1, -0.0, np.inf, np.nan, 1e308, 5e-324])),
    pa.array(np.array([0.1, -0.0, np.inf, np.nan, 1e308, 5e-324])).slice(1),
    pa.array(np.arange(4, dtype=np.int32)),  # another type: to_numpy()
])
def test_column_values_are_to_numpys_values(column):
    got, want = _column_values(column), column.to_numpy()
    assert got.dtype == want.dtype and got.tobytes() == want.tobytes()


def test_a_column_with_nulls_goes_through_to_numpy():
    with pytest.raises(pa.ArrowInvalid):  # as the read did: its columns are never null
        _column_values(pa.array([1.0, None, 3.0]))


def test_building_the_cube_does_not_import_pandas(project_dir):
    """pyarrow's `to_numpy()` imports pandas on first use (~0.3-0.4 s CPU before the
    workers fork); the scan's read never needs it."""
    project = Project(project_dir)
    path = project.root / "data.csv"
    generate_funnel(7, days=120).frame.write_csv(path)
    with project.store() as store:
        ingest_paths(store, [path], known_dimensions=project.config.dimensions)
    probe = (
        "import sys; from ctxmetrics.project import Project; from ctxmetrics.store.series import build_series_set\n"
        f"p = Project({str(project.root)!r})\n"
        "with p.store(read_only=True) as store: cube = build_series_set(store, p.config, 'leads')\n"
        "print(cube.values.shape[0] > 1, 'pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "False"]
