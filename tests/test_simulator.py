"""The simulator pinned to the reference sheet: alignment, limits, cursors, errors, auth, faults, truth."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import httpx
import numpy as np
import pytest

from openai_usage import catalogue
from openai_usage.simulator import Org, Sandbox, truth
from openai_usage.simulator.faults import FaultPlan

from .conftest import ADMIN, DAY, NOW, midnight

USAGE = [n for n, e in catalogue.endpoints().items() if e.kind == "usage"]
ALL = list(catalogue.endpoints())


def client(sb: Sandbox, key: str = ADMIN) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=sb.url, headers=headers, timeout=10)


def get(sb: Sandbox, path: str, params, key: str = ADMIN) -> httpx.Response:
    with client(sb, key) as c:
        return c.get(path, params=params)


def test_every_catalogue_endpoint_is_served(sandbox):
    assert len(ALL) == 11
    for ep in catalogue.endpoints().values():
        r = get(sandbox, ep.path, {"start_time": midnight(NOW) - 3 * DAY})
        assert r.status_code == 200, (ep.path, r.text)
        page = r.json()
        assert page["object"] == "page"
        assert all(b["object"] == "bucket" and "results" in b for b in page["data"])
        for b in page["data"]:
            for res in b["results"]:
                assert res["object"] == ep.object


def test_first_bucket_starts_at_start_time_rest_aligned_last_ends_at_now(sandbox):
    start = midnight(NOW) - 3 * DAY + 5 * 3600 + 17  # deliberately off the boundary
    page = get(sandbox, "/organization/usage/completions", {"start_time": start}).json()
    edges = [(b["start_time"], b["end_time"]) for b in page["data"]]
    assert edges[0] == (start, midnight(start) + DAY)
    assert all(a % DAY == 0 for a, _ in edges[1:])
    assert edges[-1][1] == NOW  # open bucket ends at "now"
    hourly = get(sandbox, "/organization/usage/completions",
                 {"start_time": start, "end_time": start + 7200, "bucket_width": "1h"}).json()["data"]
    assert [(b["start_time"], b["end_time"]) for b in hourly] == [
        (start, start - start % 3600 + 3600), (start - start % 3600 + 3600, start - start % 3600 + 7200),
        (start - start % 3600 + 7200, start + 7200)]


@pytest.mark.parametrize("width,default,maximum", [("1d", 7, 31), ("1h", 24, 168), ("1m", 60, 1440)])
def test_limit_defaults_and_maxima(sandbox, width, default, maximum):
    start = midnight(NOW) - 35 * DAY
    path = "/organization/usage/embeddings"
    page = get(sandbox, path, {"start_time": start, "bucket_width": width}).json()
    assert len(page["data"]) == default and page["has_more"] is True
    assert len(get(sandbox, path, {"start_time": start, "bucket_width": width, "limit": maximum}).json()["data"]) \
        == maximum
    r = get(sandbox, path, {"start_time": start, "bucket_width": width, "limit": maximum + 1})
    assert r.status_code == 400 and r.json()["error"]["param"] == "limit"


def test_costs_limits_width_and_group_by(sandbox):
    start = midnight(NOW) - 200 * DAY
    assert len(get(sandbox, "/organization/costs", {"start_time": start}).json()["data"]) == 7
    assert len(get(sandbox, "/organization/costs", {"start_time": start, "limit": 180}).json()["data"]) == 180
    assert get(sandbox, "/organization/costs", {"start_time": start, "limit": 181}).status_code == 400
    assert get(sandbox, "/organization/costs", {"start_time": start, "bucket_width": "1h"}).status_code == 400
    r = get(sandbox, "/organization/costs", {"start_time": start, "group_by": "api_key_id"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "group_by"


def test_pages_follow_to_the_end_and_cursor_is_bound_to_the_query(sandbox):
    path = "/organization/usage/images"
    params = [("start_time", midnight(NOW) - 20 * DAY), ("group_by", "model"), ("limit", 6)]
    seen, cursor = [], None
    while True:
        page = get(sandbox, path, params + ([("page", cursor)] if cursor else [])).json()
        seen += [b["start_time"] for b in page["data"]]
        if not page["has_more"]:
            assert page["next_page"] is None
            break
        cursor = page["next_page"]
    assert seen == sorted(set(seen)) and len(seen) == 21
    first = get(sandbox, path, params).json()
    changed = [("start_time", midnight(NOW) - 20 * DAY), ("group_by", "project_id"), ("limit", 6),
               ("page", first["next_page"])]
    r = get(sandbox, path, changed)
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "The page token is invalid, have you modified the query parameters?"
    assert get(sandbox, path, [*params, ("page", "page_garbage")]).status_code == 400


def test_group_by_gives_one_result_per_combination_and_nulls_elsewhere(sandbox):
    start = midnight(NOW) - 5 * DAY
    data = get(sandbox, "/organization/usage/completions",
               [("start_time", start), ("end_time", start + DAY), ("group_by", "model"),
                ("group_by", "batch")]).json()["data"]
    results = data[0]["results"]
    keys = [(r["model"], r["batch"]) for r in results]
    assert len(keys) == len(set(keys)) and len(keys) > 1
    assert all(r["project_id"] is None and r["user_id"] is None and r["service_tier"] is None for r in results)
    assert {type(r["batch"]) for r in results} == {bool}
    ungrouped = get(sandbox, "/organization/usage/completions",
                    {"start_time": start, "end_time": start + DAY}).json()["data"][0]["results"]
    assert len(ungrouped) == 1
    for metric in ("input_tokens", "output_tokens", "num_model_requests"):
        assert ungrouped[0][metric] == sum(r[metric] for r in results)


def test_array_parameters_in_all_three_spellings(sandbox):
    start = midnight(NOW) - 2 * DAY
    base = {"start_time": start, "end_time": start + DAY}
    a = get(sandbox, "/organization/usage/embeddings", [*base.items(), ("group_by", "model"),
                                                         ("group_by", "project_id")]).json()
    b = get(sandbox, "/organization/usage/embeddings", [*base.items(), ("group_by[]", "model"),
                                                         ("group_by[]", "project_id")]).json()
    c = get(sandbox, "/organization/usage/embeddings", [*base.items(), ("group_by", "model,project_id")]).json()
    assert a["data"] == b["data"] == c["data"]


def test_filters_restrict_results(sandbox, org):
    start = midnight(NOW) - 2 * DAY
    pid = org.projects[0]["id"]
    res = get(sandbox, "/organization/usage/completions",
              [("start_time", start), ("end_time", start + DAY), ("project_ids", pid),
               ("group_by", "project_id")]).json()["data"][0]["results"]
    assert [r["project_id"] for r in res] == [pid]


def test_empty_periods_come_back_as_empty_buckets():
    org = Org(seed=3, days=40, now=NOW, quiet=((midnight(NOW) - 10 * DAY, midnight(NOW) - 3 * DAY),))
    with Sandbox(org) as sb:
        data = get(sb, "/organization/usage/completions",
                   {"start_time": midnight(NOW) - 12 * DAY, "limit": 31}).json()["data"]
        assert [len(b["results"]) == 0 for b in data] == [False] * 2 + [True] * 7 + [False] * 4
        # before the organization existed: buckets, but empty
        early = get(sb, "/organization/usage/completions", {"start_time": org.start - 5 * DAY,
                                                            "end_time": org.start}).json()["data"]
        assert len(early) == 5 and all(b["results"] == [] for b in early)


def test_auth_errors_have_the_real_shape(sandbox):
    r = get(sandbox, "/organization/usage/completions", {"start_time": 0}, key="")
    assert r.status_code == 401 and set(r.json()["error"]) == {"message", "type", "param", "code"}
    r = get(sandbox, "/organization/usage/completions", {"start_time": 0}, key="sk-admin-wrong-123456789")
    assert r.status_code == 401 and "123456789" not in r.text
    r = get(sandbox, "/organization/usage/completions", {"start_time": 0}, key="sk-proj-abcdefghijkl")
    assert r.status_code == 403 and "Missing scopes: api.usage.read" in r.json()["error"]["message"]


def test_bad_parameters_are_400_with_param(sandbox):
    path = "/organization/usage/completions"
    for params, param in [({}, "start_time"), ({"start_time": "x"}, "start_time"),
                          ({"start_time": 100, "end_time": 50}, "end_time"),
                          ({"start_time": 100, "bucket_width": "2d"}, "bucket_width"),
                          ({"start_time": 100, "group_by": "size"}, "group_by")]:
        r = get(sandbox, path, params)
        assert r.status_code == 400 and r.json()["error"]["param"] == param, params


@pytest.mark.parametrize("name", USAGE)
def test_widths_add_up_to_the_same_totals(org, name):
    day = midnight(NOW) - 4 * DAY
    daily = truth.totals(org, name, day, day + DAY, "1d")
    hourly = truth.totals(org, name, day, day + DAY, "1h")
    assert len(hourly) >= 1
    for metric in daily[(day,)]:
        assert daily[(day,)][metric] == sum(v.get(metric, 0) for v in hourly.values())
    hour = day + 15 * 3600
    minutes = truth.totals(org, name, hour, hour + 3600, "1m")
    one_hour = truth.totals(org, name, hour, hour + 3600, "1h")
    for metric, v in one_hour.get((hour,), {}).items():
        assert v == sum(m.get(metric, 0) for m in minutes.values())


def test_costs_are_priced_from_usage_and_include_org_level_items(org):
    day = midnight(NOW) - 6 * DAY
    res = org.cost_results(day, day + DAY, ("project_id", "line_item"))
    items = {r["line_item"] for r in res}
    assert "gpt-4o-2024-08-06, input" in items and "gpt-4o-2024-08-06, output" in items
    org_level = [r for r in res if r["project_id"] is None]
    assert {r["line_item"] for r in org_level} == {"scale tier commitment", "fine-tuning hosting"}
    assert sum(r["amount"]["value"] for r in org_level) == Decimal("172.80")  # a whole day of each
    # the input line of one model and project is exactly its uncached input tokens at $2.50 per million
    usage = org.usage_results("completions", day, day + DAY, ("project_id", "model"))
    pid = next(r["project_id"] for r in res if r["line_item"] == "gpt-4o-2024-08-06, input")
    u = next(r for r in usage if r["project_id"] == pid and r["model"] == "gpt-4o-2024-08-06")
    line = next(r for r in res if r["project_id"] == pid and r["line_item"] == "gpt-4o-2024-08-06, input")
    assert line["amount"]["value"] == (u["input_tokens"] - u["input_cached_tokens"]) * Decimal("2.50") / 10**6
    assert line["quantity"] == u["input_tokens"] - u["input_cached_tokens"]


def test_open_bucket_grows_and_recent_buckets_are_restated(org):
    day = midnight(NOW)
    t1 = truth.grand_total(org, "completions", "input_tokens", day, day + DAY, now=NOW)
    t2 = truth.grand_total(org, "completions", "input_tokens", day, day + DAY, now=NOW + 1800)
    assert 0 < t1 < t2
    hour = midnight(NOW) + 12 * 3600  # closed 80 minutes before NOW, inside the 2h restatement window
    early = truth.grand_total(org, "completions", "input_tokens", hour, hour + 3600, "1h", now=NOW)
    final = truth.grand_total(org, "completions", "input_tokens", hour, hour + 3600, "1h", now=NOW + 3 * 3600)
    later = truth.grand_total(org, "completions", "input_tokens", hour, hour + 3600, "1h", now=NOW + 9 * 3600)
    assert early < final == later
    assert final - early == pytest.approx(final / 10, rel=0.05)


def test_generation_is_deterministic_per_seed():
    a, b, c = Org(seed=5, now=NOW), Org(seed=5, now=NOW), Org(seed=6, now=NOW)
    day = midnight(NOW) - 3 * DAY
    ra = a.usage_results("completions", day, day + DAY, ("project_id", "model"))
    assert ra == b.usage_results("completions", day, day + DAY, ("project_id", "model"))
    assert ra != c.usage_results("completions", day, day + DAY, ("project_id", "model"))
    assert [p["id"] for p in a.projects] == [p["id"] for p in b.projects]


def test_scale_knob_reaches_tens_of_thousands_of_results_per_hour():
    org = Org(seed=1, days=3, now=NOW, scale=250)
    hour = midnight(NOW) - DAY + 15 * 3600
    res = org.usage_results("completions", hour, hour + 3600, catalogue.endpoints()["completions"].group_by)
    assert len(res) >= 10_000
    assert np.unique([(r["api_key_id"], r["model"], r["batch"], r["service_tier"]) for r in res], axis=0).shape[0] \
        == len(res)


# ------------------------------------------------------------------------------------------------ faults
def faulty(org: Org, *specs: str, **kw) -> Sandbox:
    return Sandbox(org, faults=FaultPlan.parse(list(specs), seed=1), **kw)


def test_fault_every_nth_request_is_reproducible_and_counted(org):
    with faulty(org, "429:every=3", "503:every=4") as sb, client(sb) as c:
        codes = [c.get("/organization/usage/moderations", params={"start_time": NOW - DAY}).status_code
                 for _ in range(12)]
    assert codes == [200, 200, 429, 503, 200, 429, 200, 503, 429, 200, 200, 429]
    assert sb.faults.counts == {"429": 4, "503": 3}


def test_fault_probability_is_seeded(org):
    def run() -> list[int]:
        with faulty(org, "500:p=0.3,burst=2") as sb, client(sb) as c:
            return [c.get("/organization/usage/moderations", params={"start_time": NOW - DAY}).status_code
                    for _ in range(30)]
    first, second = run(), run()
    assert first == second and 0 < first.count(500) < 30


def test_fault_rate_limit_with_and_without_retry_after(org):
    with faulty(org, "429:every=2", "429_no_retry_after:every=3", retry_after="7") as sb, client(sb) as c:
        rs = [c.get("/organization/usage/moderations", params={"start_time": NOW - DAY}) for _ in range(3)]
    assert rs[1].status_code == 429 and rs[1].headers["retry-after"] == "7"
    assert rs[2].status_code == 429 and "retry-after" not in rs[2].headers
    assert rs[1].json()["error"]["code"] == "rate_limit_exceeded"


def test_fault_slow_drop_truncate_malformed(org):
    plan = faulty(org, "slow:every=4", "drop:every=5", "truncate:every=6", "malformed:every=7", slow_seconds=1.0)
    with plan as sb, httpx.Client(base_url=sb.url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=0.5) as c:
        outcomes = []
        for _ in range(7):
            try:
                r = c.get("/organization/usage/moderations", params={"start_time": NOW - 3 * DAY})
                try:
                    r.json()
                    outcomes.append("ok")
                except ValueError:
                    outcomes.append("badjson")
            except httpx.TimeoutException:
                outcomes.append("timeout")
            except httpx.TransportError:
                outcomes.append("dropped")
    assert outcomes == ["ok", "ok", "ok", "timeout", "dropped", "badjson", "badjson"]


def test_fault_content_variants(org):
    start = midnight(NOW) - 3 * DAY
    with faulty(org, "legacy_result", "extra_fields", "unknown_object") as sb:
        page = get(sb, "/organization/usage/completions", {"start_time": start}).json()
    b = page["data"][0]
    assert "results" not in b and len(b["result"]) > 0 and b["start_time_iso"].endswith("Z")
    assert {r["object"] for r in b["result"]} == {"organization.usage.completions.result",
                                                  "organization.usage.future_meter.result"}
    assert all(r["organization_id"] == "org-sandbox" for r in b["result"])


def test_fault_bad_cursor(org):
    with faulty(org, "bad_cursor") as sb:
        params = {"start_time": midnight(NOW) - 20 * DAY}
        first = get(sb, "/organization/usage/embeddings", params).json()
        r = get(sb, "/organization/usage/embeddings", {**params, "page": first["next_page"]})
    assert r.status_code == 400 and "page token is invalid" in r.json()["error"]["message"]


def test_fault_costs_quirk(org):
    with faulty(org, "costs_quirk") as sb:
        params = {"start_time": midnight(NOW) - 3 * DAY, "limit": 7}
        last = get(sb, "/organization/costs", params).json()
        assert last["has_more"] is True and len(last["data"]) == 4  # the real data ended here
        past = get(sb, "/organization/costs", {**params, "page": last["next_page"]}).json()
        assert past["has_more"] is True and all(b["results"] == [] for b in past["data"])
        assert past["data"][0]["start_time"] == midnight(NOW) + DAY
        r = get(sb, "/organization/costs", {**params, "page": past["next_page"]})
        assert r.status_code == 400 and "page token is invalid" in r.json()["error"]["message"]


def test_simulator_binds_to_loopback_only(sandbox):
    assert sandbox.url.startswith("http://127.0.0.1:")


def test_sandbox_cli_bad_input_is_one_line_exit_2(tmp_path):
    cmd = [sys.executable, "-m", "openai_usage.cli", "sandbox"]
    for extra in (["--fault", "teapot"], ["--fault", "429:every=zero"], ["--now", "2026-13-45"],
                  ["--port", "99999"], ["--days", "-3"]):
        p = subprocess.run(cmd + extra, capture_output=True, text=True, timeout=60)
        assert p.returncode == 2, (extra, p.stderr)
        assert "Traceback" not in p.stderr and p.stderr.strip(), extra


def test_sandbox_cli_writes_ground_truth_json(tmp_path):
    import json
    out = tmp_path / "truth.json"
    p = subprocess.run([sys.executable, "-m", "openai_usage.cli", "sandbox", "--days", "5", "--seed", "11",
                        "--now", str(NOW), "--truth", str(out)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    doc = json.loads(out.read_text())
    org = Org(seed=11, days=5, now=NOW)
    day = midnight(NOW) - 2 * DAY
    want = truth.totals(org, "completions", day, day + DAY)[(day,)]["input_tokens"]
    got = next(r for r in doc["endpoints"]["completions"] if r["start_time"] == day)["input_tokens"]
    assert got == want


def _walk(sb: Sandbox, path: str, params: dict) -> list[dict]:
    """Every page of one query, following cursors."""
    pages, cursor = [], None
    while True:
        page = get(sb, path, {**params, **({"page": cursor} if cursor else {})}).json()
        pages.append(page)
        if not page["has_more"]:
            return pages
        cursor = page["next_page"]


def test_faults_land_on_the_page_window_and_endpoint_they_name(org):
    """Every fault can be placed: `page=N` (1 = no cursor), `window=START` (the query's start_time), `only=`."""
    w1, w2 = midnight(NOW) - 20 * DAY, midnight(NOW) - 10 * DAY
    rules = ("unknown_object:page=2,only=completions", "extra_fields:page=3", f"legacy_result:window={w2}",
             "short:size=2,page=1,only=completions")
    with faulty(org, *rules) as sb:
        first = _walk(sb, "/organization/usage/completions", {"start_time": w1, "end_time": w2, "limit": 4})
        second = _walk(sb, "/organization/usage/completions", {"start_time": w2, "limit": 4})
        embeddings = _walk(sb, "/organization/usage/embeddings", {"start_time": w1, "end_time": w2, "limit": 4})

    def kinds(page: dict) -> set[str]:
        return {r["object"] for b in page["data"] for r in b.get("results", b.get("result", []))}

    # window 1 of completions: a short first page (2 buckets), then 4 per page; the unknown kind only on page 2,
    # the extra fields only on page 3; every bucket exactly once
    assert [len(p["data"]) for p in first] == [2, 4, 4]
    assert [b["start_time"] for p in first for b in p["data"]] == list(range(w1, w2, DAY))
    assert [("organization.usage.future_meter.result" in kinds(p)) for p in first] == [False, True, False]
    assert ["start_time_iso" in p["data"][0] for p in first] == [False, False, True]
    assert all("results" in b for p in first for b in p["data"])
    # window 2 (start_time = w2): every page in the legacy shape, nothing else
    assert all("result" in b and "results" not in b for p in second for b in p["data"])
    assert sum(len(p["data"]) for p in second) == 11
    # another endpoint: only the rule without `only=` reaches it, and only on its page 3
    assert [len(p["data"]) for p in embeddings] == [4, 4, 2]
    assert ["start_time_iso" in p["data"][0] for p in embeddings] == [False, False, True]
    assert not any("organization.usage.future_meter.result" in kinds(p) for p in embeddings)


def test_errors_can_target_a_later_page_and_are_counted_there(org):
    with faulty(org, "503:page=2") as sb, client(sb) as c:
        params = {"start_time": midnight(NOW) - 20 * DAY, "limit": 5}
        p1 = c.get("/organization/usage/images", params=params)
        assert p1.status_code == 200
        cursor = p1.json()["next_page"]
        assert c.get("/organization/usage/images", params={**params, "page": cursor}).status_code == 503
        p2 = c.get("/organization/usage/images", params={**params, "page": cursor})
        assert p2.status_code == 503  # a retried page is still page 2
    assert sb.faults.counts == {"503": 2}


def test_peak_requests_in_flight_are_counted(org):
    import concurrent.futures as cf

    with Sandbox(org, latency_ms=200) as sb, cf.ThreadPoolExecutor(5) as pool:
        list(pool.map(lambda _: get(sb, "/organization/usage/images", {"start_time": NOW - DAY}), range(5)))
    assert sb.stats["peak_in_flight"] == 5
