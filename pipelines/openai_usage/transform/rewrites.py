"""Each engine's rewrites of the DuckDB SQL trees, applied by `transpile` (sqlglot is imported only here).

- PostgreSQL cannot CREATE OR REPLACE a view whose columns changed (only appended): then, and only then, the
  old view is dropped first (`replace_fallback`), inside the transaction that applies all views.
- BigQuery has no VALUES with named columns: the unpivot (LATERAL VALUES) and the constant tables (a CTE of VALUES)
  become UNNEST of an array of STRUCTs. DuckDB's `epoch(t)` becomes UNIX_MICROS(t) / 1000000 (sqlglot writes
  TIME_TO_UNIX, which BigQuery lacks), and day arithmetic on DATEs (`date + n`, `date - n`, `date - date`), found by
  sqlglot's type annotation against the contract tables and the views before, becomes DATE_ADD / DATE_SUB / DATE_DIFF.
- Snowflake: the same day arithmetic becomes DATEADD / DATEDIFF (Snowflake accepts date + n too, its emulator
  fakesnow does not), and the LATERAL VALUES unpivot a LATERAL UNION ALL; names stay unquoted, so they fold to upper
  case as dlt's do.
- ClickHouse: dlt keeps a dataset's tables in one database as `openai_usage___<table>`, so `schema.name` becomes
  `schema___name` there (views too; information_schema reads back as schema and name), no LATERAL (ARRAY JOIN) or
  VALUES tables (UNION ALL), SQL's NULLs, names and DuckDB's decimals and text (settings and casts, see below).
- Spark cannot evaluate a row's columns inside an inline VALUES table: the unpivot (CROSS JOIN LATERAL (VALUES ...))
  becomes LATERAL VIEW INLINE of an array of STRUCTs; JSON is read from text as it is, not cast to JSON first.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import sqlglot
from sqlglot import exp

from ..load.warehouse import DATASET
from .transpile import SOURCE


def _structs(values: exp.Values, names: list[str]) -> exp.Array:
    return exp.Array(expressions=[
        exp.Struct(expressions=[exp.alias_(v.copy(), n) for v, n in zip(row.expressions, names, strict=True)])
        for row in values.expressions])


def _values_to_unnest(node: exp.Expression) -> exp.Expression:
    """LATERAL (VALUES ('a', t.a), ...) AS m(metric, value) -> UNNEST([STRUCT('a' AS metric, t.a AS value)]) AS m,
    and a constant table WITH m (metric, label) AS (VALUES ...) ->
    WITH m AS (SELECT v.metric AS metric, ... FROM UNNEST([STRUCT(...)]) AS v)"""
    if isinstance(node, exp.CTE) and node.alias_column_names and isinstance(node.this, exp.Select):
        source = node.this.args.get("from_") or node.this.args.get("from")
        if source is not None and isinstance(source.this, exp.Values):
            # columns named, not `SELECT *`: bqemulator expands that star to a column _col_0 its DuckDB lacks
            names = node.alias_column_names
            unnest = exp.Unnest(expressions=[_structs(source.this, names)],
                                alias=exp.TableAlias(columns=[exp.to_identifier("v")]))
            select = exp.select(*(exp.column(n, "v").as_(n) for n in names)).from_(unnest)
            return exp.CTE(this=select, alias=exp.TableAlias(this=node.args["alias"].this.copy()))
        return node
    if not (isinstance(node, exp.Lateral) and isinstance(node.this, exp.Subquery)
            and isinstance(node.this.this, exp.Values)):
        return node
    alias = node.args.get("alias")
    names = [c.name for c in alias.columns] if alias else []
    # the alias as BigQuery reads one on UNNEST (the struct value, fields read as m.metric), not a table alias, whose
    # qualifier sqlglot's BigQuery generator strips, leaving bare `metric` (valid, but not what bqemulator can bind)
    return exp.Unnest(expressions=[_structs(node.this.this, names)], alias=exp.TableAlias(columns=[alias.this.copy()]))


# ClickHouse: dlt keeps every table of a dataset in the one database its credentials name, as <dataset>___<table>.
CLICKHOUSE_PREFIXED = (DATASET, "staging", "intermediate", "reporting")
CLICKHOUSE_SEPARATOR = "___"  # dlt's ClickHouse `dataset_table_separator` default


def _prefixed_tables(node: exp.Expression) -> exp.Expression:
    """openai_usage.costs -> openai_usage___costs and staging.stg_costs -> staging___stg_costs, in the current
    database: dlt's tables as dlt names them, the views beside them (no CREATE DATABASE needed)."""
    if isinstance(node, exp.Table) and node.db.lower() in CLICKHOUSE_PREFIXED and not node.args.get("catalog"):
        table = node.copy()
        table.set("this", exp.to_identifier(f"{node.db.lower()}{CLICKHOUSE_SEPARATOR}{node.name}"))
        table.set("db", None)
        return table
    return node


