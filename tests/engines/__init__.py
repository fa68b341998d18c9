"""Engines beyond DuckDB and PostgreSQL, each run from its own environment by `make test-engines`."""
