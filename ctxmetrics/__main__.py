"""`python -m ctxmetrics`: the command line."""
from ctxmetrics.cli import main

main()
