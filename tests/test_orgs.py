"""Several OpenAI organizations in one warehouse: each loads into the same tables, equals its own truth, keeps its own
positions, and is never touched by another's backfill, restatement or failure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from openai_usage.load.run import LoadRequest, run_load
from openai_usage.load.warehouse import Warehouse
from openai_usage.plan import pipeline_positions
from openai_usage.simulator import Org, Sandbox
from openai_usage.simulator.faults import FaultPlan
from openai_usage.simulator.server import tenant_key

from .conftest import ADMIN, DAY, NOW, midnight, query
from .helpers import assert_matches_truth

ACME_KEY = "sk-admin-acme-0000000000000001"
ENV_KEY = "SOURCES__OPENAI_USAGE__ORGANIZATIONS__ACME__API_KEY"
ENV_URL = "SOURCES__OPENAI_USAGE__ORGANIZATIONS__ACME__BASE_URL"
TABLES = ("usage_completions", "usage_embeddings", "usage_images", "costs", "projects", "project_api_keys")
CLI = [sys.executable, "-m", "openai_usage.cli"]


@pytest.fixture
def acme() -> Org:
    return Org(seed=23, days=40, now=NOW)


@pytest.fixture
def two(org: Org, acme: Org, monkeypatch: pytest.MonkeyPatch):
    """One simulator serving two organizations: the default key reads `org`, acme's key reads `acme`."""
    monkeypatch.setenv(ENV_KEY, ACME_KEY)
    with Sandbox(org, tenants={ACME_KEY: acme}) as sb:
        yield sb


def load(sb: Sandbox, db: Path, **kw: Any):
    kw.setdefault("now", NOW)
    return run_load(LoadRequest(db=db, api_key=ADMIN, base_url=sb.url, **kw))


def held(db: Path, organization: str) -> dict[str, list[tuple]]:
    """Every row an organization holds, dlt's load ids included: a row deleted and written again would differ."""
    return {t: query(db, f"select * from openai_usage.{t} where organization = '{organization}' order by all")
            for t in TABLES}


def own_positions(db: Path, organization: str) -> dict[str, Any]:
    suffix = f"__{organization}"
    positions = pipeline_positions(Warehouse(db=db).pipeline())
    return {k: v for k, v in positions.items() if (k.endswith(suffix) if organization != "default"
                                                   else "__" not in k)}


def test_two_organizations_load_into_one_warehouse_each_equal_to_its_own_truth(two, org, acme, db):
    start = midnight(NOW) - 20 * DAY
    summary = load(two, db, start=start)
    assert summary.organizations == ["acme", "default"] and not summary.failed
    for name, o in (("default", org), ("acme", acme)):
        for ep in ("completions", "embeddings", "images", "costs"):
            assert assert_matches_truth(db, o, ep, start, organization=name) > 0
    # Their data differs (so the check above could not pass by reading the other's rows), their positions are their
    # own, and the default organization keeps the resource names single-organization warehouses always had.
    sums = dict(query(db, "select organization, sum(amount_value) from openai_usage.costs group by 1"))
    assert sums.keys() == {"default", "acme"} and sums["default"] != sums["acme"]
    mine, theirs = own_positions(db, "default"), own_positions(db, "acme")
    assert "usage_completions" in mine and "usage_completions__acme" in theirs and len(mine) == len(theirs)
    # The directory is per organization: each holds exactly its own projects.
    for name, o in (("default", org), ("acme", acme)):
        ids = {r[0] for r in query(db, f"select id from openai_usage.projects where organization = '{name}'")}
        assert ids == {p["id"] for p in o.projects}


