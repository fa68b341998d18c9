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

import re
from pathlib import Path

import pytest

from ..test_postgres import _views
from .standin_job import assert_same_rows, duckdb_warehouse, run

# Every view runs on bqemulator; these four return other numbers than DuckDB. int_cost_allocation casts each share of
# a cost to DECIMAL(38, 12), which sqlglot writes as a bare BIGNUMERIC, and bqemulator holds a bare BIGNUMERIC to 5
# decimals (SELECT CAST(1.123456789012 AS BIGNUMERIC) gives 1.12346 there; BigQuery's BIGNUMERIC keeps 38), so
# allocated amounts differ in the fifth decimal (0.56578 where DuckDB has 0.56577), as do the three views built on
# them. bqemulator keeps BIGNUMERIC(38, 12) exactly: not yet tried as a rewrite. Listed by name so a change fails here.
DIFFERENT = [
    "intermediate.int_cost_allocation", "reporting.cost_allocation", "reporting.owner_costs", "reporting.focus"]


def test_every_view_runs_on_bqemulator_and_all_but_four_return_duckdbs_rows(tmp_path: Path) -> None:
    wh = duckdb_warehouse(tmp_path)
    got = run("bigquery", "bigquery", wh, tmp_path / "bigquery")
    views = _views()
    assert set(DIFFERENT) <= set(views) and all(v in got for v in views)  # every view created and queried
    same = [v for v in views if v not in DIFFERENT]
    assert len(same) == 19
    assert assert_same_rows(wh, got, "bqemulator", only=same) > 1000
    with wh.connect(read_only=True) as sql:
        for view in DIFFERENT:
            assert len(got[view]) == len(sql.rows(f"select * from {view}")), view  # as many rows as DuckDB
            with pytest.raises(AssertionError, match=re.escape(view)):
                assert_same_rows(wh, got, "bqemulator", only=[view])
