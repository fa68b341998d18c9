"""Several organizations in one warehouse, through the views and the reports: each organization's figures equal its
own simulator's ground truth, they add up to the total, and IDs two organizations share never meet in a join.

One real load against one simulator serving three organizations: `default` (seed 7), `acme` (seed 8: other IDs,
other figures) and `twin` (seed 7 again: every ID and figure the same as `default`, one project renamed). A join
that forgot the organization would double the twin's and the default's rows, or mix their names, and fail here.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from openai_usage import catalogue
from openai_usage.load.run import LoadRequest, run_load
from openai_usage.simulator import Org, Sandbox, truth
from openai_usage.simulator.server import DEFAULT_ADMIN_KEY
from openai_usage.transform.views import apply_views

from .conftest import DAY, NOW, midnight, query
from .helpers import expected_anomalies

CLI = [sys.executable, "-m", "openai_usage.cli"]
START = midnight(NOW) - 40 * DAY  # 2026-10-15: a whole November so far and part of October
USAGE = [n for n, e in catalogue.endpoints().items() if e.kind == "usage"]
KEYS = {"acme": "sk-admin-acme-00000001", "twin": "sk-admin-twin-00000001"}
RENAMED = "Renamed In Twin Only"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]


def env_key(name: str) -> str:
    return f"SOURCES__OPENAI_USAGE__ORGANIZATIONS__{name.upper()}__API_KEY"


def load(sb: Sandbox, db: Path, **kw: Any) -> Any:
    return run_load(LoadRequest(db=db, api_key=DEFAULT_ADMIN_KEY, base_url=sb.url, now=NOW, max_backoff=0.05,
                                timeout=5.0, **kw))


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> tuple[dict[str, Org], Path]:
    orgs = {"default": Org(seed=7, days=45, now=NOW), "acme": Org(seed=8, days=45, now=NOW),
            "twin": Org(seed=7, days=45, now=NOW)}
    renamed = orgs["twin"].projects[1]["id"]
    orgs["twin"].rename_project(renamed, RENAMED)
    db = tmp_path_factory.mktemp("orgs") / "w.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        for name, key in KEYS.items():
            mp.setenv(env_key(name), key)
        with Sandbox(orgs["default"], tenants={KEYS[n]: orgs[n] for n in KEYS}) as sb:
            summary = load(sb, db, start=START)
    assert sorted(summary.organizations) == ["acme", "default", "twin"] and not summary.failed
    apply_views(db)
    return orgs, db


def day_of(t: int) -> dt.date:
    return dt.datetime.fromtimestamp(t, dt.UTC).date()


def truth_costs(org: Org) -> list[tuple[dt.date, str | None, str, Decimal]]:
    return [(day_of(b["start_time"]), r["project_id"], r["line_item"], r["amount"]["value"])
            for b in truth.buckets(org, "costs", START, None, "1d") for r in b["results"]]


def truth_usage(org: Org) -> list[tuple[dt.date, str, dict]]:
    return [(day_of(b["start_time"]), name, r) for name in USAGE
            for b in truth.buckets(org, name, START, None, "1d") for r in b["results"]]


def per_org(db: Path, sql: str) -> dict[str, dict[tuple, Any]]:
    """Rows of `sql` (organization first, value last) as {organization: {key: value}}; fails on a duplicate key."""
    out: dict[str, dict[tuple, Any]] = defaultdict(dict)
    for row in query(db, sql):
        key = tuple(row[1:-1])
        assert key not in out[row[0]], (row[0], key)
        out[row[0]][key] = row[-1]
    return dict(out)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    # wide enough that rich never wraps a table row or the month-to-date line
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "200"})


# ------------------------------------------------------------------------------------------------ views
def test_costs_split_per_organization_and_add_up_to_the_total(loaded):
    orgs, db = loaded
    daily = per_org(db, "select organization, day, project_id, line_item, currency, amount from reporting.daily_costs")
    monthly = per_org(db, "select organization, month, project_id, amount from reporting.monthly_costs")
    assert set(daily) == set(orgs)
    grand: dict[dt.date, Decimal] = defaultdict(Decimal)
    for name, org in orgs.items():
        want: dict[tuple, Decimal] = defaultdict(Decimal)
        months: dict[tuple, Decimal] = defaultdict(Decimal)
        for day, pid, item, amount in truth_costs(org):
            want[(day, pid, item, "usd")] += amount
            months[(day.replace(day=1), pid)] += amount
            grand[day] += amount
        assert daily[name] == dict(want), name
        assert monthly[name] == dict(months), name
    assert daily["default"] == daily["twin"] and daily["acme"] != daily["default"]
    # the total over organizations is the sum of every organization's truth, day by day
    assert dict(query(db, "select day, sum(amount) from reporting.daily_costs group by day")) == dict(grand)


def test_usage_and_tokens_split_per_organization(loaded):
    orgs, db = loaded
    usage = per_org(db, "select organization, day, kind, project_id, user_id, api_key_id, model, metric, value "
                        "from reporting.daily_usage")
    tokens = per_org(db, "select organization, day, project_id, model, input_tokens from reporting.daily_tokens")
    billed = per_org(db, "select organization, day, project_id, usage_tokens from reporting.billed_vs_usage")
    for name, org in orgs.items():
        want: dict[tuple, int] = defaultdict(int)
        inputs: dict[tuple, int] = defaultdict(int)
        used: dict[tuple, int] = defaultdict(int)
        for day, kind, r in truth_usage(org):
            for c in catalogue.endpoints()[kind].metrics:
                if c.name in r:
                    want[(day, kind, r.get("project_id"), r.get("user_id"), r.get("api_key_id"), r.get("model"),
                          c.name)] += r[c.name]
            if kind == "completions":
                inputs[(day, r["project_id"], r["model"])] += r["input_tokens"]
                used[(day, r["project_id"])] += r["input_tokens"] + r["output_tokens"]
            elif kind == "embeddings":
                used[(day, r["project_id"])] += r["input_tokens"]
        assert usage[name] == dict(want), name
        assert tokens[name] == dict(inputs), name
        assert {k: v for k, v in billed[name].items() if v is not None} == dict(used), name


def test_names_are_one_row_per_organization_kind_and_id_and_never_cross(loaded):
    orgs, db = loaded
    assert query(db, "select organization, kind, join_key from intermediate.int_names "
                     "group by all having count(*) > 1") == []
    names = per_org(db, "select organization, kind, id, name from intermediate.int_names")
    for name, org in orgs.items():
        known = truth.known_ids(org)
        assert {(k, i) for k, i in names[name] if i is not None} <= {(k, i) for k in known for i in known[k]}
        assert {names[name][("project", p["id"])] for p in org.projects} == {p["name"] for p in org.projects}
        for kind in ("project", "user", "api_key"):  # every organization has its own no-ID row
            assert (kind, None) in names[name]
    # the twin holds exactly the default's IDs, yet each keeps its own name for the renamed project
    shared = {k for k in names["default"] if k[1] is not None} & set(names["twin"])
    assert len(shared) == len(names["default"]) - 3
    renamed = orgs["twin"].projects[1]["id"]
    assert names["twin"][("project", renamed)] == RENAMED != names["default"][("project", renamed)]
    shown = dict(query(db, "select organization, max(project_name) from reporting.daily_costs "
                           f"where project_id = '{renamed}' group by organization"))
    assert shown["twin"] == RENAMED and shown["default"] == names["default"][("project", renamed)]
    assert renamed not in {p["id"] for p in orgs["acme"].projects}  # acme shares no ID with the others
    # every join on a name multiplies nothing: one row per grain, as many as without the names
    for view, grain in (("daily_usage", "day, kind, project_id, user_id, api_key_id, model, metric"),
                        ("cost_allocation", "day, project_id, line_item, api_key_id, currency, method")):
        assert query(db, f"select count(*) from (select distinct organization, {grain} from reporting.{view})") == \
            query(db, f"select count(*) from reporting.{view}")


def test_allocation_owners_and_focus_tie_out_per_organization(loaded):
    orgs, db = loaded
    allocated = per_org(db, "select organization, day, project_id, sum(amount) from reporting.cost_allocation "
                            "group by all")
    owners = per_org(db, "select organization, month, sum(amount) from reporting.owner_costs group by all")
    focus = per_org(db, 'select "BillingAccountId", "BillingPeriodStart"::date, sum("BilledCost") '
                        "from reporting.focus group by all")
    accounts = query(db, 'select distinct "BillingAccountId", "BillingAccountName" from reporting.focus')
    assert sorted(accounts) == [(n, n) for n in sorted(orgs)]
    for name, org in orgs.items():
        want: dict[tuple, Decimal] = defaultdict(Decimal)
        months: dict[tuple, Decimal] = defaultdict(Decimal)
        for day, pid, _, amount in truth_costs(org):
            want[(day, pid)] += amount
            months[(day.replace(day=1),)] += amount
        assert allocated[name] == dict(want), name
        assert owners[name] == dict(months) == focus[name], name
    # keys are split within their own organization: the twin's keys carry exactly what the default's carry
    keyed = per_org(db, "select organization, day, project_id, line_item, api_key_id, amount "
                        "from reporting.cost_allocation where api_key_id is not null")
    assert keyed["twin"] == keyed["default"] and keyed["default"]


def test_month_to_date_and_anomalies_per_organization(loaded):
    orgs, db = loaded
    mtd = {r[0]: r[1:] for r in query(db, "select organization, month, as_of_day, mtd_amount, "
                                          "prior_same_days_amount, days_elapsed from reporting.month_to_date")}
    anomalies = per_org(db, "select organization, day, dimension, key, measure, true from reporting.anomalies")
    assert set(mtd) == set(orgs)
    for name, org in orgs.items():
        per_day: dict[dt.date, Decimal] = defaultdict(Decimal)
        for day, _, _, amount in truth_costs(org):
            per_day[day] += amount
        as_of = max(per_day)
        first = as_of.replace(day=1)
        prior = (first - dt.timedelta(days=1)).replace(day=1)
        assert mtd[name] == (first, as_of, sum(v for d, v in per_day.items() if d >= first),
                             sum(v for d, v in per_day.items() if prior <= d < prior + dt.timedelta(days=as_of.day)),
                             as_of.day), name
        # the anomaly rule, applied to this organization's series alone
        want = expected_anomalies(((day, pid, amount) for day, pid, _, amount in truth_costs(org)),
                                  ((day, r) for day, _, r in truth_usage(org)))
        assert set(anomalies.get(name, {})) == want and want, name
    assert mtd["acme"] != mtd["default"] == mtd["twin"]


def test_spend_runway_counts_each_organizations_thresholds_against_its_own_costs(loaded):
    orgs, db = loaded
    got: dict[str, dict[tuple, tuple]] = defaultdict(dict)
    for name, *key, crosses, mtd, amount in query(
            db, "select organization, project_id, threshold_type, threshold_id, crosses_on, mtd_amount, "
                "threshold_amount from reporting.spend_runway where threshold_type is not null"):
        got[name][tuple(key)] = (crosses, mtd, amount)
    for name, org in orgs.items():
        daily: dict[tuple, Decimal] = defaultdict(Decimal)  # (scope, day) -> cost; scope None = the organization
        for day, pid, _, amount in truth_costs(org):
            daily[(None, day)] += amount
            if pid is not None:
                daily[(pid, day)] += amount
        as_of = max(d for _, d in daily)
        first = as_of.replace(day=1)
        last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
        expected = {}
        for scope, rule in truth.spend_thresholds(org).items():
            mtd = sum((v for (s, d), v in daily.items() if s == scope and first <= d <= as_of), Decimal(0))
            trailing = sum((v for (s, d), v in daily.items() if s == scope and as_of - dt.timedelta(days=7) <= d
                            < as_of), Decimal(0))
            thresholds = [("hard_limit", None, rule["limit"])] if rule["limit"] else []
            thresholds += [("alert", aid, amount) for aid, amount in rule["alerts"].items()]
            for kind, aid, amount in thresholds:
                crosses, running = None, Decimal(0)
                for i in range((last - first).days + 1):
                    day = first + dt.timedelta(days=i)
                    if day <= as_of:
                        running += daily.get((scope, day), Decimal(0))
                        reached = running >= amount
                    else:
                        reached = Fraction(mtd) + Fraction(trailing) / 7 * (day - as_of).days >= Fraction(amount)
                    if reached:
                        crosses = day
                        break
                expected[(scope, kind, aid)] = (crosses, mtd, amount)
        assert got[name] == expected, name


def test_the_coarsest_width_wins_within_each_organization_only(tmp_path, monkeypatch):
    """default loads days, acme only hours for the same days: acme's hours are its only figures and must stay."""
    orgs = {"default": Org(seed=7, days=10, now=NOW), "acme": Org(seed=8, days=10, now=NOW)}
    db = tmp_path / "w.duckdb"
    start = midnight(NOW) - 3 * DAY
    monkeypatch.setenv(env_key("acme"), KEYS["acme"])
    with Sandbox(orgs["default"], tenants={KEYS["acme"]: orgs["acme"]}) as sb:
        load(sb, db, start=start, endpoints=["completions"], orgs=["default"], directory=False)
        load(sb, db, start=start, endpoints=["completions"], orgs=["acme"], bucket_width="1h", directory=False)
    apply_views(db)
    got = per_org(db, "select organization, bucket_width, sum(value) from staging.stg_usage "
                      "where metric = 'input_tokens' group by all")
    for name, width in (("default", "1d"), ("acme", "1h")):
        want = truth.grand_total(orgs[name], "completions", "input_tokens", start, width=width)
        assert got[name] == {(width,): want}, name


