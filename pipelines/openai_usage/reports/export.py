"""`openai-usage export`: every table and reporting view as Parquet, for tools that cannot open the warehouse; or the
FOCUS view as `focus.parquet` and `focus.csv` for FinOps tools."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from ..catalogue import ORGANIZATION
from ..load.warehouse import DATASET, Warehouse
from ..transform.views import require_views
from .data import choose, org_filter, organizations

# The column that names a row's organization in reporting.focus (FOCUS calls the organization a billing account).
FOCUS_ORGANIZATION = "BillingAccountId"


def export_parquet(target: Path | Warehouse, out_dir: Path, orgs: list[str] | tuple[str, ...] | None = None
                   ) -> list[Path]:
    """Read only, through the warehouse's own SQL client (a DuckDB file or any dlt destination): the warehouse and
    its views must exist (`load` applies them). One file per relation, named `<schema>.<name>.parquet`, every row
    with its organization. `orgs` keeps only those organizations' rows (an unknown name is a ConfigError); a
    relation with no organization column cannot be told apart, so it is left out then."""
    wh = target if isinstance(target, Warehouse) else Warehouse(db=target)
    wh.require()
    require_views(wh)
    written = []
    with wh.connect(read_only=True) as sql:
        chosen = choose(organizations(sql, wh.dialect), orgs, wh.label) if orgs else []
        names = sorted((str(schema).lower(), str(name).lower()) for schema, name in sql.rows(
            "select table_schema, table_name from information_schema.tables "
            f"where lower(table_schema) in ('{DATASET}', 'reporting')")
                       if not str(name).lower().startswith("_dlt"))
        columns = {(str(s).lower(), str(n).lower()): str(c).lower() for s, n, c in sql.rows(
            "select table_schema, table_name, column_name from information_schema.columns "
            f"where lower(table_schema) in ('{DATASET}', 'reporting') "
            f"and lower(column_name) in ('{ORGANIZATION}', '{FOCUS_ORGANIZATION.lower()}')")}
        out_dir.mkdir(parents=True, exist_ok=True)
        for schema, name in names:
            column = columns.get((schema, name))
            if chosen and column is None:
                continue
            # the FOCUS view's column is quoted to keep its case; the organization column is plain
            filtered = "" if not chosen else " where " + org_filter(
                chosen, f'"{FOCUS_ORGANIZATION}"' if column == FOCUS_ORGANIZATION.lower() else ORGANIZATION)
            target_file = out_dir / f"{schema}.{name}.parquet"
            tmp = target_file.with_suffix(".parquet.tmp")
            writer = None
            try:
                # OFFSET 0: PostgreSQL must not push the filter into a view's CTEs (see reports.data, owners)
                relation = f"(select * from {schema}.{name} offset 0) as r" if filtered else f"{schema}.{name}"
                for part in sql.arrow(f"select * from {relation}{filtered}"):
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


def export_focus(target: Path | Warehouse, out_dir: Path, orgs: list[str] | tuple[str, ...] | None = None
                 ) -> list[Path]:
    """`reporting.focus` as OUT_DIR/focus.parquet and OUT_DIR/focus.csv, read only. Date/times are UTC: in Parquet as
    timestamps with time zone, in CSV as FOCUS writes them (YYYY-MM-DDTHH:mm:ssZ). Each file appears whole or not
    at all. The organization is the billing account (`BillingAccountId`); `orgs` keeps only those organizations."""
    wh = target if isinstance(target, Warehouse) else Warehouse(db=target)
    wh.require()
    require_views(wh)
    files = [out_dir / "focus.parquet", out_dir / "focus.csv"]
    tmps = [f.with_suffix(f.suffix + ".tmp") for f in files]
    parquet = csv = None
    try:
        with wh.connect(read_only=True) as sql:
            where = ""
            if orgs:
                names = choose(organizations(sql, wh.dialect), orgs, wh.label)
                where = " where " + org_filter(names, f'"{FOCUS_ORGANIZATION}"')
            out_dir.mkdir(parents=True, exist_ok=True)
            relation = "(select * from reporting.focus offset 0) as r" if where else "reporting.focus"
            for part in sql.arrow(f"select * from {relation}{where}"):
                part = _utc(part)
                if parquet is None:
                    parquet = pq.ParquetWriter(tmps[0], part.schema)
                    csv = pcsv.CSVWriter(tmps[1], _csv(part).schema)
                parquet.write(part)
                csv.write(_csv(part))
    finally:
        for w in (parquet, csv):
            if w is not None:
                w.close()
    if parquet is None:
        return []
    for tmp, f in zip(tmps, files, strict=True):
        tmp.replace(f)
    return files


def _utc(table: pa.Table) -> pa.Table:
    """Naive timestamps from the view are UTC: say so in the type."""
    cols = [c.cast(pa.timestamp("us", tz="UTC")) if pa.types.is_timestamp(c.type) else c for c in table.columns]
    return pa.Table.from_arrays(cols, names=table.column_names)


def _csv(table: pa.Table) -> pa.Table:
    cols = [pc.strftime(c.cast(pa.timestamp("s", tz="UTC")), format="%Y-%m-%dT%H:%M:%SZ")
            if pa.types.is_timestamp(c.type) else c
            for c in table.columns]
    return pa.Table.from_arrays(cols, names=table.column_names)
