"""The dlt source: one incremental, bucket-replacing resource per catalogue endpoint."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import dlt
import pyarrow as pa
from dlt.common.schema.typing import TColumnSchema

from . import catalogue
from .catalogue import TOMBSTONE, Endpoint
from .client import UsageClient, request_params
from .flatten import QUARANTINE_TABLE, Flattened, flatten
from .windows import ceil, floor, to_datetime, to_unix, windows

# Replace whole buckets: every bucket in a load deletes the rows it had before (tombstones included).
MERGE_BUCKETS = {"disposition": "merge", "strategy": "delete-insert"}
BUCKET_KEY = ["start_time", "bucket_width"]
Progress = Callable[[str, int, int], None]  # (table, buckets done now, buckets expected)


def resource_name(ep: Endpoint, width: str) -> str:
    """Each width keeps its own incremental position; all widths share the endpoint's table."""
    return ep.table if width == "1d" else f"{ep.table}_{width}"


def dlt_columns(schema: pa.Schema) -> dict[str, TColumnSchema]:
    """dlt column hints from an Arrow contract, so the warehouse gets exactly the contract's types."""
    cols: dict[str, TColumnSchema] = {}
    for f in schema:
        t = f.type
        col: dict[str, Any] = {"nullable": f.nullable}
        if pa.types.is_timestamp(t):
            col.update(data_type="timestamp", timezone=True, precision=6)
        elif pa.types.is_decimal(t):
            col.update(data_type="decimal", precision=t.precision, scale=t.scale)
        elif pa.types.is_integer(t):
            col.update(data_type="bigint")
        elif pa.types.is_floating(t):
            col.update(data_type="double")
        elif pa.types.is_boolean(t):
            col.update(data_type="bool")
        else:
            col.update(data_type="text")
        if f.name == TOMBSTONE:
            col["hard_delete"] = True
        cols[f.name] = col  # type: ignore[assignment]
    return cols


def fetch_tables(client: UsageClient, ep: Endpoint, width: str, lo: int, hi: int, *, open_end: bool,
                 group_by: tuple[str, ...], filters: dict[str, list[str]] | None = None, concurrency: int = 4,
                 progress: Progress | None = None) -> Iterator[Flattened]:
    """Fetch [lo, hi) as page-sized windows, several at once, and flatten each page as it arrives.

    With `open_end` the last window is sent without end_time, so the API itself decides where "now" is.
    """
    limit = ep.max_limit(width)
    wins = windows(lo, hi, width, limit)
    expected = (hi - lo) // catalogue.WIDTH_SECONDS[width]

    def one(win: tuple[int, int]) -> list[Flattened]:
        a, b = win
        last = open_end and b == hi
        params = request_params(ep, a, None if last else b, width, group_by, filters)
        max_pages = (b - a) // catalogue.WIDTH_SECONDS[width] + 2
        return [flatten(ep, width, page.data, a, b) for page in client.pages(ep, params, max_pages)]

    done = 0
    if progress:
        progress(ep.table, 0, expected)
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix=f"fetch-{ep.name}") as pool:
        pending: set[Future[list[Flattened]]] = set()
        queue = iter(wins)
        for win in queue:  # keep at most 2x concurrency windows in memory
            pending.add(pool.submit(one, win))
            if len(pending) >= 2 * max(1, concurrency):
                break
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                for part in fut.result():
                    done += part.buckets
                    yield part
                if progress:
                    progress(ep.table, done, max(expected, done))
                nxt = next(queue, None)
                if nxt is not None:
                    pending.add(pool.submit(one, nxt))


def make_resource(ep: Endpoint, client: UsageClient, width: str, *, initial: int, end: int | None, now: int,
                  lag: int, group_by: tuple[str, ...], concurrency: int, summary: dict[str, Any],
                  progress: Progress | None = None) -> Any:
    schema = ep.arrow_schema()
    name = resource_name(ep, width)

    @dlt.resource(name=name, table_name=ep.table, write_disposition=MERGE_BUCKETS, merge_key=BUCKET_KEY,
                  columns=dlt_columns(schema), parallelized=True)
    def bucket_rows(
        cursor: dlt.sources.incremental[Any] = dlt.sources.incremental(
            "start_time", initial_value=to_datetime(initial), end_value=to_datetime(end) if end else None,
            lag=lag, range_start="closed", on_cursor_value_missing="raise"),
    ) -> Iterator[Any]:
        lo = floor(to_unix(cursor.start_value), width)
        hi = end if end is not None else ceil(now + 1, width)
        stats = summary.setdefault(ep.table, {"rows": 0, "buckets": 0, "empty_buckets": 0, "quarantined": 0,
                                              "extra_columns": set(), "first": lo, "last": hi})
        for part in fetch_tables(client, ep, width, lo, hi, open_end=end is None, group_by=group_by,
                                 concurrency=concurrency, progress=progress):
            stats["rows"] += part.rows
            stats["buckets"] += part.buckets
            stats["empty_buckets"] += part.empty_buckets
            stats["extra_columns"].update(part.extra_columns)
            if part.table is not None:
                yield part.table
            if part.quarantine is not None:
                stats["quarantined"] += part.quarantine.num_rows
                yield dlt.mark.with_hints(part.quarantine, dlt.mark.make_hints(
                    table_name=QUARANTINE_TABLE, write_disposition="merge",
                    primary_key=["endpoint", "start_time", "bucket_width", "raw_sha256"]))

    return bucket_rows


@dlt.source(name="openai_usage", max_table_nesting=0)
def openai_usage(client: Any, endpoints: list[str], bucket_width: str = "1d", *, initial: int, now: int,
                 end: int | None = None, backfill: tuple[str, ...] = (), reread: dict[str, int] | None = None,
                 group_by: dict[str, tuple[str, ...]] | None = None, concurrency: int = 4,
                 summary: dict[str, Any] | None = None, progress: Progress | None = None) -> list[Any]:
    """Resources for the chosen endpoints. `backfill` names endpoints to read [initial, end) without moving state."""
    cat = catalogue.endpoints()
    out = []
    for name in endpoints:
        ep = cat[name]
        width = bucket_width if bucket_width in ep.widths else ep.widths[0]
        lag = (reread or {}).get(name, ep.reread_seconds)
        stop = end if (end is not None or name in backfill) else None
        if name in backfill and stop is None:
            stop = ceil(now + 1, width)
        out.append(make_resource(
            ep, client, width, initial=floor(initial, width), end=ceil(stop, width) if stop else None, now=now,
            lag=lag, group_by=(group_by or {}).get(name, ep.group_by), concurrency=concurrency,
            summary=summary if summary is not None else {}, progress=progress))
    return out
