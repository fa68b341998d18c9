"""Terminal report, HTML report in a real headless Chromium, and Parquet export."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from openai_usage.simulator import Org, Sandbox, truth
from openai_usage.transform.views import apply_views

from .conftest import DAY, NOW, load, midnight, query

CLI = [sys.executable, "-m", "openai_usage.cli"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    org = Org(seed=11, days=70, now=NOW)
    db = tmp_path_factory.mktemp("report") / "w.duckdb"
    with Sandbox(org) as sb:
        load(sb, db, start=midnight(NOW) - 60 * DAY)
    apply_views(db)  # as `openai-usage load` does: the reports only read
    return org, db


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_terminal_report_shows_the_month_with_exact_figures(warehouse):
    org, db = warehouse
    p = cli("report", "--db", str(db))
    assert p.returncode == 0, p.stderr
    for heading in ("Month to date", "Spend by project", "Top API keys", "Top line items", "Models",
                    "Batch and cache", "Anomalies", "Billed (Costs) against usage"):
        assert heading in p.stdout, heading
    # one organization, the one a single admin key loads: reported as before, without organization names or totals
    assert "Spend by organization" not in p.stdout and "organizations" not in p.stdout
    assert "default" not in p.stdout.replace("default-", "").replace("Default Project", "")
    month_start = midnight(NOW) - 23 * DAY  # 2026-11-01
    mtd = truth.grand_total(org, "costs", "amount_value", month_start)
    assert f"${mtd:,.2f}" in p.stdout
    by_project: dict[str | None, Decimal] = defaultdict(Decimal)
    for k, v in truth.totals(org, "costs", month_start, None, "1d", ("project_id",)).items():
        by_project[k[1]] += v["amount_value"]
    top = max((k for k in by_project if k), key=lambda k: by_project[k])
    name = next(x["name"] for x in org.projects if x["id"] == top)  # shown by name, not ID
    assert re.search(rf"{re.escape(name)}\s+│\s+\${by_project[top]:,.2f}", p.stdout)
    assert top not in p.stdout


def test_report_for_an_earlier_month(warehouse):
    org, db = warehouse
    p = cli("report", "--db", str(db), "--month", "2026-10")
    assert p.returncode == 0 and "October 2026" in p.stdout
    october = truth.grand_total(org, "costs", "amount_value", midnight(NOW) - 54 * DAY, midnight(NOW) - 23 * DAY)
    items = query(db, "select sum(amount) from reporting.daily_costs where day >= '2026-10-01' and day < '2026-11-01'")
    assert items[0][0] == october


def test_report_on_empty_or_missing_warehouse_is_a_clear_message(tmp_path):
    empty = tmp_path / "empty.duckdb"
    apply_views(empty)
    p = cli("report", "--db", str(empty))
    assert p.returncode == 0 and "No costs loaded yet" in p.stdout
    p = cli("report", "--db", str(empty), "--html", str(tmp_path / "r.html"))
    assert p.returncode == 0 and "No costs loaded yet" in (tmp_path / "r.html").read_text()
    p = cli("report", "--db", str(tmp_path / "missing.duckdb"))
    assert p.returncode == 2 and "no warehouse" in p.stderr and "Traceback" not in p.stderr
    p = cli("report", "--db", str(empty), "--month", "2026-13")
    assert p.returncode == 2 and "--month" in p.stderr


def test_report_export_and_status_only_read(tmp_path):
    """Read paths never write: not the warehouse file, not a view, not dlt's working folder. Without current views
    they refuse in one line that names the command that applies them."""
    org = Org(seed=5, days=20, now=NOW)
    db = tmp_path / "w.duckdb"
    with Sandbox(org) as sb:
        load(sb, db, start=midnight(NOW) - 5 * DAY, endpoints=["costs", "completions"])

    def snapshot() -> tuple[str, list[str]]:
        return hashlib.sha256(db.read_bytes()).hexdigest(), sorted(str(p) for p in tmp_path.rglob("*"))

    html_file, out = tmp_path / "r.html", tmp_path / "out"
    before = snapshot()
    for args in (("report",), ("report", "--html", str(html_file)), ("export", str(out))):
        p = cli(*args, "--db", str(db))
        assert p.returncode == 2 and "openai-usage views" in p.stderr and len(p.stderr.splitlines()) == 1, p.stderr
    assert cli("status", "--db", str(db)).returncode == 0
    assert snapshot() == before
    assert cli("views", "--db", str(db)).returncode == 0
    with_views = snapshot()
    assert with_views[0] != before[0]
    for args in (("report",), ("status",)):
        assert cli(*args, "--db", str(db)).returncode == 0
    assert snapshot() == with_views
    assert cli("report", "--html", str(html_file), "--db", str(db)).returncode == 0
    assert cli("export", str(out), "--db", str(db)).returncode == 0
    digest, files = snapshot()
    assert digest == with_views[0]
    assert {f for f in files if not f.startswith((str(html_file), str(out)))} == set(with_views[1])


def test_html_report_renders_in_headless_chromium_without_console_errors(warehouse, tmp_path):
    org, db = warehouse
    html_file = tmp_path / "report.html"
    p = cli("report", "--db", str(db), "--html", str(html_file))
    assert p.returncode == 0, p.stderr
    text = html_file.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), "the report must not load anything remote"
    assert text.count("<svg") >= 3 and "Daily cost by line item" in text
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian's chromium is needed: `make test` installs it"
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    profile = tmp_path / "profile"
    run = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr",
                          "--v=0", "--window-size=1280,2600", f"--screenshot={shot}", html_file.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 30_000, run.stderr[-2000:]
    console = [ln for ln in run.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert not console, console
    dom = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", html_file.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    assert dom.count("<rect") > 50 and "Spend by project" in dom
    # names, not IDs: every project by name, and no project ID anywhere on the page
    assert all(p["name"] in dom for p in org.projects) and "proj_" not in dom
    assert "Top API keys by tokens" in dom and "deleted key (key_" in dom
    # chargeback and runway, as the browser renders them: owners by name, and a warning per hard limit reached
    assert "Cost by API key owner" in dom and "Spend limits and alerts this month" in dom
    owners = {u["name"] for u in org.users} | {s["name"] for s in org.service_accounts}
    assert sum(name in dom for name in owners) >= 5 and "(unallocated)" in dom
    limits = query(db, "select count(*) from reporting.spend_runway where enforces_before_month_end")[0][0]
    assert limits > 0 and dom.count('role="alert"') == limits
    assert "would enforce on" in dom or "was reached on" in dom


def test_export_writes_every_table_and_view_as_parquet(warehouse, tmp_path):
    _, db = warehouse
    out = tmp_path / "export"
    p = cli("export", "--format", "parquet", str(out), "--db", str(db))
    assert p.returncode == 0, p.stderr
    names = {f.name for f in out.glob("*.parquet")}
    for t in ("openai_usage.costs", "openai_usage.usage_completions", "reporting.daily_costs",
              "reporting.monthly_costs", "reporting.daily_usage", "reporting.anomalies"):
        assert f"{t}.parquet" in names, t
    assert not any(n.startswith("openai_usage._dlt") for n in names)
    for f in out.glob("*.parquet"):
        schema, name = f.name.removesuffix(".parquet").split(".")
        assert pq.read_table(f).num_rows == query(db, f'select count(*) from {schema}."{name}"')[0][0], f.name
    total = pq.read_table(out / "reporting.daily_costs.parquet").column("amount").to_pylist()
    assert sum(total) == query(db, "select sum(amount) from reporting.daily_costs")[0][0]


def test_demo_writes_both_reports(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_ADMIN_KEY"}
    p = subprocess.run([*CLI, "demo", "--days", "35"], capture_output=True, text=True, timeout=600, cwd=tmp_path,
                       env=env)
    assert p.returncode == 0, p.stderr
    assert "Month to date" in p.stdout and (tmp_path / "demo" / "report.html").exists()
