"""ClickHouse: every view, `report` and `status` on a real ClickHouse engine, with the same rows as DuckDB.

No ClickHouse server modern enough for dlt installs here: Debian's clickhouse-server is 18.16 (2018), on which dlt's
first statement already fails (it refuses `NOT NULL` in dlt's sentinel CREATE TABLE), and PyPI's clickhousectl only
downloads binaries from the internet. chdb (PyPI) bundles ClickHouse 26.9 in-process, with no server, so dlt cannot load
into it. What is proven here instead, on that engine:
- the tables are created with dlt's own ClickHouse DDL (dlt's ClickHouse job client, offline, from the schema of the
  pipeline that loaded DuckDB: dlt's names `openai_usage___<table>`, types, Nullable and MergeTree as dlt makes them),
  filled with exactly the rows dlt loaded into DuckDB from the simulator (two organizations, daily and hourly buckets);
- the views are applied by the project's own `apply_views` (transpiled for ClickHouse, idempotent, version marker);
- every view returns the same rows as on DuckDB; `report` data and `status` read the same numbers through it.
Bucket-replacing re-runs are not proven on ClickHouse: that is dlt's merge on a server, which chdb cannot run.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chdb.session as chdb_session  # make engine-clickhouse installs chdb in its own environment
import duckdb
import pytest

from openai_usage.load.warehouse import DATASET, Warehouse
from openai_usage.reports import data as report_data
from openai_usage.reports import status as report_status
from openai_usage.simulator import Org, Sandbox, truth
from openai_usage.transform.views import apply_views

from ..conftest import DAY, NOW, load, midnight
from ..test_postgres import ACME_KEY, _norm, _norm_report, _views

DATABASE = "warehouse"  # the database dlt's credentials would name; everything lives in it


class ChdbSql:
    """The project's `Sql` protocol over one chdb session (ClickHouse in-process), results through Arrow."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def execute(self, sql: str) -> None:
        self.session.query(sql)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        table = self.session.query(sql, "ArrowTable")
        return [tuple(r.values()) for r in table.to_pylist()]

    def arrow(self, sql: str) -> Iterator[Any]:
        yield self.session.query(sql, "ArrowTable")

    def transaction(self) -> Any:
        return nullcontext()


@dataclass(frozen=True)
class ChdbWarehouse(Warehouse):
    """A Warehouse whose SQL runs on chdb: everything else (views, reports, status) is the project's own code."""

    destination: str = "clickhouse"
    session: Any = None

    @property
    def destination_type(self) -> str:
        return "clickhouse"

    @property
    def label(self) -> str:
        return "chdb (ClickHouse in-process)"

    def require(self) -> None:
        pass

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[ChdbSql]:
        yield ChdbSql(self.session)


def _dlt_ddl(duck: Warehouse) -> dict[str, str]:
    """CREATE TABLE per table, by dlt's own ClickHouse job client from the schema dlt loaded DuckDB with (offline)."""
    import dlt

    schema = duck.pipeline().default_schema
    dest = dlt.destinations.clickhouse(credentials=f"clickhouse://default:unused@localhost:9000/{DATABASE}")
    client = dest.client(schema, dest.spec()._bind_dataset_name(dataset_name=DATASET))
    tables = [*schema.data_table_names(), "_dlt_loads"]
    return {t: client._get_table_update_sql(t, list(schema.get_table_columns(t).values()), False)[0]
            for t in tables}


