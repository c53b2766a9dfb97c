from ctxmetrics.cli import main

main()