def test_backfill_and_restatement_of_one_organization_leave_the_others_rows_and_positions_alone(two, org, acme, db):
    start = midnight(NOW) - 20 * DAY
    load(two, db, start=start)
    before, positions = held(db, "default"), own_positions(db, "default")
    acme_positions = own_positions(db, "acme")

    # acme restates two days and is backfilled over them, then a plain run of acme alone.
    day = midnight(NOW) - 10 * DAY
    acme.restate("completions", day, day + 2 * DAY, 1.5)
    summary = load(two, db, start=day - DAY, end=day + 3 * DAY, orgs=["acme"])
    assert summary.backfill and summary.organizations == ["acme"]
    assert_matches_truth(db, acme, "completions", start, organization="acme")
    assert own_positions(db, "acme") == acme_positions  # a backfill leaves positions alone

    acme.restate("embeddings", midnight(NOW) - DAY, midnight(NOW), 2.0)
    summary = load(two, db, orgs=["acme"])
    assert summary.restated_buckets > 0
    assert_matches_truth(db, acme, "embeddings", start, organization="acme")
    restated = {r[0] for r in query(db, "select distinct organization from openai_usage.restatements")}
    assert restated == {"acme"}

    # Not one of the default organization's rows was deleted or written again, and its positions did not move.
    assert held(db, "default") == before
    assert own_positions(db, "default") == positions
    # A plain run of both afterwards still finds each equal to its own truth.
    assert not load(two, db).failed
    for name, o in (("default", org), ("acme", acme)):
        assert_matches_truth(db, o, "completions", start, organization=name)


def test_organizations_load_concurrently_each_within_its_own_limit(org, acme, db, monkeypatch):
    monkeypatch.setenv(ENV_KEY, ACME_KEY)
    with Sandbox(org, tenants={ACME_KEY: acme}, latency_ms=40) as sb:
        load(sb, db, start=midnight(NOW) - 3 * DAY, concurrency=1, directory=False)
        # One request in flight per organization at most, and the two organizations' requests overlapped.
        assert sb.stats["peak_in_flight"] == 2


def test_one_organization_failing_part_way_keeps_what_it_read_and_reads_it_again_next_run(org, acme, db,
                                                                                         monkeypatch):
    """acme has its own base URL: a second simulator that fails its completions on every second page. The default
    organization loads whole; acme's run stops, and the next run re-reads acme from where the failed one began."""
    start = midnight(NOW) - 35 * DAY
    # The first window's first page holds 14 days, so the rest of it is cut into windows of 14; those answer 7 a
    # page, so each has a second page (a window cut from a short page is read as fresh queries otherwise).
    failing = FaultPlan.parse([f"short:size=14,window={start}", "short:size=7", "500:page=2,only=completions"], 0)
    with Sandbox(org) as sb, Sandbox(acme, admin_keys=(ACME_KEY,), faults=failing) as sb_acme:
        monkeypatch.setenv(ENV_KEY, ACME_KEY)
        monkeypatch.setenv(ENV_URL, sb_acme.url)
        summary = load(sb, db, start=start, max_attempts=1)
        assert list(summary.failed) == ["acme"], summary.failed
        for ep in ("completions", "costs"):
            assert_matches_truth(db, org, ep, start, organization="default")
        got = query(db, "select count(distinct start_time) from openai_usage.usage_completions "
                        "where organization = 'acme'")[0][0]
        assert got < 35  # acme's completions stopped part way
        # What arrived moved acme's position past where the run began: the run is marked to be read again from there.
        state = Warehouse(db=db).pipeline().state["sources"]["openai_usage"]["resources"]["usage_completions__acme"]
        assert state["resume_from"] == start
        assert int(state["incremental"]["start_time"]["last_value"].timestamp()) > start
        assert "resume_from" not in Warehouse(db=db).pipeline().state["sources"]["openai_usage"]["resources"][
            "usage_completions"]

        sb_acme.faults = FaultPlan()
        summary = load(sb, db)
        assert not summary.failed
        assert any("failed part way" in n and "[acme]" in n for n in summary.notes)
        for ep in ("completions", "embeddings", "costs"):
            assert_matches_truth(db, acme, ep, start, organization="acme")
            assert_matches_truth(db, org, ep, start, organization="default")
        state = Warehouse(db=db).pipeline().state["sources"]["openai_usage"]["resources"]
        assert not any("resume_from" in r for r in state.values())


def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_ADMIN_KEY", "SOURCES__OPENAI_USAGE"))}
    e.update(env)
    return subprocess.run(CLI + args, capture_output=True, text=True, env=e, timeout=300)


