"""Evaluation of the change detector on data it was not tuned to (issue 9).

`benchmarks/evaluate.py` is the entry point; this package holds its parts: `cases`
(a series with its planted truth), `profiles` (seeded generators, one per profile),
`scoring` (the matching rule and the TCPD F1), `detector` (the detector under test),
`realdata` (../shared/realdata) and `external` (public series kept outside the repo).
"""
