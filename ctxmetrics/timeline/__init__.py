"""The annotation timeline in YAML: reading and lint (`read`), locked writing, calendars.
May import: models, config, errors (and yaml); never the store."""
