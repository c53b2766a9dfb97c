"""The store: every database connection and every SQL statement (the DuckDB file, its scan
results and series reading; DuckDB and ADBC reading users' data). May import: models, config, wording, waiting, errors."""
