"""The DuckDB side of the stand-in runs (test_snowflake, test_bigquery): the simulator's organization loaded into
DuckDB by the project's real load path, its tables and the views transpiled by the project's transpiler (this
environment's locked sqlglot) written to a job file, executed by `standin.py` in the stand-in's own environment
(its emulator pins another sqlglot), and every view's rows compared with DuckDB's."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from openai_usage.load.warehouse import DATASET, Warehouse
from openai_usage.simulator import Org, Sandbox
from openai_usage.transform.transpile import statements
from openai_usage.transform.views import LAYERS, _plan, apply_views

from ..conftest import DAY, NOW, load, midnight
from ..test_postgres import _norm, _views

ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("standin.py")


def duckdb_warehouse(tmp_path: Path) -> Warehouse:
    """The organization of tests/conftest.py loaded by the real load path, daily and then hourly, views applied."""
    db = tmp_path / "duck.duckdb"
    with Sandbox(Org(seed=11, days=40, now=NOW)) as sb:
        load(sb, db, start=midnight(NOW) - 40 * DAY)
        load(sb, db, bucket_width="1h", start=midnight(NOW) - 2 * DAY)
    wh = Warehouse(db=db)
    apply_views(wh)
    return wh


def job(wh: Warehouse, dialect: str, folder: Path) -> dict[str, Any]:
    """Tables (typed as in DuckDB, with their rows as Parquet), view statements and queries for `dialect`."""
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(wh.db), read_only=True)
    tables = []
    try:
        names = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = ? and table_type = 'BASE TABLE' "
            "and table_name not in ('_dlt_version', '_dlt_pipeline_state') order by 1", [DATASET]).fetchall()]
        for name in names:
            cols = con.execute("select column_name, data_type from information_schema.columns where table_schema = ? "
                               "and table_name = ? order by ordinal_position", [DATASET, name]).fetchall()
            parquet = folder / f"{name}.parquet"
            con.execute(f"copy (select * from {DATASET}.{name}) to '{parquet}' (format parquet)")
            tables.append({"schema": DATASET, "name": name, "columns": cols, "parquet": str(parquet)})
    finally:
        con.close()
    views = [stmt for view_file, stmts in _plan(dialect) if view_file for stmt in stmts]
    queries = {v: statements(f"select * from {v}", dialect)[0] for v in _views()}
    return {"schemas": [DATASET, *LAYERS], "tables": tables, "statements": views, "queries": queries,
            "folder": str(folder)}


def run(engine: str, dialect: str, wh: Warehouse, folder: Path) -> dict[str, Any]:
    python = Path(os.environ.get(f"STANDIN_PYTHON_{engine.upper()}", ROOT / f".venv-{engine}" / "bin" / "python"))
    assert python.exists(), f"{python} is missing: `make engine-{engine}` installs it"
    job_file, out_file = folder / "job.json", folder / "out.json"
    job_file.write_text(json.dumps(job(wh, dialect, folder / "tables")))
    done = subprocess.run([str(python), str(RUNNER), engine, str(job_file), str(out_file)], capture_output=True,
                          text=True, timeout=1200, env={**os.environ, "TZ": "UTC"})
    assert done.returncode == 0, done.stderr[-6000:]
    return json.loads(out_file.read_text())


def _value(v: Any) -> Any:
    if isinstance(v, dict):
        (tag, text), = v.items()
        return {"decimal": Decimal, "datetime": dt.datetime.fromisoformat, "date": dt.date.fromisoformat,
                "json": str}[tag](text)
    return v


def _number(v: Any) -> Any:
    """_norm, with numbers compared as numbers, not by type: fakesnow returns some integer sums and DECIMAL columns as
    FLOAT where DuckDB gives BIGINT or DECIMAL, so every number is a float here (bools stay bools)."""
    return float(v) if isinstance(v, Decimal | float | int) and not isinstance(v, bool) else _norm(v)


def _groups(rows: list[tuple[Any, ...]]) -> dict[tuple[Any, ...], list[tuple[float, ...]]]:
    """Rows by everything but their numbers, those sorted within each group."""
    out: dict[tuple[Any, ...], list[tuple[float, ...]]] = {}
    for r in rows:
        key = tuple("<number>" if isinstance(v, float) else v for v in r)
        out.setdefault(key, []).append(tuple(v for v in r if isinstance(v, float)))
    return {k: sorted(v) for k, v in out.items()}


def assert_same_rows(wh: Warehouse, got: dict[str, Any], engine: str, only: list[str] | None = None) -> int:
    """Every view's rows on the stand-in equal DuckDB's: the same multiset of rows, numbers equal to a relative 1e-12
    (integers below 1e11 exactly; the stand-ins compute some DECIMAL sums in DOUBLE); returns the rows compared."""
    compared = 0
    views = _views()
    assert len(views) >= 14
    views = [v for v in views if only is None or v in only]
    with wh.connect(read_only=True) as sql:
        for view in views:
            duck = _groups([tuple(_number(v) for v in r) for r in sql.rows(f"select * from {view}")])
            other = _groups([tuple(_number(_value(v)) for v in r) for r in got[view]])
            assert duck.keys() == other.keys(), (f"{view}: DuckDB only {list(duck.keys() - other.keys())[:3]}, "
                                                 f"{engine} only {list(other.keys() - duck.keys())[:3]}")
            for key, numbers in duck.items():
                theirs = other[key]
                assert len(numbers) == len(theirs), f"{view}: {key} {len(numbers)} rows vs {len(theirs)}"
                for a, b in zip(numbers, theirs, strict=True):
                    assert all(math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-9) for x, y in zip(a, b, strict=True)), \
                        f"{view}: {key} DuckDB {a}, {engine} {b}"
                compared += len(numbers)
    return compared
