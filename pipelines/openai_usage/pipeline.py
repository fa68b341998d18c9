"""Running a load: one dlt pipeline per warehouse, guarded by a lock, summarised at the end."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
from dlt.common.configuration.exceptions import ConfigFieldMissingException
from dlt.pipeline.exceptions import PipelineStepFailed

from . import catalogue
from .client import RunStats, UsageClient, check_base_url
from .errors import ConfigError, UsageError, root_cause
from .source import EndpointPlan, Progress, openai_usage, resource_name
from .warehouse import DATASET, LOCAL, PIPELINE_NAME, Warehouse
from .windows import ceil, floor, to_datetime

log = logging.getLogger("openai_usage")
DEFAULT_START_DAYS = 30

os.environ.setdefault("NORMALIZE__DATA_WRITER__DISABLE_COMPRESSION", "true")  # gzip-9 costs far more than it saves


class LoadRunning(UsageError):
    pass


@dataclass
class LoadRequest:
    db: Path
    api_key: str
    base_url: str
    endpoints: list[str] = field(default_factory=lambda: list(catalogue.endpoints()))
    bucket_width: str = "1d"
    start: int | None = None
    end: int | None = None
    reread: int | None = None  # seconds; None = each endpoint's default
    concurrency: int = 4
    timeout: float = 60.0
    max_attempts: int = 8
    max_backoff: float = 60.0
    group_by: dict[str, tuple[str, ...]] = field(default_factory=dict)  # per endpoint; default: every dimension
    now: int | None = None  # for tests against a simulator with its own clock
    directory: bool = True  # also refresh projects, users, API keys and service accounts (names for the IDs)
    destination: str = LOCAL  # "duckdb" (the file `db`) or a dlt destination name / named destination

    @property
    def warehouse(self) -> Warehouse:
        return Warehouse(self.destination, self.db)


@dataclass
class LoadSummary:
    tables: dict[str, dict[str, Any]]
    requests: int
    pages: int
    retries: int
    quarantined: int
    seconds: float
    backfill: bool
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # how this run's ranges were chosen, where that is not obvious


def validate(req: LoadRequest) -> None:
    cat = catalogue.endpoints()
    unknown = [e for e in req.endpoints if e not in cat]
    if unknown:
        raise ConfigError(f"unknown endpoint {unknown[0]!r}; choose from: {', '.join(cat)}")
    if not req.endpoints:
        raise ConfigError("no endpoints chosen")
    if req.bucket_width not in catalogue.WIDTH_SECONDS:
        raise ConfigError(f"unknown bucket width {req.bucket_width!r}; use 1d, 1h or 1m")
    if req.start is not None and req.end is not None and req.end <= req.start:
        raise ConfigError("--end must be after --start")
    for name, dims in req.group_by.items():
        if name not in cat:
            raise ConfigError(f"--group-by: unknown endpoint {name!r}")
        bad = [d for d in dims if d not in cat[name].group_by]
        if bad:
            raise ConfigError(f"--group-by: {name} cannot be grouped by {bad[0]!r}; "
                              f"allowed: {', '.join(cat[name].group_by)}")
    if req.concurrency < 1:
        raise ConfigError("--concurrency must be at least 1")
    check_base_url(req.base_url)
    if not req.warehouse.local:
        req.warehouse.dlt_destination()  # unknown names and missing packages fail here, before any request
        _ = req.warehouse.dialect
        return
    if req.db.stem.lower() in (DATASET, "staging", "reporting", "main"):
        raise ConfigError(f"name the DuckDB file something other than {req.db.name}: DuckDB would confuse the "
                          f"file with the schema of the same name")
    folder = req.db.expanduser().resolve().parent
    if not folder.is_dir():
        raise ConfigError(f"the folder for the DuckDB file does not exist: {folder}")
    try:  # a real write, not os.access: root passes access checks on read-only file systems
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError:
        raise ConfigError(f"cannot write to the folder for the DuckDB file: {folder}") from None


def _warehouse(target: Path | Warehouse) -> Warehouse:
    return target if isinstance(target, Warehouse) else Warehouse(db=target)


def working_dir(target: Path | Warehouse) -> Path:
    """dlt's local working folder, one per warehouse, so a new --db starts fresh."""
    return _warehouse(target).working_dir()