# ------------------------------------------------------------------------------------------------ reports
def month_total(org: Org) -> Decimal:
    return truth.grand_total(org, "costs", "amount_value", midnight(NOW) - 23 * DAY)  # November 2026


def test_terminal_report_shows_each_organization_and_the_total(loaded):
    orgs, db = loaded
    p = cli("report", "--db", str(db))
    assert p.returncode == 0, p.stderr
    assert "organizations acme, default, twin" in p.stdout and "Spend by organization, November 2026" in p.stdout
    totals = {name: month_total(org) for name, org in orgs.items()}
    for name, amount in totals.items():
        assert re.search(rf"│ {name}\s+│\s+\${amount:,.2f} │", p.stdout), name
    total = sum(totals.values())
    assert re.search(rf"│ total\s+│\s+\${total:,.2f} │\s+100\.0% │", p.stdout)
    assert f"Month to date (November, 24 of 30 days, 3 organizations): ${total:,.2f}" in p.stdout
    # rows that belong to one organization say which; the renamed project is only the twin's
    assert re.search(rf"│ twin\s+│ {RENAMED}\s+│", p.stdout) and not re.search(rf"│ default\s+│ {RENAMED}", p.stdout)


def test_report_for_one_organization_shows_only_its_figures(loaded):
    orgs, db = loaded
    p = cli("report", "--db", str(db), "--org", "acme")
    assert p.returncode == 0, p.stderr
    acme = month_total(orgs["acme"])
    assert f"Month to date (November, 24 of 30 days): ${acme:,.2f}" in p.stdout
    assert "organization acme" in p.stdout and "Spend by organization" not in p.stdout
    assert f"${month_total(orgs['default']):,.2f}" not in p.stdout
    items = query(db, "select line_item, sum(amount) from reporting.daily_costs where organization = 'acme' "
                      "and day >= date '2026-11-01' group by all order by 2 desc limit 1")[0]
    assert re.search(rf"{re.escape(items[0])}\s+│\s+\${items[1]:,.2f}", p.stdout)
    both = cli("report", "--db", str(db), "--org", "acme", "--org", "twin")
    assert both.returncode == 0 and f"${acme + month_total(orgs['twin']):,.2f}" in both.stdout
    assert "organizations acme, twin" in both.stdout
    for args in (("report",), ("export", str(db.parent / "x")), ("status",)):
        bad = cli(*args, "--db", str(db), "--org", "nope")
        assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0, bad.stderr
        assert "--org 'nope'" in bad.stderr and "acme, default, twin" in bad.stderr