def test_a_wrong_key_for_one_organization_exits_1_naming_it_while_the_other_is_loaded(two, org, db):
    wrong = "sk-admin-WRONG-acme-key-never-shown-0042"
    p = cli(["load", "--db", str(db), "--base-url", two.url, "--start", "2026-11-10"],
            {"OPENAI_ADMIN_KEY": ADMIN, ENV_KEY: wrong, "OPENAI_USAGE_NOW": str(NOW)})
    assert p.returncode == 1, p.stderr
    last = [ln for ln in p.stderr.splitlines() if ln.strip()][-1]
    assert last.startswith("error: organization 'acme' failed") and "admin key" in last, last
    assert "Traceback" not in p.stderr and wrong not in p.stdout + p.stderr
    start = midnight(NOW) - 14 * DAY
    assert_matches_truth(db, org, "completions", start, organization="default")
    assert query(db, "select count(*) from openai_usage.usage_completions where organization = 'acme'")[0][0] == 0
    # The views were applied for what loaded.
    assert query(db, "select count(*) from reporting.daily_costs")[0][0] > 0


def test_org_option_loads_only_the_named_organization_and_refuses_an_unknown_one(two, acme, db):
    env = {"OPENAI_ADMIN_KEY": ADMIN, ENV_KEY: ACME_KEY, "OPENAI_USAGE_NOW": str(NOW)}
    p = cli(["load", "--db", str(db), "--base-url", two.url, "--start", "2026-11-20", "--org", "acme"], env)
    assert p.returncode == 0, p.stderr
    assert {r[0] for r in query(db, "select distinct organization from openai_usage.costs")} == {"acme"}
    p = cli(["load", "--db", str(db), "--base-url", two.url, "--org", "globex"], env)
    assert p.returncode == 2 and "globex" in p.stderr and "acme" in p.stderr and "Traceback" not in p.stderr
    p = cli(["load", "--db", str(db), "--base-url", two.url],
            {**env, "SOURCES__OPENAI_USAGE__ORGANIZATIONS__BAD__NAME__API_KEY": "sk-admin-x"})
    assert p.returncode == 2 and "organization name" in p.stderr


