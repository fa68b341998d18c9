"""A second engine for real: PostgreSQL started here, loaded through a dlt named destination, same numbers as DuckDB."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from openai_usage import catalogue
from openai_usage.load.warehouse import Warehouse
from openai_usage.simulator import Org, Sandbox, truth
from openai_usage.transform.views import apply_views, sql_files

from .conftest import ADMIN, DAY, NOW, load, midnight
from .postgres_server import PostgresServer

NAME = "pg_test"  # a dlt named destination, configured only through the environment, as a scheduler would
ACME_KEY = "sk-admin-acme-00000001"  # a second organization, so every view is compared with two in it


def two_orgs(org: Org, acme: Org, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """One simulator serving `org` as the default organization and `acme` as a configured second one."""
    monkeypatch.setenv("SOURCES__OPENAI_USAGE__ORGANIZATIONS__ACME__API_KEY", ACME_KEY)
    return Sandbox(org, tenants={ACME_KEY: acme})


@pytest.fixture(scope="module")
def postgres():
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg(postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A fresh database behind the named destination NAME, configured only through the environment."""
    url = postgres.create_database(f"t_{uuid.uuid4().hex[:10]}")
    monkeypatch.setenv(f"DESTINATION__{NAME.upper()}__DESTINATION_TYPE", "postgres")
    monkeypatch.setenv(f"DESTINATION__{NAME.upper()}__CREDENTIALS", url)
    monkeypatch.setenv("OPENAI_USAGE_WORKDIR", str(tmp_path / "work"))
    return NAME


def _norm(v: Any) -> Any:
    """One representation per value: the engines differ in Python types (numeric vs int, tz), not in numbers."""
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else v.normalize()
    if isinstance(v, float):
        return float(f"{v:.9g}")
    if isinstance(v, dt.datetime):
        return v.astimezone(dt.UTC)
    return v


def _rows(wh: Warehouse, relation: str) -> Counter:
    with wh.connect(read_only=True) as sql:
        return Counter(tuple(_norm(v) for v in r) for r in sql.rows(f"select * from {relation}"))


def _views() -> list[str]:
    out = []
    for f in sql_files():
        for line in f.read_text().splitlines():
            if line.lower().startswith("create or replace view "):
                out.append(line.split()[4])
    return out


def _assert_same(duck: Warehouse, pg: Warehouse) -> None:
    views = _views()
    assert len(views) >= 14
    for view in views:
        d, p = _rows(duck, view), _rows(pg, view)
        assert d == p, f"{view}: DuckDB only {list((d - p).items())[:3]}, PostgreSQL only {list((p - d).items())[:3]}"


def _load_both(sb: Sandbox, db: Path, **kw: Any) -> None:
    load(sb, db, **kw)
    apply_views(Warehouse(db=db))
    load(sb, db, destination=NAME, **kw)
    apply_views(Warehouse(NAME))


