"""The annotation timeline in YAML: reading and lint (`read`), locked writing, calendars.
May import: models, config, wording, waiting, errors (and yaml); never the store."""