_CH_CATALOG = {"tables": "table_type", "columns": "column_name, ordinal_position, data_type"}


def _prefixed_catalog(node: exp.Expression) -> exp.Expression:
    """information_schema.tables/columns read as elsewhere: table_schema 'openai_usage', table_name 'costs' for
    the current database's openai_usage___costs (the status and export read paths and the views marker)."""
    if not (isinstance(node, exp.Table) and node.db.lower() == "information_schema"
            and node.name.lower() in _CH_CATALOG):
        return node
    sep = CLICKHOUSE_SEPARATOR
    sub = sqlglot.parse_one(
        f"select splitByString('{sep}', table_name)[1] as table_schema, "
        f"substring(table_name, position(table_name, '{sep}') + {len(sep)}) as table_name, "
        f"{_CH_CATALOG[node.name.lower()]} from information_schema.{node.name.lower()} "
        f"where table_schema = currentDatabase() and position(table_name, '{sep}') > 0", read="clickhouse")
    return exp.Subquery(this=sub, alias=exp.TableAlias(this=exp.to_identifier(node.alias_or_name)))


_MERGE_TREE = sqlglot.parse_one("CREATE TABLE t (c Int64) ENGINE = MergeTree ORDER BY tuple()", read="clickhouse")
_TIMESTAMP = exp.DataType.build("DateTime64(6, 'UTC')", dialect="clickhouse")  # dlt's type for a timestamp


def _merge_tree_tables(node: exp.Expression) -> exp.Expression:
    """CREATE TABLE on ClickHouse: an engine is required (MergeTree, as dlt's own tables), timestamps are dlt's
    DateTime64(6, 'UTC'), and a column is Nullable(...) unless NOT NULL (which ClickHouse does not accept)."""
    if not (isinstance(node, exp.Create) and node.kind == "TABLE" and not node.args.get("properties")):
        return node
    node = node.copy()
    node.set("properties", _MERGE_TREE.args["properties"].copy())
    for col in node.find_all(exp.ColumnDef):
        constraints = col.args.get("constraints") or []
        not_null = [c for c in constraints if isinstance(c.kind, exp.NotNullColumnConstraint)]
        col.set("constraints", [c for c in constraints if c not in not_null])
        kind = _TIMESTAMP.copy() if col.kind.is_type(exp.DataType.Type.TIMESTAMPTZ) else col.kind.copy()
        kind.set("nullable", not not_null)
        col.set("kind", kind)
    return node


def _clickhouse_functions(node: exp.Expression) -> exp.Expression:
    """Functions ClickHouse names otherwise: epoch(t) is toUnixTimestamp(t); split_part(s, d, n) is the n-th element
    of splitByString(d, s), null for a null s (no Array may be Nullable)."""
    if isinstance(node, exp.TimeToUnix):
        return exp.Anonymous(this="toUnixTimestamp", expressions=[node.this.copy()])
    if isinstance(node, exp.SplitPart):
        text, delimiter, n = node.this, node.args["delimiter"], node.args["part_index"]
        parts = exp.Anonymous(this="splitByString", expressions=[
            delimiter.copy(), exp.func("coalesce", text.copy(), exp.Literal.string(""))])
        return exp.If(this=exp.Is(this=text.copy(), expression=exp.Null()), true=exp.Null(),
                      false=exp.Anonymous(this="arrayElement", expressions=[parts, n.copy()]))
    return node


