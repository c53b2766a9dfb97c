"""Getting users' data into the store: files, dates, `init --from`, inbox folders.
May import: models, store, config, wording, errors."""
