"""Running a load: one dlt pipeline per warehouse, guarded by a lock, summarised at the end."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
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
from dlt.common.pipeline import LoadInfo
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from dlt.pipeline.exceptions import PipelineStepFailed

from . import catalogue
from .client import RunStats, UsageClient
from .errors import ConfigError, UsageError, root_cause
from .source import Progress, openai_usage, resource_name
from .windows import floor

log = logging.getLogger("openai_usage")
PIPELINE_NAME = "openai_usage"
DATASET = "openai_usage"
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


@dataclass
class LoadSummary:
    tables: dict[str, dict[str, Any]]
    requests: int
    pages: int
    retries: int
    quarantined: int
    seconds: float
    backfill: bool
    load_info: LoadInfo | None = None


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


def working_dir(db: Path) -> Path:
    """dlt's local working folder, one per warehouse file, so a new --db starts fresh."""
    db = db.expanduser().resolve()
    digest = hashlib.sha256(str(db).encode()).hexdigest()[:12]
    return db.parent / ".openai_usage" / f"{db.stem}-{digest}"


@contextmanager
def load_lock(db: Path) -> Iterator[None]:
    """One load per warehouse at a time; a second one is refused, not queued behind a DuckDB lock error."""
    lock_path = working_dir(db).with_suffix(".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LoadRunning(f"another load is running on {db}") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def make_pipeline(db: Path) -> dlt.Pipeline:
    db = db.expanduser().resolve()
    wd = working_dir(db)
    if not db.exists() and wd.exists():
        shutil.rmtree(wd)  # the warehouse owns the state: no file, no position
    credentials = DuckDbCredentials(str(db))
    # A scheduled job should stay small: DuckDB spills to disk past this instead of growing.
    credentials.global_config = {"memory_limit": os.environ.get("OPENAI_USAGE_DUCKDB_MEMORY", "256MB")}
    return dlt.pipeline(pipeline_name=PIPELINE_NAME, pipelines_dir=str(wd),
                        destination=dlt.destinations.duckdb(credentials), dataset_name=DATASET)


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


def finish_interrupted(pipeline: dlt.Pipeline, db: Path) -> dlt.Pipeline:
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
        shutil.rmtree(working_dir(db), ignore_errors=True)
        return make_pipeline(db)


def _positions(pipeline: dlt.Pipeline) -> dict[str, Any]:
    try:
        resources = pipeline.state.get("sources", {}).get(PIPELINE_NAME, {}).get("resources", {})
    except Exception:
        return {}
    return {name: r.get("incremental", {}).get("start_time", {}).get("last_value") for name, r in resources.items()}


def run_load(req: LoadRequest, progress: Progress | None = None) -> LoadSummary:
    validate(req)
    t0 = time.monotonic()
    now = req.now if req.now is not None else int(time.time())
    with load_lock(req.db):
        pipeline = finish_interrupted(make_pipeline(req.db), req.db)
        # Positions are only needed to tell a backfill from a first load; dlt's run() syncs state itself.
        if req.start is not None and req.end is None and req.db.exists():
            pipeline.sync_destination()
        positions = _positions(pipeline) if req.start is not None else {}
        cat = catalogue.endpoints()
        default_start = floor(now, "1d") - DEFAULT_START_DAYS * 86400
        initial = req.start if req.start is not None else default_start
        # --end, or --start on endpoints that already have a position, is a backfill: exact range, state untouched.
        backfill = tuple(
            e for e in req.endpoints
            if req.end is not None or (req.start is not None and positions.get(
                resource_name(cat[e], req.bucket_width if req.bucket_width in cat[e].widths else cat[e].widths[0]))
                is not None)
        )
        stats = RunStats()
        summary: dict[str, Any] = {}
        client = UsageClient(req.api_key, req.base_url, timeout=req.timeout, max_attempts=req.max_attempts,
                             max_backoff=req.max_backoff, concurrency=req.concurrency, stats=stats)
        try:
            reread = {e: req.reread for e in req.endpoints} if req.reread is not None else None
            source = openai_usage(client, req.endpoints, req.bucket_width, initial=initial, now=now, end=req.end,
                                  backfill=backfill, reread=reread, group_by=req.group_by,
                                  concurrency=req.concurrency, summary=summary,
                                  progress=progress)
            try:
                info = pipeline.run(source, loader_file_format="parquet")
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
        backfill=bool(backfill),
        load_info=info,
    )
