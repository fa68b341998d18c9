"""Restatements: what the API changed in a bucket after it had closed, found by comparing a re-read with what the
destination held.

Every run re-reads a trailing window and replaces whole buckets, which corrects revised figures but would erase the
evidence. Before extracting, the source reads the rows the destination holds for the range it is about to re-read
(`held_rows`); as each re-read bucket arrives, `Snapshot.compare` lists every group and metric whose value moved.
Only buckets that had closed when they were last read count: an open bucket filling in is not a restatement.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections import defaultdict
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa

from . import lake
from .catalogue import ORGANIZATION, Endpoint, restatements_schema
from .plan import dataset_tables
from .timeutil import WIDTH_SECONDS, floor, to_unix

Group = tuple[Any, ...]
SCALE = Decimal("1e-12")  # the log's DECIMAL(38,12)


def _exact(value: Any) -> Decimal:
    """A held or re-read figure at the log's scale: a JSON float (a cost quantity such as 0.30000000000000004) has
    more digits than the log keeps, and two readings of the same float must compare equal."""
    return Decimal(str(value)).quantize(SCALE)


class Snapshot:
    """The rows one table held for a range, per bucket start (Unix seconds): {group: {metric: value}}. A bucket held
    as read-and-empty is present with no groups."""

    def __init__(self, ep: Endpoint, width: str, closed_before: int, organization: str) -> None:
        self.ep, self.width, self.organization = ep, width, organization
        self.closed_before = closed_before  # the clock of the run that last read these buckets
        self.dims = [c.name for c in ep.dimensions]
        self.metrics = [c.name for c in ep.metrics if c.type != "string"]
        # Held figures as read, in `metrics` order: made exact only when their bucket is compared, since a re-read
        # of a long range holds millions of them (a dict of Decimals per row took 1.6 GB for 1M rows).
        self.buckets: dict[int, dict[Group, tuple[Any, ...]]] = {}
        self.ends: dict[int, int] = {}

    def add(self, start: int, end: int, group: Group, values: dict[str, Any], empty: bool) -> None:
        self.hold(start, end, group, tuple(values.get(m) for m in self.metrics), empty)

    def hold(self, start: int, end: int, group: Group, figures: tuple[Any, ...], empty: bool) -> None:
        """One held row: its group's figures in `metrics` order."""
        if floor(start, self.width) + WIDTH_SECONDS[self.width] + self.ep.arrival_lag > self.closed_before:
            # Still open when it was read, or closed but within the time the API takes to report a period (costs:
            # 1d12h): its figures were partial, and their arrival is not a restatement.
            return
        held = self.buckets.setdefault(start, {})
        self.ends[start] = end
        if not empty:
            held[group] = figures

    def compare(self, table: pa.Table, detected_at: int) -> pa.Table | None:
        """Restatement rows for the buckets of `table` (a flattened part) that were held; None if nothing moved."""
        if not self.buckets:
            return None
        times = table.column("start_time")
        per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[times.type.unit]
        starts = [t // per_second for t in times.cast(pa.int64()).to_pylist()]
        wanted = [i for i, s in enumerate(starts) if s in self.buckets]
        if not wanted:
            return None
        rows = table.take(pa.array(wanted)).select(["_bucket_emptied", *self.dims, *self.metrics])
        n = len(self.dims)
        new: dict[int, dict[Group, tuple[Any, ...]]] = defaultdict(dict)
        # Column by column into tuples: a dict per row cost more than the comparison itself.
        for i, (emptied, *values) in zip(wanted, zip(*(c.to_pylist() for c in rows.columns), strict=True),
                                         strict=True):
            bucket = new[starts[i]]
            if not emptied:
                bucket[tuple(values[:n])] = tuple(values[n:])
        out: list[dict[str, Any]] = []
        for start, groups in new.items():
            old = self.buckets.pop(start)  # compared once, even if a bucket came twice
            for group in old.keys() | groups.keys():
                held, read = old.get(group), groups.get(group)
                if held == read:
                    continue  # the same figures as read, so the same exact ones: no Decimal needed
                before, after = self._exact(held), self._exact(read)
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
            cols = [*snap.dims, *snap.metrics]
            sql = (f"select start_time, end_time, coalesce(_bucket_emptied, false), {', '.join(cols)} "
                   f"from {client.make_qualified_table_name(ep.table)} where {ORGANIZATION} = %s and bucket_width = %s "
                   "and start_time >= %s and start_time < %s")
            lo_t, hi_t = dt.datetime.fromtimestamp(lo, dt.UTC), dt.datetime.fromtimestamp(hi, dt.UTC)
            n = 3 + len(snap.dims)
            seconds: dict[Any, int] = {}  # a bucket's rows share its times: each converted once
            with client.execute_query(sql, org, width, lo_t, hi_t) as cursor:
                while rows := cursor.fetchmany(10_000):  # streamed: a long range is never all in memory as rows
                    for row in rows:
                        start = seconds.get(row[0])
                        if start is None:
                            start = seconds[row[0]] = to_unix(row[0])
                        end = seconds.get(row[1])
                        if end is None:
                            end = seconds[row[1]] = to_unix(row[1])
                        # names repeat on every row (models, projects): one string each, not one per row
                        group = tuple(sys.intern(v) if isinstance(v, str) else v for v in row[3:n])
                        snap.hold(start, end, group, tuple(row[n:]), bool(row[2]))
    return out
