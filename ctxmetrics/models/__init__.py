"""The records the pipeline passes along (anomalies, changes, annotations, series): plain data, no I/O.
May import: the standard library and numpy only (no duckdb, polars, yaml or file access), never machinery."""
