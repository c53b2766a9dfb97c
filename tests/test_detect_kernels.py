"""The compiled kernels give exactly what the code they replace gives: ruptures' KernelCPD
breakpoints."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import ruptures as rpt
from ruptures.exceptions import BadSegmentationParameters

from ctxmetrics.detect.kernels import kernel_cpd_l2


def _signal(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "noise":
        return rng.normal(size=n)
    if kind == "steps":
        return np.repeat(rng.normal(scale=3.0, size=n // 20 + 1), 20)[:n] + rng.normal(size=n)
    if kind == "ties":  # few distinct values: equal costs, where the tie-break decides
        return rng.integers(0, 3, size=n).astype(float)
    return np.full(n, 1.5)  # constant


@pytest.mark.parametrize("kind, min_size", itertools.product(["noise", "steps", "ties", "constant"], [1, 3, 14]))
def test_segmentation_gives_ruptures_breakpoints(kind, min_size):
    rng = np.random.default_rng(min_size * 7 + len(kind))
    for _ in range(60):
        y = _signal(kind, int(rng.integers(2 * min_size, 400)), rng)
        pen = float(rng.choice([1e-3, 0.5, 2.0, 10.0, 50.0]))
        expected = rpt.KernelCPD(kernel="linear", min_size=min_size).fit(y).predict(pen=pen)
        assert kernel_cpd_l2(y, pen, min_size) == expected


def test_segmentation_of_a_clear_step():
    y = np.r_[np.zeros(50), np.full(50, 4.0)] + np.random.default_rng(1).normal(scale=0.1, size=100)
    assert kernel_cpd_l2(y, 5.0, 5) == [50, 100]


def test_too_short_to_split_fails_as_ruptures_does():
    y = np.arange(9.0)
    with pytest.raises(BadSegmentationParameters):
        rpt.KernelCPD(kernel="linear", min_size=5).fit(y).predict(pen=1.0)
    with pytest.raises(BadSegmentationParameters):
        kernel_cpd_l2(y, 1.0, 5)


def test_kernels_run_where_no_cache_dir_is_writable():
    """A read-only install whose user has no writable cache dir either: numba finds no
    place for its cache (here: no locator at all), and the kernels are compiled afresh
    instead of failing."""
    import subprocess
    import sys

    code = (
        "import numba.core.caching as caching; caching.CacheImpl._locator_classes = []\n"
        "import numpy as np; from ctxmetrics.detect.kernels import kernel_cpd_l2\n"
        "y = np.r_[np.zeros(30), np.full(30, 5.0)]; print(kernel_cpd_l2(y, 1.0, 5))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[30, 60]"