def test_html_report_shows_each_organization_in_a_real_browser(loaded, tmp_path):
    orgs, db = loaded
    page = tmp_path / "r.html"
    p = cli("report", "--db", str(db), "--html", str(page))
    assert p.returncode == 0, p.stderr
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian's chromium is needed: `make test` installs it"
    dom = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                          page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    section = re.search(r'<section class="organizations">(.*?)</section>', dom, re.S)
    assert section, "the page has no per-organization section"
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", section.group(1), re.S)
    cells = [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r) for r in rows]
    totals = {name: month_total(org) for name, org in orgs.items()}
    got = {c[0]: c[1] for c in cells[1:]}
    assert got == {**{n: f"${a:,.2f}" for n, a in totals.items()}, "total": f"${sum(totals.values()):,.2f}"}
    assert 'class="total"' in section.group(1) and "organizations acme, default, twin" in dom
    single = tmp_path / "acme.html"
    assert cli("report", "--db", str(db), "--org", "acme", "--html", str(single)).returncode == 0
    text = single.read_text()
    assert 'class="organizations"' not in text and "organization acme" in text
    assert f"${totals['acme']:,.2f}" in text and f"${totals['default']:,.2f}" not in text


def test_export_and_status_per_organization(loaded, tmp_path):
    orgs, db = loaded
    out = tmp_path / "acme"
    assert cli("export", "--db", str(db), "--org", "acme", str(out)).returncode == 0
    assert cli("export", "--db", str(db), "--org", "acme", "--format", "focus", str(out)).returncode == 0
    for f in out.glob("*.parquet"):
        table = pq.read_table(f)
        column = "BillingAccountId" if "focus" in f.name else "organization"
        assert set(table.column(column).to_pylist()) <= {"acme"}, f.name
    costs = pq.read_table(out / "openai_usage.costs.parquet").column("amount_value").to_pylist()
    assert sum(v for v in costs if v is not None) == truth.grand_total(orgs["acme"], "costs", "amount_value", START)
    focus = pq.read_table(out / "focus.parquet").column("BilledCost").to_pylist()
    assert sum(focus) == sum(a for *_, a in truth_costs(orgs["acme"]))
    everything = tmp_path / "all"
    assert cli("export", "--db", str(db), str(everything)).returncode == 0
    held = set(pq.read_table(everything / "reporting.daily_costs.parquet").column("organization").to_pylist())
    assert held == set(orgs)
    # status: every organization's tables, then just one
    s = cli("status", "--db", str(db))
    assert s.returncode == 0, s.stderr
    for name in orgs:
        assert re.search(rf"│ {name}\s+│ usage_completions\s+│ 1d", s.stdout), name
    one = cli("status", "--db", str(db), "--org", "twin")
    assert one.returncode == 0 and "organization twin" in one.stdout and "│ acme" not in one.stdout
    assert "usage_completions" in one.stdout
