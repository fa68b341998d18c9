"""The command line as a user meets it: real processes, exit codes, one-line errors, no key in any output."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import ADMIN, NOW, midnight, query

CLI = [sys.executable, "-m", "openai_usage.cli"]
SECRET = "sk-admin-THIS-KEY-MUST-NEVER-BE-SHOWN-4242"


def run(args: list[str], *, key: str | None = None, env: dict[str, str] | None = None, cwd: Path | None = None,
        timeout: int = 240) -> subprocess.CompletedProcess[str]:
    e = {k: v for k, v in os.environ.items() if k != "OPENAI_ADMIN_KEY"}
    if key is not None:
        e["OPENAI_ADMIN_KEY"] = key
    e.update(env or {})
    return subprocess.run(CLI + args, capture_output=True, text=True, env=e, cwd=cwd, timeout=timeout)


def one_line_error(p: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in p.stderr.strip().splitlines() if ln.strip()]
    assert "Traceback" not in p.stderr and "Traceback" not in p.stdout, p.stderr
    assert lines, "no error message"
    return lines[-1]


@pytest.mark.parametrize("args,needle", [
    (["--start", "2026-02-30"], "--start"),
    (["--start", "yesterday-ish"], "--start"),
    (["--start", "2026-03-01", "--end", "2026-02-01"], "after"),
    (["--endpoints", "completions,telepathy"], "telepathy"),
    (["--bucket-width", "2d"], "2d"),
    (["--reread", "lots"], "--reread"),
    (["--concurrency", "0"], "concurrency"),
    (["--db", "/nonexistent-folder/x.duckdb"], "does not exist"),
    (["--db", "openai_usage.duckdb"], "name the DuckDB file"),
    (["--group-by", "completions=colour"], "colour"),
    (["--group-by", "completions"], "ENDPOINT=DIM"),
])
def test_bad_load_arguments_exit_2_with_one_line_and_no_network(tmp_path, args, needle):
    # an unroutable base URL proves no request is attempted: bad input fails before any I/O
    p = run(["load", "--db", str(tmp_path / "w.duckdb"), "--base-url", "http://127.0.0.1:9/v1", *args], key=ADMIN,
            cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    assert needle in one_line_error(p)


def test_read_only_folder_is_refused():
    # /proc refuses new files even to root, so this holds whoever runs the tests
    p = run(["load", "--db", "/proc/w.duckdb"], key=ADMIN)
    assert p.returncode == 2 and "cannot write" in one_line_error(p)


def test_missing_key_is_one_clear_line(tmp_path):
    p = run(["load", "--db", str(tmp_path / "w.duckdb")], cwd=tmp_path)
    assert p.returncode == 2 and "admin key" in one_line_error(p)


def test_unreachable_base_url_fails_with_exit_1(tmp_path):
    p = run(["load", "--db", str(tmp_path / "w.duckdb"), "--base-url", "http://127.0.0.1:9/v1",
             "--endpoints", "moderations", "--timeout", "1", "--max-attempts", "2"], key=SECRET)
    assert p.returncode == 1
    assert "connection" in one_line_error(p).lower()
    assert SECRET not in p.stdout + p.stderr


@pytest.mark.parametrize("key,status", [(SECRET, "401"), ("sk-proj-THIS-IS-A-PROJECT-KEY-9999", "403")])
def test_wrong_keys_exit_1_with_admin_key_hint_and_never_echo_the_key(sandbox, tmp_path, key, status):
    p = run(["load", "--db", str(tmp_path / "w.duckdb"), "--base-url", sandbox.url, "--endpoints", "completions"],
            key=key, env={"OPENAI_USAGE_NOW": str(NOW)})
    assert p.returncode == 1
    line = one_line_error(p)
    assert status in line and "admin key" in line
    assert key not in p.stdout + p.stderr


def test_load_command_end_to_end_and_key_stays_out_of_every_file(sandbox, tmp_path):
    sandbox.tenants[SECRET] = sandbox.org
    db = tmp_path / "w.duckdb"
    p = run(["load", "--db", str(db), "--base-url", sandbox.url, "--start", "2026-11-10", "-v"], key=SECRET,
            env={"OPENAI_USAGE_NOW": str(NOW)})
    assert p.returncode == 0, p.stderr
    assert "Load summary" in p.stdout and "usage_completions" in p.stdout
    assert query(db, "select count(*) from openai_usage.usage_completions "
                     f"where epoch(start_time) >= {midnight(NOW) - 14 * 86400}")[0][0] > 0
    assert SECRET not in p.stdout + p.stderr
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert SECRET.encode() not in f.read_bytes(), f"admin key found in {f}"


def test_status_shows_freshness_and_max_age_fails_when_stale(sandbox, tmp_path):
    db = tmp_path / "w.duckdb"
    api_now = {"OPENAI_USAGE_NOW": str(NOW)}
    p = run(["load", "--db", str(db), "--base-url", sandbox.url, "--start", "2026-11-20", "--endpoints",
             "completions,costs"], key=ADMIN, env=api_now)
    assert p.returncode == 0, p.stderr
    s = run(["status", "--db", str(db)])
    assert s.returncode == 0, s.stderr
    assert "usage_completions" in s.stdout and "2026-11-24 00:00" in s.stdout and "never loaded" in s.stdout
    assert "2026-11-24 13:20" in s.stdout  # read up to the moment of the load, on the API's clock
    assert "last successful load" in s.stdout
    assert run(["status", "--db", str(db), "--max-age", "1h"], env=api_now).returncode == 0  # just loaded
    time.sleep(1.5)
    stale = run(["status", "--db", str(db), "--max-age", "1s"], env=api_now)
    assert stale.returncode == 1 and "stale" in one_line_error(stale)
    bad = run(["status", "--db", str(db), "--max-age", "soon"])
    assert bad.returncode == 2 and "--max-age" in one_line_error(bad)
    missing = run(["status", "--db", str(tmp_path / "nope.duckdb")])
    assert missing.returncode == 2 and "no warehouse" in one_line_error(missing)


def test_the_scheduled_workflow_is_well_formed_and_runs_real_commands() -> None:
    import shlex

    import click
    import yaml

    ROOT = Path(__file__).resolve().parents[1]  # the repository: the workflow is not package data
    from openai_usage.cli import main

    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "scheduled-load.yml").read_text())
    triggers = wf[True] if True in wf else wf["on"]  # YAML 1.1 reads the key `on` as a boolean
    assert triggers["schedule"][0]["cron"].count(" ") == 4
    assert wf["concurrency"]["cancel-in-progress"] is False  # overlapping runs wait, never run twice
    env = wf["jobs"]["load"]["env"]
    assert env["OPENAI_USAGE_DESTINATION"] == "motherduck" and "secrets." in env["OPENAI_ADMIN_KEY"]
    commands = [line for step in wf["jobs"]["load"]["steps"] for line in str(step.get("run", "")).splitlines()
                if line.strip().startswith("openai-usage")]
    assert len(commands) == 2
    for line in commands:
        args = shlex.split(line)[1:]
        ctx = main.make_context("openai-usage", list(args), resilient_parsing=True)
        sub = main.get_command(ctx, args[0])
        assert isinstance(sub, click.Command)
        sub.make_context(args[0], args[1:])  # raises on an unknown option or a bad value


@pytest.mark.parametrize("url", ["not a url", "ftp://example.com/v1", "http:///v1", "https://", "api.openai.com/v1"])
def test_a_base_url_that_can_never_work_is_bad_input_answered_at_once(tmp_path, url):
    """Not retried for 100 s and then called a connection problem: exit 2 and one line, before any request."""
    t0 = time.monotonic()
    p = run(["load", "--db", str(tmp_path / "w.duckdb"), "--base-url", url], key=ADMIN, cwd=tmp_path, timeout=60)
    assert p.returncode == 2, p.stderr
    assert "--base-url" in one_line_error(p) and "connection" not in p.stderr
    assert time.monotonic() - t0 < 30  # a retried run takes minutes; this guards against retrying, not speed
    assert not (tmp_path / "w.duckdb").exists()


def test_the_client_never_retries_a_request_that_cannot_succeed():
    from openai_usage import catalogue
    from openai_usage.errors import ConfigError
    from openai_usage.extract.http import UsageClient, request_params
    from openai_usage.summary import RunStats

    stats = RunStats()
    client = UsageClient(ADMIN, "gopher://127.0.0.1:9/v1", max_backoff=5, stats=stats)
    ep = catalogue.endpoints()["costs"]
    with pytest.raises(ConfigError):
        list(client.pages(ep, request_params(ep, NOW - 86400, None, "1d", ()), max_pages=3))
    assert stats.counts["requests"] == 1 and stats.counts["retries"] == 0


def test_status_max_age_judges_the_data_not_only_the_last_load(sandbox, tmp_path):
    """A load that just succeeded but only read an old range is stale, and status says it is the data."""
    db = tmp_path / "w.duckdb"
    api_now = {"OPENAI_USAGE_NOW": str(NOW)}
    p = run(["load", "--db", str(db), "--base-url", sandbox.url, "--start", "2026-10-20", "--end", "2026-10-25",
             "--endpoints", "completions,costs"], key=ADMIN, env=api_now)
    assert p.returncode == 0, p.stderr
    stale = run(["status", "--db", str(db), "--max-age", "3h"], env=api_now)
    assert stale.returncode == 1
    assert "stale: data: usage_completions was last read up to 2026-10-25 00:00 UTC" in one_line_error(stale)
    assert "last successful load" in stale.stdout and "stale: data: costs" in stale.stdout
    # a plain load brings every loaded table up to now: fresh
    p = run(["load", "--db", str(db), "--base-url", sandbox.url, "--endpoints", "completions,costs"], key=ADMIN,
            env=api_now)
    assert p.returncode == 0, p.stderr
    assert run(["status", "--db", str(db), "--max-age", "3h"], env=api_now).returncode == 0
    # five hours on the API's clock with no load: the data is stale, though the last load was seconds ago
    later = run(["status", "--db", str(db), "--max-age", "3h"], env={"OPENAI_USAGE_NOW": str(NOW + 5 * 3600)})
    assert later.returncode == 1 and "stale: data: usage_completions was last read up to 2026-11-24 13:20" \
        in one_line_error(later)


def test_freshness_allows_each_kind_its_known_arrival_lag():
    """Costs arrive about a day after the usage they bill: newest costs 30 h old pass a 3 h check, usage does not."""
    import datetime as dt

    from openai_usage.reports import status as st

    now = dt.datetime.fromtimestamp(NOW, dt.UTC)
    ago = lambda h: now - dt.timedelta(hours=h)  # noqa: E731

    def table(name: str, kind: str, lag_h: int, read_h: float, data_h: float) -> st.TableStatus:
        return st.TableStatus(name, "1d", ago(read_h), 10, ago(read_h), ago(data_h), kind, lag_h * 3600)

    fresh = st.Status([table("costs", "costs", 36, 0.1, 30), table("usage_completions", "usage", 1, 0.1, 0.1)],
                      now, 3)
    assert st.staleness(fresh, 3 * 3600, now, now) == []
    late_usage = st.Status([table("costs", "costs", 36, 0.1, 30), table("usage_completions", "usage", 1, 0.1, 5)],
                           now, 3)
    (reason,) = st.staleness(late_usage, 3 * 3600, now, now)
    assert reason.startswith("data: the newest usage figures end") and "plus 60m for usage to arrive" in reason
    late_costs = st.Status([table("costs", "costs", 36, 0.1, 40), table("usage_completions", "usage", 1, 0.1, 0)],
                           now, 3)
    assert st.staleness(late_costs, 3 * 3600, now, now)[0].startswith("data: the newest costs figures")
    # an endpoint the organization stopped using is not stale while another of its kind has fresh figures
    quiet = st.Status([table("usage_images", "usage", 1, 0.1, 24 * 40), table("usage_completions", "usage", 1, 0.1, 0)],
                      now, 3)
    assert st.staleness(quiet, 3 * 3600, now, now) == []
    old_load = st.Status([table("usage_completions", "usage", 1, 0.1, 0.1)], ago(5), 3)
    assert st.staleness(old_load, 3 * 3600, now, now) == ["the last successful load was 5h00m ago (allowed: 3h00m)"]


def test_the_help_says_what_concurrency_means():
    p = run(["load", "--help"])
    assert "per organization" in " ".join(p.stdout.split()) and "per endpoint" not in p.stdout


@pytest.mark.parametrize("command", [["report"], ["status"], ["export", "out"]])
def test_read_commands_refuse_a_lake_in_one_line(tmp_path, command):
    # Delta tables in a folder: no SQL engine of ours reads them, so the read paths say where to go instead
    lake = {"DESTINATION__LAKE__DESTINATION_TYPE": "filesystem", "DESTINATION__LAKE__BUCKET_URL": str(tmp_path)}
    p = run([*command, "--destination", "lake"], env=lake, cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    assert "Delta tables" in one_line_error(p) and "views --dialect spark" in one_line_error(p)
    assert list(tmp_path.iterdir()) == []  # nothing written, not even the export folder


@pytest.mark.parametrize("dialect", ["spark", "trino", "bigquery"])
def test_views_for_another_engine_are_printed_without_a_warehouse(tmp_path, dialect):
    p = run(["views", "--dialect", dialect], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.upper().count("CREATE OR REPLACE VIEW") >= 23  # every view in sql/, in that dialect
    assert "REPORTING.SPEND_RUNWAY" in p.stdout.upper().replace("`", "").replace('"', "")
    assert list(tmp_path.iterdir()) == []  # printing views writes nothing


def test_views_for_an_unknown_dialect_is_one_line_and_exit_2(tmp_path):
    p = run(["views", "--dialect", "sparkle"], cwd=tmp_path)
    assert p.returncode == 2 and "unknown SQL dialect 'sparkle'" in one_line_error(p)