def _fill(duck: Warehouse, ch: ChdbSql, tmp: Path) -> None:
    """Create dlt's ClickHouse tables (dropped first) and fill each with the rows dlt loaded into DuckDB."""
    ddl = _dlt_ddl(duck)
    con = duckdb.connect(str(duck.db), read_only=True)
    try:
        for table, create in ddl.items():
            cols = [c for c in duck.pipeline().default_schema.get_table_columns(table)]
            names = ", ".join(f'"{c}"' for c in cols)
            file = tmp / f"{table}.parquet"
            con.execute(f"copy (select {names} from {DATASET}.{table}) to '{file}' (format parquet)")
            ch.execute(f"DROP TABLE IF EXISTS `{DATABASE}`.`{DATASET}___{table}`")
            ch.execute(create)
            ch_names = ", ".join(f"`{c}`" for c in cols)
            ch.execute(f"INSERT INTO `{DATABASE}`.`{DATASET}___{table}` ({ch_names}) "
                       f"SELECT {ch_names} FROM file('{file}', Parquet)")
    finally:
        con.close()


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    s = chdb_session.Session(str(tmp_path_factory.mktemp("chdb") / "data"))  # a real on-disk ClickHouse
    s.query(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
    s.query(f"USE {DATABASE}")
    # A server's defaults, not clickhouse-local's: a MergeTree must say its key (the views' marker table does).
    s.query("SET create_table_empty_primary_key_by_default = 0")
    try:
        yield s
    finally:
        s.close()


def _rows(wh: Warehouse, relation: str) -> Counter:
    with wh.connect(read_only=True) as sql:
        return Counter(tuple(_norm(v) for v in r) for r in sql.rows(f"select * from {relation}"))


def _ch_relation(relation: str) -> str:
    schema, name = relation.split(".")
    return f"{schema}___{name}"


def _assert_same(duck: Warehouse, ch: ChdbWarehouse) -> None:
    views = _views()
    assert len(views) >= 14
    for view in views:
        d, c = _rows(duck, view), _rows(ch, _ch_relation(view))
        assert d, f"{view}: no rows on DuckDB, nothing compared"
        assert d == c, f"{view}: DuckDB only {list((d - c).items())[:3]}, ClickHouse only {list((c - d).items())[:3]}"


def test_clickhouse_views_report_and_status_match_duckdb(session: Any, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    org, acme = Org(seed=31, days=50, now=NOW), Org(seed=32, days=50, now=NOW)
    db = tmp_path / "duck.duckdb"
    duck = Warehouse(db=db)
    monkeypatch.setenv("SOURCES__OPENAI_USAGE__ORGANIZATIONS__ACME__API_KEY", ACME_KEY)
    with Sandbox(org, tenants={ACME_KEY: acme}) as sb:
        load(sb, db, start=midnight(NOW) - 45 * DAY)
        load(sb, db, bucket_width="1h", start=midnight(NOW) - 2 * DAY)
    apply_views(duck)
    ch = ChdbWarehouse(session=session)
    _fill(duck, ChdbSql(session), tmp_path)
    with ch.connect() as sql:
        tables = {r[0] for r in sql.rows("show tables")}
    assert {"openai_usage___costs", "openai_usage___usage_completions", "openai_usage___projects"} <= tables

    assert apply_views(ch)  # the project's own apply path, transpiled for ClickHouse
    assert apply_views(ch) == []  # idempotent: the version marker is read back
    with ch.connect() as sql:
        names = {r[0] for r in sql.rows("show tables")}
    assert {"staging___stg_costs", "intermediate___int_names", "reporting___daily_costs",
            "staging____views_version"} <= names
    _assert_same(duck, ch)

    month = dt.datetime.fromtimestamp(NOW, dt.UTC).replace(day=1, hour=0, minute=0, second=0)
    expected = truth.grand_total(org, "costs", "amount_value", int(month.timestamp()), now=NOW)
    with ch.connect() as sql:
        got = sql.rows("select sum(amount) from reporting___monthly_costs "
                       f"where organization = 'default' and month = toDate('{month.date().isoformat()}')")[0][0]
    assert got == expected

    # the read paths, unchanged, through the same Sql: the same report numbers and the same status as DuckDB
    assert _norm_report(report_data.read(ch)) == _norm_report(report_data.read(duck))
    october = dt.date(2026, 10, 1)
    assert _norm_report(report_data.read(ch, october)) == _norm_report(report_data.read(duck, october))
    assert _norm_report(report_data.read(ch, orgs=["acme"])) == _norm_report(report_data.read(duck, orgs=["acme"]))
    s_ch, s_duck = report_status.read(ch), report_status.read(duck)
    assert s_ch.organizations == s_duck.organizations == ["acme", "default"]
    assert (s_ch.last_load, s_ch.loads) == (s_duck.last_load, s_duck.loads)
    assert [vars(t) for t in s_ch.tables] == [vars(t) for t in s_duck.tables]
    assert report_status.read(ch, orgs=["acme"]).tables == report_status.read(duck, orgs=["acme"]).tables
