"""Applying the SQL views in `sql/` (staging, then reporting) to a warehouse, idempotently."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb

from . import catalogue
from .catalogue import ROOT
from .flatten import QUARANTINE_SCHEMA
from .source import dlt_columns

SQL_DIR = ROOT / "sql"
LAYERS = ("staging", "reporting")
DATASET = "openai_usage"

_DUCK_TYPES = {"bigint": "BIGINT", "double": "DOUBLE", "bool": "BOOLEAN", "text": "VARCHAR",
               "timestamp": "TIMESTAMP WITH TIME ZONE"}


def sql_files() -> list[Path]:
    return [f for layer in LAYERS for f in sorted((SQL_DIR / layer).glob("*.sql"))]


def _applied_version(con: duckdb.DuckDBPyConnection) -> str | None:
    exists = con.execute("select count(*) from duckdb_tables() where schema_name = 'staging' "
                         "and table_name = '_views_version'").fetchone()[0]
    return con.execute("select version from staging._views_version").fetchone()[0] if exists else None


def _contract_ddl() -> list[str]:
    """CREATE TABLE IF NOT EXISTS for every contract table, so views bind on a warehouse not yet loaded."""
    tables = {ep.table: ep.arrow_schema() for ep in catalogue.endpoints().values()}
    tables["_quarantine"] = QUARANTINE_SCHEMA
    out = []
    for name, schema in tables.items():
        cols = []
        for col, spec in dlt_columns(schema).items():
            t = spec["data_type"]
            typ = f"DECIMAL({spec['precision']},{spec['scale']})" if t == "decimal" else _DUCK_TYPES[t]
            cols.append(f'"{col}" {typ}{"" if spec.get("nullable", True) else " NOT NULL"}')
        out.append(f'CREATE TABLE IF NOT EXISTS {DATASET}."{name}" ({", ".join(cols)})')
    return out


def views_version() -> str:
    """A fingerprint of the contracts and every view: views are re-created only when it changes."""
    h = hashlib.sha256()
    for ddl in _contract_ddl():
        h.update(ddl.encode())
    for f in sql_files():
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()[:16]


def apply_views(db: Path | str, force: bool = False) -> list[str]:
    """Create or replace every view (idempotent); returns the files applied, or [] when already current."""
    version = views_version()
    con = duckdb.connect(str(db))
    try:
        if not force and _applied_version(con) == version:
            return []
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {DATASET}")
        for ddl in _contract_ddl():
            con.execute(ddl)
        for layer in LAYERS:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {layer}")
        applied = []
        for f in sql_files():
            con.execute(f.read_text())
            applied.append(f"{f.parent.name}/{f.name}")
        con.execute("CREATE OR REPLACE TABLE staging._views_version AS SELECT ? AS version", [version])
        return applied
    finally:
        con.close()
