"""A model-based test: random sequences of loads, clock moves, history changes, faults and kills, each step
checked against a reference model of what the warehouse must hold.

The model is the README's contract written down independently of the pipeline: which buckets a run reads
(a plain run from its position minus the re-read window, or, with none, from the newest bucket held, else 30
days back; a dated run exactly its range, stretched to meet what is held; a backfill leaves positions alone),
and that every bucket read holds exactly what the API said at that moment. The expected rows come from the
simulator's generator (`simulator.truth`), never from HTTP or the pipeline.

After every step:
- every table holds exactly the model's buckets and rows (no bucket missing, none extra, no row duplicated);
- no bucket between the oldest and the newest a table holds is missing;
- incremental positions never move backwards;
- the reporting views agree with the model.

Steps and their arguments are drawn from a seeded generator, so a failure names the seed and the steps that led
to it, and `MODEL_SEED=<seed> MODEL_SEQUENCES=1` replays it. `make test` runs a few sequences with fixed seeds;
`make soak` runs many long ones (MODEL_SEQUENCES, MODEL_STEPS) and appends its figures to test-artifacts/model.jsonl.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from openai_usage import catalogue
from openai_usage.errors import OpenAIUsageError
from openai_usage.load.warehouse import Warehouse as Destination
from openai_usage.plan import pipeline_positions
from openai_usage.simulator import Org, Sandbox, truth
from openai_usage.simulator.faults import FaultPlan
from openai_usage.timeutil import WIDTH_SECONDS
from openai_usage.transform.views import apply_views

from .conftest import ADMIN, DAY, NOW, load, midnight, query

SEQUENCES = int(os.environ.get("MODEL_SEQUENCES", "3"))
STEPS = int(os.environ.get("MODEL_STEPS", "8"))
ARTIFACT = Path(__file__).resolve().parent.parent / "test-artifacts" / "model.jsonl"

ENDPOINTS = ["completions", "images", "costs"]
CAT = catalogue.endpoints()
DEFAULT_DAYS = 30  # what a plain first load reads, by the README
GROUPINGS = {"completions": [None, ("project_id",), ("project_id", "model"), ()],
             "images": [None, ("model", "size"), ("project_id",)], "costs": [None, ("project_id",)]}
FAULTS = [None, None, None, ["429:p=0.3"], ["500:p=0.3,burst=2"], ["drop:p=0.2", "truncate:p=0.2"],
          ["malformed:p=0.3"], ["bad_cursor:p=0.3"], ["costs_quirk"], ["short:size=5"],
          ["unknown_object:page=2", "short:size=3"], ["extra_fields:page=2", "legacy_result:page=3", "short:size=2"]]


def width_of(name: str, width: str) -> str:
    return width if width in CAT[name].widths else CAT[name].widths[0]


def floor(t: int, w: int) -> int:
    return t - t % w


class Warehouse:
    """The system under test (a DuckDB file loaded from a simulator) beside its model."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="model-"))
        self.db = self.dir / "w.duckdb"
        self.org = Org(seed=31, days=70, now=NOW, scale=0.3)
        self.sb = Sandbox(self.org, retry_after="0", slow_seconds=1.0).start()
        # (endpoint, width) -> bucket start -> (bucket end, {dimension values: metrics})
        self.model: dict[tuple[str, str], dict[int, tuple[int, dict[tuple, dict[str, Any]]]]] = defaultdict(dict)
        self.positions: dict[tuple[str, str], int] = {}
        self.dlt_positions: dict[str, Any] = {}
        self.minute_clock: int | None = None  # when minute buckets were last read
        self.steps = 0
        self.tally: Counter = Counter()  # what the steps did: loads, failures, kills, ...

    def teardown(self) -> None:
        self.sb.stop()

    # ---------------------------------------------------------------- the contract, written independently
    def _read(self, name: str, width: str, lo: int, hi: int | None, group_by: tuple[str, ...] | None) -> int:
        """What the API says now for [lo, hi) (open-ended: up to now), as the model's rows for those buckets."""
        ep = CAT[name]
        now = self.org.clock.now()
        buckets = truth.buckets(self.org, name, lo, hi, width, group_by, now=now)
        for b in buckets:
            rows: dict[tuple, dict[str, Any]] = {}
            for r in b["results"]:
                key = tuple(r[d.name] for d in ep.dimensions)
                vals = {}
                for c in ep.metrics:
                    v: Any = r
                    for k in c.path:
                        v = v.get(k) if isinstance(v, dict) else None
                    if v is not None:
                        vals[c.name] = v
                assert key not in rows
                rows[key] = vals
            self.model[(name, width)][b["start_time"]] = (b["end_time"], rows)
        return buckets[-1]["start_time"] if buckets else lo

    def _expect_plain(self, name: str, width: str, group_by: tuple[str, ...] | None) -> None:
        w = WIDTH_SECONDS[width]
        now = self.org.clock.now()
        held = self.model[(name, width)]
        if (name, width) in self.positions:
            lo = floor(self.positions[(name, width)] - CAT[name].reread, w)
        elif held:
            lo = max(held)
        else:
            lo = floor(midnight(now) - DEFAULT_DAYS * DAY, w)
        last = self._read(name, width, lo, None, group_by)
        self.positions[(name, width)] = max(self.positions.get((name, width), last), last)

    def _expect_dated(self, name: str, width: str, start: int, end: int | None,
                      group_by: tuple[str, ...] | None) -> None:
        w = WIDTH_SECONDS[width]
        now = self.org.clock.now()
        held = self.model[(name, width)]
        lo = floor(start, w)
        hi = -(-end // w) * w if end is not None else None
        if hi is None and (name, width) in self.positions:
            hi = floor(now, w) + w  # a dated start on a loaded endpoint: a backfill up to now
        if held and lo > max(held):
            lo = max(held)
        if hi is not None and held and hi < min(held):
            hi = min(held)
        last = self._read(name, width, lo, hi, group_by)
        if hi is None:
            self.positions[(name, width)] = max(self.positions.get((name, width), last), last)

    # ---------------------------------------------------------------- running the real thing
    def _load(self, expect: Any, faults: list[str] | None, **kw: Any) -> None:
        self.sb.faults = FaultPlan.parse(faults or [], seed=self.steps)  # replayable per sequence
        try:
            load(self.sb, self.db, directory=False, max_attempts=3, concurrency=3, **kw)
        except OpenAIUsageError as e:
            assert faults, f"a clean run failed: {e}"
            assert "\n" not in str(e)
            self.tally["failed_cleanly"] += 1
            return
        finally:
            self.sb.faults = FaultPlan()
        self.tally["completed"] += 1
        expect()
        apply_views(self.db)

    @staticmethod
    def _group_by(names: list[str], choice: int) -> tuple[dict[str, tuple[str, ...]], dict[str, Any]]:
        picked = {n: GROUPINGS[n][choice % len(GROUPINGS[n])] for n in names}
        return {n: g for n, g in picked.items() if g is not None}, picked

    def _endpoints(self, mask: int) -> list[str]:
        return [n for i, n in enumerate(ENDPOINTS) if mask >> i & 1] or ENDPOINTS

    def _minutes_ok(self, width: str) -> bool:
        """Minute buckets are read only in short sessions: a day of them costs ~1,400 buckets per endpoint."""
        return width != "1m" or self.minute_clock is None or self.org.clock.now() - self.minute_clock < 6 * 3600

    # ---------------------------------------------------------------- steps
    def plain_load(self, width: str, mask: int, grouping: int, faults: list[str] | None) -> None:
        names = self._endpoints(mask) if width != "1m" else ["images"]
        if not self._minutes_ok(width):
            width = "1h"
        if width == "1m" and ("images", "1m") not in self.positions and not self.model[("images", "1m")]:
            return self.dated_load(width, 7, grouping, 2, None, faults)  # a minute first load starts recently
        group_by, picked = self._group_by(names, grouping)

        def expect() -> None:
            for n in names:
                self._expect_plain(n, width_of(n, width), picked[n])
            if width == "1m":
                self.minute_clock = self.org.clock.now()

        self.tally["plain_loads"] += 1
        self._load(expect, faults, endpoints=names, bucket_width=width, group_by=group_by)

    def dated_load(self, width: str, mask: int, grouping: int, back: int, length: int | None,
                   faults: list[str] | None) -> None:
        """`--start` (a first load, or a backfill to now where a position exists), or `--start --end` (a backfill).
        Days back for daily and hourly buckets; for minute buckets, half-hours back and quarter-hours long."""
        names = self._endpoints(mask) if width != "1m" else ["images"]
        if not self._minutes_ok(width):
            width = "1h"
        now = self.org.clock.now()
        if width == "1m":
            start = floor(now, 60) - (back % 8 + 1) * 1800
            end = None if length is None else min(start + length * 900, floor(now, 60))
        else:
            start = midnight(now) - back * DAY
            end = None if length is None else min(start + length * DAY, midnight(now) + DAY)
        group_by, picked = self._group_by(names, grouping)

        def expect() -> None:
            for n in names:
                self._expect_dated(n, width_of(n, width), start, end, picked[n])
            if width == "1m":
                self.minute_clock = self.org.clock.now()

        self.tally["dated_loads" if end is None else "backfills"] += 1
        self._load(expect, faults, endpoints=names, bucket_width=width, start=start, end=end, group_by=group_by)

    def advance_clock(self, minutes: int) -> None:
        """Time passes: new buckets, the open bucket grows, recently closed minutes are restated by the API."""
        self.tally["clock_moves"] += 1
        self.org.clock.advance(minutes * 60)

    def vanish_a_group(self, name: str, pick: int) -> None:
        """An API key's usage disappears from the API's history (it restates every bucket it was in)."""
        streams = self.org.streams[name]
        keys = sorted({str(streams.labels["api_key_id"][c]) for c in streams.codes["api_key_id"] if c >= 0})
        self.tally["vanished_groups"] += 1
        self.org.retire(name, "api_key_id", keys[pick % len(keys)])

    def silence_a_period(self, days_back: int, hours: int) -> None:
        """The API now says nothing happened in a recent period: re-read buckets there come back empty."""
        start = floor(self.org.clock.now(), 3600) - days_back * DAY
        self.tally["silenced_periods"] += 1
        self.org.silence(start, start + hours * 3600)

    def killed_then_recovered(self, width: str, mask: int, delay: float) -> None:
        """A real CLI load killed with SIGKILL at a random moment, then a plain load: the two together must
        leave what one plain load leaves."""
        names = self._endpoints(mask)
        env = {**os.environ, "OPENAI_ADMIN_KEY": ADMIN, "OPENAI_USAGE_NOW": str(self.org.clock.now())}
        p = subprocess.Popen([sys.executable, "-m", "openai_usage.cli", "load", "--db", str(self.db), "--base-url",
                              self.sb.url, "--bucket-width", width, "--endpoints", ",".join(names),
                              "--no-directory", "--concurrency", "3"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(delay)
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=60)
        self.tally["kills"] += 1
        self.tally["killed_mid_run"] += p.returncode == -signal.SIGKILL

        def expect() -> None:
            for n in names:
                self._expect_plain(n, width_of(n, width), None)

        self._load(expect, None, endpoints=names, bucket_width=width)
        assert not Destination(db=self.db).pipeline().has_pending_data

    # ---------------------------------------------------------------- what must hold after every step
    def warehouse_equals_the_model(self) -> None:
        if not self.db.exists():
            assert not any(self.model.values())
            return
        for (name, width), expected in self.model.items():
            got = self._warehouse(name, width)
            assert set(got) == set(expected), (
                f"{name} {width}: buckets missing {sorted(set(expected) - set(got))[:3]}, "
                f"extra {sorted(set(got) - set(expected))[:3]}")
            for start, (end, rows) in expected.items():
                assert got[start][0] == end, f"{name} {width} bucket {start}: end {got[start][0]} != {end}"
                assert got[start][1] == rows, f"{name} {width} bucket {start}: rows differ from the API's"

    def no_bucket_between_the_oldest_and_the_newest_is_missing(self) -> None:
        for (name, width), expected in self.model.items():
            if expected:
                w = WIDTH_SECONDS[width]
                assert sorted(expected) == list(range(min(expected), max(expected) + w, w)), f"{name} {width} gap"

    def positions_never_move_backwards(self) -> None:
        if not self.db.exists():
            return
        now = {k: v for k, v in pipeline_positions(Destination(db=self.db).pipeline()).items() if v is not None}
        for k, before in self.dlt_positions.items():
            assert k in now and now[k] >= before, f"position of {k} moved from {before} to {now.get(k)}"
        self.dlt_positions = now

    def views_agree_with_the_model(self) -> None:
        if not self.db.exists() or not query(self.db, "select count(*) from information_schema.views "
                                                      "where table_schema = 'reporting'")[0][0]:
            return
        want_costs: dict[Any, Decimal] = defaultdict(Decimal)
        for start, (_, rows) in self.model[("costs", "1d")].items():
            for vals in rows.values():
                want_costs[start // DAY] += vals["amount_value"]
        got_costs = {(d - _EPOCH).days: a for d, a in query(
            self.db, "select day, sum(amount) from reporting.daily_costs group by day")}
        assert got_costs == {d: a for d, a in want_costs.items() if a}, "reporting.daily_costs differs"
        # usage: per day and kind, the coarsest width held that day counts (the README's rule)
        want: dict[tuple, int] = defaultdict(int)
        for name in ("completions", "images"):
            by_width = {w: self.model[(name, w)] for w in ("1d", "1h", "1m")}
            days = {s // DAY for held in by_width.values() for s in held}
            for day in days:
                width = next(w for w in ("1d", "1h", "1m") if any(s // DAY == day for s in by_width[w]))
                for start, (_, rows) in by_width[width].items():
                    if start // DAY == day:
                        for vals in rows.values():
                            want[(day, name, "num_model_requests")] += vals.get("num_model_requests", 0)
        got = {((d - _EPOCH).days, k, m): v for d, k, m, v in query(
            self.db, "select day, kind, metric, sum(value) from reporting.daily_usage "
                     "where metric = 'num_model_requests' group by all")}
        assert got == {k: v for k, v in want.items() if v}, "reporting.daily_usage differs"

    def _warehouse(self, name: str, width: str) -> dict[int, tuple[int, dict[tuple, dict[str, Any]]]]:
        ep = CAT[name]
        dims = [c.name for c in ep.dimensions]
        mets = [c.name for c in ep.metrics]
        out: dict[int, tuple[int, dict[tuple, dict[str, Any]]]] = {}
        for row in query(self.db, f"select epoch(start_time)::bigint, epoch(end_time)::bigint, "
                                  f"coalesce(_bucket_emptied, false), {', '.join(dims + mets)} "
                                  f"from openai_usage.{ep.table} where bucket_width = '{width}'"):
            start, end, emptied = row[:3]
            held = out.setdefault(start, (end, {}))
            assert held[0] == end, f"{name} {width} bucket {start} holds two end times"
            if emptied:
                assert not held[1], f"{name} {width} bucket {start} is both empty and not"
                continue
            key = tuple(row[3: 3 + len(dims)])
            assert key not in held[1], f"{name} {width} bucket {start}: row {key} twice"
            held[1][key] = {m: v for m, v in zip(mets, row[3 + len(dims):], strict=True) if v is not None}
        return out


_EPOCH = __import__("datetime").date(1970, 1, 1)


def _record(machine: Warehouse, seq_seed: int, seconds: float, diverged: bool) -> None:
    """One JSON line per sequence, appended, so parallel workers of a soak share one file."""
    ARTIFACT.parent.mkdir(exist_ok=True)
    line = {"seed": seq_seed, "steps": machine.steps, "seconds": round(seconds, 2), "divergence": diverged,
            **machine.tally}
    with ARTIFACT.open("a") as fh:
        fh.write(json.dumps(line, sort_keys=True) + "\n")


def summarize(path: Path = ARTIFACT) -> dict[str, Any]:
    """The soak's figures: sequences, steps, divergences, and what the steps were."""
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    total: Counter = Counter()
    for line in lines:
        total.update({k: v for k, v in line.items() if isinstance(v, int | float) and k != "seed"})
    doc = {"sequences": len(lines), **dict(total), "minutes_of_sequences": round(total["seconds"] / 60, 1)}
    print(json.dumps(doc, indent=1, sort_keys=True))
    return doc


BASE_SEED = int(os.environ.get("MODEL_SEED", "2026"))


def run_sequence(rng: random.Random, machine: Warehouse, steps: int, log: list[str]) -> None:
    """Draw `steps` steps, run each, and check every invariant after it."""
    checks = [machine.warehouse_equals_the_model, machine.no_bucket_between_the_oldest_and_the_newest_is_missing,
              machine.positions_never_move_backwards, machine.views_agree_with_the_model]
    for _ in range(steps):
        kind = rng.choices(["plain", "dated", "clock", "vanish", "silence", "kill"], [30, 20, 22, 7, 7, 8])[0]
        faults = rng.choice(FAULTS) if kind in ("plain", "dated") else None
        width = rng.choice(["1d", "1d", "1h", "1m"])
        if kind == "plain":
            args: tuple = (width, rng.randint(1, 7), rng.randint(0, 3), faults)
            step = machine.plain_load
        elif kind == "dated":
            args = (width, rng.randint(1, 7), rng.randint(0, 3), rng.randint(0, 60),
                    rng.choice([None, rng.randint(1, 20)]), faults)
            step = machine.dated_load
        elif kind == "clock":
            args = (rng.choice([1, 10, 59, 121, 7 * 60, 24 * 60, 3 * 24 * 60, 9 * 24 * 60, 35 * 24 * 60]),)
            step = machine.advance_clock
        elif kind == "vanish":
            args = (rng.choice(["completions", "images"]), rng.randrange(10**6))
            step = machine.vanish_a_group
        elif kind == "silence":
            args = (rng.randint(0, 5), rng.randint(1, 30))
            step = machine.silence_a_period
        else:
            if not machine.positions:
                continue
            args = (rng.choice(["1d", "1h"]), rng.randint(1, 7), rng.uniform(0.05, 3.0))
            step = machine.killed_then_recovered
        log.append(f"{step.__name__}{args}")
        machine.steps += 1
        step(*args)
        for check in checks:
            check()


@pytest.mark.parametrize("sequence", range(SEQUENCES))
def test_random_sequences_keep_the_warehouse_equal_to_the_model(sequence: int) -> None:
    seq_seed = BASE_SEED + sequence
    machine, log = Warehouse(), []
    t0 = time.monotonic()
    diverged = True
    try:
        run_sequence(random.Random(seq_seed), machine, STEPS, log)
        diverged = False
    except AssertionError as e:
        steps = "\n  ".join(log)
        raise AssertionError(f"divergence in sequence seed {seq_seed} (replay: MODEL_SEED={seq_seed} "
                             f"MODEL_SEQUENCES=1; warehouse {machine.db}) after:\n  {steps}\n{e}") from None
    finally:
        machine.teardown()
        _record(machine, seq_seed, time.monotonic() - t0, diverged)
        if not diverged:  # a divergent warehouse is kept for inspection; its path is in the message
            shutil.rmtree(machine.dir, ignore_errors=True)