def test_postgres_and_duckdb_give_the_same_reporting_numbers_and_reruns_duplicate_nothing(
        pg: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    org = Org(seed=23, days=45, now=NOW)
    db = tmp_path / "same.duckdb"
    duck, pgw = Warehouse(db=db), Warehouse(pg)
    with two_orgs(org, Org(seed=24, days=45, now=NOW), monkeypatch) as sb:
        _load_both(sb, db, start=midnight(NOW) - 40 * DAY)
        _load_both(sb, db, bucket_width="1h", start=midnight(NOW) - 2 * DAY)
        _assert_same(duck, pgw)
        # independent ground truth, straight from the generator: the month's billed total
        month = dt.datetime.fromtimestamp(NOW, dt.UTC).replace(day=1, hour=0, minute=0, second=0)
        expected = truth.grand_total(org, "costs", "amount_value", int(month.timestamp()), now=NOW)
        with pgw.connect() as sql:
            got = sql.rows("select sum(amount) from reporting.monthly_costs "
                           f"where organization = 'default' and month = date '{month.date().isoformat()}'")[0][0]
            assert sql.rows("select distinct organization from reporting.monthly_costs order by 1") == \
                [("acme",), ("default",)]
        assert got == expected

        counts = {t: _rows(pgw, f"openai_usage.{t}").total() for t in _tables()}
        _load_both(sb, db)  # the same data again: nothing may be duplicated
        assert {t: _rows(pgw, f"openai_usage.{t}").total() for t in _tables()} == counts
        sb.org.clock.advance(5 * 3600)  # later (for both organizations): the open day grows, restated buckets
        sb.tenants[ACME_KEY].clock.set(sb.org.clock.now())
        sb.org.rename_project(org.projects[0]["id"], "Renamed in both")
        _load_both(sb, db, now=sb.org.clock.now())
        _assert_same(duck, pgw)
    with pgw.connect() as sql:
        dupes = sql.rows("select count(*) from (select organization, start_time, bucket_width, project_id, line_item "
                         "from openai_usage.costs group by 1, 2, 3, 4, 5 having count(*) > 1) as d")[0][0]
        names = sql.rows(f"select name from openai_usage.projects where id = '{org.projects[0]['id']}'")
    assert dupes == 0
    assert names == [("Renamed in both",)]


def test_views_are_replaced_in_one_transaction_keeping_views_built_on_them(pg: str, tmp_path: Path) -> None:
    org = Org(seed=31, days=10, now=NOW)
    with Sandbox(org) as sb:
        load(sb, tmp_path / "unused.duckdb", destination=pg, endpoints=["costs"], start=midnight(NOW) - 3 * DAY)
    wh = Warehouse(pg)
    apply_views(wh)
    with wh.connect() as sql:
        sql.execute("create view public.finance_view as select project_name, sum(amount) as amount "
                    "from reporting.daily_costs group by project_name")
        before = sql.rows("select * from public.finance_view order by 1")
    assert before
    assert apply_views(wh, force=True)  # same columns: replaced in place, the user's view survives
    with wh.connect() as sql:
        assert sql.rows("select * from public.finance_view order by 1") == before
        # an older definition with other columns: PostgreSQL refuses to replace it, so it is dropped and re-created
        sql.execute("drop view reporting.daily_costs cascade")
        sql.execute("create view reporting.daily_costs as select 1 as legacy_column")
    apply_views(wh, force=True)
    with wh.connect() as sql:
        cols = [r[0] for r in sql.rows("select column_name from information_schema.columns where table_schema = "
                                       "'reporting' and table_name = 'daily_costs' order by ordinal_position")]
        total = sql.rows("select sum(amount) from reporting.daily_costs")[0][0]
    assert cols[:7] == ["organization", "day", "project_id", "line_item", "model", "currency", "amount"]
    assert "legacy_column" not in cols
    assert total == truth.grand_total(org, "costs", "amount_value", midnight(NOW) - 3 * DAY, now=NOW)


def _tables() -> list[str]:
    return [e.table for e in catalogue.endpoints().values()] + [d.table for d in catalogue.directory_lists().values()]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "openai_usage.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_cli_loads_postgres_by_named_destination_and_reports_status(pg: str, postgres: PostgresServer) -> None:
    org = Org(seed=29, days=10, now=NOW)
    with Sandbox(org) as sb:
        env = {"OPENAI_ADMIN_KEY": ADMIN, "OPENAI_USAGE_NOW": str(NOW)}
        run = _cli("load", "--destination", pg, "--base-url", sb.url, "--start",
                   dt.date.fromtimestamp(NOW - 3 * DAY).isoformat(), "--endpoints", "costs,completions", env=env)
        assert run.returncode == 0, run.stderr
        status = _cli("status", "--destination", pg, "--max-age", "1h", env=env)
        assert status.returncode == 0, status.stderr
        assert "usage_completions" in status.stdout and "postgres" in status.stdout
        again = _cli("load", "--destination", pg, "--base-url", sb.url, "--endpoints", "costs", env=env)
        assert again.returncode == 0, again.stderr
    for r in (run, status, again):
        assert postgres.password not in r.stdout + r.stderr
        assert ADMIN not in r.stdout + r.stderr
    expected = truth.grand_total(org, "costs", "amount_value", midnight(NOW) - 3 * DAY, now=NOW)
    with Warehouse(pg).connect() as sql:
        assert sql.rows("select sum(amount_value) from openai_usage.costs")[0][0] == expected
        assert sql.rows("select count(*) from reporting.daily_usage where project_name like 'unknown%'") == [(0,)]


def test_bad_destinations_fail_in_one_line_without_secrets(postgres: PostgresServer) -> None:
    base = ["load", "--base-url", "http://127.0.0.1:9/v1"]
    unknown = _cli(*base, "--destination", "nowhere", env={"OPENAI_ADMIN_KEY": ADMIN})
    assert unknown.returncode == 2
    assert unknown.stderr.strip().count("\n") == 0 and "unknown destination 'nowhere'" in unknown.stderr
    missing = _cli(*base, "--destination", "postgres", env={"OPENAI_ADMIN_KEY": ADMIN})
    assert missing.returncode == 2, missing.stderr
    assert "credentials" in missing.stderr and missing.stderr.strip().count("\n") == 0
    malformed = postgres.url.replace("postgresql://", "postgresql//")  # a typo that makes the URL unparseable
    broken = _cli(*base, "--destination", "postgres", env={"OPENAI_ADMIN_KEY": ADMIN,
                                                          "DESTINATION__POSTGRES__CREDENTIALS": malformed})
    assert broken.returncode != 0 and broken.stderr.strip().count("\n") == 0, broken.stderr
    assert postgres.password not in broken.stdout + broken.stderr
    wrong = postgres.url.replace(postgres.password, "not-the-password-123")
    refused = _cli(*base, "--destination", "postgres", env={"OPENAI_ADMIN_KEY": ADMIN,
                                                           "DESTINATION__POSTGRES__CREDENTIALS": wrong})
    assert refused.returncode != 0 and refused.stderr.strip().count("\n") == 0
    assert "not-the-password-123" not in refused.stdout + refused.stderr


def _norm_report(data: Any) -> dict[str, Any]:
    fields = ("first_day", "last_day", "month", "organizations", "by_organization", "projects", "line_items", "models",
              "api_keys", "anomalies", "batch_cache", "billed_vs_usage", "daily_by_item", "daily_tokens_by_model",
              "owners", "runway")
    out: dict[str, Any] = {f: getattr(data, f) for f in fields}
    for f in fields[4:]:
        # ties in an ORDER BY may come in either order on two engines: the rows, not their order among equals
        out[f] = Counter(tuple(_norm(v) for v in r) for r in out[f])
    out["mtd"] = {k: _norm(v) for k, v in (data.mtd or {}).items()}
    return out


def test_report_export_and_status_read_any_destination_through_its_sql_client(
        pg: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`report`, `export` and `status` on a PostgreSQL destination: the same numbers as on DuckDB, for all
    organizations and for one, the billed total equal to the generator's, and nothing written to the warehouse."""
    from openai_usage.reports import data as report_data

    org, acme = Org(seed=31, days=50, now=NOW), Org(seed=32, days=50, now=NOW)
    db = tmp_path / "duck.duckdb"
    with two_orgs(org, acme, monkeypatch) as sb:
        _load_both(sb, db, start=midnight(NOW) - 45 * DAY)
    duck, pgw = Warehouse(db=db), Warehouse(pg)
    assert _norm_report(report_data.read(pgw)) == _norm_report(report_data.read(duck))
    october = dt.date(2026, 10, 1)
    assert _norm_report(report_data.read(pgw, october)) == _norm_report(report_data.read(duck, october))
    assert _norm_report(report_data.read(pgw, orgs=["acme"])) == _norm_report(report_data.read(duck, orgs=["acme"]))

    def relations() -> Counter:
        with pgw.connect() as sql:
            return Counter(sql.rows("select table_schema, table_name, table_type from information_schema.tables "
                                    "where table_schema in ('openai_usage', 'staging', 'intermediate', 'reporting')"))

    before = relations()
    env = {"OPENAI_USAGE_NOW": str(NOW)}
    terminal = _cli("report", "--destination", pg, env=env)
    assert terminal.returncode == 0, terminal.stderr
    month_start = midnight(NOW) - 23 * DAY  # 2026-11-01
    assert f"${truth.grand_total(org, 'costs', 'amount_value', month_start, now=NOW):,.2f}" in terminal.stdout
    page = tmp_path / "pg.html"
    assert _cli("report", "--destination", pg, "--html", str(page), env=env).returncode == 0
    assert "Spend by project" in page.read_text() and "proj_" not in page.read_text()
    out = tmp_path / "export"
    exported = _cli("export", str(out), "--destination", pg, env=env)
    assert exported.returncode == 0, exported.stderr
    assert _cli("status", "--destination", pg, env=env).returncode == 0
    assert relations() == before  # read paths: no table, view or schema created or dropped

    import pyarrow.parquet as pq

    names = {f.name for f in out.glob("*.parquet")}
    assert {"openai_usage.costs.parquet", "reporting.daily_costs.parquet", "reporting.daily_usage.parquet"} <= names
    with pgw.connect() as sql:
        for f in out.glob("*.parquet"):
            schema, name = f.name.removesuffix(".parquet").split(".")
            assert pq.read_table(f).num_rows == sql.rows(f"select count(*) from {schema}.{name}")[0][0], f.name
    billed = sum(Decimal(str(v)) for v in pq.read_table(out / "openai_usage.costs.parquet").column(
        "amount_value").to_pylist() if v is not None)
    assert billed == sum(truth.grand_total(o, "costs", "amount_value", midnight(NOW) - 45 * DAY, now=NOW)
                         for o in (org, acme))
    only = tmp_path / "acme"
    assert _cli("export", str(only), "--destination", pg, "--org", "acme", env=env).returncode == 0
    costs = pq.read_table(only / "openai_usage.costs.parquet")
    assert set(costs.column("organization").to_pylist()) == {"acme"}
    assert sum(Decimal(str(v)) for v in costs.column("amount_value").to_pylist() if v is not None) == \
        truth.grand_total(acme, "costs", "amount_value", midnight(NOW) - 45 * DAY, now=NOW)
