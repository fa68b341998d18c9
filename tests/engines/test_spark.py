"""The lakehouse path for real: the simulator's organizations loaded over HTTP into Delta tables by dlt's filesystem
destination (the project's load code, `openai-usage load --destination lake`), compared table by table with the
DuckDB warehouse loaded from the same simulator through re-runs, a crash between the two Delta commits and a
restatement that shrinks buckets; then every view, transpiled to Spark SQL, run on a local Spark over those tables.

Spark reads the tables without Delta Lake's Spark connector (its jars come from Maven, which is out of reach here):
each table's current snapshot is resolved with `deltalake` (the Parquet files of its newest version) and copied into
a Spark table of the same name, so Spark sees exactly the rows a Delta reader would.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import deltalake  # noqa: F401  (make engine-spark installs it; a missing package fails, never skips)
import pyspark
import pytest

from openai_usage import catalogue, lake
from openai_usage.catalogue import QUARANTINE_TABLE, RESTATEMENTS_TABLE
from openai_usage.load.warehouse import DATASET, Warehouse
from openai_usage.simulator import Org, Sandbox
from openai_usage.transform.views import apply_views, script

from ..conftest import DAY, NOW, load, midnight
from ..test_postgres import _views

NAME = "lake"
ACME_KEY = "sk-admin-acme-00000001"


def _norm(v: Any) -> Any:
    """One representation per value: engines differ in Python types (Decimal vs float, naive UTC vs aware)."""
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(f"{float(v):.9g}")
    if isinstance(v, float):
        return int(v) if v.is_integer() else float(f"{v:.9g}")
    if isinstance(v, dt.datetime):
        return (v if v.tzinfo else v.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
    return v


def _counter(rows: Any) -> Counter:
    return Counter(tuple(_norm(v) for v in r) for r in rows)


def _tables() -> list[str]:
    return [*catalogue.contract_tables(), RESTATEMENTS_TABLE, QUARANTINE_TABLE]


def _duck_table(db: Path, table: str, columns: list[str]) -> Counter:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        exists = con.execute("select count(*) from information_schema.tables where table_schema = ? and "
                             "table_name = ?", [DATASET, table]).fetchone()[0]
        return _counter(con.execute(f"select {', '.join(columns)} from {DATASET}.{table}").fetchall()
                        if exists else [])
    finally:
        con.close()


def _lake_tables(wh: Warehouse) -> dict[str, Any]:
    return lake.delta_tables(wh.pipeline())


def _assert_tables_same(db: Path, wh: Warehouse) -> dict[str, int]:
    """Every table's rows (dlt's own columns aside) are the same in the Delta tables and in DuckDB."""
    delta = _lake_tables(wh)
    counts = {}
    for table in _tables():
        if table not in delta:
            assert _duck_table(db, table, ["1"]).total() == 0, f"{table} missing from the lake"
            continue
        arrow = delta[table].to_pyarrow_table()
        columns = [c for c in arrow.column_names if not c.startswith("_dlt")]
        got = _counter(zip(*(arrow.column(c).to_pylist() for c in columns), strict=True))
        want = _duck_table(db, table, columns)
        assert got == want, f"{table}: Delta only {list((got - want).items())[:2]}, DuckDB only " \
                            f"{list((want - got).items())[:2]}"
        counts[table] = got.total()
    return counts


def _load_both(sb: Sandbox, db: Path, **kw: Any) -> None:
    load(sb, db, **kw)
    load(sb, db, destination=NAME, **kw)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Warehouse, dict[str, Any]]:
    """Two organizations loaded into DuckDB and into Delta the same way, checked table by table at every step."""
    tmp = tmp_path_factory.mktemp("lake")
    mp = pytest.MonkeyPatch()
    mp.setenv(f"DESTINATION__{NAME.upper()}__DESTINATION_TYPE", "filesystem")
    mp.setenv(f"DESTINATION__{NAME.upper()}__BUCKET_URL", str(tmp / "bucket"))
    mp.setenv("OPENAI_USAGE_WORKDIR", str(tmp / "work"))
    mp.setenv("SOURCES__OPENAI_USAGE__ORGANIZATIONS__ACME__API_KEY", ACME_KEY)
    db, wh, facts = tmp / "same.duckdb", Warehouse(NAME), {}
    org = Org(seed=11, days=40, now=NOW)
    try:
        with Sandbox(org, tenants={ACME_KEY: Org(seed=12, days=40, now=NOW)}) as sb:
            t0 = time.monotonic()
            # several windows and pages: 38 days daily in windows of 4 requests, then two days hourly
            _load_both(sb, db, start=midnight(NOW) - 38 * DAY, concurrency=4)
            _load_both(sb, db, bucket_width="1h", start=midnight(NOW) - 2 * DAY)
            facts["first"] = _assert_tables_same(db, wh)
            _load_both(sb, db)  # the same data again: replaced, never duplicated
            facts["rerun"] = _assert_tables_same(db, wh)

            # A run killed between its Delta commits (rows appended, superseded rows not yet deleted) ...
            sb.org.clock.advance(3 * 3600)
            sb.tenants[ACME_KEY].clock.set(sb.org.clock.now())
            load(sb, db)
            real = lake.replace_buckets
            calls = []

            def killed(pipeline: Any, tables: list[str]) -> dict[str, int]:
                calls.append(1)
                if len(calls) == 2:
                    raise KeyboardInterrupt("killed after the append")
                return real(pipeline, tables)

            mp.setattr(lake, "replace_buckets", killed)
            with pytest.raises(KeyboardInterrupt):
                load(sb, db, destination=NAME)
            mp.setattr(lake, "replace_buckets", real)
            facts["doubled_after_kill"] = _doubled(wh)
            # ... is healed by the next run, before it reads anything
            load(sb, db, destination=NAME)
            facts["after_kill"] = _assert_tables_same(db, wh)

            # A restatement that shrinks buckets: a busy API key's usage vanishes from the last days, and another
            # day is revised down; both warehouses must drop the vanished rows.
            streams = org.streams["completions"]
            victim = int(max(range(streams.size), key=lambda i: streams.weight[i]))
            key = streams.labels["api_key_id"][streams.codes["api_key_id"][victim]]
            facts["victim"] = key
            facts["victim_rows_before"] = _victim_rows(wh, key)
            org.retire("completions", "api_key_id", key)
            org.restate("embeddings", midnight(NOW) - DAY, midnight(NOW), 0.5)
            sb.org.clock.advance(3600)
            sb.tenants[ACME_KEY].clock.set(sb.org.clock.now())
            _load_both(sb, db, now=sb.org.clock.now())
            facts["victim_rows_after"] = _victim_rows(wh, key)
            facts["restated"] = _assert_tables_same(db, wh)
            facts["seconds"] = time.monotonic() - t0
        apply_views(Warehouse(db=db))
        yield db, wh, facts
    finally:
        mp.undo()


def _doubled(wh: Warehouse) -> int:
    """Groups of a bucket held more than once, over every usage table."""
    delta, out = _lake_tables(wh), 0
    for ep in catalogue.endpoints().values():
        if ep.table in delta:
            dims = ["organization", "start_time", "bucket_width", *(c.name for c in ep.dimensions)]
            groups = Counter(tuple(r.values()) for r in delta[ep.table].to_pyarrow_table().select(dims).to_pylist())
            out += sum(1 for n in groups.values() if n > 1)
    return out


def _victim_rows(wh: Warehouse, key: str) -> int:
    arrow = _lake_tables(wh)["usage_completions"].to_pyarrow_table()
    recent = dt.datetime.fromtimestamp(midnight(NOW) - DAY, dt.UTC)
    return sum(1 for r in arrow.select(["api_key_id", "start_time", "bucket_width"]).to_pylist()
               if r["api_key_id"] == key and r["start_time"] >= recent and r["bucket_width"] == "1d")


def test_delta_tables_hold_what_duckdb_holds_through_reruns_kills_and_shrinking_restatements(loaded) -> None:
    _, wh, facts = loaded
    assert facts["first"]["usage_completions"] > 1000 and facts["first"]["costs"] > 1000
    assert facts["rerun"] == facts["first"]  # a re-run with nothing new duplicates nothing
    assert facts["doubled_after_kill"] > 0  # the killed run had left superseded rows behind, the next run healed
    assert facts["victim_rows_before"] > 0 and facts["victim_rows_after"] == 0
    assert facts["restated"]["usage_completions"] < facts["after_kill"]["usage_completions"]
    assert facts["restated"].get(RESTATEMENTS_TABLE, 0) > 0
    assert _doubled(wh) == 0


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory):
    from pyspark.sql import SparkSession

    os.environ["TZ"] = "UTC"  # PySpark hands timestamps back as naive local times
    time.tzset()
    tmp = tmp_path_factory.mktemp("spark")
    session = (SparkSession.builder.master("local[2]").appName("openai-usage-views")
               .config("spark.ui.enabled", "false").config("spark.driver.memory", "1g")
               .config("spark.sql.shuffle.partitions", "2").config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.warehouse.dir", str(tmp / "warehouse"))
               .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={tmp}")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    assert pyspark.__version__
    try:
        yield session
    finally:
        session.stop()


def test_every_view_in_spark_sql_returns_duckdbs_rows(loaded, spark) -> None:
    db, wh, _ = loaded
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {DATASET}")
    for name, table in _lake_tables(wh).items():
        # exactly the Parquet files of the table's current Delta version (no Delta connector for Spark here)
        files = table.file_uris()
        assert files, name
        spark.read.option("mergeSchema", "true").parquet(*files).write.mode("overwrite") \
            .saveAsTable(f"{DATASET}.{name}")
    for stmt in script("spark"):  # what `openai-usage views --dialect spark` prints
        spark.sql(stmt)
    duck = Warehouse(db=db)
    views = _views()
    assert len(views) >= 14
    for view in views:
        with duck.connect(read_only=True) as sql:
            want = _counter(sql.rows(f"select * from {view}"))
        got = _counter(tuple(r) for r in spark.sql(f"select * from {view}").collect())
        assert want.total() > 0, view
        assert got == want, f"{view}: Spark only {list((got - want).items())[:2]}, DuckDB only " \
                            f"{list((want - got).items())[:2]}"


def test_cli_loads_a_lake_and_prints_the_views_for_spark(tmp_path: Path) -> None:
    import subprocess
    import sys

    from ..conftest import ADMIN

    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SOURCES__OPENAI_USAGE__ORGANIZATIONS")},
           "OPENAI_ADMIN_KEY": ADMIN, "OPENAI_USAGE_NOW": str(NOW),
           "OPENAI_USAGE_WORKDIR": str(tmp_path / "work"), "DESTINATION__SHOP__DESTINATION_TYPE": "filesystem",
           "DESTINATION__SHOP__BUCKET_URL": str(tmp_path / "bucket")}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "openai_usage.cli", *args], capture_output=True, text=True,
                              env=env, timeout=300, cwd=tmp_path)

    with Sandbox(Org(seed=5, days=10, now=NOW)) as sb:
        for _ in range(2):
            run = cli("load", "--destination", "shop", "--base-url", sb.url, "--endpoints", "costs", "--no-directory",
                      "--start", dt.date.fromtimestamp(NOW - 3 * DAY).isoformat())
            assert run.returncode == 0, run.stderr
    assert "views --dialect spark" in run.stderr and str(tmp_path / "bucket") in run.stderr
    assert ADMIN not in run.stdout + run.stderr
    from deltalake import DeltaTable

    costs = DeltaTable(str(tmp_path / "bucket" / DATASET / "costs")).to_pyarrow_table()
    keys = Counter(tuple(r.values()) for r in costs.select(
        ["organization", "start_time", "bucket_width", "project_id", "line_item", "api_key_id"]).to_pylist())
    assert costs.num_rows > 0 and max(keys.values()) == 1  # the second run replaced its buckets
    refused = cli("views", "--destination", "shop")
    assert refused.returncode == 2 and "--dialect spark" in refused.stderr, refused.stderr
    printed = cli("views", "--dialect", "spark")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == "".join(f"{stmt};\n" for stmt in script("spark"))
