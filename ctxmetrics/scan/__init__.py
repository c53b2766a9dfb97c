"""Scanning: the cube of series through the detector, linking, storing (`engines/`: Spark).
May import: models, store, detect, explain, timeline, config, project, errors."""
