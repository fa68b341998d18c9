"""Shared fixtures: a simulator on a real loopback port with a frozen clock, and a loader bound to it."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import duckdb
import pytest

os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")

from openai_usage.load.run import LoadRequest, run_load
from openai_usage.simulator import Org, Sandbox
from openai_usage.simulator.server import DEFAULT_ADMIN_KEY
from openai_usage.summary import RunSummary

# tests/engines/ runs other engines from their own environments (`make test-engines`), never in `make test`.
collect_ignore = [] if os.environ.get("OPENAI_USAGE_ENGINE_TESTS") else ["engines"]

DAY = 86400
# A fixed "now": Tuesday 2026-11-24 13:20:34 UTC, so every run sees the same organization.
NOW = int(dt.datetime(2026, 11, 24, 13, 20, 34, tzinfo=dt.UTC).timestamp())
ADMIN = DEFAULT_ADMIN_KEY


def midnight(t: int) -> int:
    return t - t % DAY


@pytest.fixture(autouse=True)
def no_test_hangs():
    """A test that hangs fails after 15 minutes with a traceback of where, instead of stalling CI until it is killed.
    (Tests that arm SIGALRM themselves take it over for their own span.)"""
    import signal

    def hang(*_):
        raise TimeoutError("the test hung for 15 minutes")

    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(900)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@pytest.fixture
def org() -> Org:
    return Org(seed=11, days=40, now=NOW)


@pytest.fixture
def sandbox(org: Org):
    with Sandbox(org, slow_seconds=1.5) as sb:
        yield sb


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"


def load(sb: Sandbox, db: Path, **kw: Any) -> RunSummary:
    kw.setdefault("now", sb.org.clock.now())
    kw.setdefault("max_backoff", 0.05)
    kw.setdefault("timeout", 5.0)
    return run_load(LoadRequest(db=db, api_key=kw.pop("api_key", ADMIN), base_url=sb.url, **kw))


def query(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()
