"""Never lose or duplicate a bucket: injected faults, SIGKILL at random points, concurrent loads.

Trial counts are small by default; RELIABILITY_TRIALS=N runs N per fault and crash scenario (the README's
reliability table comes from such a run, written to test-artifacts/reliability.json).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from openai_usage import catalogue
from openai_usage.errors import OpenAIUsageError
from openai_usage.load.warehouse import Warehouse
from openai_usage.plan import pipeline_positions
from openai_usage.simulator import Org, Sandbox
from openai_usage.simulator.faults import FaultPlan

from .conftest import ADMIN, DAY, NOW, load, midnight, query
from .helpers import truth_rows, warehouse_rows

TRIALS = int(os.environ.get("RELIABILITY_TRIALS", "3"))
ARTIFACT = Path(__file__).resolve().parent.parent / "test-artifacts" / "reliability.json"
ENDPOINTS = ["completions", "images", "vector_stores", "costs"]
START = midnight(NOW) - 12 * DAY
TALLY: dict[str, Counter] = {}


def record(kind: str, **counts: int) -> None:
    TALLY.setdefault(kind, Counter()).update(counts)
    ARTIFACT.parent.mkdir(exist_ok=True)
    ARTIFACT.write_text(json.dumps({"trials_per_case": TRIALS, "cases": TALLY}, indent=1, sort_keys=True))


def snapshot(db: Path) -> tuple[dict, dict]:
    """Every contract table's rows and every incremental position: what a failed run must leave alone."""
    rows = {name: warehouse_rows(db, name) for name in ENDPOINTS}
    return rows, pipeline_positions(Warehouse(db=db).pipeline())


def lost_and_duplicated(db: Path, org: Org) -> tuple[int, int]:
    """Rows missing against ground truth, and rows present twice (or not in the truth at all)."""
    lost = dup = 0
    for name in ENDPOINTS:
        ep = catalogue.endpoints()[name]
        want = truth_rows(org, name, START)
        got = warehouse_rows(db, name)  # raises on a duplicate key
        lost += len(set(want) - set(got)) + sum(1 for k in want if k in got and got[k] != want[k])
        dup += len(set(got) - set(want))
        raw = query(db, f"select count(*) from openai_usage.{ep.table} where not coalesce(_bucket_emptied, false)")
        dup += raw[0][0] - len(got)
    return lost, dup


FAULTS = {  # fault spec -> extra load arguments
    "429:p=0.5": {},
    "429_no_retry_after:p=0.5": {},
    "500:p=0.4,burst=2": {},
    "502:p=0.4": {},
    "503:p=0.4": {},
    "slow:p=0.4": {"timeout": 0.5},
    "drop:p=0.4": {},
    "truncate:p=0.4": {},
    "malformed:p=0.4": {},
    "bad_cursor:p=0.5": {},
    "costs_quirk": {},
}


@pytest.mark.parametrize("spec", list(FAULTS))
def test_fault_runs_end_exact_or_untouched_and_the_next_clean_run_recovers(spec, tmp_path):
    org = Org(seed=21, days=30, now=NOW)
    db = tmp_path / "w.duckdb"
    kind = spec.split(":")[0]
    with Sandbox(org, retry_after="0", slow_seconds=1.0) as clean:
        load(clean, db, start=START, endpoints=ENDPOINTS)
    for trial in range(TRIALS):
        org.clock.advance(3 * 3600)  # new hours and restated ones: every trial has something to do
        before = snapshot(db)
        plan = FaultPlan.parse([spec], seed=1000 * trial + 7)
        with Sandbox(org, faults=plan, retry_after="0", slow_seconds=1.0, page_buckets=4) as sb:
            # short pages force several per window, so cursors are followed under fire
            try:
                load(sb, db, endpoints=ENDPOINTS, max_attempts=3, concurrency=2, **FAULTS[spec])
                outcome = "completed"
            except OpenAIUsageError as e:
                assert "\n" not in str(e) and str(e), "a failure is one clear line"
                assert snapshot(db) == before, "a failed run must leave tables and positions as they were"
                outcome = "failed cleanly"
        if outcome == "completed":
            lost, dup = lost_and_duplicated(db, org)
            assert (lost, dup) == (0, 0), f"{spec} trial {trial}: {lost} lost, {dup} duplicated"
        with Sandbox(org) as sb:
            load(sb, db, endpoints=ENDPOINTS)
        lost, dup = lost_and_duplicated(db, org)
        assert (lost, dup) == (0, 0), f"after recovery from {spec} trial {trial}: {lost} lost, {dup} duplicated"
        record(kind, trials=1, **{outcome.replace(" ", "_"): 1}, recovered=1, rows_lost=lost, rows_duplicated=dup,
               faults_injected=sum(plan.counts.values()))


