"""The dlt source: one incremental, bucket-replacing resource per catalogue endpoint."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import dlt
import pyarrow as pa
from dlt.common.schema.typing import TColumnSchema

from . import catalogue
from .catalogue import TOMBSTONE, DirectoryList, Endpoint
from .client import UsageClient, request_params
from .errors import UsageError
from .flatten import QUARANTINE_TABLE, Flattened, flatten, flatten_directory
from .windows import ceil, floor, to_datetime, to_unix, windows

# Replace whole buckets: every bucket in a load deletes the rows it had before (empty-bucket markers included).
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
            # Kept, not hard-deleted: the marker row of an empty bucket replaces the bucket's old rows like any
            # other, and stays, so the warehouse knows which periods were read and found empty (coverage, gaps,
            # freshness) apart from periods never read. Views skip it. Explicit False also clears the flag
            # on warehouses loaded before this was so.
            col["hard_delete"] = False
        cols[f.name] = col  # type: ignore[assignment]
    return cols


def fetch_tables(client: UsageClient, ep: Endpoint, width: str, lo: int, hi: int, *, open_end: bool,
                 group_by: tuple[str, ...], filters: dict[str, list[str]] | None = None, concurrency: int = 4,
                 progress: Progress | None = None) -> Iterator[Flattened | None]:
    """Fetch [lo, hi) as page-sized windows, several at once, and hand on typed tables as pages stream in.

    With `open_end` the last window is sent without end_time, so the API itself decides where "now" is.
    Windows run in threads; a bounded queue between them and the caller keeps memory flat however long
    the range is. While nothing is ready this yields None instead of blocking: dlt runs several resources
    on a few shared threads, and a resource that sat waiting on its queue could starve the very resource
    whose window threads hold the request slots it waits for.
    """
    limit = ep.max_limit(width)
    step = catalogue.WIDTH_SECONDS[width]
    wins = windows(lo, hi, width, limit)
    expected = (hi - lo) // step
    out: queue.Queue[Flattened | BaseException | None] = queue.Queue(maxsize=max(2, concurrency))
    stop = threading.Event()

    def put(item: Flattened | BaseException | None) -> None:
        while not stop.is_set() and not client.cancelled:
            try:
                out.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def run(win: tuple[int, int]) -> None:
        a, b = win
        params = request_params(ep, a, None if (open_end and b == hi) else b, width, group_by, filters)
        try:
            for buckets in client.pages(ep, params, max_pages=(b - a) // step + 2):
                if stop.is_set():
                    return
                put(flatten(ep, width, buckets, a, b))
        except BaseException as e:  # handed to the caller, which raises it in the resource
            put(e)
        finally:
            put(None)

    done = 0
    if progress:
        progress(ep.table, 0, expected)
    pool = ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(wins))), thread_name_prefix=f"fetch-{ep.name}")
    try:
        for win in wins:
            pool.submit(run, win)
        yield None  # hand the thread back at once, so dlt starts every endpoint's windows without delay
        finished = 0
        while finished < len(wins):
            try:
                item = out.get(timeout=0.01)
            except queue.Empty:
                yield None
                continue
            if item is None:
                finished += 1
            elif isinstance(item, BaseException):
                raise item
            else:
                done += item.buckets
                if progress:
                    progress(ep.table, done, max(expected, done))
                yield item
    except BaseException:  # failed, or closed by dlt because another resource failed: free every request slot
        client.cancel()
        raise
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


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
            if part is None:
                yield None  # nothing ready: let dlt give the thread to another resource
                continue
            stats["rows"] += part.rows
            stats["buckets"] += part.buckets
            stats["empty_buckets"] += part.empty_buckets
            stats["extra_columns"].update(part.extra_columns)
            if part.table is not None:
                yield part.table
            if part.quarantine is not None:
                stats["quarantined"] += part.quarantine.num_rows
                # A table variant: without it these hints would become the resource's own, and the next usage
                # table it yields would be checked for the quarantine's primary key (and fail).
                yield dlt.mark.with_hints(part.quarantine, dlt.mark.make_hints(
                    table_name=QUARANTINE_TABLE, write_disposition="merge",
                    primary_key=["endpoint", "start_time", "bucket_width", "raw_sha256"]), create_table_variant=True)

    return bucket_rows


def directory_resources(client: UsageClient, *, now: int, concurrency: int, summary: dict[str, Any]) -> list[Any]:
    """The organization directory: each list read whole and merged by primary key.

    Per-project lists (API keys, service accounts) are dlt transformers fed by the projects resource,
    so projects are listed once per run; their requests run `concurrency` at a time.
    """

    def hints(dl: DirectoryList) -> dict[str, Any]:
        # Parallelized, like the usage resources: a list waiting for a request slot then waits in dlt's worker
        # pool, never on dlt's main thread, which must keep draining the usage windows that hold the slots.
        return {"name": dl.table, "table_name": dl.table, "write_disposition": "merge", "parallelized": True,
                "primary_key": list(dl.primary_key), "columns": dlt_columns(dl.arrow_schema())}

    def stats(dl: DirectoryList) -> dict[str, Any]:
        return summary.setdefault(dl.table, {"rows": 0, "buckets": 0, "empty_buckets": 0, "quarantined": 0,
                                             "extra_columns": set(), "problems": []})

    def read(dl: DirectoryList, project_id: str | None = None) -> list[dict[str, Any]] | None:
        """A list, or None when it cannot be read: names are a convenience, so a directory problem is a
        warning in the summary and the table keeps its rows, while usage and costs still load."""
        path = dl.path.format(project_id=project_id) if project_id else dl.path
        try:
            return client.list_items(path, dl.params, dl.max_limit)
        except UsageError as e:
            stats(dl)["problems"].append(f"{dl.table} not refreshed{f' for {project_id}' if project_id else ''}: {e}")
            return None

    def top_level(dl: DirectoryList) -> Any:
        @dlt.resource(**hints(dl))
        def listing() -> Iterator[pa.Table]:
            items = read(dl)
            if items is not None:
                table = flatten_directory(dl, items, now)
                stats(dl)["rows"] += table.num_rows
                yield table

        return listing

    def per_project(dl: DirectoryList, projects: Any) -> Any:
        @dlt.transformer(data_from=projects, **hints(dl))
        def listing(table: pa.Table) -> Iterator[pa.Table]:
            ids = table.column("id").to_pylist()
            with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix=f"dir-{dl.name}") as pool:
                for pid, items in zip(ids, pool.map(lambda p: read(dl, p), ids), strict=True):
                    if items is not None:
                        part = flatten_directory(dl, items, now, pid)
                        stats(dl)["rows"] += part.num_rows
                        yield part

        return listing

    lists = catalogue.directory()
    tops = {name: top_level(dl) for name, dl in lists.items() if not dl.per_project}
    nested = [per_project(dl, tops["projects"]) for dl in lists.values() if dl.per_project]
    return [*tops.values(), *nested]


@dataclass(frozen=True)
class EndpointPlan:
    """What one endpoint reads in a run. `initial` is where a resource with no stored position starts; `end`
    makes the run a backfill of exactly [initial, end) that leaves the position alone."""

    name: str
    width: str
    initial: int
    end: int | None = None


def openai_usage(client: UsageClient, plans: list[EndpointPlan], *, now: int, reread: dict[str, int] | None = None,
                 group_by: dict[str, tuple[str, ...]] | None = None, concurrency: int = 4,
                 summary: dict[str, Any] | None = None, progress: Progress | None = None,
                 directory: bool = True) -> Any:
    """The dlt source: one resource per planned endpoint.

    The decorated function takes no arguments on purpose: dlt resolves every argument of a source against
    its config providers, which cost 0.4 s a run for options that never come from config here.
    """
    summary = summary if summary is not None else {}
    cat = catalogue.endpoints()
    resources = [
        make_resource(cat[p.name], client, p.width, initial=p.initial, end=p.end, now=now,
                      lag=(reread or {}).get(p.name, cat[p.name].reread_seconds),
                      group_by=(group_by or {}).get(p.name, cat[p.name].group_by), concurrency=concurrency,
                      summary=summary, progress=progress)
        for p in plans
    ]
    if directory:
        resources += directory_resources(client, now=now, concurrency=concurrency, summary=summary)

    @dlt.source(name="openai_usage", max_table_nesting=0)
    def openai_usage() -> list[Any]:
        return resources

    return openai_usage()
