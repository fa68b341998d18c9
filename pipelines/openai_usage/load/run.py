"""A load as the command line runs it: lock the warehouse, finish what a killed run left, run the source, summarise."""

from __future__ import annotations

import contextlib
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlt.common.configuration.exceptions import ConfigFieldMissingException
from dlt.pipeline.exceptions import PipelineStepFailed

from .. import catalogue, lake
from ..errors import ConfigError, OpenAIUsageError, root_cause
from ..extract.http import DEFAULT_BASE_URL
from ..extract.usage import Progress
from ..organizations import Organization, resolve
from ..plan import Options, dataset_tables
from ..source import openai_usage_source
from ..summary import RunSummary
from .recovery import finish_interrupted, load_lock
from .warehouse import LOCAL, Warehouse

os.environ.setdefault("NORMALIZE__DATA_WRITER__DISABLE_COMPRESSION", "true")  # gzip-9 costs far more than it saves


@dataclass
class LoadRequest:
    """One `openai-usage load`: the source's options plus where the data goes."""

    db: Path
    api_key: str | None = None  # None: dlt secrets (sources.openai_usage.api_key), then OPENAI_ADMIN_KEY
    orgs: list[str] | None = None  # configured organizations to load; None: all of them
    base_url: str = DEFAULT_BASE_URL
    endpoints: list[str] | None = None  # None: every endpoint
    bucket_width: str | list[str] = "1d"  # one width, or several ("1d,1h" or a list)
    start: int | str | None = None
    end: int | str | None = None
    reread: str | int | None = None  # None: each endpoint's default
    concurrency: int = 4
    timeout: float = 60.0
    max_attempts: int = 8
    max_backoff: float = 60.0
    group_by: dict[str, tuple[str, ...]] = field(default_factory=dict)  # per endpoint; default: every dimension
    now: int | None = None  # the API's clock (tests against a simulator with its own)
    directory: bool = True  # also refresh projects, users, API keys and service accounts (names for the IDs)
    destination: str = LOCAL  # "duckdb" (the file `db`) or a dlt destination name / named destination

    @property
    def warehouse(self) -> Warehouse:
        return Warehouse(self.destination, self.db)

    def options(self) -> Options:
        return Options.check(endpoints=self.endpoints, bucket_width=self.bucket_width, start=self.start,
                             end=self.end, reread=self.reread, group_by=dict(self.group_by),
                             concurrency=self.concurrency, base_url=self.base_url)


def validate(req: LoadRequest) -> tuple[Options, list[Organization]]:
    """Everything about the request that can be wrong, refused before the warehouse or the API is touched."""
    opts = req.options()
    req.warehouse.check()
    return opts, resolve(req.api_key, req.base_url, req.orgs)


def run_load(req: LoadRequest, progress: Progress | None = None) -> RunSummary:
    new_file = req.warehouse.local and not req.db.expanduser().exists()
    try:
        return _run_load(req, progress)
    except Exception as e:  # missing credentials surface from state sync, client set-up or a step, often wrapped
        if new_file:
            _remove_if_empty(req.db.expanduser())
        cause = root_cause(e)
        if isinstance(cause, ConfigFieldMissingException):
            wh, name = req.warehouse, req.warehouse.destination
            raise ConfigError(f"{wh.label}: missing configuration ({', '.join(cause.fields)}); set it in "
                              f".dlt/secrets.toml under [destination.{name}] or as "
                              f"DESTINATION__{name.upper()}__{cause.fields[0].upper()}") from None
        raise


def _remove_if_empty(db: Path) -> None:
    """A first run that failed leaves no file behind: dlt opens the DuckDB file (creating it) to look for state
    before it extracts anything, so without this a failed first load would leave an empty warehouse."""
    import duckdb

    try:
        con = duckdb.connect(str(db), read_only=True)
        try:
            held = con.execute("select count(*) from information_schema.tables where table_schema <> 'main'"
                               ).fetchone()[0]
        finally:
            con.close()
    except (duckdb.Error, OSError):
        return  # busy or unreadable: leave it
    if held == 0:
        for f in (db, db.with_name(db.name + ".wal")):
            f.unlink(missing_ok=True)


def _run_load(req: LoadRequest, progress: Progress | None) -> RunSummary:
    opts, _ = validate(req)
    t0 = time.monotonic()
    wh = req.warehouse
    summary = RunSummary()
    with load_lock(wh), wh.session():
        with lake.load_id_column() if wh.lake else nullcontext():  # a lake's pending package is normalized here
            pipeline = finish_interrupted(wh.pipeline(), wh)
        # The source plans from the pipeline's state, so it is synced with the warehouse's first, as dlt's `run`
        # would: a run whose local state is gone (a fresh container, a deleted working folder) takes the state of
        # the last complete load, and one whose dataset was dropped starts over. (A new DuckDB file has no state.)
        if not wh.local or req.db.exists():
            pipeline.sync_destination()
        source = openai_usage_source(
            api_key=req.api_key, orgs=req.orgs, endpoints=list(opts.endpoints),
            bucket_width=list(opts.widths), start=req.start, end=opts.end, base_url=req.base_url,
            reread=opts.reread, group_by={k: list(v) for k, v in opts.group_by.items()},
            concurrency=opts.concurrency, directory=req.directory, timeout=req.timeout,
            max_attempts=req.max_attempts, max_backoff=req.max_backoff, now=req.now, summary=summary,
            progress=progress, table_format=lake.TABLE_FORMAT if wh.lake else None)
        try:
            if wh.lake:  # a run killed between its two Delta commits left superseded rows: gone before any read
                buckets = sorted({e.table for e in catalogue.endpoints().values()})
                lake.replace_buckets(pipeline, buckets)
                with lake.load_id_column():
                    pipeline.run(source, loader_file_format="parquet")
                lake.replace_buckets(pipeline, buckets)
            else:
                # Parquet is DuckDB's fastest path; other engines get dlt's preferred format for them. The steps of
                # dlt's `run`, one by one, so what extraction decoded is given back before the merge needs memory.
                pipeline.extract(source, loader_file_format="parquet" if wh.local else None)
                release_memory()
                pipeline.normalize()
                pipeline.load(workers=wh.load_workers(merges=summary.merges))
        except PipelineStepFailed as e:
            cause = root_cause(e)
            if isinstance(cause, OpenAIUsageError):
                raise cause from None
            raise
        if wh.dialect == "postgres":
            _analyze(pipeline)
    summary.seconds = time.monotonic() - t0
    return summary


def release_memory() -> None:
    """Hand the memory extraction freed back to the system (glibc keeps freed pages in its arenas otherwise)."""
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to hand back
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _analyze(pipeline: Any) -> None:
    """PostgreSQL plans the views' joins on table statistics, which fresh rows lack until autovacuum comes by:
    without them it guesses one row per CTE and loops (cost allocation: 43 s instead of 20 s on 45 days)."""
    with pipeline.sql_client() as client:
        tables = [client.make_qualified_table_name(t) for t in sorted(dataset_tables(client))]
        if tables:
            client.execute_sql(f"analyze {', '.join(tables)}")
