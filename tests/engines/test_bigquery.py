"""BigQuery, on the closest stand-in the registries offer: bqemulator (a local BigQuery REST server executing on
DuckDB through its own sqlglot translation of GoogleSQL), driven by google-cloud-bigquery with anonymous credentials,
in its own environment (.venv-bigquery, `make engine-bigquery`).

What this proves: every view, as the project's transpiler writes it for BigQuery (UNNEST of STRUCTs, UNIX_MICROS,
DATE_ADD / DATE_SUB / DATE_DIFF, DATE_TRUNC), is accepted by bqemulator's translation of GoogleSQL and then returns
exactly DuckDB's rows, on tables typed as dlt types them on BigQuery. What it does not: BigQuery's own semantics,
types and precision (NUMERIC, FLOAT64), its name resolution and quoting, permissions, or dlt's BigQuery load path
(the tables are created and filled through the REST API from the DuckDB warehouse, not loaded by dlt), so re-runs
are not exercised here.
"""

from __future__ import annotations

from pathlib import Path

from .standin_job import assert_same_rows, duckdb_warehouse, run


def test_every_view_on_bqemulator_returns_duckdbs_rows(tmp_path: Path) -> None:
    wh = duckdb_warehouse(tmp_path)
    got = run("bigquery", "bigquery", wh, tmp_path / "bigquery")
    assert assert_same_rows(wh, got, "bqemulator") > 1000
