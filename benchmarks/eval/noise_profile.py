"""How the detector's noise model reads a background: the spread and autocorrelation of its
residuals in noise units. On our generator's series the robust sd of `z` is 0.88-0.94 and
its lag-1 autocorrelation 0.0-0.2; where a real background reads much lower or higher,
its effects are sized against a different noise than the one the detector judges by.
Reads the detector's private preparation (`find._ready`): a diagnostic, not an API.
"""
from __future__ import annotations

import numpy as np

from benchmarks.eval.backgrounds import Background


def noise_profile(background: Background) -> dict | None:
    """Robust sd and lag-1 autocorrelation of the detector's residuals `z`, its long-run over
    daily variance, and the steps its calendar fit took; None when it cannot prepare the series."""
    from ctxmetrics.config import DetectionSettings
    from ctxmetrics.detect import find

    ready = find._ready(background.values, background.kind, background.dates, None, None, DetectionSettings(), 0)
    if ready is None:
        return None
    noise, steps = ready[3], ready[4]
    z = noise.z[np.isfinite(noise.z)]
    if z.size < 4:
        return None
    return {"robust_sd_z": 1.4826 * float(np.median(np.abs(z - np.median(z)))),
            "lag1": float(np.corrcoef(z[:-1], z[1:])[0, 1]), "long_run_over_day": noise.lrv / noise.day_var,
            "calendar_steps": len(steps)}
