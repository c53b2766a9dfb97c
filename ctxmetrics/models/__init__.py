"""The records the pipeline passes along (anomalies, changes, annotations): plain data, no I/O.

May import: the standard library only (no duckdb, polars, yaml or file access).
"""
