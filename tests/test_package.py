"""The package as a user who never clones the repository gets it: a wheel built from the repository, installed into
a clean virtual environment with the locked versions, run from a directory that has nothing to do with the
checkout. Every command is used: demo, sandbox, load, report, status, export."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from openai_usage.simulator import Org, truth

from .conftest import ADMIN, DAY, NOW, midnight

ROOT = Path(__file__).resolve().parents[1]


def sh(*args: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: int = 600,
       ) -> subprocess.CompletedProcess[str]:
    p = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"{args[:3]} failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}"
    return p


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A wheel of the repository installed into a fresh venv; returns its bin folder and a clean environment."""
    tmp = tmp_path_factory.mktemp("wheel")
    sh(sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps", "-w",
       tmp / "dist", ROOT, cwd=tmp)
    (wheel,) = (tmp / "dist").glob("openai_usage_pipeline-*.whl")
    sh(sys.executable, "-m", "venv", tmp / "venv", cwd=tmp)
    bin_ = tmp / "venv" / "bin"
    sh(bin_ / "pip", "install", "--quiet", "--disable-pip-version-check", "-c", ROOT / "requirements.lock", wheel,
       cwd=tmp)
    # Nothing of this checkout or of the test run's environment leaks in.
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "OPENAI_ADMIN_KEY", "OPENAI_USAGE_DB")
           and not k.startswith(("PYTEST", "OPENAI_USAGE"))}
    env["PATH"] = f"{bin_}:{env.get('PATH', '')}"
    return bin_, env


def test_the_installed_package_is_its_own_and_carries_its_data(installed, tmp_path):
    bin_, env = installed
    p = sh(bin_ / "python", "-c", "import openai_usage, openai_usage.catalogue as c, "
           "openai_usage.transform.views as v; print(openai_usage.__file__); print(len(c.endpoints())); "
           "print(len(v.sql_files()))", cwd=tmp_path, env=env)
    where, endpoints, views = p.stdout.split()
    assert where.startswith(str(bin_.parent)) and str(ROOT) not in where
    assert int(endpoints) == 11 and int(views) == len(list((ROOT / "sql").glob("*/*.sql")))


def test_demo_from_an_unrelated_directory(installed, tmp_path):
    bin_, env = installed
    p = sh(bin_ / "openai-usage", "demo", "--days", "20", cwd=tmp_path, env=env)
    assert "Load summary" in p.stdout and "OpenAI usage and spend" in p.stdout
    assert (tmp_path / "demo" / "openai_org.duckdb").exists() and (tmp_path / "demo" / "report.html").exists()


def test_sandbox_load_report_status_export_from_an_unrelated_directory(installed, tmp_path):
    bin_, env = installed
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([str(bin_ / "openai-usage"), "sandbox", "--port", str(port), "--days", "20", "--now",
                               str(NOW)], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        for _ in range(300):
            try:
                httpx.get(f"{url}/organization/costs", params={"start_time": NOW - DAY},
                          headers={"Authorization": f"Bearer {ADMIN}"}, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        run_env = {**env, "OPENAI_ADMIN_KEY": ADMIN, "OPENAI_USAGE_NOW": str(NOW)}
        start = midnight(NOW) - 10 * DAY
        cli = bin_ / "openai-usage"
        sh(cli, "load", "--db", "w.duckdb", "--base-url", url, "--start", str(start), cwd=tmp_path, env=run_env)
        report = sh(cli, "report", "--db", "w.duckdb", cwd=tmp_path, env=run_env)
        assert "Spend by project" in report.stdout
        sh(cli, "report", "--db", "w.duckdb", "--html", "r.html", cwd=tmp_path, env=run_env)
        assert "<svg" in (tmp_path / "r.html").read_text()
        assert "usage_completions" in sh(cli, "status", "--db", "w.duckdb", "--max-age", "1h", cwd=tmp_path,
                                         env=run_env).stdout
        sh(cli, "export", "--format", "parquet", "out", "--db", "w.duckdb", cwd=tmp_path, env=run_env)
        assert (tmp_path / "out" / "reporting.daily_costs.parquet").exists()
    finally:
        server.terminate()
        server.wait(timeout=30)
    # the installed pipeline loaded exactly what the generator says, to the cent
    import duckdb

    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    total = con.execute("select sum(amount_value) from openai_usage.costs").fetchone()[0]
    con.close()
    assert total == truth.grand_total(Org(seed=7, days=20, now=NOW), "costs", "amount_value", start, now=NOW)