@contextmanager
def load_lock(target: Path | Warehouse) -> Iterator[None]:
    """One load per warehouse at a time; a second one is refused, not queued behind a DuckDB lock error.

    The lock is a file beside dlt's working folder: it covers runs on this machine. Runs from several
    machines (CI runners) need the scheduler's own guard, e.g. a GitHub Actions concurrency group."""
    wh = _warehouse(target)
    lock_path = wh.working_dir().with_suffix(".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LoadRunning(f"another load is running on {wh.label}") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def make_pipeline(target: Path | Warehouse) -> dlt.Pipeline:
    wh = _warehouse(target)
    wd = wh.working_dir()
    if wh.local and not wh.db.expanduser().exists() and wd.exists():
        shutil.rmtree(wd)  # the warehouse owns the state: no file, no position
    return dlt.pipeline(pipeline_name=PIPELINE_NAME, pipelines_dir=str(wd), destination=wh.dlt_destination(),
                        dataset_name=DATASET)


def lean_memory() -> None:
    """For a process that only loads: give freed memory back instead of keeping it in allocator caches.

    Arrow's default jemalloc pool and glibc's per-thread arenas each held on to hundreds of MB during
    large backfills (measured: peak 597 MB -> 347 MB during extract with both changed, no slower).
    """
    import ctypes

    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to tune
        ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # M_ARENA_MAX = 2


def finish_interrupted(pipeline: dlt.Pipeline, target: Path | Warehouse) -> dlt.Pipeline:
    """Complete what a killed run left behind, or discard it deliberately.

    dlt saves the local incremental position when extraction ends, before loading. A run killed after
    that leaves a package whose rows the warehouse does not have yet: normalize and load it first.
    If that package cannot be finished, drop it *and* the local state, so the position comes back from
    the warehouse, which only ever stores the state of a complete load: its range is then read again.
    """
    if not pipeline.has_pending_data:
        return pipeline
    try:
        pipeline.normalize()
        pipeline.load()
        return pipeline
    except Exception as e:  # a package we cannot finish must never block later runs
        log.warning("discarding an unfinishable package from an interrupted run (%s); its range is read again",
                    type(root_cause(e)).__name__)
        pipeline.drop_pending_packages(with_partial_loads=True)
        shutil.rmtree(working_dir(target), ignore_errors=True)
        return make_pipeline(target)


def _positions(pipeline: dlt.Pipeline) -> dict[str, Any]:
    try:
        resources = pipeline.state.get("sources", {}).get(PIPELINE_NAME, {}).get("resources", {})
    except Exception:
        return {}
    return {name: r.get("incremental", {}).get("start_time", {}).get("last_value") for name, r in resources.items()}


def _missing(wh: Warehouse, e: ConfigFieldMissingException) -> ConfigError:
    name = wh.destination
    return ConfigError(f"{wh.label}: missing configuration ({', '.join(e.fields)}); set it in .dlt/secrets.toml "
                       f"under [destination.{name}] or as DESTINATION__{name.upper()}__{e.fields[0].upper()}")


def run_load(req: LoadRequest, progress: Progress | None = None) -> LoadSummary:
    try:
        return _run_load(req, progress)
    except Exception as e:  # missing credentials surface from state sync, client set-up or a step, often wrapped
        cause = root_cause(e)
        if isinstance(cause, ConfigFieldMissingException):
            raise _missing(req.warehouse, cause) from None
        raise


def plan_endpoints(req: LoadRequest, now: int, positions: dict[str, Any],
                   held: dict[tuple[str, str], tuple[int, int]]) -> tuple[list[EndpointPlan], list[str]]:
    """Where each endpoint starts and ends this run, and notes for the summary.

    - A plain run continues from the stored position; with none yet, from the newest bucket the warehouse holds
      (say after a dated first load), else from 30 days ago.
    - `--start` on an endpoint that has a position, or any `--end`, is a backfill: exact range, position untouched.
    - Whatever the dates, a run never leaves a gap between the oldest and the newest bucket the warehouse holds:
      a range that would is stretched to meet the held buckets, and the summary says so.
    """
    cat = catalogue.endpoints()
    default_start = floor(now, "1d") - DEFAULT_START_DAYS * 86400
    plans, notes = [], []
    for name in req.endpoints:
        ep = cat[name]
        width = ep.width_for(req.bucket_width)
        oldest, newest = held.get((ep.table, width), (None, None))
        start = floor(req.start, width) if req.start is not None else None
        has_position = positions.get(resource_name(ep, width)) is not None
        end = ceil(req.end, width) if req.end is not None else None
        if end is None and start is not None and has_position:
            end = ceil(now + 1, width)  # an older --start on a loaded endpoint: backfill up to now
        if start is None and has_position:
            # The position decides; `initial` only bounds how far back dlt lets the re-read window reach. At the
            # epoch it never bounds it, so a warehouse left alone for longer than the first range has no gap.
            start = 0
        elif start is None:
            start = newest if newest is not None else default_start
            if newest is not None and newest < default_start:
                notes.append(f"{ep.table} ({width}): no position yet, continuing from the newest bucket held "
                             f"({_day(newest)}) so no day is skipped")
        elif newest is not None and start > newest:
            notes.append(f"{ep.table} ({width}): start moved from {_day(start)} to {_day(newest)}, the newest bucket "
                         "held, so no day is skipped")
            start = newest
        if end is not None and oldest is not None and end < oldest:
            notes.append(f"{ep.table} ({width}): end moved from {_day(end)} to {_day(oldest)}, the oldest bucket held, "
                         "so no day is skipped")
            end = oldest
        plans.append(EndpointPlan(name, width, start, end))
    return plans, notes


def _day(t: int) -> str:
    return to_datetime(t).strftime("%Y-%m-%d %H:%M" if t % 86400 else "%Y-%m-%d")


def _run_load(req: LoadRequest, progress: Progress | None = None) -> LoadSummary:
    validate(req)
    t0 = time.monotonic()
    now = req.now if req.now is not None else int(time.time())
    wh = req.warehouse
    with load_lock(wh):
        pipeline = finish_interrupted(make_pipeline(wh), wh)
        positions: dict[str, Any] = {}
        if not wh.local or req.db.exists():
            positions = _positions(pipeline)
            # A dated run must tell a backfill from a first load; any run whose local state is gone asks the
            # warehouse, which holds the state of every complete load.
            if req.start is not None or not positions:
                pipeline.sync_destination()
                positions = _positions(pipeline)
        cat = catalogue.endpoints()
        # What the warehouse holds matters to dated runs and to endpoints with no position yet; a scheduled run
        # whose endpoints all have one skips the query.
        settled = req.start is None and all(
            positions.get(resource_name(cat[e], cat[e].width_for(req.bucket_width))) is not None for e in req.endpoints)
        held = {} if settled else wh.coverage([cat[e].table for e in req.endpoints])
        plans, notes = plan_endpoints(req, now, positions, held)
        stats = RunStats()
        summary: dict[str, Any] = {}
        client = UsageClient(req.api_key, req.base_url, timeout=req.timeout, max_attempts=req.max_attempts,
                             max_backoff=req.max_backoff, concurrency=req.concurrency, stats=stats)
        try:
            reread = {e: req.reread for e in req.endpoints} if req.reread is not None else None
            source = openai_usage(client, plans, now=now, reread=reread, group_by=req.group_by,
                                  concurrency=req.concurrency, summary=summary, progress=progress,
                                  directory=req.directory)
            try:
                # Parquet is DuckDB's fastest path; other engines get dlt's preferred format for them.
                pipeline.run(source, loader_file_format="parquet" if wh.local else None)
            except PipelineStepFailed as e:
                cause = root_cause(e)
                if isinstance(cause, UsageError):
                    raise cause from None
                raise
        finally:
            client.close()
    return LoadSummary(
        tables=summary,
        requests=stats.counts["requests"],
        pages=stats.counts["pages"],
        retries=stats.counts["retries"],
        quarantined=sum(t["quarantined"] for t in summary.values()),
        seconds=time.monotonic() - t0,
        backfill=any(p.end is not None for p in plans),
        warnings=[p for t in summary.values() for p in t.get("problems", [])],
        notes=notes,
    )
