"""Scan engines other than the local one (ctxmetrics.scan.scan): each builds the cube and runs
the per-series detector somewhere else, and hands the results back to `scan` for linking
and storing."""
