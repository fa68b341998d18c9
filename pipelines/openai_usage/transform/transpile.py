"""The views in `sql/` are written once, in DuckDB SQL; this turns them into another engine's SQL with sqlglot.

Engine differences that sqlglot does not cover on its own are kept here, small and visible:
- PostgreSQL cannot CREATE OR REPLACE a view whose columns changed (only appended): then, and only then, the
  old view is dropped first (`replace_fallback`), inside the transaction that applies all views.
- BigQuery has no VALUES with named columns: the unpivot (LATERAL VALUES) and the constant tables (a CTE of VALUES)
  become UNNEST of an array of STRUCTs. DuckDB's `epoch(t)` becomes UNIX_MICROS(t) / 1000000 (sqlglot writes
  TIME_TO_UNIX, which BigQuery lacks), and day arithmetic on DATEs (`date + n`, `date - n`, `date - date`), found by
  sqlglot's type annotation against the contract tables and the views before, becomes DATE_ADD / DATE_SUB / DATE_DIFF.
- Snowflake: the same day arithmetic becomes DATEADD / DATEDIFF (Snowflake accepts date + n too, its emulator
  fakesnow does not), and the LATERAL VALUES unpivot a LATERAL UNION ALL; names stay unquoted, so they fold to upper
  case as dlt's do.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
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


def _lateral_values_to_union(node: exp.Expression) -> exp.Expression:
    """LATERAL (VALUES ('a', t.a), ...) AS m(metric, value) -> LATERAL (SELECT 'a' AS metric, t.a AS value UNION ALL
    ...) AS m: the correlated VALUES list is not run by Snowflake's emulator (fakesnow); a UNION ALL keeps the nulls
    an UNPIVOT would drop."""
    if not (isinstance(node, exp.Lateral) and isinstance(node.this, exp.Subquery)
            and isinstance(node.this.this, exp.Values) and node.args.get("alias") is not None):
        return node
    alias = node.args["alias"]
    names = [c.name for c in alias.columns]
    selects = [exp.select(*(exp.alias_(v.copy(), n) for v, n in zip(row.expressions, names, strict=True)))
               for row in node.this.this.expressions]
    union = selects[0]
    for select in selects[1:]:
        union = exp.union(union, select, distinct=False)
    return exp.Lateral(this=exp.Subquery(this=union), alias=exp.TableAlias(this=alias.this.copy()))


def _epoch_to_unix_micros(node: exp.Expression) -> exp.Expression:
    """epoch(t) (DuckDB: seconds as DOUBLE) -> UNIX_MICROS(t) / 1000000: BigQuery has no TIME_TO_UNIX."""
    if isinstance(node, exp.TimeToUnix):
        return exp.Paren(this=exp.Div(this=exp.UnixMicros(this=node.this.copy()),
                                      expression=exp.Literal.number(1000000)))
    return node


@cache
def _schema() -> dict[str, dict[str, dict[str, str]]]:
    """Column types of the contract tables and of every view, in the order they are created (for type annotation)."""
    from .views import _contract_ddl, sql_files  # views imports this module

    schema: dict[str, dict[str, dict[str, str]]] = {}
    for text in [*_contract_ddl(), *(f.read_text() for f in sql_files())]:
        for tree in sqlglot.parse(text, read=SOURCE):
            if isinstance(tree, exp.Create) and isinstance(tree.this, exp.Schema):
                table = tree.this.this
                cols = {c.name: c.args["kind"].sql(SOURCE) for c in tree.this.expressions}
            elif isinstance(tree, exp.Create) and tree.kind == "VIEW":
                table, typed = tree.this, _annotated(tree.expression, schema)
                cols = {s.alias_or_name: s.type.sql(SOURCE) for s in typed.selects} if typed else {}
            else:
                continue
            schema.setdefault(table.db, {})[table.name] = cols
    return schema


def _annotated(select: exp.Expression, schema: dict) -> exp.Expression | None:
    """The query qualified (columns resolved to their tables) and annotated with types, in place; None if sqlglot
    cannot (the query is then left as it was)."""
    from sqlglot.optimizer.annotate_types import annotate_types
    from sqlglot.optimizer.qualify import qualify

    try:
        return annotate_types(qualify(select.copy(), schema=schema, dialect=SOURCE, validate_qualify_columns=False,
                                      quote_identifiers=False, identify=False), schema=schema, dialect=SOURCE)
    except sqlglot.errors.SqlglotError:
        return None


def _is_date(node: exp.Expression) -> bool:
    return bool(node.type and node.type.is_type("date"))


def _day_arithmetic(node: exp.Expression) -> exp.Expression:
    """date + n, date - n, date - date -> DATE_ADD / DATE_SUB / DATE_DIFF: BigQuery has no arithmetic on DATEs;
    date_trunc of a DATE -> DATE_TRUNC (sqlglot writes TIMESTAMP_TRUNC). Applied once, at the statement's root,
    to a copy qualified and annotated with the types of the tables and views it reads (rendered in its place)."""
    if node.parent is not None:
        return node
    query = node.expression if isinstance(node, exp.Create) else node
    kinds = (exp.Add, exp.Sub, exp.TimestampTrunc)
    if not isinstance(query, exp.Query) or not any(True for _ in query.find_all(*kinds)):
        return node
    typed = _annotated(query, _schema())
    if typed is None:
        return node
    day = exp.var("DAY")
    for op in reversed(list(typed.find_all(*kinds))):  # deepest first: an outer copy keeps the inner fixes
        if isinstance(op, exp.TimestampTrunc):
            if _is_date(op.this):
                op.replace(exp.DateTrunc(this=op.this.copy(), unit=op.args["unit"].copy()))
            continue
        left_date, right_date = _is_date(op.this), _is_date(op.expression)
        if isinstance(op.this, exp.Interval) or isinstance(op.expression, exp.Interval) or not (left_date or
                                                                                                  right_date):
            continue
        a, b = op.this.copy(), op.expression.copy()
        if isinstance(op, exp.Sub):
            op.replace(exp.DateDiff(this=a, expression=b, unit=day) if left_date and right_date else
                       exp.DateSub(this=a, expression=b, unit=day))
        else:
            op.replace(exp.DateAdd(this=a if left_date else b, expression=b if left_date else a, unit=day))
    if isinstance(node, exp.Create):
        node.set("expression", typed)
        return node
    return typed


# Per-dialect tree rewrites, applied in order to every statement before it is rendered (one entry per engine).
REWRITES: dict[str, tuple[Callable[[exp.Expression], exp.Expression], ...]] = {
    "bigquery": (_day_arithmetic, _values_to_unnest, _epoch_to_unix_micros),
    # Snowflake has date + n, but as DATEADD / DATEDIFF the day arithmetic also runs on its emulator (fakesnow)
    "snowflake": (_day_arithmetic, _lateral_values_to_union),
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


def information_schema(view: str, schema: str, dialect: str) -> str:
    """Where `view` (tables, columns) of one schema is listed: BigQuery has INFORMATION_SCHEMA per dataset only."""
    return f"{schema}.INFORMATION_SCHEMA.{view.upper()}" if dialect == "bigquery" else f"information_schema.{view}"


def replace_fallback(statement: str, dialect: str) -> str | None:
    """What to run before retrying a CREATE OR REPLACE VIEW the engine refused, or None where it never does."""
    if dialect != "postgres":
        return None
    tree = sqlglot.parse_one(statement, read=dialect)
    if isinstance(tree, exp.Create) and tree.kind == "VIEW":
        # CASCADE: views built on this one (ours are re-created right after, in the same transaction)
        return f"DROP VIEW IF EXISTS {tree.this.sql(dialect=dialect)} CASCADE"
    return None
