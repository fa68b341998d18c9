"""Runs that overlap or die: one load per warehouse at a time, and what a killed run left behind."""

from __future__ import annotations

import fcntl
import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import LoadAlreadyRunning, root_cause
from .warehouse import Warehouse

log = logging.getLogger("openai_usage")


@contextmanager
def load_lock(wh: Warehouse) -> Iterator[None]:
    """One load per warehouse at a time; a second one is refused, not queued behind a DuckDB lock error.

    The lock is a file beside dlt's working folder: it covers runs on this machine. Runs from several
    machines (CI runners) need the scheduler's own guard, e.g. a GitHub Actions concurrency group."""
    lock_path = wh.working_dir().with_suffix(".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LoadAlreadyRunning(f"another load is running on {wh.label}") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def finish_interrupted(pipeline: Any, wh: Warehouse) -> Any:
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
        pipeline.load(workers=wh.load_workers(merges=True))
        return pipeline
    except Exception as e:  # a package we cannot finish must never block later runs
        log.warning("discarding an unfinishable package from an interrupted run (%s); its range is read again",
                    type(root_cause(e)).__name__)
        pipeline.drop_pending_packages(with_partial_loads=True)
        shutil.rmtree(wh.working_dir(), ignore_errors=True)
        return wh.pipeline()
