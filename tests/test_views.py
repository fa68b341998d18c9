"""Every reporting view checked against totals computed in Python from the simulator's ground truth."""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from decimal import Decimal

import pytest

from openai_usage import catalogue
from openai_usage.simulator import Org, Sandbox, truth
from openai_usage.transform.sqlgen import GENERATED
from openai_usage.transform.views import apply_views, sql_files

from .conftest import DAY, NOW, load, midnight, query
from .helpers import expected_anomalies

START = midnight(NOW) - 50 * DAY  # spans October and November
USAGE = [n for n, e in catalogue.endpoints().items() if e.kind == "usage"]


def day_of(t: int) -> dt.date:
    return dt.datetime.fromtimestamp(t, dt.UTC).date()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """A warehouse with every endpoint at 1d, plus completions and embeddings at 1h for the last 3 days."""
    org = Org(seed=11, days=60, now=NOW)
    db = tmp_path_factory.mktemp("views") / "w.duckdb"
    with Sandbox(org) as sb:
        load(sb, db, start=START)
        load(sb, db, start=midnight(NOW) - 3 * DAY, endpoints=["completions", "embeddings"], bucket_width="1h")
    apply_views(db)
    return org, db


def truth_costs(org: Org) -> list[tuple[dt.date, str | None, str, Decimal, float | None]]:
    out = []
    for b in truth.buckets(org, "costs", START, None, "1d"):
        for r in b["results"]:
            out.append((day_of(b["start_time"]), r["project_id"], r["line_item"], r["amount"]["value"], r["quantity"]))
    return out


def truth_usage(org: Org) -> list[tuple[dt.date, str, dict]]:
    rows = []
    for name in USAGE:
        for b in truth.buckets(org, name, START, None, "1d"):
            rows += [(day_of(b["start_time"]), name, r) for r in b["results"]]
    return rows


def test_generated_staging_sql_is_up_to_date():
    for target, make in GENERATED.items():
        assert target.read_text() == make(), f"run `make sql` after changing schemas/catalogue.yaml ({target.name})"


def test_daily_costs(loaded):
    org, db = loaded
    want: dict[tuple, Decimal] = defaultdict(Decimal)
    for day, pid, item, amount, _ in truth_costs(org):
        model = item.split(", ")[0] if ", " in item else None
        want[(day, pid, item, model, "usd")] += amount
    got = {tuple(r[:5]): r[5] for r in query(db, "select * exclude (organization) from reporting.daily_costs")}
    assert got == dict(want)


def test_monthly_costs(loaded):
    org, db = loaded
    want: dict[tuple, Decimal] = defaultdict(Decimal)
    for day, pid, _, amount, _ in truth_costs(org):
        want[(day.replace(day=1), pid, "usd")] += amount
    got = {tuple(r[:3]): r[3] for r in query(db, "select * exclude (organization) from reporting.monthly_costs")}
    assert got == dict(want) and len({k[0] for k in got}) == 2


def test_daily_usage_long_table_with_two_widths_loaded(loaded):
    org, db = loaded
    assert query(db, "select count(distinct bucket_width) from openai_usage.usage_completions")[0][0] == 2
    want: dict[tuple, int] = defaultdict(int)
    for day, kind, r in truth_usage(org):
        for c in catalogue.endpoints()[kind].metrics:
            if c.name in r:
                key = (day, kind, r.get("project_id"), r.get("user_id"), r.get("api_key_id"), r.get("model"), c.name)
                want[key] += r[c.name]
    got = {tuple(r[:7]): r[7] for r in query(db, "select * exclude (organization) from reporting.daily_usage")}
    assert got == dict(want)


def test_daily_tokens_and_cache_hit_ratio(loaded):
    org, db = loaded
    acc: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for day, kind, r in truth_usage(org):
        if kind == "completions":
            for m in ("input_tokens", "output_tokens", "input_cached_tokens", "num_model_requests"):
                acc[(day, r["project_id"], r["model"])][m] += r[m]
    rows = query(db, "select * exclude (organization) from reporting.daily_tokens")
    assert len(rows) == len(acc)
    names = {p["id"]: p["name"] for p in org.projects}
    for day, pid, model, inp, out, cached, req, ratio, project_name in rows:
        assert project_name == names[pid]
        w = acc[(day, pid, model)]
        assert (inp, out, cached, req) == (w["input_tokens"], w["output_tokens"], w["input_cached_tokens"],
                                           w["num_model_requests"])
        assert ratio == pytest.approx(w["input_cached_tokens"] / w["input_tokens"])


def test_month_to_date_and_forecast(loaded):
    org, db = loaded
    per_day: dict[dt.date, Decimal] = defaultdict(Decimal)
    for day, _, _, amount, _ in truth_costs(org):
        per_day[day] += amount
    as_of = max(per_day)
    month_start = as_of.replace(day=1)
    prior_start = (month_start - dt.timedelta(days=1)).replace(day=1)
    elapsed = as_of.day
    in_month = calendar.monthrange(as_of.year, as_of.month)[1]
    mtd = sum(v for d, v in per_day.items() if month_start <= d <= as_of)
    prior = sum(v for d, v in per_day.items() if prior_start <= d < prior_start + dt.timedelta(days=elapsed))
    complete = [d for d in per_day if month_start <= d < day_of(NOW)]  # today is still open
    forecast = float(sum(per_day[d] for d in complete)) / len(complete) * in_month
    (row,) = query(db, "select * exclude (organization) from reporting.month_to_date")
    assert row[:6] == (month_start, as_of, "usd", mtd, prior, mtd - prior)
    assert row[6] == pytest.approx(float(mtd) / float(prior) - 1)
    assert row[7:9] == (elapsed, in_month)
    assert row[9] == pytest.approx(forecast)


