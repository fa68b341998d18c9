"""The organization directory: tables against the generator's entities, names in the views, renames."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import httpx
import pytest

from openai_usage import catalogue
from openai_usage.extract.directory import list_items, rest_client
from openai_usage.extract.flatten import flatten_directory
from openai_usage.extract.http import UsageClient
from openai_usage.simulator import Org, Sandbox, truth
from openai_usage.simulator.faults import FaultPlan
from openai_usage.transform.views import apply_views

from .conftest import ADMIN, DAY, NOW, load, midnight, query
from .helpers import assert_matches_truth


def _ts(t: int | None) -> dt.datetime | None:
    return None if t is None else dt.datetime.fromtimestamp(t, dt.UTC)


def _table_rows(db: Path, table: str) -> set[tuple]:
    dl = catalogue.directory_lists()[table]
    cols = (["project_id"] if dl.per_project or dl.scope else []) + [c.name for c in dl.columns]
    where = f" where scope = '{dl.scope}'" if dl.scope else ""
    rows = query(db, f"select {', '.join(cols)} from openai_usage.{dl.table}{where}")
    return {tuple(v.astimezone(dt.UTC) if isinstance(v, dt.datetime) else v for v in r) for r in rows}


def _truth_rows(org: Org, table: str) -> set[tuple]:
    dl = catalogue.directory_lists()[table]
    cols = (["project_id"] if dl.per_project or dl.scope else []) + [c.name for c in dl.columns]
    types = {c.name: c.type for c in dl.columns}
    return {tuple(_ts(r[c]) if types.get(c) == "timestamp" else r[c] for c in cols)
            for r in truth.directory(org)[table]}


def test_directory_tables_match_the_organization(sandbox: Sandbox, db: Path) -> None:
    load(sandbox, db, endpoints=["costs"], start=midnight(NOW) - 2 * DAY)
    apply_views(db)
    org = sandbox.org
    for name in catalogue.directory_lists():
        expected = _truth_rows(org, name)
        assert expected, name
        assert _table_rows(db, name) == expected, name
    # archived projects are listed too, and marked
    archived = [p["id"] for p in org.projects if p["archived"]]
    assert archived
    assert query(db, "select project_id from staging.stg_projects where is_archived") == [(archived[0],)]


def test_every_id_in_usage_and_costs_has_a_name_or_the_documented_fallback(sandbox: Sandbox, db: Path) -> None:
    org = sandbox.org
    load(sandbox, db, start=midnight(NOW) - 7 * DAY)
    apply_views(db)
    listed = truth.directory(org)
    project_names = {p["id"]: p["name"] for p in listed["projects"]}
    people = {u["id"]: u["name"] for u in listed["users"]} | {s["id"]: s["name"]
                                                               for s in listed["project_service_accounts"]}
    key_names = {k["id"]: k["name"] for k in listed["project_api_keys"]}
    known = truth.known_ids(org)

    def expect(value: str | None, names: dict[str, str], none: str, missing: str) -> str:
        if value is None:
            return none
        return names.get(value, f"{missing} ({value})")

    fallbacks: set[str] = set()
    usage = query(db, "select distinct project_id, project_name, user_id, user_name, api_key_id, api_key_name "
                      "from reporting.daily_usage")
    assert usage
    for pid, pname, uid, uname, kid, kname in usage:
        for value, got, names, none, missing, kind in (
                (pid, pname, project_names, "(organization)", "unknown project", "project"),
                (uid, uname, people, "(no user)", "former user", "user"),
                (kid, kname, key_names, "(no key)", "deleted key", "api_key")):
            assert got == expect(value, names, none, missing), (kind, value, got)
            if value is not None:
                assert value in known[kind]  # the simulator only uses IDs it made
            if value is not None and value not in names:
                fallbacks.add(kind)
    costs = query(db, "select distinct project_id, project_name from reporting.daily_costs")
    for pid, pname in costs:
        assert pname == expect(pid, project_names, "(organization)", "unknown project")
    # the fallbacks were really exercised: deleted keys, a user who left, org-level costs
    assert fallbacks == {"api_key", "user"}
    assert (None, "(organization)") in costs
    # every name appears in the reports' sources: the anomalies view names its keys the same way
    for dim, key, name in query(db, "select dimension, key, key_name from reporting.anomalies"):
        if dim == "project":
            assert name == project_names.get(key, "(organization)" if key == "(organization)"
                                             else f"unknown project ({key})")
        elif dim == "api_key":
            assert name == key_names.get(key, f"deleted key ({key})")


def test_a_rename_between_runs_shows_the_new_name_and_a_deleted_key_keeps_its_name(sandbox: Sandbox,
                                                                                   db: Path) -> None:
    org = sandbox.org
    load(sandbox, db, endpoints=["costs", "completions"], start=midnight(NOW) - 3 * DAY)
    apply_views(db)
    project = max(org.projects[:-1], key=lambda p: p["name"])  # an active project with costs
    old = project["name"]
    assert query(db, f"select count(*) from reporting.monthly_costs where project_name = '{old}'")[0][0] > 0
    key = next(k for k in org.api_keys if not k["deleted"])
    org.rename_project(project["id"], "Renamed Project")
    key["deleted"] = True  # deleted after the first run: its name was already known
    org.clock.advance(3600)
    load(sandbox, db, endpoints=["costs"])
    apply_views(db)
    names = query(db, f"select distinct project_name from reporting.monthly_costs where project_id = '{project['id']}'")
    assert names == [("Renamed Project",)]
    assert query(db, f"select count(*) from openai_usage.projects where id = '{project['id']}'") == [(1,)]
    assert query(db, f"select api_key_name, last_seen_at < (select max(last_seen_at) from openai_usage.projects) "
                     f"from staging.stg_api_keys where api_key_id = '{key['id']}'") == [(key["name"], True)]
    assert _table_rows(db, "projects") == _truth_rows(org, "projects")


def test_key_values_beyond_the_redacted_form_are_never_stored(tmp_path: Path) -> None:
    org = Org(seed=5, days=5, now=NOW)
    db = tmp_path / "keys.duckdb"
    with Sandbox(org, faults=FaultPlan.parse(["extra_fields:every=1,only=project_api_keys"])) as sb:
        load(sb, db, endpoints=["costs"], start=midnight(NOW) - DAY)
        assert sb.faults.counts["extra_fields"] > 0
    cols = {r[0] for r in query(db, "select column_name from information_schema.columns "
                                    "where table_name = 'project_api_keys'")}
    contract = {f.name for f in catalogue.directory_lists()["project_api_keys"].arrow_schema()}
    assert contract <= cols <= contract | {"_dlt_load_id", "_dlt_id"}
    assert all(re.fullmatch(r"sk-proj-\*{4}[a-z0-9]{4}", v)
               for (v,) in query(db, "select redacted_value from openai_usage.project_api_keys"))
    assert b"SECRET" not in db.read_bytes()


@pytest.mark.parametrize("fault", [None, "legacy_result"])
def test_list_pagination_follows_after_in_both_documented_forms(org: Org, fault: str | None) -> None:
    faults = FaultPlan.parse([f"{fault}:every=1,only=users", f"{fault}:every=1,only=project_api_keys"]) \
        if fault else None
    with Sandbox(org, faults=faults) as sb:
        client = UsageClient(ADMIN, sb.url)
        try:
            lists = catalogue.directory_lists()
            rest = rest_client(client)
            users = [u for page in list_items(rest, lists["users"], limit=4) for u in page]
            pid = org.projects[0]["id"]
            keys = [k for page in list_items(rest, lists["project_api_keys"], pid, limit=1) for k in page]
        finally:
            client.close()
        assert [u["id"] for u in users] == [u["id"] for u in org.users if not u["removed"]]
        assert client.stats.counts["pages"] == -(-len(users) // 4) + len(keys)
        expected = {r["id"]: r for r in truth.directory(org)["project_api_keys"] if r["project_id"] == pid}
        table = catalogue.directory_lists()["project_api_keys"]
        rows = flatten_directory(table, keys, NOW, pid).to_pylist()
        assert {r["id"]: (r["owner_id"], r["owner_name"], r["owner_email"]) for r in rows} == {
            k: (v["owner_id"], v["owner_name"], v["owner_email"]) for k, v in expected.items()}


def test_simulator_directory_parameters(sandbox: Sandbox) -> None:
    h = {"Authorization": f"Bearer {ADMIN}"}
    base = sandbox.url
    everything = httpx.get(f"{base}/organization/projects", params={"include_archived": "true", "limit": 100},
                           headers=h).json()
    active = httpx.get(f"{base}/organization/projects", params={"limit": 100}, headers=h).json()
    assert everything["object"] == "list" and everything["has_more"] is False
    assert len(everything["data"]) == len(active["data"]) + 1
    assert everything["last_id"] == everything["data"][-1]["id"]
    assert httpx.get(f"{base}/organization/users", params={"limit": 101}, headers=h).status_code == 400
    assert httpx.get(f"{base}/organization/users", params={"after": "user-nobody"}, headers=h).status_code == 400
    assert httpx.get(f"{base}/organization/projects/proj_nope/api_keys", headers=h).status_code == 404
    assert httpx.get(f"{base}/organization/users", headers={"Authorization": "Bearer sk-wrong"}).status_code == 401
    first = sandbox.org.users[0]
    one = httpx.get(f"{base}/organization/users", params={"emails[]": first["email"]}, headers=h).json()
    assert [u["id"] for u in one["data"]] == [first["id"]]
    assert len(httpx.get(f"{base}/organization/users", headers=h).json()["data"]) == 20


def test_a_directory_failure_is_a_warning_and_keeps_the_last_names(sandbox: Sandbox, db: Path) -> None:
    start = midnight(NOW) - 2 * DAY
    load(sandbox, db, endpoints=["costs"], start=start)
    users_before = _table_rows(db, "users")
    sandbox.faults = FaultPlan.parse(["500:every=1,only=users", "500:every=1,only=project_api_keys"])
    sandbox.org.clock.advance(2 * 3600)
    s = load(sandbox, db, endpoints=["costs"], max_attempts=2)
    assert any(w.startswith("users not refreshed") for w in s.warnings)
    assert sum(w.startswith("project_api_keys not refreshed for proj_") for w in s.warnings) == len(
        sandbox.org.projects)
    assert _table_rows(db, "users") == users_before  # the names already loaded stay
    assert _table_rows(db, "projects") == _truth_rows(sandbox.org, "projects")  # the rest was refreshed
    assert_matches_truth(db, sandbox.org, "costs", start)  # and usage and costs loaded regardless


def test_name_joins_never_multiply_rows_even_with_a_key_listed_twice(sandbox: Sandbox, db: Path) -> None:
    load(sandbox, db, start=midnight(NOW) - 3 * DAY)
    apply_views(db)
    grains = {"daily_costs": "day, project_id, line_item, model, currency",
              "monthly_costs": "month, project_id, currency",
              "daily_usage": "day, kind, project_id, user_id, api_key_id, model, metric",
              "daily_tokens": "day, project_id, model", "batch_and_cache": "month, model, project_id",
              "billed_vs_usage": "day, project_id", "anomalies": "day, dimension, key, measure"}

    def counts() -> dict[str, tuple[int, int]]:
        return {v: (query(db, f"select count(*) from reporting.{v}")[0][0],
                    query(db, f"select count(*) from (select distinct {g} from reporting.{v}) as d")[0][0])
                for v, g in grains.items()}

    before = counts()
    assert all(total == distinct for total, distinct in before.values()), before
    # the same key ID listed under a second project (never expected from OpenAI; must still not fan out)
    con = duckdb.connect(str(db))
    try:
        con.execute("insert into openai_usage.project_api_keys by name select * replace ('proj_other' as project_id) "
                    "from openai_usage.project_api_keys")
    finally:
        con.close()
    assert counts() == before
