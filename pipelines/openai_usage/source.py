"""The dlt source: one incremental, bucket-replacing resource per Usage/Costs endpoint, and the organization directory.

Use it in any dlt pipeline:

    import dlt
    from openai_usage import openai_usage_source

    pipeline = dlt.pipeline("openai_usage", destination="duckdb", dataset_name="openai_usage")
    pipeline.run(openai_usage_source(start="2026-01-01"))

The admin key comes from dlt's secrets (`sources.openai_usage.api_key`, i.e. SOURCES__OPENAI_USAGE__API_KEY),
else from OPENAI_ADMIN_KEY, the OpenAI SDK's convention: that is the organization named `default`. More
organizations are configured as [sources.openai_usage.organizations.NAME] with an `api_key` and an optional
`base_url` (see `organizations.py`); every configured one is loaded into the same tables, told apart by their
`organization` column. Every other argument may also come from config.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

import dlt
import pyarrow as pa
from dlt.common.configuration.container import Container
from dlt.common.pipeline import PipelineContext
from dlt.common.typing import TSecretStrValue
from dlt.extract.resource import DltResource

from . import catalogue, lake
from .catalogue import (
    DEFAULT_ORGANIZATION,
    ORGANIZATION,
    QUARANTINE_KEY,
    QUARANTINE_TABLE,
    RESTATEMENTS_KEY,
    RESTATEMENTS_TABLE,
    DirectoryList,
    Endpoint,
    dlt_hints,
    restatements_schema,
)
from .errors import OpenAIUsageError, RunCancelled
from .extract.flatten import Flattened, flatten_directory
from .extract.http import DEFAULT_BASE_URL, UsageClient
from .extract.usage import Grouping, Progress, fetch_tables
from .organizations import Organization, resolve
from .plan import (
    EndpointPlan,
    Options,
    held_buckets,
    plan_endpoints,
    positions,
    resource_name,
    resume_points,
    settled,
)
from .restatements import Snapshot, Wanted, held_rows
from .summary import RunSummary, TableRun
from .timeutil import ceil, floor, to_datetime, to_unix
from .timeutil import now as clock_now
from .upgrade import add_organization

# Replace whole buckets: every bucket in a load deletes the rows it had before (empty-bucket markers included),
# of its own organization only.
MERGE_BUCKETS = {"disposition": "merge", "strategy": "delete-insert"}
BUCKET_KEY = [ORGANIZATION, "start_time", "bucket_width"]
# Usage rows handed to dlt at once. dlt computes and validates the table's schema for every Arrow item it gets (a few
# ms each), so the ~5k-row parts a page decodes into are joined first; a batch stays a few MB per resource.
BATCH_ROWS = 20_000


@dlt.source(name="openai_usage", max_table_nesting=0)
def openai_usage_source(
    api_key: TSecretStrValue | None = None,
    orgs: list[str] | None = None,
    endpoints: list[str] | None = None,
    bucket_width: str | list[str] = "1d",
    start: str | int | dt.date | dt.datetime | None = None,
    end: str | int | dt.date | dt.datetime | None = None,
    base_url: str = DEFAULT_BASE_URL,
    reread: str | int | None = None,
    group_by: dict[str, list[str]] | None = None,
    concurrency: int = 4,
    directory: bool = True,
    timeout: float = 60.0,
    max_attempts: int = 8,
    max_backoff: float = 60.0,
    now: int | None = None,
    summary: RunSummary | None = None,
    progress: Progress | None = None,
    table_format: str | None = None,
) -> list[DltResource]:
    """OpenAI organization usage and costs, bucket by bucket, and the directory that names their IDs.

    Args:
        api_key: the default organization's admin key (sk-admin-...); default: dlt secrets, then OPENAI_ADMIN_KEY.
        orgs: the names of the configured organizations to load (default: all; see `organizations.py`). Not
            `organizations`: dlt would fill an argument of that name with the config section of the same name.
        endpoints: catalogue names (completions, embeddings, ..., costs); default: all.
        bucket_width: 1d, 1h or 1m, or several ("1d,1h" or a list): each width of each endpoint is a resource with
            its own incremental position. Endpoints that offer only 1d (costs) load daily, once.
        start: first bucket (a date, datetime, ISO string or Unix seconds), or per width in one string,
            "1d=2025-01-01,1h=2026-10-01". Default: continue from the stored
            position, or, on a first load, from the newest bucket the destination holds, else 30 days ago.
            On an endpoint that has a position, an older start is a backfill up to now.
        end: with it the run is a backfill of exactly [start, end): stored positions are left alone.
        base_url: the API's base URL (a simulator's, in tests), for organizations that do not configure their own.
        reread: how far before the stored position every run reads again, e.g. 36h (default: 1d usage, 3d costs).
        group_by: per endpoint, fewer dimensions than all it allows, e.g. {"completions": ["project_id"]}.
        concurrency: most requests in flight for each organization (its usage, costs and directory share it: the
            API's rate limits are the organization's).
        directory: also refresh projects, users, API keys and service accounts.
        timeout, max_attempts, max_backoff: per request: seconds to wait, tries, longest pause between tries.
        now: pin the clock the API's data is judged by (Unix seconds; default: OPENAI_USAGE_NOW or the wall clock).
        summary: filled with what the run read, per table (for callers that report on the run).
        progress: called with (table, buckets done, buckets expected) as pages stream in.
        table_format: "delta" for dlt's filesystem destination: usage rows are appended, and
            `lake.replace_buckets` must follow each load to replace whole buckets (`openai-usage load` does).

    A second run in the same pipeline continues from each resource's stored position; whole buckets are replaced,
    so figures the API restates are corrected. With several organizations, one that fails (a wrong key, an outage)
    does not stop the others: its failure is in `summary.failed`, and the whole buckets it read are kept.
    """
    opts = Options.check(endpoints=endpoints, bucket_width=bucket_width, start=start, end=end, reread=reread,
                         group_by=group_by, concurrency=concurrency, base_url=base_url)
    organizations = resolve(api_key, base_url, orgs)
    run = summary if summary is not None else RunSummary()
    run.organizations = [o.name for o in organizations]
    clock = now if now is not None else clock_now()
    pipeline_ctx = Container()[PipelineContext]
    if pipeline_ctx.is_active() and not lake.is_lake(pipeline_ctx.pipeline()):  # a lake is newer than organizations
        add_organization(pipeline_ctx.pipeline())  # a warehouse loaded before organizations, before it is asked
    state = dlt.current.source_state() if pipeline_ctx.is_active() else {}
    stored, resumes = positions(state), resume_points(state)
    cat = catalogue.endpoints()
    held: dict[tuple[str, str, str], tuple[int, int]] | None = None  # None: not asked (positions decide)
    if pipeline_ctx.is_active() and not all(settled(opts, stored, o.name, resumes) for o in organizations):
        held = held_buckets(pipeline_ctx.pipeline(), sorted({cat[e].table for e in opts.endpoints}))
    isolate = len(organizations) > 1
    planned: list[tuple[Organization, list[EndpointPlan]]] = []
    for org in organizations:
        plans, notes = plan_endpoints(opts, clock, stored, held or {}, org.name, resumes)
        run.notes += notes
        run.backfill = run.backfill or any(p.end is not None and not p.resumed for p in plans)
        planned.append((org, plans))
    wanted = [w for _, plans in planned for w in _rereads(plans, opts, state, clock)]
    snapshots = held_rows(pipeline_ctx.pipeline(), wanted) if state else {}
    fresh = _fresh_tables(planned, held, clock) if held is not None and not table_format else set()
    run.merges = run.merges or any(cat[p.name].table not in fresh for _, plans in planned for p in plans)
    resources = []
    for org, plans in planned:
        client = UsageClient(org.api_key, org.base_url, timeout=timeout, max_attempts=max_attempts,
                             max_backoff=max_backoff, concurrency=opts.concurrency, stats=run.stats)
        resources += [usage_resource(cat[p.name], p, client, opts, now=clock, summary=run, progress=progress,
                                     append=cat[p.name].table in fresh,
                                     snapshot=snapshots.get((org.name, cat[p.name].table, p.width)),
                                     isolate=isolate, table_format=table_format) for p in plans]
        if directory:
            resources += directory_resources(client, now=clock, concurrency=opts.concurrency, summary=run,
                                             organization=org.name, table_format=table_format)
    return resources


def _fresh_tables(planned: list[tuple[Organization, list[EndpointPlan]]],
                  held: dict[tuple[str, str, str], tuple[int, int]], now: int) -> set[str]:
    """Tables that hold no bucket in any range this run reads into them (a first load, a new organization's, an
    older backfill): delete-insert would delete nothing there, so their rows are appended, one copy instead of two."""
    cat = catalogue.endpoints()
    tables = {cat[p.name].table for _, plans in planned for p in plans}
    for _, plans in planned:
        for p in plans:
            oldest, newest = held.get((p.organization, cat[p.name].table, p.width), (None, None))
            hi = p.end if p.end is not None else ceil(now + 1, p.width)
            if oldest is not None and newest >= floor(p.initial, p.width) and oldest < hi:
                tables.discard(cat[p.name].table)
    return tables


def _rereads(plans: list[EndpointPlan], opts: Options, state: dict[str, Any], now: int) -> list[Wanted]:
    """What each resource is about to read again, (organization, endpoint, width, from, to, clock of the run that
    last read it): the ranges whose held rows a restatement is measured against. A resource never read by a plain
    run has none."""
    cat = catalogue.endpoints()
    out: list[Wanted] = []
    for p in plans:
        ep = cat[p.name]
        name = resource_name(ep, p.width, p.organization)
        read_at = ((state.get("resources") or {}).get(name) or {}).get("read_at")
        position = positions(state).get(name)
        if read_at is None or position is None:
            continue
        lo = p.initial if p.end is not None else floor(to_unix(position) - opts.reread_for(ep), p.width)
        out.append((p.organization, ep, p.width, lo, p.end if p.end is not None else ceil(now + 1, p.width),
                    int(read_at)))
    return out


def usage_resource(ep: Endpoint, plan: EndpointPlan, client: UsageClient, opts: Options, *, now: int,
                   summary: RunSummary, progress: Progress | None = None, snapshot: Snapshot | None = None,
                   isolate: bool = False, table_format: str | None = None, append: bool = False) -> DltResource:
    """One endpoint at one width of one organization: dlt's incremental on `start_time`, merged by replacing whole
    buckets. With `isolate` (several organizations in the run) a failure ends this organization's part of the run,
    not the run: it is recorded in the summary, and the next run reads again from where this one began."""
    width, end, org = plan.width, plan.end, plan.organization
    grouping = Grouping(ep, opts.group_by.get(ep.name, ep.group_by))
    # A table read at several widths in one run has a line (and a progress bar) per width.
    shown = f"{ep.table} ({width})" if len(opts.widths_for(ep)) > 1 else ep.table
    label = shown if org == DEFAULT_ORGANIZATION else f"{shown} [{org}]"

    # A Delta table has no delete-insert: rows are appended, and `lake.replace_buckets` keeps each bucket's newest.
    replace = {"write_disposition": lake.APPEND, "table_format": table_format} if table_format else {
        "write_disposition": "append" if append else MERGE_BUCKETS, "merge_key": BUCKET_KEY}

    @dlt.resource(name=resource_name(ep, width, org), table_name=ep.table, columns=dlt_hints(ep.arrow_schema()),
                  parallelized=True, **replace)
    def bucket_rows(
        cursor: dlt.sources.incremental[Any] = dlt.sources.incremental(
            "start_time", initial_value=to_datetime(plan.initial), end_value=to_datetime(end) if end else None,
            lag=opts.reread_for(ep), range_start="closed",
            on_cursor_value_missing="raise"),
    ) -> Iterator[Any]:
        lo = floor(to_unix(cursor.start_value), width)
        hi = end if end is not None else ceil(now + 1, width)
        stats = summary.table(ep.table, organization=org, shown=shown)
        parts = fetch_tables(client, ep, width, lo, hi, open_end=end is None, grouping=grouping,
                             concurrency=opts.concurrency, progress=progress, organization=org, label=label)
        state = dlt.current.resource_state()
        try:
            yield from _handed_on(parts, ep, stats, snapshot, now, table_format)
        except OpenAIUsageError as e:
            if not isolate:
                if isinstance(e, RunCancelled):
                    return  # stopped because another resource failed: that resource raises the run's error
                raise
            summary.fail(org, e)
            client.cancel()  # the organization's other resources stop too; other organizations go on
            if stats.buckets and end is None:
                # Windows finish out of order, so the position may have moved past buckets that never came: what
                # arrived is kept, and the next run reads again from here. (A backfill never moves the position.)
                state["resume_from"] = min(lo, int(state.get("resume_from", lo)))
            return
        finally:
            stats.grouped_by = grouping.dims
            stats.refused_group_by.update(grouping.refused)
        if plan.resumed:
            state.pop("resume_from", None)
        if end is None:  # the clock of the last plain run: what it read as closed, a later change restates
            state["read_at"] = now

    return bucket_rows


def _handed_on(parts: Iterator[Flattened | None], ep: Endpoint, stats: TableRun, snapshot: Snapshot | None,
               now: int, table_format: str | None = None) -> Iterator[Any]:
    """The tables one resource yields for its parts: usage rows (joined into batches of about `BATCH_ROWS`),
    restatement rows and quarantined results. A part that fails hands on the rows that arrived before it."""
    by_key = _by_key(table_format)
    pending: list[pa.Table] = []
    held = 0
    try:
        for part in parts:
            if part is None:
                yield None  # nothing ready: let dlt give the thread to another resource
                continue
            stats.rows += part.rows
            stats.buckets += part.buckets
            stats.empty_buckets += part.empty_buckets
            stats.extra_columns.update(part.extra_columns)
            if part.table is not None:
                pending.append(part.table)
                held += part.table.num_rows
                if held >= BATCH_ROWS:
                    yield from _joined(pending)
                    pending, held = [], 0
                restated = snapshot.compare(part.table, now) if snapshot is not None else None
                if restated is not None:
                    stats.add_restatements(restated)
                    yield dlt.mark.with_hints(restated, dlt.mark.make_hints(
                        table_name=RESTATEMENTS_TABLE, primary_key=RESTATEMENTS_KEY,
                        columns=dlt_hints(restatements_schema()), **by_key), create_table_variant=True)
            if part.quarantine is not None:
                stats.quarantined += part.quarantine.num_rows
                # A table variant: without it these hints would become the resource's own, and the next usage
                # table it yields would be checked for the quarantine's primary key (and fail).
                yield dlt.mark.with_hints(part.quarantine, dlt.mark.make_hints(
                    table_name=QUARANTINE_TABLE, primary_key=QUARANTINE_KEY, **by_key), create_table_variant=True)
    except OpenAIUsageError:
        yield from _joined(pending)  # whole buckets that arrived before the failure are kept
        raise
    yield from _joined(pending)


def _joined(tables: list[pa.Table]) -> Iterator[pa.Table]:
    """Several parts as one Arrow table (their chunks, not copied); parts whose unknown extra columns disagree in
    type are handed on one by one, as they came, for dlt to evolve the table."""
    if len(tables) <= 1:
        yield from tables
        return
    try:
        joined = pa.concat_tables(tables, promote_options="default")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        yield from tables
        return
    yield joined


def _by_key(table_format: str | None) -> dict[str, Any]:
    """Hints of a table merged by primary key: dlt's default strategy, or upsert, the one Delta tables offer."""
    return {"write_disposition": lake.UPSERT, "table_format": table_format} if table_format else {
        "write_disposition": "merge"}