def test_bad_cursor_in_the_middle_of_a_window_fails_cleanly(tmp_path):
    org = Org(seed=22, days=60, now=NOW)
    db = tmp_path / "w.duckdb"
    start = midnight(NOW) - 50 * DAY
    # The first window's first page holds 10 buckets, so the rest of it is cut into windows of 10; those answer 5
    # a page, so each pages on by a cursor the server refuses.
    plan = FaultPlan.parse([f"short:size=10,window={start}", "short:size=5", "bad_cursor:only=embeddings"])
    with Sandbox(org, faults=plan) as sb, pytest.raises(OpenAIUsageError) as e:
        load(sb, db, start=start, endpoints=["embeddings"])
    assert "page token is invalid" in str(e.value)
    assert not db.exists() or not query(db, "select count(*) from information_schema.tables "
                                            "where table_name = 'usage_embeddings'")[0][0]


# ------------------------------------------------------------------------------------------------ crashes
CLI = [sys.executable, "-m", "openai_usage.cli", "load"]


def cli_load(sb: Sandbox, db: Path, *extra: str) -> subprocess.Popen:
    """The CLI in its own process group, with the simulator's current clock as its "now"."""
    url = sb.url
    env = {**os.environ, "OPENAI_ADMIN_KEY": ADMIN, "OPENAI_USAGE_NOW": str(sb.org.clock.now())}
    return subprocess.Popen([*CLI, "--db", str(db), "--base-url", url, *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def test_sigkill_at_random_points_then_a_normal_run_restores_exact_totals(tmp_path):
    org = Org(seed=23, days=40, now=NOW)
    rng = random.Random(2026)
    with Sandbox(org, latency_ms=20, jitter_ms=10) as sb:
        # how long an undisturbed run takes, so kills land anywhere in extract, normalize and load
        t0 = time.monotonic()
        p = cli_load(sb, tmp_path / "timing.duckdb", "--start", str(START), "--bucket-width", "1h",
                     "--endpoints", ",".join(ENDPOINTS), "--concurrency", "2")
        assert p.wait(timeout=300) == 0, p.stderr.read()
        duration = time.monotonic() - t0
        db = tmp_path / "w.duckdb"
        for trial in range(TRIALS + 1):
            if trial:  # the first pass crashes a first load, the rest crash incremental runs
                org.clock.advance(2 * 3600)
            p = cli_load(sb, db, "--start", str(START), "--bucket-width", "1h",
                         "--endpoints", ",".join(ENDPOINTS), "--concurrency", "2")
            time.sleep(rng.uniform(0.05, duration))
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=30)
            killed = p.returncode == -signal.SIGKILL
            recover = cli_load(sb, db, "--start", str(START), "--bucket-width", "1h",
                               "--endpoints", ",".join(ENDPOINTS), "--concurrency", "2")
            _, err = recover.communicate(timeout=300)
            assert recover.returncode == 0, err
            lost = dup = 0
            for name in ENDPOINTS:
                width = "1d" if name == "costs" else "1h"
                want = truth_rows(org, name, START, width=width)
                got = warehouse_rows(db, name, width)
                lost += len(set(want) - set(got)) + sum(1 for k in want if k in got and got[k] != want[k])
                dup += len(set(got) - set(want))
            assert (lost, dup) == (0, 0), f"crash trial {trial}: {lost} lost, {dup} duplicated"
            assert not Warehouse(db=db).pipeline().has_pending_data, "no package may be left to block later runs"
            record("sigkill", trials=1, killed_mid_run=int(killed), recovered=1, rows_lost=lost, rows_duplicated=dup)


# ------------------------------------------------------------------------------------------------ concurrency
def test_two_loads_at_once_on_one_file_one_waits_out_nothing_corrupts(tmp_path):
    org = Org(seed=24, days=40, now=NOW)
    db = tmp_path / "w.duckdb"
    with Sandbox(org, latency_ms=100, page_buckets=1) as sb:
        # one bucket per page, one request at a time: the first load takes ~5 s of requests alone
        first = cli_load(sb, db, "--start", str(START), "--endpoints", ",".join(ENDPOINTS), "--concurrency", "1")
        time.sleep(2.0)  # the first holds the warehouse's lock by now
        second = cli_load(sb, db, "--start", str(START), "--endpoints", ",".join(ENDPOINTS))
        _, err2 = second.communicate(timeout=120)
        _, err1 = first.communicate(timeout=300)
    assert first.returncode == 0, err1
    assert second.returncode == 1 and err2.strip().splitlines()[-1] == f"error: another load is running on {db}"
    assert lost_and_duplicated(db, org) == (0, 0)
    record("concurrent_load", trials=1, second_refused=1, rows_lost=0, rows_duplicated=0)