def test_model_costs_per_million_tokens(loaded):
    org, db = loaded
    cost: dict[tuple, Decimal] = defaultdict(Decimal)
    for day, _, item, amount, _ in truth_costs(org):
        if ", " in item:
            cost[(day.replace(day=1), item.split(", ")[0])] += amount
    tokens: dict[tuple, int] = defaultdict(int)
    for day, kind, r in truth_usage(org):
        if kind in ("completions", "embeddings"):
            tokens[(day.replace(day=1), r["model"])] += r["input_tokens"] + r.get("output_tokens", 0)
    rows = query(db, "select month, model, amount, cost_per_million_tokens from reporting.model_costs")
    assert {(m, model) for m, model, *_ in rows} == set(cost) | set(tokens)
    for month, model, amount, per_million in rows:
        assert amount == cost.get((month, model))
        if tokens.get((month, model)) and amount is not None:
            assert per_million == pytest.approx(float(amount) * 1e6 / tokens[(month, model)])


def test_anomalies_match_an_independent_implementation(loaded):
    org, db = loaded
    want = expected_anomalies(((day, pid, amount) for day, pid, _, amount, _ in truth_costs(org)),
                              ((day, r) for day, _, r in truth_usage(org)))
    got = {tuple(r[:4]) for r in query(db, "select day, dimension, key, measure from reporting.anomalies")}
    assert got == want and len(want) > 0  # the simulator has spike days, so there is something to find


def test_batch_share_and_cache_hit_ratio(loaded):
    org, db = loaded
    acc: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for day, kind, r in truth_usage(org):
        if kind == "completions":
            a = acc[(day.replace(day=1), r["model"], r["project_id"])]
            a["req"] += r["num_model_requests"]
            a["batch"] += r["num_model_requests"] if r["batch"] else 0
            a["in"] += r["input_tokens"]
            a["cached"] += r["input_cached_tokens"]
    rows = query(db, "select month, model, project_id, requests, batch_share, cache_hit_ratio "
                     "from reporting.batch_and_cache")
    assert len(rows) == len(acc)
    for month, model, pid, req, share, hit in rows:
        a = acc[(month, model, pid)]
        assert req == a["req"]
        assert share == pytest.approx(a["batch"] / a["req"])
        assert hit == pytest.approx(a["cached"] / a["in"])
    assert any(r[4] > 0 for r in rows) and any(r[4] == 0 for r in rows)


def test_billed_against_usage_shows_the_difference(loaded):
    org, db = loaded
    billed: dict[tuple, Decimal] = defaultdict(Decimal)
    for day, pid, _, amount, _ in truth_costs(org):
        billed[(day, pid)] += amount
    used: dict[tuple, int] = defaultdict(int)
    for day, kind, r in truth_usage(org):
        if kind == "completions":
            used[(day, r["project_id"])] += r["input_tokens"] + r["output_tokens"]
        elif kind == "embeddings":
            used[(day, r["project_id"])] += r["input_tokens"]
    rows = {(r[0], r[1]): r for r in query(db, "select * exclude (organization) from reporting.billed_vs_usage")}
    assert set(rows) == set(billed) | set(used)
    for key, (_, _, amount, billed_tokens, usage_tokens, diff, _) in rows.items():
        assert amount == billed.get(key, 0)
        assert usage_tokens == used.get(key)
        assert diff == (billed_tokens or 0) - (usage_tokens or 0)
    org_level = [r for k, r in rows.items() if k[1] is None]
    assert org_level and all(r[4] is None and r[2] > 0 for r in org_level)  # billed, with no usage behind it


def test_every_view_leads_with_the_organization(loaded):
    """One grain per view, the organization part of it: every view's first column names the organization, and a
    warehouse loaded with the single admin key holds only `default`."""
    _, db = loaded
    views = query(db, "select table_schema, table_name from information_schema.tables "
                      "where table_schema in ('staging', 'intermediate', 'reporting') and table_type = 'VIEW'")
    assert len(views) == len(sql_files())
    for schema, name in views:
        first = query(db, f"select column_name from information_schema.columns where table_schema = '{schema}' "
                          f"and table_name = '{name}' order by ordinal_position limit 1")[0][0]
        column = "BillingAccountId" if name == "focus" else "organization"
        assert first == ("BilledCost" if name == "focus" else column), (schema, name)
        held = {r[0] for r in query(db, f'select distinct "{column}" from {schema}.{name}')}
        assert held == {"default"}, (schema, name, held)


def test_views_on_an_empty_warehouse_are_empty_not_errors(tmp_path):
    db = tmp_path / "empty.duckdb"
    apply_views(db)
    apply_views(db)  # idempotent
    for view in ("daily_costs", "monthly_costs", "daily_usage", "daily_tokens", "month_to_date", "model_costs",
                 "anomalies", "batch_and_cache", "billed_vs_usage"):
        assert query(db, f"select count(*) from reporting.{view}")[0][0] == 0, view


def test_a_load_after_views_exist_still_works(tmp_path):
    """Views are applied to a warehouse before its first load (contract tables pre-created); dlt must cope."""
    db = tmp_path / "w.duckdb"
    apply_views(db)
    org = Org(seed=2, days=10, now=NOW)
    with Sandbox(org) as sb:
        load(sb, db, start=midnight(NOW) - 5 * DAY, endpoints=["costs", "completions"])
    apply_views(db)
    total = query(db, "select sum(amount) from reporting.daily_costs")[0][0]
    assert total == truth.grand_total(org, "costs", "amount_value", midnight(NOW) - 5 * DAY)
