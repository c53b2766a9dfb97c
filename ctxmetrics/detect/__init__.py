"""The detector: one series (numpy) in, `Change` records out; a vectorised pre-screen.

`find_changes` is the single entry point (docs/contract.md, "How detection should work");
`find_changes_many` runs it over the rows of a scan that share their dates, with the
same results:

1. Prepare: place the values on the grid of their frequency (gaps are NaN, unknown),
   remove the season of that frequency (weekdays; months of a monthly series) and
   stabilise the variance (negative binomial for counts, arcsine-sqrt for rates). Daily
   series lose the sales calendar (quarter- and month-end closes); daily and weekly
   series with two years or more also lose the yearly season and the smooth trend, each
   when significant. Known days never shape normal.
2. Noise: a local level, per-weekday robust scales relative to each day's sampling
   variance, a tail scale the anomalies cannot inflate, and a long-run variance for
   autocorrelation.
3. Episodes: a multiscale scan of windows (1 day to `max_temporary_days`) against both
   flanks, scored as a whole (counts at low volume by their likelihood); short ones first.
4. Level shifts: ruptures' KernelCPD (linear kernel; its compiled port in `kernels`) with
   a penalty from the long-run variance, every boundary re-measured on weighted windows; a
   shift that reverts becomes one temporary episode. Then the scan again for the episodes the boundaries missed.

`prescreen` is the cheap vectorised filter over many series run before `find_changes`.

Owns: the detector (numpy arrays in, `Change` records out). May import: numpy, ruptures,
numba (only `kernels`, loaded on the detector's path), `config` and the models; never the
store, the timeline or polars.
One module per step: `frequency`, `prepare` (+ `calendar`), `noise` (+ `robust`),
`episodes`, `shifts`; `find` ties them together; `prescreen` screens many series at once
(+ `prescreen_checks`, `prescreen_rows`, `prescreen_noise`, `prescreen_windows`);
`kernels` holds their compiled loops.
"""
from ctxmetrics.detect.find import DETECTOR, find_changes, find_changes_many
from ctxmetrics.detect.frequency import Frequency, infer_frequency
from ctxmetrics.detect.prepare import KINDS, nb_transform
from ctxmetrics.detect.prescreen import prescreen
from ctxmetrics.detect.prescreen_rows import too_small
from ctxmetrics.models.change import Change

__all__ = [
    "Change", "DETECTOR", "Frequency", "KINDS", "find_changes", "find_changes_many", "infer_frequency", "nb_transform",
    "prescreen", "too_small",
]
