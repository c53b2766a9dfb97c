"""Linking anomalies to annotations, drivers (root cause), funnel order, measured effects.
May import: models, config, errors and numpy; never the store, YAML or the detector."""
