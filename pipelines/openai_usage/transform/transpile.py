"""The views in `sql/` are written once, in DuckDB SQL; this turns them into another engine's SQL with sqlglot.

DuckDB runs the files as written, so a DuckDB warehouse never imports sqlglot (a third of a second of start-up).
Engine differences that sqlglot does not cover on its own are rewrites of the parsed tree, one entry per engine in
`rewrites.REWRITES`. PostgreSQL cannot CREATE OR REPLACE a view whose columns changed (only appended): then, and
only then, the old view is dropped first (`replace_fallback`), inside the transaction that applies all views.
"""

from __future__ import annotations

from typing import Any

SOURCE = "duckdb"


def statements(sql: str, dialect: str) -> list[str]:
    """One file of DuckDB SQL as statements for `dialect`; raises if sqlglot cannot express something."""
    if dialect == SOURCE:
        return [sql]  # DuckDB (and MotherDuck) run the files exactly as written
    import sqlglot
    from sqlglot.errors import ErrorLevel

    from .rewrites import NO_COMMENTS, REWRITES

    out: list[str] = []
    for tree in sqlglot.parse(sql, read=SOURCE):
        if tree is None:
            continue
        for rewrite in REWRITES.get(dialect, ()):
            tree = tree.transform(rewrite)
        out.append(tree.sql(dialect=dialect, unsupported_level=ErrorLevel.RAISE, comments=dialect not in NO_COMMENTS))
    return out


def query(sql: Any, text: str, dialect: str) -> list[tuple[Any, ...]]:
    """Rows of one DuckDB-SQL query, run on the warehouse's own SQL client in its dialect."""
    return [tuple(r) for r in sql.rows(statements(text, dialect)[0])]


def information_schema(view: str, schema: str, dialect: str) -> str:
    """Where `view` (tables, columns) of one schema is listed: BigQuery has INFORMATION_SCHEMA per dataset only."""
    return f"{schema}.INFORMATION_SCHEMA.{view.upper()}" if dialect == "bigquery" else f"information_schema.{view}"


def replace_fallback(statement: str, dialect: str) -> str | None:
    """What to run before retrying a CREATE OR REPLACE VIEW the engine refused, or None where it never does."""
    if dialect != "postgres":
        return None
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(statement, read=dialect)
    if isinstance(tree, exp.Create) and tree.kind == "VIEW":
        # CASCADE: views built on this one (ours are re-created right after, in the same transaction)
        return f"DROP VIEW IF EXISTS {tree.this.sql(dialect=dialect)} CASCADE"
    return None
