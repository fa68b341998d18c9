"""Restatements: what the API changed in a bucket after it had closed, found by comparing a re-read with what the
destination held.

Every run re-reads a trailing window and replaces whole buckets, which corrects revised figures but would erase the
evidence. Before extracting, the source reads the rows the destination holds for the range it is about to re-read
(`held_rows`); as each re-read bucket arrives, `Snapshot.compare` lists every group and metric whose value moved.
Only buckets that had closed when they were last read count: an open bucket filling in is not a restatement.

The held rows stream from the warehouse as Arrow batches, in bucket order, into a temporary Parquet file; each
re-read part reads back only the row groups of its own buckets. So memory stays flat however long the range
(a backfill over a year of held hours re-reads all of it), and the comparison is columnar: a part whose buckets
read exactly as held (nearly always) costs a sort and an equality check, and only buckets that moved are looked
at value by value, in exact decimals.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import warnings
from collections import defaultdict
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import lake
from .catalogue import ORGANIZATION, Endpoint, restatements_schema
from .plan import dataset_tables
from .timeutil import WIDTH_SECONDS, floor

Group = tuple[Any, ...]
SCALE = Decimal("1e-12")  # the log's DECIMAL(38,12)
BATCH_ROWS = 65_536  # held rows per Arrow batch read from the warehouse
GROUP_ROWS = 8_192  # held rows per row group of the file
QUERY_BUCKETS = 48  # buckets of held rows asked for by the first query of a range
QUERY_ROWS = 100_000  # held rows one query should return at most, about (tens of MB in a DB-API result)
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def _exact(value: Any) -> Decimal:
    """A held or re-read figure at the log's scale: a JSON float (a cost quantity such as 0.30000000000000004) has
    more digits than the log keeps, and two readings of the same float must compare equal."""
    return Decimal(str(value)).quantize(SCALE)


def seconds(times: pa.ChunkedArray | pa.Array) -> pa.Array | pa.ChunkedArray:
    """Timestamps (any unit, any zone) as Unix seconds."""
    ints = pc.cast(times, pa.int64())
    per = _PER_SECOND[times.type.unit]
    return ints if per == 1 else pc.divide(ints, per)


class Snapshot:
    """The rows one table held for a range: its groups' figures per bucket start (Unix seconds), kept in a temporary
    Parquet file until their bucket is re-read. A bucket held as read-and-empty is held with no groups."""

    def __init__(self, ep: Endpoint, width: str, closed_before: int, organization: str) -> None:
        self.ep, self.width, self.organization = ep, width, organization
        self.closed_before = closed_before  # the clock of the run that last read these buckets
        self.dims = [c.name for c in ep.dimensions]
        self.metrics = [c.name for c in ep.metrics if c.type != "string"]
        types = {f.name: f.type for f in ep.arrow_schema()}
        # held rows in the contract's types, whatever the warehouse gave (a column of nulls, a wider decimal)
        self.schema = pa.schema([("start", pa.int64()), *((n, types[n]) for n in [*self.dims, *self.metrics])])
        self.pending: set[int] = set()  # held buckets not yet compared
        self.ends: dict[int, int] = {}
        self._spans: list[tuple[int, int]] = []  # (first, last) bucket start of each row group written
        self._file: Any = None
        self._writer: pq.ParquetWriter | None = None
        self._reader: pq.ParquetFile | None = None

    def add(self, start: int, end: int, group: Group, values: dict[str, Any], empty: bool) -> None:
        """One held row (a group's figures by metric name)."""
        row = {"start": start, "end": end, "emptied": empty, **dict(zip(self.dims, group, strict=True)),
               **{m: values.get(m) for m in self.metrics}}
        self.hold(pa.Table.from_pylist([row]))

    def hold(self, rows: pa.Table) -> None:
        """Held rows: `start` and `end` (Unix seconds), `emptied`, then the dimensions and metrics by name. All of
        them come before the first comparison, which seals the file."""
        if self._reader is not None:
            raise RuntimeError("held rows are added before the first comparison")
        starts = pc.unique(rows.column("start")).to_pylist()
        # Still open when it was read, or closed but within the time the API takes to report a period (costs:
        # 1d12h): its figures were partial, and their arrival is not a restatement.
        closed = [s for s in starts if floor(s, self.width) + WIDTH_SECONDS[self.width] + self.ep.arrival_lag
                  <= self.closed_before]
        if not closed:
            return
        if len(closed) < len(starts):
            rows = rows.filter(pc.is_in(rows.column("start"), pa.array(closed, pa.int64())))
        self.pending.update(closed)
        ends = rows.group_by("start").aggregate([("end", "max")])
        self.ends.update(zip(ends.column("start").to_pylist(), ends.column("end_max").to_pylist(), strict=True))
        grouped = rows.filter(pc.invert(pc.fill_null(rows.column("emptied"), False)))
        if not grouped.num_rows:
            return
        grouped = grouped.select(self.schema.names).cast(self.schema)
        if self._writer is None:
            # lives as long as the snapshot; gone when closed or when the process ends, however it ends
            self._file = tempfile.TemporaryFile(prefix="openai-usage-held-")  # noqa: SIM115
            self._writer = pq.ParquetWriter(self._file, self.schema)
        for at in range(0, grouped.num_rows, GROUP_ROWS):  # small row groups: a part reads back little besides its own
            rows_group = grouped.slice(at, GROUP_ROWS)
            span = pc.min_max(rows_group.column("start"))
            self._spans.append((span["min"].as_py(), span["max"].as_py()))
            self._writer.write_table(rows_group, row_group_size=GROUP_ROWS)

    def _held(self, wanted: pa.Array) -> pa.Table | None:
        """The held rows with groups, of these buckets (sorted bucket starts)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            self._reader = pq.ParquetFile(self._file)
        if self._reader is None:
            return None
        lo, hi = wanted[0].as_py(), wanted[-1].as_py()
        groups = [i for i, (a, b) in enumerate(self._spans) if a <= hi and b >= lo]
        if not groups:
            return None
        rows = self._reader.read_row_groups(groups)
        return rows.filter(pc.is_in(rows.column("start"), wanted))

    def compare(self, table: pa.Table, detected_at: int) -> pa.Table | None:
        """Restatement rows for the buckets of `table` (a flattened part) that were held; None if nothing moved."""
        if not self.pending:
            return None
        starts = seconds(table.column("start_time"))
        wanted = self.pending.intersection(pc.unique(starts).to_pylist())
        if not wanted:
            return None
        self.pending -= wanted  # compared once, even if a bucket came twice
        read = table.select(["_bucket_emptied", *self.dims, *self.metrics]).append_column("start", starts)
        keys = pa.array(sorted(wanted), pa.int64())
        read = read.filter(pc.and_(pc.is_in(starts, keys),
                                   pc.invert(pc.fill_null(read.column("_bucket_emptied"), False))))
        read = read.select(["start", *self.dims, *self.metrics])
        held = self._held(keys)
        if held is None:
            held = read.schema.empty_table()
        if _same_rows(held, read):
            return None
        return self._changes(wanted, held, read, detected_at)

    def _changes(self, wanted: set[int], held: pa.Table, read: pa.Table, detected_at: int) -> pa.Table | None:
        """Group by group, metric by metric, in exact decimals: only for parts whose rows differ from those held."""
        old, new = self._groups(held), self._groups(read)
        out: list[dict[str, Any]] = []
        for start in sorted(wanted):
            before_groups, after_groups = old.get(start, {}), new.get(start, {})
            for group in before_groups.keys() | after_groups.keys():
                held_figures, read_figures = before_groups.get(group), after_groups.get(group)
                if held_figures == read_figures:
                    continue  # the same figures as read, so the same exact ones: no Decimal needed
                before, after = self._exact(held_figures), self._exact(read_figures)
                change = "changed" if before is not None and after is not None else (
                    "appeared" if before is None else "vanished")
                for metric in self.metrics:
                    a = None if before is None else before.get(metric)
                    b = None if after is None else after.get(metric)
                    if a != b:
                        out.append(self._row(start, group, metric, a, b, change, detected_at))
        if not out:
            return None
        return pa.Table.from_pylist(out, schema=restatements_schema())

    def _groups(self, rows: pa.Table) -> dict[int, dict[Group, tuple[Any, ...]]]:
        out: dict[int, dict[Group, tuple[Any, ...]]] = defaultdict(dict)
        n = len(self.dims)
        for start, *values in zip(*(c.to_pylist() for c in rows.columns), strict=True):
            out[start][tuple(values[:n])] = tuple(values[n:])
        return out

    def _exact(self, held: tuple[Any, ...] | None) -> dict[str, Decimal] | None:
        if held is None:
            return None
        return {m: _exact(v) for m, v in zip(self.metrics, held, strict=True) if v is not None}

    def _row(self, start: int, group: Group, metric: str, old: Decimal | None, new: Decimal | None, change: str,
             detected_at: int) -> dict[str, Any]:
        dims = orjson.dumps(dict(zip(self.dims, group, strict=True)), option=orjson.OPT_SORT_KEYS).decode()
        return {"organization": self.organization, "table_name": self.ep.table,
                "start_time": dt.datetime.fromtimestamp(start, dt.UTC),
                "end_time": dt.datetime.fromtimestamp(self.ends[start], dt.UTC), "bucket_width": self.width,
                "dimensions": dims, "metric": metric, "old_value": old, "new_value": new, "change": change,
                "detected_at": dt.datetime.fromtimestamp(detected_at, dt.UTC)}


def _same_rows(held: pa.Table, read: pa.Table) -> bool:
    """Whether both hold the same rows, in any order, value for value as stored (the columns in the same order)."""
    if held.num_rows != read.num_rows:
        return False
    if not held.num_rows:
        return True
    try:
        held = held.cast(read.schema)  # the warehouse's types (a string for a large_string, a wider decimal)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
        return False  # not comparable column by column: the exact comparison decides
    keys = [(c, "ascending") for c in read.column_names]
    a = held.take(pc.sort_indices(held, sort_keys=keys))
    b = read.take(pc.sort_indices(read, sort_keys=keys))
    return all(x.equals(y) for x, y in zip(a.columns, b.columns, strict=True))


Wanted = tuple[str, Endpoint, str, int, int, int]  # (organization, endpoint, width, lo, hi, closed_before)


def held_rows(pipeline: Any, wanted: list[Wanted]) -> dict[tuple[str, str, str], Snapshot]:
    """Snapshots of what the pipeline's destination holds, per (organization, table, width), for [lo, hi) of each
    wanted (organization, endpoint, width, lo, hi, closed_before). Tables not there yet give empty snapshots."""
    out: dict[tuple[str, str, str], Snapshot] = {}
    if not wanted:
        return out
    with lake.sql_client(pipeline) as client:
        existing = dataset_tables(client)
        for org, ep, width, lo, hi, closed_before in wanted:
            snap = out[(org, ep.table, width)] = Snapshot(ep, width, closed_before, org)
            if ep.table.lower() not in existing:
                continue
            sql = (f"select start_time, end_time, coalesce(_bucket_emptied, false) as emptied, "
                   f"{', '.join([*snap.dims, *snap.metrics])} "
                   f"from {client.make_qualified_table_name(ep.table)} where {ORGANIZATION} = %s and bucket_width = %s "
                   "and start_time >= %s and start_time < %s order by start_time")
            # A stretch of buckets at a time: a DB-API cursor (DuckDB's, psycopg2's) holds a query's whole result
            # once run. Stretches grow while they come back small, and shrink when they come back large.
            a, buckets = lo, QUERY_BUCKETS
            while a < hi:
                b = min(a + buckets * WIDTH_SECONDS[width], hi)
                a_t, b_t = dt.datetime.fromtimestamp(a, dt.UTC), dt.datetime.fromtimestamp(b, dt.UTC)
                rows = 0
                with client.execute_query(sql, org, width, a_t, b_t) as cursor, warnings.catch_warnings():
                    # DuckDB copies each batch once more for a DB-API cursor: a batch at a time, nothing to act on
                    warnings.filterwarnings("ignore", "Arrow output on a DB-API result", UserWarning)
                    for batch in _batches(cursor.iter_arrow(BATCH_ROWS)):
                        rows += batch.num_rows
                        snap.hold(batch)
                a = b
                if rows < QUERY_ROWS // 2:
                    buckets *= 2
                elif rows > QUERY_ROWS:
                    buckets = max(1, buckets // 2)
    return out


def _batches(tables: Iterable[pa.Table]) -> Iterator[pa.Table]:
    """The query's batches with their times in Unix seconds, named as `Snapshot.hold` wants them."""
    for t in tables:
        if not t.num_rows:
            continue
        names = ["start", "end", "emptied", *t.column_names[3:]]
        yield t.rename_columns(names).set_column(0, "start", seconds(t.column(0))).set_column(
            1, "end", seconds(t.column(1)))
