"""`openai-usage export`: every table and reporting view as Parquet, for tools that cannot open the warehouse."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from ..load.warehouse import DATASET, Warehouse
from ..transform.views import require_views


def export_parquet(target: Path | Warehouse, out_dir: Path) -> list[Path]:
    """Read only, through the warehouse's own SQL client (a DuckDB file or any dlt destination): the warehouse and
    its views must exist (`load` applies them). One file per relation, named `<schema>.<name>.parquet`."""
    wh = target if isinstance(target, Warehouse) else Warehouse(db=target)
    wh.require()
    require_views(wh)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with wh.connect(read_only=True) as sql:
        names = sorted((str(schema).lower(), str(name).lower()) for schema, name in sql.rows(
            "select table_schema, table_name from information_schema.tables "
            f"where lower(table_schema) in ('{DATASET}', 'reporting')")
                       if not str(name).lower().startswith("_dlt"))
        for schema, name in names:
            target_file = out_dir / f"{schema}.{name}.parquet"
            tmp = target_file.with_suffix(".parquet.tmp")
            writer = None
            try:
                for part in sql.arrow(f"select * from {schema}.{name}"):
                    if writer is None:
                        writer = pq.ParquetWriter(tmp, part.schema)
                    writer.write(part)
            finally:
                if writer is not None:
                    writer.close()
            if writer is None:  # no rows: the schema still comes from an empty result
                continue
            tmp.replace(target_file)  # never a half-written file under the final name
            written.append(target_file)
    return written