def directory_resources(client: UsageClient, *, now: int, concurrency: int, summary: RunSummary,
                        organization: str = DEFAULT_ORGANIZATION, table_format: str | None = None
                        ) -> list[DltResource]:
    """One organization's directory: each list read whole and merged by primary key (the organization's first).

    Per-project lists (API keys, service accounts) are dlt transformers fed by the projects resource, so projects
    are listed once per run. A list that cannot be read is a warning in the summary and its table keeps its rows:
    names are a convenience, and usage and costs still load.
    """
    from .extract.directory import list_items, rest_client  # requests, under dlt's REST client: only when listing

    rest = rest_client(client)

    def hints(dl: DirectoryList) -> dict[str, Any]:
        name = dl.name if organization == DEFAULT_ORGANIZATION else f"{dl.name}__{organization}"
        return {"name": name, "table_name": dl.table, "parallelized": True, "primary_key": list(dl.primary_key),
                "columns": dlt_hints(dl.arrow_schema()), **_by_key(table_format)}

    def read(dl: DirectoryList, project_id: str | None = None) -> list[dict[str, Any]] | None:
        try:
            return [item for page in list_items(rest, dl, project_id) for item in page]
        except RunCancelled:
            return None  # the organization failed elsewhere: that failure is the one to report
        except OpenAIUsageError as e:
            where = f" for {project_id}" if project_id else ""
            summary.table(dl.table, listed=True, organization=organization).problems.append(
                f"{dl.table} not refreshed{where}: {e}")
            return None

    def listed(dl: DirectoryList, ids: list[str | None]) -> Iterator[pa.Table | None]:
        """Read the list (once per project ID, or once) in threads of its own, and yield None while they wait: a
        request waits for a slot of the run's limit, which usage windows may hold until dlt drains them, so a
        listing that blocked one of dlt's few workers could starve the very resources it waits on (as usage does,
        in `fetch_tables`)."""
        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(ids))),
                                thread_name_prefix=f"dir-{dl.name}-{organization}") as pool:
            pending = [pool.submit(read, dl, pid) for pid in ids]
            tables = []
            for pid, fut in zip(ids, pending, strict=True):
                while not wait([fut], timeout=0.01).done:
                    yield None
                items = fut.result()
                if items is not None:
                    tables.append(flatten_directory(dl, items, now, pid, organization))
                    summary.table(dl.table, listed=True, organization=organization).rows += tables[-1].num_rows
            if tables:  # one item for every project's list: dlt checks the table's schema once per item
                yield pa.concat_tables(tables)

    def top_level(dl: DirectoryList) -> DltResource:
        @dlt.resource(**hints(dl))
        def listing() -> Iterator[pa.Table | None]:
            yield from listed(dl, [None])

        return listing

    def per_project(dl: DirectoryList, projects: DltResource) -> DltResource:
        @dlt.transformer(data_from=projects, **hints(dl))
        def listing(table: pa.Table) -> Iterator[pa.Table | None]:
            yield from listed(dl, table.column("id").to_pylist())

        return listing

    lists = catalogue.directory_lists()
    tops = {name: top_level(dl) for name, dl in lists.items() if not dl.per_project}
    nested = [per_project(dl, tops["projects"]) for dl in lists.values() if dl.per_project]
    return [*tops.values(), *nested]