def _values_to_array_join(node: exp.Expression) -> exp.Expression:
    """ClickHouse has no LATERAL: CROSS JOIN LATERAL (VALUES ('a', t.a), ...) AS m(metric, value) becomes
    ARRAY JOIN ['a', ...] AS metric, [t.a, ...] AS value (m.metric -> metric); a constant table
    WITH m (metric, label) AS (VALUES ...) becomes a UNION ALL of one-row SELECTs."""
    if isinstance(node, exp.CTE) and node.alias_column_names and isinstance(node.this, exp.Select):
        source = node.this.args.get("from_") or node.this.args.get("from")
        if source is not None and isinstance(source.this, exp.Values):
            rows = [exp.select(*[exp.alias_(v.copy(), n) for v, n in zip(row.expressions, node.alias_column_names,
                                                                             strict=True)])
                    for row in source.this.expressions]
            union = rows[0]
            for row in rows[1:]:
                union = exp.union(union, row, distinct=False)
            return exp.CTE(this=union, alias=exp.TableAlias(this=node.args["alias"].this.copy()))
        return node
    if not isinstance(node, exp.Select):
        return node
    lateral = [j for j in node.args.get("joins") or [] if isinstance(j.this, exp.Lateral)
               and isinstance(j.this.this, exp.Subquery) and isinstance(j.this.this.this, exp.Values)]
    if not lateral:
        return node
    node = node.copy()
    for join in [j for j in node.args["joins"] if isinstance(j.this, exp.Lateral)]:
        alias = join.this.args["alias"]
        names = [c.name for c in alias.columns]
        rows = [row.expressions for row in join.this.this.this.expressions]
        arrays = [exp.alias_(exp.Array(expressions=[row[i].copy() for row in rows]), n) for i, n in enumerate(names)]
        join.replace(exp.Join(this=arrays[0], expressions=arrays[1:], kind="ARRAY"))
        for col in node.find_all(exp.Column):
            if col.table == alias.name:
                col.set("table", None)
    return node


_TIMESTAMPS = (exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPTZ, exp.DataType.Type.TIMESTAMPNTZ)


def _decimals_and_timestamps(node: exp.Expression) -> exp.Expression:
    """DuckDB's numbers, not ClickHouse's: a decimal literal next to a DECIMAL cast is a DECIMAL (ClickHouse would
    make the product a Float64); a cast to DECIMAL rounds as DuckDB does (ClickHouse truncates a Float64); a
    timestamp is dlt's DateTime64(6, 'UTC') (DateTime has whole seconds only)."""
    if isinstance(node, exp.DataType) and node.this in _TIMESTAMPS:
        stamp = _TIMESTAMP.copy()
        stamp.set("nullable", node.args.get("nullable"))
        return stamp
    if isinstance(node, exp.Cast) and node.to.is_type(exp.DataType.Type.DECIMAL) and len(node.to.expressions) == 2 \
            and not isinstance(node.this, exp.Literal | exp.Null):
        rounded = exp.func("round", node.this.copy(), node.to.expressions[1].this.copy())
        # through text: a Float64 rounded to `scale` decimals is read back as exactly that decimal
        return exp.Cast(this=exp.Anonymous(this="toString", expressions=[rounded]), to=node.to.copy())
    if isinstance(node, exp.Mul | exp.Add | exp.Sub):
        sides = (node.this, node.expression)
        if any(isinstance(x, exp.Cast) and x.to.is_type(exp.DataType.Type.DECIMAL) for x in sides):
            for side in sides:
                if isinstance(side, exp.Literal) and side.is_number and "." in side.this and "e" not in side.this:
                    decimals = len(side.this.split(".")[1])
                    side.replace(exp.cast(exp.Literal.string(side.this), f"DECIMAL(18, {decimals})"))
    return node


def _scale(node: exp.Expression) -> int | None:
    """The scale of a DECIMAL expression seen in the SQL itself (a cast, or a product of casts), else None."""
    if isinstance(node, exp.Alias | exp.Paren):
        return _scale(node.this)
    if isinstance(node, exp.Cast) and node.to.is_type(exp.DataType.Type.DECIMAL) and len(node.to.expressions) == 2:
        return int(node.to.expressions[1].this.name)
    if isinstance(node, exp.Mul):
        left, right = _scale(node.this), _scale(node.expression)
        return None if left is None or right is None else left + right
    return None


