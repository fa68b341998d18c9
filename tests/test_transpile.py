"""Every view, written once in DuckDB SQL, transpiles to and parses in each documented engine's dialect."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from openai_usage.load.warehouse import DIALECTS, Warehouse
from openai_usage.transform.transpile import replace_fallback, statements
from openai_usage.transform.views import _contract_ddl, sql_files

DOCUMENTED = {"motherduck": "duckdb", "bigquery": "bigquery", "snowflake": "snowflake", "clickhouse": "clickhouse",
              "postgres": "postgres"}


@pytest.mark.parametrize("destination", sorted(DOCUMENTED))
def test_every_view_and_contract_table_transpiles_and_parses(destination: str) -> None:
    dialect = DIALECTS[destination]
    assert dialect == DOCUMENTED[destination]
    views = 0
    for text in [*_contract_ddl(), *(f.read_text() for f in sql_files())]:
        out = statements(text, dialect)
        assert out
        for stmt in out:
            for tree in sqlglot.parse(stmt, read=dialect, error_level=sqlglot.ErrorLevel.RAISE):
                assert tree is not None
                if isinstance(tree, exp.Create) and tree.kind == "VIEW":
                    views += 1
                    assert tree.find(exp.Select) is not None
    assert views == len(sql_files())


def test_engine_specific_rewrites_are_applied() -> None:
    usage = next(f for f in sql_files() if f.name.endswith("stg_usage.sql")).read_text()
    bq = " ".join(statements(usage, "bigquery"))
    assert "LATERAL" not in bq.upper() and "UNNEST([STRUCT(" in bq
    view_files = [f.read_text() for f in sql_files()]
    pg = [s for text in view_files for s in statements(text, "postgres")]
    assert not any(s.startswith("DROP") for s in pg)  # views are replaced in place where PostgreSQL allows it
    fallbacks = [replace_fallback(s, "postgres") for s in pg]
    assert all(f and f.startswith("DROP VIEW IF EXISTS") and f.endswith("CASCADE") for f in fallbacks)
    assert replace_fallback(pg[0], "snowflake") is None
    assert statements(usage, "duckdb") == [usage]  # DuckDB and MotherDuck run the files exactly as written


def test_bigquery_gets_no_function_or_date_arithmetic_it_lacks() -> None:
    """Known gaps of sqlglot's BigQuery output, closed in transpile: no TIME_TO_UNIX (epoch), no + or - on a DATE
    (DATE_ADD / DATE_SUB / DATE_DIFF instead), no TIMESTAMP_TRUNC of a DATE."""
    from sqlglot.optimizer.annotate_types import annotate_types
    from sqlglot.optimizer.qualify import qualify

    from openai_usage.transform.rewrites import _schema

    out = [s for f in sql_files() for s in statements(f.read_text(), "bigquery")]
    text = "\n".join(out)
    assert "TIME_TO_UNIX" not in text.upper() and "UNIX_MICROS(" in text
    assert "DATE_ADD(" in text and "DATE_SUB(" in text and "DATE_DIFF(" in text
    schema = _schema()
    arithmetic = 0
    for stmt in out:
        tree = sqlglot.parse_one(stmt, read="bigquery")
        if not isinstance(tree, exp.Create) or tree.kind != "VIEW":
            continue
        typed = annotate_types(qualify(tree.expression, schema=schema, dialect="bigquery",
                                       validate_qualify_columns=False), schema=schema, dialect="bigquery")
        for op in typed.find_all(exp.Add, exp.Sub):
            arithmetic += 1
            sides = (op.this, op.expression)
            dates = [s for s in sides if s.type and s.type.is_type("date")]
            assert not dates or any(isinstance(s, exp.Interval) for s in sides), op.sql("bigquery")
        for trunc in typed.find_all(exp.TimestampTrunc):
            assert not (trunc.this.type and trunc.this.type.is_type("date")), trunc.sql("bigquery")
    assert arithmetic > 10
    # the DuckDB expression `date '1970-01-01' + n` itself, and `day + 1` on a view's DATE column
    stg = next(f for f in sql_files() if f.name.endswith("stg_costs.sql")).read_text()
    assert "DATE_ADD(CAST('1970-01-01' AS DATE), INTERVAL" in statements(stg, "bigquery")[0]
    focus = next(f for f in sql_files() if f.name.endswith("focus.sql")).read_text()
    assert "DATE_ADD(named.day, INTERVAL 1 DAY)" in statements(focus, "bigquery")[0]


def test_destination_dialects_come_from_dlt_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESTINATION__FINANCE__DESTINATION_TYPE", "snowflake")
    assert Warehouse("finance").dialect == "snowflake"
    assert Warehouse("bigquery").dialect == "bigquery"
    assert Warehouse().dialect == "duckdb"


def test_clickhouse_names_dlt_tables_in_one_database() -> None:
    """dlt's ClickHouse destination names tables `<dataset>___<table>` in the credentials' database: so do the views."""
    stmts = [s for text in [*_contract_ddl(), *(f.read_text() for f in sql_files())]
             for s in statements(text, "clickhouse")]
    tables = {t.sql("clickhouse") for s in stmts for t in sqlglot.parse_one(s, read="clickhouse").find_all(exp.Table)}
    assert {"openai_usage___costs", "staging___stg_costs", "reporting___daily_costs"} <= tables
    assert not [t for t in tables if "." in t]  # no schema anywhere: one database, no CREATE DATABASE needed
    assert not any(";" in s for s in stmts)  # dlt's ClickHouse client splits at every ';'
    marker = statements("select version from staging._views_version", "clickhouse")[0]
    assert "FROM staging____views_version" in marker