def test_sandbox_serves_named_organizations_each_with_its_own_key_and_data(tmp_path):
    import httpx

    from openai_usage.simulator.server import tenant_seed

    assert tenant_seed(7, "acme") != tenant_seed(7, "globex") != 7
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([*CLI, "sandbox", "--port", str(port), "--days", "5", "--org", "acme"],
                            stderr=subprocess.PIPE, text=True)
    try:
        lines = [proc.stderr.readline() for _ in range(3)]
        assert any(f"{ENV_KEY}={tenant_key('acme')}" in ln for ln in lines), lines
        url = f"http://127.0.0.1:{port}/v1/organization/projects"
        for _ in range(100):
            try:
                a = httpx.get(url, headers={"Authorization": f"Bearer {ADMIN}"}).json()
                break
            except httpx.HTTPError:
                import time

                time.sleep(0.1)
        b = httpx.get(url, headers={"Authorization": f"Bearer {tenant_key('acme')}"}).json()
        assert a["data"] and b["data"] and {p["id"] for p in a["data"]} != {p["id"] for p in b["data"]}
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_warehouse_loaded_before_organizations_is_upgraded_in_place_without_duplicates(org, sandbox, db, tmp_path):
    """The previous release (commit ce4ce74, before organizations) loads a warehouse; this one loads it again."""
    repo = Path(__file__).resolve().parents[1]
    old = tmp_path / "old"
    old.mkdir()
    archive = subprocess.run(["git", "-C", str(repo), "archive", "ce4ce74", "pipelines", "schemas", "sql"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__OPENAI_USAGE")}
    env |= {"PYTHONPATH": str(old / "pipelines"), "OPENAI_ADMIN_KEY": ADMIN, "OPENAI_USAGE_NOW": str(NOW)}
    start = midnight(NOW) - 12 * DAY
    p = subprocess.run([*CLI, "load", "--db", str(db), "--base-url", sandbox.url, "--start", "2026-11-12"],
                       capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    cols = [r[0] for r in query(db, "select column_name from information_schema.columns "
                                    "where table_name = 'usage_completions'")]
    assert "organization" not in cols  # truly the old layout

    summary = load(sandbox, db)
    assert not summary.failed
    for ep in ("completions", "costs"):
        assert_matches_truth(db, org, ep, start, organization="default")
    assert query(db, "select count(*) from openai_usage.projects where organization is null")[0][0] == 0
    assert "usage_completions" in own_positions(db, "default")


def test_an_organization_id_the_api_sends_is_kept_beside_the_configured_name(org, acme, db, monkeypatch):
    """The API has been seen sending `organization_id` on results: it is kept as a column, next to `organization`."""
    extra = FaultPlan.parse(["extra_fields:only=completions"], 0)
    with Sandbox(org) as sb, Sandbox(acme, admin_keys=(ACME_KEY,), faults=extra) as sb_acme:
        monkeypatch.setenv(ENV_KEY, ACME_KEY)
        monkeypatch.setenv(ENV_URL, sb_acme.url)
        assert not load(sb, db, start=midnight(NOW) - 3 * DAY, endpoints=["completions"], directory=False).failed
    rows = dict(query(db, "select organization, max(organization_id) from openai_usage.usage_completions "
                          "where not coalesce(_bucket_emptied, false) group by 1"))
    assert rows == {"acme": "org-sandbox", "default": None}


def test_organizations_in_the_secrets_file_load_beside_the_default_key_in_a_plain_dlt_pipeline(two, org, acme,
                                                                                              tmp_path):
    """The library path: `openai_usage_source()` in a plain dlt pipeline, in a project whose .dlt/secrets.toml names
    an organization (a section dlt would also hand to a source argument named like it), with the default key from
    OPENAI_ADMIN_KEY. Its own process: dlt reads the secrets of the folder a process starts in."""
    (tmp_path / ".dlt").mkdir()
    (tmp_path / ".dlt" / "secrets.toml").write_text(
        f'[sources.openai_usage.organizations.acme]\napi_key = "{ACME_KEY}"\n')
    db = tmp_path / "lib.duckdb"
    start = midnight(NOW) - 5 * DAY
    script = (
        "import dlt, sys\n"
        "from openai_usage import openai_usage_source\n"
        f"p = dlt.pipeline('orgs_lib', destination=dlt.destinations.duckdb({str(db)!r}), dataset_name='openai_usage')\n"
        f"p.run(openai_usage_source(base_url={two.url!r}, start={start}, now={NOW},\n"
        "                           endpoints=['completions', 'costs']))\n"
        f"p.run(openai_usage_source(base_url={two.url!r}, orgs=['acme'], now={NOW}, endpoints=['costs']))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__OPENAI_USAGE")}
    env |= {"OPENAI_ADMIN_KEY": ADMIN, "DLT_DATA_DIR": str(tmp_path / "dlt-data")}
    p = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    for name, o in (("default", org), ("acme", acme)):
        for ep in ("completions", "costs"):
            assert_matches_truth(db, o, ep, start, organization=name)


def test_the_same_ids_in_two_organizations_are_two_rows_in_every_directory_table(org, db, monkeypatch):
    """Users belong to several organizations under one ID; a twin organization has every ID of the default one."""
    twin = Org(seed=org.seed, days=40, now=NOW)
    monkeypatch.setenv(ENV_KEY, ACME_KEY)
    with Sandbox(org, tenants={ACME_KEY: twin}) as sb:
        load(sb, db, start=midnight(NOW) - 2 * DAY, endpoints=["costs"])
        load(sb, db, endpoints=["costs"])
    for table in ("projects", "users", "project_api_keys", "project_service_accounts"):
        per_org = dict(query(db, f"select organization, count(*) from openai_usage.{table} group by 1"))
        assert per_org["default"] == per_org["acme"] > 0, table
        shared = query(db, f"select count(*) from (select id from openai_usage.{table} group by id "
                           "having count(distinct organization) = 2)")[0][0]
        assert shared == per_org["default"], table
