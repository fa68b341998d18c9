"""The views in `sql/` are written once, in DuckDB SQL; this turns them into another engine's SQL with sqlglot.

Engine differences that sqlglot does not cover on its own are kept here, small and visible:
- PostgreSQL cannot CREATE OR REPLACE a view whose columns changed (only appended): then, and only then, the
  old view is dropped first (`replace_fallback`), inside the transaction that applies all views.
- BigQuery has no VALUES with named columns: the unpivot (LATERAL VALUES) and the constant tables (a CTE of VALUES)
  become UNNEST of an array of STRUCTs.
- Spark cannot evaluate a row's columns inside an inline VALUES table: the unpivot (CROSS JOIN LATERAL (VALUES ...))
  becomes LATERAL VIEW INLINE of an array of STRUCTs; JSON is read from text as it is, not cast to JSON first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

SOURCE = "duckdb"


def _structs(values: exp.Values, names: list[str]) -> exp.Array:
    return exp.Array(expressions=[
        exp.Struct(expressions=[exp.alias_(v.copy(), n) for v, n in zip(row.expressions, names, strict=True)])
        for row in values.expressions])


def _values_to_unnest(node: exp.Expression) -> exp.Expression:
    """LATERAL (VALUES ('a', t.a), ...) AS m(metric, value) -> UNNEST([STRUCT('a' AS metric, t.a AS value)]) AS m,
    and a constant table WITH m (metric, label) AS (VALUES ...) -> WITH m AS (SELECT * FROM UNNEST([STRUCT(...)]))"""
    if isinstance(node, exp.CTE) and node.alias_column_names and isinstance(node.this, exp.Select):
        source = node.this.args.get("from_") or node.this.args.get("from")
        if source is not None and isinstance(source.this, exp.Values):
            select = exp.select("*").from_(exp.Unnest(expressions=[_structs(source.this, node.alias_column_names)]))
            return exp.CTE(this=select, alias=exp.TableAlias(this=node.args["alias"].this.copy()))
        return node
    if not (isinstance(node, exp.Lateral) and isinstance(node.this, exp.Subquery)
            and isinstance(node.this.this, exp.Values)):
        return node
    alias = node.args.get("alias")
    names = [c.name for c in alias.columns] if alias else []
    return exp.Unnest(expressions=[_structs(node.this.this, names)], alias=exp.TableAlias(this=alias.this.copy()))


def _lateral_values_to_inline(node: exp.Expression) -> exp.Expression:
    """FROM t CROSS JOIN LATERAL (VALUES ('a', t.a), ...) AS m(metric, value) -> FROM t LATERAL VIEW
    INLINE(ARRAY(STRUCT('a' AS metric, t.a AS value), ...)) m AS metric, value (Spark: VALUES cannot see t)"""
    if not isinstance(node, exp.Select):
        return node
    for join in list(node.args.get("joins") or []):
        lateral, alias = join.this, join.this.args.get("alias")
        if not (isinstance(lateral, exp.Lateral) and isinstance(lateral.this, exp.Subquery)
                and isinstance(lateral.this.this, exp.Values) and alias is not None):
            continue
        names = [c.name for c in alias.columns]
        join.pop()
        node.append("laterals", exp.Lateral(
            this=exp.Anonymous(this="INLINE", expressions=[_structs(lateral.this.this, names)]), view=True,
            alias=exp.TableAlias(this=alias.this.copy(), columns=[exp.to_identifier(n) for n in names])))
    return node


def _drop_json_cast(node: exp.Expression) -> exp.Expression:
    """CAST(text AS JSON) -> text: Spark's JSON functions read JSON text, and its TO_JSON would quote it again."""
    if isinstance(node, exp.Cast) and node.to.is_type(exp.DataType.Type.JSON):
        return node.this
    return node


# Per-dialect tree rewrites, applied in order to every statement before it is rendered (one entry per engine).
REWRITES: dict[str, tuple[Callable[[exp.Expression], exp.Expression], ...]] = {
    "bigquery": (_values_to_unnest,),
    "spark": (_lateral_values_to_inline, _drop_json_cast),
}


def statements(sql: str, dialect: str) -> list[str]:
    """One file of DuckDB SQL as statements for `dialect`; raises if sqlglot cannot express something."""
    if dialect == SOURCE:
        return [sql]  # DuckDB (and MotherDuck) run the files exactly as written
    out: list[str] = []
    for tree in sqlglot.parse(sql, read=SOURCE):
        if tree is None:
            continue
        for rewrite in REWRITES.get(dialect, ()):
            tree = tree.transform(rewrite)
        out.append(tree.sql(dialect=dialect, unsupported_level=ErrorLevel.RAISE))
    return out


def query(sql: Any, text: str, dialect: str) -> list[tuple[Any, ...]]:
    """Rows of one DuckDB-SQL query, run on the warehouse's own SQL client in its dialect."""
    return [tuple(r) for r in sql.rows(statements(text, dialect)[0])]


def replace_fallback(statement: str, dialect: str) -> str | None:
    """What to run before retrying a CREATE OR REPLACE VIEW the engine refused, or None where it never does."""
    if dialect != "postgres":
        return None
    tree = sqlglot.parse_one(statement, read=dialect)
    if isinstance(tree, exp.Create) and tree.kind == "VIEW":
        # CASCADE: views built on this one (ours are re-created right after, in the same transaction)
        return f"DROP VIEW IF EXISTS {tree.this.sql(dialect=dialect)} CASCADE"
    return None
