"""Applying the SQL views in `sql/` (staging, intermediate, then reporting) to a warehouse, idempotently.

The files are DuckDB SQL; for any other engine they pass through `transpile` first.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

from .. import catalogue
from ..catalogue import PACKAGE_DIR
from ..errors import ConfigError
from ..load.warehouse import DATASET, Sql, Warehouse
from .transpile import query, replace_fallback, statements

SQL_DIR = PACKAGE_DIR / "sql"
LAYERS = ("staging", "intermediate", "reporting")
TRANSACTIONAL_DDL = {"duckdb", "postgres"}
# No schemas: dlt's ClickHouse tables are <dataset>___<table> in one database, the views beside them (transpile).
SCHEMALESS = {"clickhouse"}

_DUCK_TYPES = {"bigint": "BIGINT", "double": "DOUBLE", "bool": "BOOLEAN", "text": "VARCHAR",
               "timestamp": "TIMESTAMP WITH TIME ZONE"}


def sql_files() -> list[Path]:
    return [f for layer in LAYERS for f in sorted((SQL_DIR / layer).glob("*.sql"))]


def _applied_version(sql: Sql, dialect: str) -> str | None:
    exists = query(sql, "select count(*) from information_schema.tables where lower(table_schema) = 'staging' "
                        "and lower(table_name) = '_views_version'", dialect)[0][0]
    return query(sql, "select version from staging._views_version", dialect)[0][0] if exists else None


def _contract_ddl() -> list[str]:
    """CREATE TABLE IF NOT EXISTS for every contract table, so views bind on a warehouse not yet loaded."""
    out = []
    for name, schema in catalogue.contract_tables().items():
        cols = []
        for col, spec in catalogue.dlt_hints(schema).items():
            t = spec["data_type"]
            typ = f"DECIMAL({spec['precision']},{spec['scale']})" if t == "decimal" else _DUCK_TYPES[t]
            cols.append(f'{col} {typ}{"" if spec.get("nullable", True) else " NOT NULL"}')
        # Unquoted on purpose: each engine folds the names as dlt's tables are named there (Snowflake: upper case).
        out.append(f'CREATE TABLE IF NOT EXISTS {DATASET}.{name} ({", ".join(cols)})')
    return out


def _plan(dialect: str) -> list[tuple[str | None, list[str]]]:
    """(view file or None for a contract table, its statements for this engine), in the order they run."""
    plan: list[tuple[str | None, list[str]]] = [(None, statements(ddl, dialect)) for ddl in _contract_ddl()]
    plan += [(f"{f.parent.name}/{f.name}", statements(f.read_text(), dialect)) for f in sql_files()]
    return plan


def _version(plan: list[tuple[str | None, list[str]]], dialect: str) -> str:
    h = hashlib.sha256(dialect.encode())
    for _, stmts in plan:
        for stmt in stmts:
            h.update(stmt.encode())
    return h.hexdigest()[:16]


def script(dialect: str) -> list[str]:
    """Every statement that creates the schemas, the contract tables (if missing) and the views, for `dialect`: what
    a lake's users run on their own engine (`openai-usage views --dialect spark`)."""
    from sqlglot.dialects.dialect import Dialect

    try:
        Dialect.get_or_raise(dialect)
    except ValueError:
        raise ConfigError(f"unknown SQL dialect {dialect!r}: name one sqlglot knows (spark, databricks, trino, "
                          f"bigquery, snowflake, ...)") from None
    return [*(f"CREATE SCHEMA IF NOT EXISTS {schema}" for schema in (DATASET, *LAYERS)),
            *(stmt for _, stmts in _plan(dialect) for stmt in stmts)]


def apply_views(target: Path | str | Warehouse, force: bool = False) -> list[str]:
    """Create or replace every view (idempotent); returns the files applied, or [] when already current."""
    wh = target if isinstance(target, Warehouse) else Warehouse(db=Path(target))
    dialect = wh.dialect
    plan = _plan(dialect)
    version = _version(plan, dialect)
    with wh.connect() as sql:
        if not force and _applied_version(sql, dialect) == version:
            return []
        # All or nothing where the engine has transactional DDL: readers never see a view missing or half the
        # views new, and a failure leaves the previous views in place.
        with sql.transaction() if dialect in TRANSACTIONAL_DDL else contextlib.nullcontext():
            for schema in (DATASET, *LAYERS) if dialect not in SCHEMALESS else ():
                sql.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            applied = []
            for view_file, stmts in plan:
                for stmt in stmts:
                    _create(sql, stmt, dialect)
                if view_file:
                    applied.append(view_file)
            for stmt in statements(f"DROP TABLE IF EXISTS staging._views_version; "
                                   f"CREATE TABLE staging._views_version AS SELECT '{version}' AS version", dialect):
                sql.execute(stmt)
        return applied


def require_views(wh: Warehouse) -> None:
    """For read paths, which never write: the views must be there and match this version of the SQL."""
    plan = _plan(wh.dialect)
    with wh.connect(read_only=True) as sql:
        applied = _applied_version(sql, wh.dialect)
    if applied is None:
        raise ConfigError(f"{wh.label} has no views yet: `openai-usage load` applies them (or `openai-usage views`)")
    if applied != _version(plan, wh.dialect):
        raise ConfigError(f"the views in {wh.label} are from another version of openai-usage: update them with "
                          "`openai-usage views` (or the next `openai-usage load`)")


def _create(sql: Sql, stmt: str, dialect: str) -> None:
    fallback = replace_fallback(stmt, dialect)
    if fallback is None:
        sql.execute(stmt)
        return
    sql.execute("SAVEPOINT replace_view")
    try:
        sql.execute(stmt)
    except Exception:  # the view's columns changed: drop it, then create it anew
        sql.execute("ROLLBACK TO SAVEPOINT replace_view")
        sql.execute(fallback)
        sql.execute(stmt)
    sql.execute("RELEASE SAVEPOINT replace_view")
