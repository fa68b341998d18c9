"""`openai-usage export`: every table and reporting view as Parquet, for tools that cannot open DuckDB."""

from __future__ import annotations

from pathlib import Path

import duckdb

from ..load.warehouse import Warehouse
from ..transform.views import require_views


def export_parquet(db: Path, out_dir: Path) -> list[Path]:
    """Read only: the warehouse and its views must exist (`load` applies them)."""
    wh = Warehouse(db=db)
    wh.require()
    require_views(wh)
    out_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db), read_only=True)
    try:
        names = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where (table_schema = 'openai_usage' and table_name not like '\\_dlt%' escape '\\') "
            "or table_schema = 'reporting' order by 1, 2").fetchall()
        written = []
        for schema, name in names:
            target = out_dir / f"{schema}.{name}.parquet"
            tmp = target.with_suffix(".parquet.tmp")
            con.execute(f"copy (select * from {schema}.\"{name}\") to '{tmp}' (format parquet)")
            tmp.replace(target)  # never a half-written file under the final name
            written.append(target)
        return written
    finally:
        con.close()