def _decimal_text(node: exp.Expression) -> exp.Expression:
    """A DECIMAL as text keeps its scale's digits, as in DuckDB ('0.500000'; ClickHouse writes '0.5'): a cast to text
    of a DECIMAL expression, or of a CTE's column that is one, is toDecimalString(x, scale)."""
    if not isinstance(node, exp.Create | exp.Select) or isinstance(node.parent, exp.Expression):
        return node
    node = node.copy()
    scales = {e.alias: _scale(e) for cte in node.find_all(exp.CTE) for e in cte.this.selects
              if isinstance(e, exp.Alias) and _scale(e) is not None}
    for cast in list(node.find_all(exp.Cast)):
        if cast.to.is_type(*exp.DataType.TEXT_TYPES):
            scale = scales.get(cast.this.name) if isinstance(cast.this, exp.Column) else _scale(cast.this)
            if scale is not None:
                cast.replace(exp.Anonymous(this="toDecimalString",
                                           expressions=[cast.this.copy(), exp.Literal.number(scale)]))
    return node


def _expand_cte_stars(node: exp.Expression) -> exp.Expression:
    """In a join ClickHouse names c.x `c.x` when another joined table has an x too: c.* over a CTE of this
    statement becomes that CTE's columns, each named as itself."""
    if not isinstance(node, exp.Create | exp.Select) or isinstance(node.parent, exp.Expression):
        return node
    node = node.copy()
    columns = {cte.alias: [e.alias_or_name for e in cte.this.selects] for cte in node.find_all(exp.CTE)}
    for select in node.find_all(exp.Select):
        if not select.args.get("joins"):
            continue
        sources = {t.alias_or_name: t.name for t in select.find_all(exp.Table) if t.parent_select is select}
        projections = []
        for e in select.expressions:
            names = columns.get(sources.get(e.table, "")) if isinstance(e, exp.Column) and e.is_star else None
            if names and "*" not in names:
                projections += [exp.alias_(exp.column(n, e.table), n) for n in names]
            else:
                projections.append(e)
        select.set("expressions", projections)
    return node


_SQL_SEMANTICS = sqlglot.parse_one("select 1 settings join_use_nulls = 1, prefer_column_name_to_alias = 1",
                                   read="clickhouse").args["settings"]


def _standard_semantics(node: exp.Expression) -> exp.Expression:
    """Every SELECT (in a view, the settings travel with its stored query) as SQL means it: an outer join's missing
    side is NULL, not a default value (join_use_nulls); a column name means the column, not a same-named alias of
    this SELECT (prefer_column_name_to_alias), except in ORDER BY; and a qualified column u.x is named x, not `u.x`."""
    if not isinstance(node, exp.Select):
        return node
    node.set("expressions", [exp.alias_(e, e.name) if isinstance(e, exp.Column) and e.table
                             and not isinstance(e.this, exp.Star) else e for e in node.expressions])
    aliased = {e.alias: e.this for e in node.expressions if isinstance(e, exp.Alias)}
    for ordered in node.args["order"].expressions if node.args.get("order") else []:
        # ORDER BY a name means the output column (an alias) first, as in SQL, though names elsewhere are columns
        if isinstance(ordered.this, exp.Column) and not ordered.this.table and ordered.this.name in aliased:
            ordered.set("this", aliased[ordered.this.name].copy())
    if not node.args.get("settings"):
        node.set("settings", [s.copy() for s in _SQL_SEMANTICS])
    return node


# dlt's ClickHouse client splits what it runs at every ';', even one inside a comment: the views go without comments.
NO_COMMENTS = {"clickhouse"}

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
    "bigquery": (_day_arithmetic, _values_to_unnest, _epoch_to_unix_micros),
    # Snowflake has date + n, but as DATEADD / DATEDIFF the day arithmetic also runs on its emulator (fakesnow)
    "snowflake": (_day_arithmetic, _lateral_values_to_union),
    "clickhouse": (_prefixed_catalog, _prefixed_tables, _merge_tree_tables, _clickhouse_functions,
                   _values_to_array_join, _decimals_and_timestamps, _decimal_text, _expand_cte_stars,
                   _standard_semantics),
    "spark": (_lateral_values_to_inline, _drop_json_cast),
    "databricks": (_lateral_values_to_inline, _drop_json_cast),  # Databricks speaks Spark SQL
}
