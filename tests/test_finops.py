"""FinOps: cost per API key and owner that ties out to billed cost, FOCUS 1.3, spend-limit runway, restatements.

Ground truth is the simulator's generator (no HTTP, no warehouse): billed cost per project, line item and key straight
from `Org.cost_results`, thresholds from its spend rules, restatements from its figures before and after a change.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import defaultdict
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

from openai_usage import catalogue
from openai_usage.catalogue import SCHEMAS_DIR
from openai_usage.cli import main
from openai_usage.simulator import Org, Sandbox, truth
from openai_usage.transform.views import apply_views

from .conftest import ADMIN, DAY, NOW, load, midnight, query

DAYS = 95
USAGE = [e for e, ep in catalogue.endpoints().items() if ep.kind == "usage"]
GAP = 5  # usage starts this many days after costs: days with cost and no usage


def _loaded(tmp: Path, by_key: bool) -> tuple[Org, Path, Any]:
    org = Org(seed=5, days=DAYS, now=NOW, costs_by_key=by_key)
    db = tmp / "finops.duckdb"
    with Sandbox(org) as sb:
        s = load(sb, db, endpoints=["costs"], start=org.start)
        load(sb, db, endpoints=USAGE, start=org.start + GAP * DAY)
    apply_views(db)
    return org, db, s


@pytest.fixture(scope="module")
def refused(tmp_path_factory):
    """Costs refuse group_by=api_key_id (as the live API did in 2026-07): cost reaches keys by usage share."""
    return _loaded(tmp_path_factory.mktemp("refused"), by_key=False)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    return _loaded(tmp_path_factory.mktemp("served"), by_key=True)


def _day(t: int) -> dt.date:
    return dt.datetime.fromtimestamp(t, dt.UTC).date()


def _billed(org: Org, by: tuple[str, ...]) -> dict[tuple, Decimal]:
    """Billed cost per (day, *by) from the generator itself, for every day up to now."""
    out: dict[tuple, Decimal] = defaultdict(Decimal)
    day = org.start
    while day < NOW:
        for r in org.cost_results(day, day + DAY, ("project_id", "line_item", "api_key_id"), None, NOW):
            out[(_day(day), *(r[d] for d in by))] += r["amount"]["value"]
        day += DAY
    return dict(out)


def _allocation(db: Path, by: str, where: str = "true") -> dict[tuple, Decimal]:
    rows = query(db, f"select day, {by}, sum(amount) from reporting.cost_allocation where {where} group by all")
    return {tuple(r[:-1]): r[-1] for r in rows}


@pytest.mark.parametrize("mode", ["refused", "served"])
def test_allocation_ties_out_exactly_per_day_and_project(mode: str, request) -> None:
    org, db, summary = request.getfixturevalue(mode)
    assert summary.allocation_method == ("usage_share" if mode == "refused" else "billed")
    assert summary.tables["costs"].refused_group_by == ({"api_key_id"} if mode == "refused" else set())
    want = _billed(org, ("project_id",))
    got = _allocation(db, "project_id")
    assert len(want) > DAYS * 5
    assert got == want  # every (day, project) to the last digit of the DECIMAL, org-level cost (no project) included
    # the roll-up per owner ties out per month too
    months: dict[dt.date, Decimal] = defaultdict(Decimal)
    for (day, _), amount in want.items():
        months[day.replace(day=1)] += amount
    assert dict(query(db, "select month, sum(amount) from reporting.owner_costs group by month")) == dict(months)


@pytest.mark.parametrize("mode", ["refused", "served"])
def test_each_key_gets_what_it_was_billed(mode: str, request) -> None:
    """The generator bills each key its own usage: usage shares must give every key its billed cost (to rounding at
    1e-12 per row), and billed rows must be exact. Days with cost and no usage, and cost no key can carry, stay on
    explicit unallocated rows."""
    org, db, _ = request.getfixturevalue(mode)
    want = _billed(org, ("project_id", "line_item", "api_key_id"))
    usage_from = _day(org.start + GAP * DAY)
    keyed = _allocation(db, "project_id, line_item, api_key_id", "api_key_id is not null")
    unallocated = _allocation(db, "project_id, line_item", "method = 'unallocated'")
    methods = {m for (m,) in query(db, "select distinct method from reporting.cost_allocation")}
    assert methods == ({"usage_share", "unallocated"} if mode == "refused" else {"billed", "unallocated"})
    checked = 0
    for (day, project, item, key), amount in want.items():
        if key is None or (mode == "refused" and day < usage_from):
            continue
        got = keyed[(day, project, item, key)]
        assert got == amount if mode == "served" else abs(got - amount) < Decimal("1e-9"), (day, project, item, key)
        checked += 1
    assert checked > 1000
    # before usage was loaded, a refused run has nothing to split by: every cost of those days is unallocated
    if mode == "refused":
        early = {k: v for k, v in want.items() if k[0] < usage_from}
        per_item: dict[tuple, Decimal] = defaultdict(Decimal)
        for (day, project, item, _), amount in early.items():
            per_item[(day, project, item)] += amount
        assert {k: v for k, v in unallocated.items() if k[0] < usage_from} == dict(per_item)
    # org-level charges and project-only meters (no key in their usage) are never spread
    for (_, project, item), _amount in unallocated.items():
        assert project is None or item in ("vector store storage", "code interpreter sessions") or mode == "refused"
    # keys deleted before the first load are allocated like any other, under the documented fallback name
    deleted = [k["id"] for k in org.api_keys if k["deleted"]]
    names = dict(query(db, "select api_key_id, max(api_key_name) from reporting.cost_allocation "
                           "where api_key_id is not null group by api_key_id"))
    assert deleted and all(names[k] == f"deleted key ({k})" for k in deleted if k in names)
    assert sum(k in names for k in deleted) >= 2


def test_owners_come_from_the_directory(refused) -> None:
    org, db, _ = refused
    owner = {k["id"]: k["owner"] for k in org.api_keys if not k["deleted"]}
    rows = query(db, "select distinct api_key_id, owner_type, owner_id from reporting.cost_allocation "
                     "where api_key_id is not null")
    listed = [r for r in rows if r[0] in owner]
    assert listed and all((t, i) == (owner[k]["type"], owner[k]["id"]) for k, t, i in listed)
    kinds = {r[1] for r in listed}
    assert kinds == {"user", "service_account"}


# ------------------------------------------------------------------------------------------------ FOCUS 1.3
RULES = yaml.safe_load((SCHEMAS_DIR / "focus-1.3.yaml").read_text())
UNIT = re.compile(r"^(\d+ )?[A-Z][A-Za-z]*(-[A-Z][a-z]+)?(/[A-Z][a-z]+)?$")


def _null_rule(name: str, row: dict[str, Any]) -> bool:
    """Whether the column governed by rule `name` must be null in this row (FOCUS 1.3's conditions)."""
    correction = row["ChargeClass"] == "Correction"
    if name.startswith("same_as_"):
        return row[name.removeprefix("same_as_")] is None
    if name in ("pricing_quantity", "consumed_quantity"):
        if row["SkuPriceId"] is None or row["ChargeCategory"] == "Tax":
            return True
        if row["ChargeCategory"] in ("Usage", "Purchase") and not correction:
            return False
        return row["PricingQuantity" if name == "pricing_quantity" else "ConsumedQuantity"] is None  # MAY
    if name == "sku":
        if row["ChargeCategory"] == "Tax":
            return True
        return row["SkuId"] is None and correction  # not null for Usage/Purchase unless a correction
    if name == "allocated_resource":  # null when not an allocation, and for the unallocated remainder
        return row["AllocatedMethodId"] is None or row["x_AllocationMethod"] == "unallocated"
    raise KeyError(name)


def _check_focus_rows(table: pa.Table) -> None:
    cols = RULES["columns"]
    missing = [c for c, r in cols.items() if r["level"] == "mandatory" and c not in table.column_names]
    assert not missing, missing
    assert all(c in cols or c.startswith("x_") for c in table.column_names)  # custom columns carry x_
    for name, rule in cols.items():
        if name not in table.column_names:
            continue
        t = table.schema.field(name).type
        assert {"decimal": pa.types.is_decimal, "string": pa.types.is_string, "json": pa.types.is_string,
                "datetime": lambda x: pa.types.is_timestamp(x) and x.tz == "UTC"}[rule["type"]](t), (name, t)
    rows = table.to_pylist()
    for row in rows:
        for name, rule in cols.items():
            if name not in row:
                continue
            v = row[name]
            if rule["nulls"] == "never":
                assert v is not None, (name, row)
            elif rule["nulls"] == "conditional":
                must_be_null = _null_rule(rule["null_when"], row)
                assert (v is None) == must_be_null or (v is not None and not must_be_null), (name, row)
                if must_be_null:
                    assert v is None, (name, row)
            if v is None:
                continue
            if "values" in rule:
                assert v in rule["values"], (name, v)
            if "parent" in rule:
                assert row[rule["parent"]["column"]] == rule["parent"]["value"]
            if rule.get("format") == "iso4217":
                assert re.fullmatch(r"[A-Z]{3}", v)
            if rule.get("format") == "unit":
                assert UNIT.fullmatch(v), (name, v)
            if rule.get("format") == "allocation_elements":
                elements = json.loads(v)["Elements"]
                assert elements and all(0 <= e["AllocatedRatio"] <= 1 for e in elements)
        assert row["ChargePeriodStart"] < row["ChargePeriodEnd"]
        assert row["BillingPeriodStart"] < row["BillingPeriodEnd"]
        if row["ChargeClass"] is None:
            assert row["BillingPeriodStart"] <= row["ChargePeriodStart"] < row["BillingPeriodEnd"]
        else:
            assert row["ChargePeriodStart"] < row["BillingPeriodStart"]
    ratios: dict[tuple, float] = defaultdict(float)
    for row in rows:
        if row["AllocatedMethodDetails"] is not None:
            key = (row["ChargePeriodStart"], row["SubAccountId"], row["SkuId"])
            ratios[key] += sum(e["AllocatedRatio"] for e in json.loads(row["AllocatedMethodDetails"])["Elements"])
    assert bool(ratios) == any(r["AllocatedMethodId"] is not None for r in rows)
    assert all(abs(r - 1) < 1e-9 for r in ratios.values())


@pytest.mark.parametrize("mode", ["refused", "served"])
def test_focus_export_passes_the_spec_rules_and_sums_exactly(mode: str, request, tmp_path: Path) -> None:
    org, db, _ = request.getfixturevalue(mode)
    out = tmp_path / "focus"
    result = CliRunner().invoke(main, ["export", "--db", str(db), "--format", "focus", str(out)])
    assert result.exit_code == 0, result.output
    table = pq.read_table(out / "focus.parquet")
    _check_focus_rows(table)
    view_rows = query(db, "select count(*) from reporting.focus")[0][0]
    assert table.num_rows == view_rows
    # sum(BilledCost) per billing period is billed cost, exactly
    months: dict[dt.date, Decimal] = defaultdict(Decimal)
    for (day, _), amount in _billed(org, ("project_id",)).items():
        months[day.replace(day=1)] += amount
    got: dict[dt.date, Decimal] = defaultdict(Decimal)
    for start, cost in zip(table.column("BillingPeriodStart").to_pylist(), table.column("BilledCost").to_pylist(),
                           strict=True):
        got[start.date()] += cost
    assert dict(got) == dict(months)
    # the CSV holds the same rows, date/times as FOCUS writes them
    csv = pcsv.read_csv(out / "focus.csv", convert_options=pcsv.ConvertOptions(
        column_types={c: pa.string() for c in table.column_names}))
    assert csv.num_rows == table.num_rows and csv.column_names == table.column_names
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", v) for v in csv.column("ChargePeriodStart").to_pylist())
    assert sum(Decimal(v) for v in csv.column("BilledCost").to_pylist()) == sum(months.values())


# ------------------------------------------------------------------------------------------------ runway
def test_spend_runway_dates_equal_an_independent_computation(refused) -> None:
    org, db, _ = refused
    daily: dict[tuple, Decimal] = defaultdict(Decimal)  # (scope key, day) -> cost; scope key None = organization
    for (day, project), amount in _billed(org, ("project_id",)).items():
        daily[(None, day)] += amount
        if project is not None:
            daily[(project, day)] += amount
    as_of = max(d for _, d in daily)
    first = as_of.replace(day=1)
    last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    expected = {}
    for scope, rule in truth.spend_thresholds(org).items():
        mtd = sum((daily.get((scope, first + dt.timedelta(days=i)), Decimal(0))
                   for i in range((as_of - first).days + 1)), Decimal(0))
        trailing = sum((daily.get((scope, as_of - dt.timedelta(days=i)), Decimal(0)) for i in range(1, 8)),
                       Decimal(0))
        thresholds = ([("hard_limit", None, rule["limit"])] if rule["limit"] else [])
        thresholds += [("alert", aid, amount) for aid, amount in rule["alerts"].items()]
        for kind, aid, amount in thresholds:
            crosses, running = None, Decimal(0)
            for i in range((last - first).days + 1):
                day = first + dt.timedelta(days=i)
                if day <= as_of:
                    running += daily.get((scope, day), Decimal(0))
                    reached = running >= amount
                else:  # the forecast, in exact fractions
                    reached = Fraction(mtd) + Fraction(trailing) / 7 * (day - as_of).days >= Fraction(amount)
                if reached:
                    crosses = day
                    break
            expected[(scope, kind, aid)] = (crosses, mtd, amount)
    rows = query(db, "select project_id, threshold_type, threshold_id, crosses_on, mtd_amount, threshold_amount, "
                     "enforces_before_month_end, as_of_day from reporting.spend_runway "
                     "where threshold_type is not null")
    got = {(p, k, a): (c, m, t) for p, k, a, c, m, t, _, _ in rows}
    assert got == expected
    assert {r[-1] for r in rows} == {as_of}
    assert any(c is not None for c, _, _ in expected.values()) and any(c is None for c, _, _ in expected.values())
    enforcing = {(p, c) for p, k, _, c, _, _, e, _ in rows if e}
    assert enforcing == {(s, c) for (s, k, _), (c, _, _) in expected.items() if k == "hard_limit" and c is not None}


def test_reports_warn_of_hard_limits_and_show_owners(refused, tmp_path: Path) -> None:
    _, db, _ = refused
    result = CliRunner().invoke(main, ["report", "--db", str(db), "--html", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    limited = query(db, "select count(*) from reporting.spend_runway where enforces_before_month_end")[0][0]
    assert limited > 0
    text = CliRunner().invoke(main, ["report", "--db", str(db)]).output
    assert text.count("WARNING: hard spend limit") == limited
    assert "Cost by API key owner" in text and "Spend limits and alerts this month" in text
    html = (tmp_path / "r.html").read_text()
    assert html.count('class="warning"') == limited and "Cost by API key owner" in html


def test_spend_lists_refused_are_warnings_and_the_load_goes_on(tmp_path: Path) -> None:
    org = Org(seed=5, days=10, now=NOW)
    db = tmp_path / "w.duckdb"
    with Sandbox(org, refuse_lists={"spend_limit": 403, "project_spend_limits": 404, "spend_alerts": 404}) as sb:
        s = load(sb, db, endpoints=["costs"], start=midnight(NOW) - 3 * DAY)
    assert any(w.startswith("spend_limits not refreshed:") and "403" in w for w in s.warnings)
    assert sum(w.startswith("spend_limits not refreshed for proj_") for w in s.warnings) == len(org.projects)
    assert any(w.startswith("spend_alerts not refreshed:") for w in s.warnings)
    assert query(db, "select count(*) from openai_usage.spend_alerts where scope = 'project'")[0][0] > 0
    assert query(db, "select count(*) from openai_usage.costs")[0][0] > 0


# ------------------------------------------------------------------------------------------------ restatements
def _truth_groups(org: Org, start: int, end: int) -> dict[tuple, Decimal]:
    """(table, bucket start, dimensions JSON, metric) -> value for every group the API reports, closed days only."""
    out = {}
    for name, ep in catalogue.endpoints().items():
        for b in truth.buckets(org, name, start, end):
            for r in b["results"]:
                dims = json.dumps({d.name: r[d.name] for d in ep.dimensions}, sort_keys=True, separators=(",", ":"))
                for c in ep.metrics:
                    v: Any = r
                    for k in c.path:
                        v = v.get(k) if isinstance(v, dict) else None
                    if v is not None and c.type != "string":
                        out[(ep.table, b["start_time"], dims, c.name)] = Decimal(str(v))
    return out


@pytest.mark.parametrize("stretch", ["default", "a bucket per query"])
def test_the_restatement_log_equals_what_the_simulator_changed(tmp_path: Path, monkeypatch, stretch) -> None:
    if stretch != "default":  # the held rows read back in several queries, as a long range is
        from openai_usage import restatements

        monkeypatch.setattr(restatements, "QUERY_BUCKETS", 1)
        monkeypatch.setattr(restatements, "QUERY_ROWS", 2)
    org = Org(seed=5, days=40, now=NOW)
    db = tmp_path / "w.duckdb"
    today = midnight(NOW)
    with Sandbox(org) as sb:
        load(sb, db, start=org.start)
        s = load(sb, db)  # nothing changed: nothing restated
        apply_views(db)
        assert s.restated_buckets == 0 and query(db, "select count(*) from openai_usage.restatements")[0][0] == 0
        window = (today - 3 * DAY, today)  # closed days every run re-reads (costs 3 days, usage 1)
        before = _truth_groups(org, *window)
        first = dt.datetime.fromtimestamp(today, dt.UTC).date().replace(day=1)
        last_month_day = int(dt.datetime.combine(first - dt.timedelta(days=1), dt.time(), dt.UTC).timestamp())
        old_day = _truth_groups(org, last_month_day, last_month_day + DAY)  # as loaded by the first run
        project = org.projects[1]["id"]
        org.restate("completions", today - DAY, today, 1.25, project_id=project)
        org.restate("images", today - 2 * DAY, today - DAY, 0.5)  # its cost had settled, its usage is not re-read
        org.retire("embeddings", "api_key_id", org.streams["embeddings"].labels["api_key_id"][0])  # groups vanish
        org.clock.advance(600)
        after = _truth_groups(org, *window)
        s = load(sb, db)
        # a closed billing period restated: costs of the last day of last month, read again by a backfill
        org.restate("completions", last_month_day, last_month_day + DAY, 2.0, project_id=project)
        new_day = _truth_groups(org, last_month_day, last_month_day + DAY)
        backfill = load(sb, db, endpoints=["costs"], start=last_month_day, end=last_month_day + DAY)
    usage_window = {today - DAY}
    lag = {ep.table: ep.arrival_lag for ep in catalogue.endpoints().values()}
    expected = set()
    for key in before.keys() | after.keys():
        table, start = key[0], key[1]
        if table != "costs" and start not in usage_window:
            continue  # usage re-reads one day
        if start + DAY + lag[table] > NOW:
            continue  # not settled when the first runs read it (costs take 1d12h): filling in, not a restatement
        if before.get(key) != after.get(key):
            expected.add((*key, before.get(key), after.get(key)))
    for key in old_day.keys() | new_day.keys():
        if key[0] == "costs" and old_day.get(key) != new_day.get(key):
            expected.add((*key, old_day.get(key), new_day.get(key)))
    rows = query(db, "select table_name, epoch(start_time)::bigint, dimensions, metric, old_value, new_value "
                     "from openai_usage.restatements")
    got = {(t, st, d, m, None if o is None else o.normalize(), None if n is None else n.normalize())
           for t, st, d, m, o, n in rows}
    expected = {(t, st, d, m, None if o is None else o.normalize(), None if n is None else n.normalize())
                for t, st, d, m, o, n in expected}
    assert expected and got == expected
    assert {"usage_completions", "usage_embeddings", "costs"} <= {r[0] for r in got}
    assert any(o is not None and n is None for *_, o, n in got)  # vanished groups are logged
    # the summary says what changed: buckets, and the net change of billed cost
    assert s.restated_buckets == len({(t, st) for t, st, *_ in expected if st != last_month_day})
    billed_delta = sum((after.get(k, 0) - before.get(k, 0) for k in before.keys() | after.keys()
                        if k[0] == "costs" and k[3] == "amount_value" and k[1] + DAY + lag["costs"] <= NOW),
                       Decimal(0))
    # the costs of yesterday changed too, but had not settled when they were first read: nothing logged for them
    assert any(k[0] == "costs" and k[1] == today - DAY and before.get(k) != after.get(k) for k in after)
    assert not any(t == "costs" and st == today - DAY for t, st, *_ in got)
    assert s.restated_amount == billed_delta != 0
    assert backfill.restated_buckets == 1
    # FOCUS: last month stays as invoiced, the change is a correction billed this month
    apply_views(db)
    delta = sum((new_day.get(k, 0) - old_day.get(k, 0) for k in old_day.keys() | new_day.keys()
                 if k[0] == "costs" and k[3] == "amount_value"), Decimal(0))
    assert delta > 0
    out = tmp_path / "focus"
    assert CliRunner().invoke(main, ["export", "--db", str(db), "--format", "focus", str(out)]).exit_code == 0
    _check_focus_rows(pq.read_table(out / "focus.parquet"))  # correction rows held to the rules too
    corrections = query(db, """select "BillingPeriodStart", "ChargePeriodStart", sum("BilledCost")
                               from reporting.focus where "ChargeClass" = 'Correction' group by all""")
    charged = dt.datetime.fromtimestamp(last_month_day, dt.UTC).replace(tzinfo=None)
    assert corrections == [(dt.datetime.combine(first, dt.time()), charged, delta)]
    invoiced = query(db, f"""select sum("BilledCost") from reporting.focus
                             where "BillingPeriodStart" = date '{first - dt.timedelta(days=1):%Y-%m-01}'""")[0][0]
    current = query(db, f"""select sum(amount) from staging.stg_costs
                            where day < date '{first:%Y-%m-%d}'""")[0][0]
    assert invoiced == current - delta


def test_restatements_wait_for_the_arrival_lag_and_keep_float_quantities_exact() -> None:
    """Costs arrive up to 1d12h after their day: a figure read before then was partial, and its arrival is no
    restatement. A cost quantity is a JSON float with more digits than the log's DECIMAL(38,12): it must neither
    crash the run nor count as changed when it reads the same."""
    from openai_usage.restatements import Snapshot

    ep = catalogue.endpoints()["costs"]
    day = midnight(NOW) - 5 * DAY
    group = {"project_id": "proj_a", "line_item": "gpt-4o, input", "api_key_id": None}

    def held(read_at: int, quantity: float, amount: str = "1.5") -> Snapshot:
        snap = Snapshot(ep, "1d", read_at, "default")
        snap.add(day, day + DAY, tuple(group[d] for d in snap.dims),
                 {"amount_value": Decimal(amount), "quantity": quantity}, empty=False)
        return snap

    def reread(quantity: float, amount: str) -> pa.Table:
        row = {"start_time": dt.datetime.fromtimestamp(day, dt.UTC), "_bucket_emptied": False, **group,
               "amount_value": Decimal(amount), "quantity": quantity}
        return pa.Table.from_pylist([row])

    settled = day + DAY + ep.arrival_lag
    assert held(settled, 0.30000000000000004).compare(reread(0.30000000000000004, "1.5"), NOW) is None
    moved = held(settled, 0.30000000000000004).compare(reread(0.1 + 0.7, "1.75"), NOW)
    assert moved is not None and sorted(moved.column("metric").to_pylist()) == ["amount_value", "quantity"]
    assert moved.column("new_value").to_pylist()[moved.column("metric").to_pylist().index("quantity")] == \
        Decimal("0.800000000000")
    # read before the lag had passed: the later, complete figure is not logged
    assert held(settled - 1, 0.3, "1.0").compare(reread(0.3, "1.75"), NOW) is None


# ------------------------------------------------------------------------------------------------ edge shapes
def test_edge_shapes_of_billed_data(tmp_path: Path) -> None:
    """Shapes the generator does not make, written straight into a warehouse, answers worked out by hand:
    - a cell Costs billed per key plus a key-less rest: the rest stays unallocated, never spread over billed keys;
    - a key that only Costs names: named as a deleted key;
    - a cost group that vanished after its month closed: invoiced in its month, reversed by a correction;
    - EUR costs beside USD limits: thresholds meet only costs in their own currency;
    - an alert the last directory refresh no longer listed: deleted, so gone from the runway."""
    import duckdb

    db = tmp_path / "edge.duckdb"
    apply_views(db)
    con = duckdb.connect(str(db))
    oct31, nov20 = "2026-10-31 00:00:00+00", "2026-11-20 00:00:00+00"
    refresh, stale = "2026-11-21 08:00:00+00", "2026-11-20 08:00:00+00"

    def cost(start: str, project: str | None, item: str, key: str | None, amount: str, cur: str = "usd") -> None:
        con.execute("insert into openai_usage.costs by name select 'default' as organization, "
                    "?::timestamptz as start_time, "
                    "?::timestamptz + interval 1 day as end_time, '1d' as bucket_width, ? as project_id, "
                    "? as line_item, ? as api_key_id, ?::decimal(38,12) as amount_value, ? as amount_currency, "
                    "false as _bucket_emptied", [start, start, project, item, key, amount, cur])

    cost(nov20, "proj_a", "gpt-4o, input", "key_billed", "5")
    cost(nov20, "proj_a", "gpt-4o, input", None, "0.3")  # the key-less rest of a billed cell
    cost(nov20, "proj_a", "gpt-4o, output", "key_only_in_costs", "2")
    cost(nov20, "proj_a", "gpt-4o, output", None, "7", cur="eur")
    cost(oct31, "proj_a", "gpt-4o, input", "key_billed", "12")  # restated from 10
    con.execute("""insert into openai_usage.usage_completions by name
                   select 'default' as organization, ?::timestamptz as start_time,
                          ?::timestamptz + interval 1 day as end_time,
                          '1d' as bucket_width, 'proj_a' as project_id, k as api_key_id, 'gpt-4o' as model,
                          1000 as input_tokens, 10 as output_tokens, 0 as input_cached_tokens, false as _bucket_emptied
                   from (values ('key_billed'), ('key_other')) as t(k)""", [nov20, nov20])
    for key, old, new in [("key_billed", "10", "12"), ("key_gone", "4", None)]:
        dims = json.dumps({"api_key_id": key, "line_item": "gpt-4o, input", "project_id": "proj_a"}, sort_keys=True)
        con.execute("insert into openai_usage.restatements values ('default', 'costs', ?::timestamptz, "
                    "?::timestamptz + interval 1 day, '1d', ?, 'amount_value', ?, ?, 'x', '2026-11-02 00:00:00+00')",
                    [oct31, oct31, dims, old, new])
    con.execute("insert into openai_usage.projects (organization, id, name, last_seen_at) "
                "values ('default', 'proj_a', 'A', ?)", [refresh])
    con.execute("insert into openai_usage.spend_limits (organization, scope, scope_id, project_id, threshold_amount, "
                "currency, last_seen_at) values ('default', 'project', 'proj_a', 'proj_a', 600, 'usd', ?)", [refresh])
    con.execute("insert into openai_usage.spend_alerts (organization, scope, scope_id, project_id, id, "
                "threshold_amount, currency, last_seen_at) "
                "values ('default', 'project', 'proj_a', 'proj_a', 'alert_old', 100, 'usd', ?)", [stale])
    con.close()

    rows = query(db, "select api_key_id, api_key_name, line_item, amount, method, currency from "
                     "reporting.cost_allocation where day = date '2026-11-20' order by all")
    assert rows == [  # the EUR cell has no billed sibling in its currency: split by output tokens, 10 and 10
        ("key_billed", "deleted key (key_billed)", "gpt-4o, input", Decimal("5"), "billed", "usd"),
        ("key_billed", "deleted key (key_billed)", "gpt-4o, output", Decimal("3.5"), "usage_share", "eur"),
        ("key_only_in_costs", "deleted key (key_only_in_costs)", "gpt-4o, output", Decimal("2"), "billed", "usd"),
        ("key_other", "deleted key (key_other)", "gpt-4o, output", Decimal("3.5"), "usage_share", "eur"),
        (None, "(no key)", "gpt-4o, input", Decimal("0.3"), "unallocated", "usd"),
    ]
    periods = dict(query(db, """select "BillingPeriodStart"::date, sum("BilledCost") from reporting.focus
                                where "BillingCurrency" = 'USD' group by all"""))
    # October as invoiced: 10 for the restated cell, 4 for the vanished one; November: its own 7.3, corrections +2 -4
    assert periods == {dt.date(2026, 10, 1): Decimal(14), dt.date(2026, 11, 1): Decimal("7.3") + 2 - 4}
    assert sum(periods.values()) == Decimal("12") + Decimal("7.3")  # what Costs holds now, in USD
    runway = query(db, "select currency, threshold_type, threshold_id, threshold_amount from reporting.spend_runway "
                       "where scope = 'project' order by all")
    assert runway == [("eur", None, None, None), ("usd", "hard_limit", None, Decimal(6))]


def test_the_load_summary_says_what_was_restated_and_how_cost_reaches_keys(tmp_path: Path) -> None:
    """The CLI's own words, from two real loads: the second after the API revised yesterday's costs."""
    org = Org(seed=5, days=10, now=NOW)
    db = tmp_path / "w.duckdb"
    env = {"OPENAI_ADMIN_KEY": ADMIN, "OPENAI_USAGE_NOW": str(NOW)}
    settled_day = midnight(NOW) - 2 * DAY  # its costs had settled (1d12h) when the first run read them
    with Sandbox(org) as sb:
        args = ["load", "--db", str(db), "--base-url", sb.url, "--endpoints", "costs,completions"]
        first = CliRunner().invoke(main, [*args, "--start", str(org.start)], env=env)
        assert first.exit_code == 0, first.output
        assert "restated since the last run: 0 buckets, +$0.00 billed" in first.output
        assert "cost per API key: usage_share (the API refused group_by=api_key_id;" in first.output
        before = truth.grand_total(org, "costs", "amount_value", settled_day, settled_day + DAY, now=NOW)
        org.restate("completions", settled_day, settled_day + DAY, 2.0)
        after = truth.grand_total(org, "costs", "amount_value", settled_day, settled_day + DAY, now=NOW)
        second = CliRunner().invoke(main, args, env=env)
    assert second.exit_code == 0, second.output
    assert after > before
    assert f"restated since the last run: 1 buckets, +${after - before:,.2f} billed" in second.output
    assert ADMIN not in first.output + second.output
