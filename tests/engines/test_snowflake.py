"""Snowflake, on the closest stand-in the registries offer: fakesnow (Snowflake's connector patched to run on DuckDB
through sqlglot's Snowflake-to-DuckDB translation), in its own environment (.venv-snowflake, `make engine-snowflake`).

What this proves: every view, as the project's transpiler writes it for Snowflake (unquoted names, folded to upper
case), is accepted by fakesnow's translation of Snowflake SQL and then returns exactly DuckDB's rows, on the tables a
dlt load would create (same names, Snowflake types as dlt maps them). What it does not: Snowflake's own semantics,
types and precision, case folding and quoting on the real service, permissions, or dlt's Snowflake load path (the
tables are created and filled from the DuckDB warehouse, not loaded by dlt), so re-runs are not exercised here.
"""

from __future__ import annotations

from pathlib import Path

from .standin_job import assert_same_rows, duckdb_warehouse, run


def test_every_view_on_fakesnow_returns_duckdbs_rows(tmp_path: Path) -> None:
    wh = duckdb_warehouse(tmp_path)
    got = run("snowflake", "snowflake", wh, tmp_path / "snowflake")
    assert assert_same_rows(wh, got, "fakesnow") > 1000
