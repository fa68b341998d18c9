"""The lakehouse path: dlt's `filesystem` destination writing Delta tables, for Spark, Databricks, Trino or external
tables in Snowflake and BigQuery.

    # .dlt/config.toml
    [destination.lake]
    destination_type = "filesystem"
    bucket_url = "s3://analytics/openai"   # or a local folder; credentials as dlt documents for the bucket

and `openai-usage load --destination lake`. Every table is a Delta table under `<bucket_url>/openai_usage/`.

Whole buckets are replaced here too, but dlt's Delta merge offers no delete-insert. So a usage table is appended
to (each row carries dlt's `_dlt_load_id`), and then, per table, one Delta commit deletes every row whose bucket
(organization, start_time, bucket_width) also has rows of a newer load (`replace_buckets`): a re-read bucket keeps
exactly its newest reading, even when that has fewer rows. The rule needs no memory of what a run read, so a run
killed between the two commits is healed by the next run, which applies it before it reads anything. Tables keyed
by rows (the directory, restatements, quarantine) use dlt's own Delta upsert.

What the source reads before loading (the buckets held, the rows a restatement is measured against) is read from
each table's current Delta snapshot through DuckDB (`reader`): dlt's own SQL client over Delta needs DuckDB's
delta extension, which DuckDB downloads at run time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .catalogue import ORGANIZATION

TABLE_FORMAT = "delta"
LOAD_ID = "_dlt_load_id"
UPSERT = {"disposition": "merge", "strategy": "upsert"}
APPEND = "append"


def is_lake(pipeline: Any) -> bool:
    return str(pipeline.destination.destination_type).rsplit(".", 1)[-1] == "filesystem"


def delta_tables(pipeline: Any) -> dict[str, Any]:
    """The pipeline's Delta tables that exist, by name (dlt's own helper, with the bucket's storage options)."""
    from dlt.common.libs.deltalake import get_delta_tables

    if not pipeline.default_schema_name:
        return {}
    names = [t for t in pipeline.default_schema.data_table_names() if not t.startswith("_dlt")]
    try:
        return get_delta_tables(pipeline, *names)
    except Exception:  # a table in the schema but not written yet: read the tables one by one
        out = {}
        for name in names:
            try:
                out.update(get_delta_tables(pipeline, name))
            except Exception:  # not in the bucket yet
                continue
        return out


@contextmanager
def load_id_column() -> Iterator[None]:
    """dlt adds `_dlt_load_id` to Arrow rows only when asked; the bucket rule needs it on every usage row."""
    key = "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID"
    old = os.environ.get(key)
    os.environ[key] = "true"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


class LakeClient:
    """The few calls of dlt's SQL client that the source makes, over DuckDB views of the current Delta snapshots."""

    def __init__(self, con: Any, dataset_name: str) -> None:
        self.con = con
        self.dataset_name = dataset_name

    def has_dataset(self) -> bool:
        return True

    def make_qualified_table_name(self, table: str) -> str:
        return f"{self.dataset_name}.{table}"

    def execute_sql(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        return self.con.execute(sql.replace("%s", "?"), list(args)).fetchall()

    @contextmanager
    def execute_query(self, sql: str, *args: Any) -> Iterator[Any]:
        yield _Cursor(self.con.execute(sql.replace("%s", "?"), list(args)))


class _Cursor:
    """A DuckDB result read as dlt's cursors are: in Arrow batches."""

    def __init__(self, result: Any) -> None:
        self.result = result

    def iter_arrow(self, chunk_size: int) -> Iterator[Any]:
        import pyarrow as pa

        for batch in self.result.to_arrow_reader(chunk_size):
            yield pa.Table.from_batches([batch])


@contextmanager
def reader(pipeline: Any) -> Iterator[LakeClient]:
    import duckdb

    con = duckdb.connect()
    dataset = pipeline.dataset_name
    try:
        con.execute(f"create schema {dataset}")
        for name, table in delta_tables(pipeline).items():
            _scan(con, f"{dataset}.{name}", table)
        yield LakeClient(con, dataset)
    finally:
        con.close()


def _scan(con: Any, view: str, table: Any) -> None:
    """A DuckDB view of exactly the Parquet files of the table's current version. Local files are read by DuckDB
    itself (delta-rs rewrites some files with Arrow's string views, on which Arrow's own scanner then refuses DuckDB's
    filters); a remote bucket's table is read whole by delta-rs, with the bucket's credentials as dlt passes them."""
    uris = [u.removeprefix("file://") for u in table.file_uris()]
    if uris and all(u.startswith("/") for u in uris):
        files = ", ".join(_quote(u) for u in uris)
        con.execute(f"create view {view} as select * from read_parquet([{files}], union_by_name = true)")
        return
    import pyarrow as pa

    arrow = table.to_pyarrow_table()
    plain = pa.schema([f.with_type(pa.string()) if pa.types.is_string_view(f.type) else f for f in arrow.schema])
    con.register(f"_arrow_{abs(hash(view))}", arrow.cast(plain))
    con.execute(f"create view {view} as select * from _arrow_{abs(hash(view))}")


def sql_client(pipeline: Any) -> Any:
    """dlt's SQL client for the pipeline's destination, or the Delta snapshot reader for a lake."""
    return reader(pipeline) if is_lake(pipeline) else pipeline.sql_client()


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def replace_buckets(pipeline: Any, tables: list[str]) -> dict[str, int]:
    """In each bucket table, delete the rows superseded by a newer load of the same bucket: one Delta commit per
    table that has any. Returns the rows deleted per table."""
    import duckdb

    deleted: dict[str, int] = {}
    present = delta_tables(pipeline)
    for name in tables:
        table = present.get(name)
        if table is None:
            continue
        fields = {f.name for f in table.schema().to_arrow()}
        if LOAD_ID not in fields:
            continue
        con = duckdb.connect()
        try:
            _scan(con, "t", table)
            stale = con.execute(
                f"select {ORGANIZATION}, bucket_width, {LOAD_ID}, "
                "list(distinct strftime(start_time at time zone 'UTC', '%Y-%m-%dT%H:%M:%SZ') order by 1) from ("
                f"select {ORGANIZATION}, bucket_width, start_time, {LOAD_ID}, max(cast({LOAD_ID} as double)) over "
                f"(partition by {ORGANIZATION}, bucket_width, start_time) as newest from t) "
                f"where cast({LOAD_ID} as double) < newest group by all").fetchall()
        finally:
            con.close()
        if not stale:
            continue
        predicate = " OR ".join(
            f"({ORGANIZATION} = {_quote(org)} AND bucket_width = {_quote(width)} AND {LOAD_ID} = {_quote(load)} "
            f"AND start_time IN ({', '.join(_quote(s) for s in starts)}))" for org, width, load, starts in stale)
        deleted[name] = int(table.delete(predicate).get("num_deleted_rows", 0))
    return deleted
