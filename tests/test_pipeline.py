"""The load pipeline against the simulator over real HTTP: exact totals, incremental re-reads, replacement."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from decimal import Decimal

import pytest

from openai_usage import catalogue
from openai_usage.errors import AuthError
from openai_usage.load.warehouse import DLT_LOAD_WORKERS, LOCAL, Warehouse
from openai_usage.simulator import Org, Sandbox
from openai_usage.simulator.faults import FaultPlan

from .conftest import ADMIN, DAY, NOW, load, midnight, query
from .helpers import assert_matches_truth, warehouse_rows

ALL = list(catalogue.endpoints())


def test_every_endpoint_loads_exactly_the_ground_truth(sandbox, org, db):
    start = midnight(NOW) - 20 * DAY
    summary = load(sandbox, db, start=start)
    for name in ALL:
        n = assert_matches_truth(db, org, name, start)
        assert n > 0, name
        assert summary.tables[catalogue.endpoints()[name].table].rows == n
    # money is exact: the warehouse sum of costs equals the Decimal sum of the truth to the last digit
    total = query(db, "select sum(amount_value) from openai_usage.costs")[0][0]
    from openai_usage.simulator import truth
    assert total == truth.grand_total(org, "costs", "amount_value", start)
    assert isinstance(total, Decimal)


def test_table_contracts_have_real_types(sandbox, db):
    load(sandbox, db, start=midnight(NOW) - 3 * DAY, endpoints=["completions", "costs"])
    types = dict(query(db, "select column_name, data_type from information_schema.columns "
                           "where table_schema = 'openai_usage' and table_name = 'usage_completions'"))
    assert types["start_time"] == types["end_time"] == "TIMESTAMP WITH TIME ZONE"
    assert types["input_tokens"] == types["num_model_requests"] == "BIGINT"
    assert types["batch"] == "BOOLEAN" and types["model"] == "VARCHAR" and types["bucket_width"] == "VARCHAR"
    costs = dict(query(db, "select column_name, data_type from information_schema.columns "
                           "where table_schema = 'openai_usage' and table_name = 'costs'"))
    assert costs["amount_value"] == "DECIMAL(38,12)" and costs["amount_currency"] == "VARCHAR"
    assert costs["quantity"] == "DOUBLE"


def test_second_run_only_rereads_the_window_and_changes_nothing(sandbox, org, db):
    start = midnight(NOW) - 15 * DAY
    load(sandbox, db, start=start)
    before = {n: warehouse_rows(db, n) for n in ALL}
    sandbox.stats.clear()
    again = load(sandbox, db)
    # usage re-reads yesterday and today (1d), costs the last three days and today
    assert again.tables["usage_completions"].buckets == 2
    assert again.tables["costs"].buckets == 4
    assert sandbox.stats["buckets"] == 10 * 2 + 4
    assert {n: warehouse_rows(db, n) for n in ALL} == before


def test_restated_buckets_are_corrected_and_the_open_bucket_grows(sandbox, org, db):
    start = midnight(NOW) - 5 * DAY
    fresh = load(sandbox, db, start=start, endpoints=["completions", "costs"])
    today = midnight(NOW)
    first = query(db, f"select sum(input_tokens) from openai_usage.usage_completions "
                      f"where epoch(start_time) = {today}")[0][0]
    org.clock.advance(5 * 3600)  # past the restatement window of the hours loaded before
    again = load(sandbox, db)
    second = query(db, f"select sum(input_tokens) from openai_usage.usage_completions "
                       f"where epoch(start_time) = {today}")[0][0]
    assert second > first
    # The first load appends into buckets no table holds, with dlt's parallel jobs; the second replaces held buckets,
    # one DuckDB job at a time (side by side, merges ran the capped buffer pool out of memory).
    wh = Warehouse(LOCAL, db)
    assert (fresh.merges, again.merges) == (False, True)
    assert (wh.load_workers(fresh.merges), wh.load_workers(again.merges)) == (DLT_LOAD_WORKERS, 1)
    assert_matches_truth(db, org, "completions", start)
    assert_matches_truth(db, org, "costs", start)


def test_vanished_group_is_removed_and_null_dimensions_never_duplicate(sandbox, org, db):
    start = midnight(NOW) - 6 * DAY
    load(sandbox, db, start=start, endpoints=["completions"])
    nulls = query(db, "select count(*) from openai_usage.usage_completions where user_id is null")[0][0]
    assert nulls > 0  # service-account keys carry no user
    streams = org.streams["completions"]
    victim = int(max(range(streams.size), key=lambda i: streams.weight[i]))
    key = streams.labels["api_key_id"][streams.codes["api_key_id"][victim]]
    before = query(db, f"select count(*) from openai_usage.usage_completions where api_key_id = '{key}' "
                       f"and epoch(start_time) >= {midnight(NOW) - DAY}")[0][0]
    assert before > 0
    org.retire("completions", "api_key_id", key)
    for _ in range(2):
        load(sandbox, db, endpoints=["completions"])
    after = query(db, f"select count(*) from openai_usage.usage_completions where api_key_id = '{key}' "
                      f"and epoch(start_time) >= {midnight(NOW) - DAY}")[0][0]
    assert after == 0
    # re-read rows with NULL dimensions were replaced, not appended
    dup = query(db, "select count(*) from (select start_time, project_id, user_id, api_key_id, model, batch, "
                    "service_tier, count(*) c from openai_usage.usage_completions group by all having c > 1)")[0][0]
    assert dup == 0
    assert_matches_truth(db, org, "completions", midnight(NOW) - DAY)


def test_partial_grouping_leaves_nulls_and_rereads_replace_them(sandbox, org, db):
    start = midnight(NOW) - 4 * DAY
    gb = {"completions": ("project_id",)}
    for _ in range(3):
        load(sandbox, db, start=start, endpoints=["completions"], group_by=gb)
    rows = query(db, "select epoch(start_time)::bigint, project_id, count(*), sum(input_tokens), "
                     "bool_and(model is null and user_id is null) from openai_usage.usage_completions "
                     "group by all")
    assert all(r[2] == 1 and r[4] for r in rows)
    want = {(k[0], k[1]): v["input_tokens"] for k, v in
            __import__("openai_usage.simulator.truth", fromlist=["totals"]).totals(
                org, "completions", start, None, "1d", ("project_id",)).items()}
    assert {(r[0], r[1]): r[3] for r in rows} == want


def test_emptied_bucket_is_removed_on_reread(sandbox, org, db):
    start = midnight(NOW) - 4 * DAY
    load(sandbox, db, start=start, endpoints=["embeddings"])
    yesterday = midnight(NOW) - DAY
    assert query(db, f"select count(*) from openai_usage.usage_embeddings where epoch(start_time) = {yesterday} "
                     "and input_tokens > 0")[0][0] > 0
    org.silence(yesterday, yesterday + DAY)  # the API now says yesterday had no usage at all
    load(sandbox, db, endpoints=["embeddings"])
    assert query(db, f"select count(*) from openai_usage.usage_embeddings where epoch(start_time) = {yesterday} "
                     "and input_tokens > 0")[0][0] == 0
    assert_matches_truth(db, org, "embeddings", start)


def test_backfill_replaces_exactly_its_range_and_keeps_the_position(sandbox, org, db):
    start = midnight(NOW) - 10 * DAY
    load(sandbox, db, start=start, endpoints=["images"])
    position = query(db, "select max(start_time) from openai_usage.usage_images")[0][0]
    # corrupt one old day and one recent day, then backfill only the old range
    con = __import__("duckdb").connect(str(db))
    con.execute(f"update openai_usage.usage_images set images = images + 1000 "
                f"where epoch(start_time) in ({start + DAY}, {midnight(NOW) - 5 * DAY})")
    con.close()
    summary = load(sandbox, db, start=start, end=start + 3 * DAY, endpoints=["images"])
    assert summary.backfill and summary.tables["usage_images"].buckets == 3
    assert_matches_truth(db, org, "images", start, start + 3 * DAY)
    bumped = query(db, f"select min(images) from openai_usage.usage_images "
                       f"where epoch(start_time) = {midnight(NOW) - 5 * DAY}")[0][0]
    assert bumped > 1000  # outside the backfill range: untouched
    # the incremental position did not move back: the next run re-reads only the last day again
    nxt = load(sandbox, db, endpoints=["images"])
    assert nxt.tables["usage_images"].buckets == 2
    assert query(db, "select max(start_time) from openai_usage.usage_images")[0][0] == position


def test_older_start_on_an_existing_warehouse_is_a_backfill(sandbox, org, db):
    load(sandbox, db, start=midnight(NOW) - 3 * DAY, endpoints=["moderations"])
    s = load(sandbox, db, start=midnight(NOW) - 8 * DAY, endpoints=["moderations"])
    assert s.backfill
    assert_matches_truth(db, org, "moderations", midnight(NOW) - 8 * DAY)


def test_two_bucket_widths_live_side_by_side_without_double_counting(sandbox, org, db):
    start = midnight(NOW) - 3 * DAY
    load(sandbox, db, start=start, endpoints=["embeddings"])
    load(sandbox, db, start=start, endpoints=["embeddings"], bucket_width="1h")
    assert_matches_truth(db, org, "embeddings", start, width="1d")
    assert_matches_truth(db, org, "embeddings", start, width="1h")
    daily, hourly = query(db, "select sum(input_tokens) filter (bucket_width = '1d'), "
                              "sum(input_tokens) filter (bucket_width = '1h') from openai_usage.usage_embeddings")[0]
    assert daily == hourly
    # each width keeps its own incremental position: a daily re-run re-reads 2 daily buckets only
    assert load(sandbox, db, endpoints=["embeddings"]).tables["usage_embeddings"].buckets == 2


def test_minute_buckets_load_exactly(sandbox, org, db):
    start = midnight(NOW) + 11 * 3600
    load(sandbox, db, start=start, endpoints=["audio_speeches"], bucket_width="1m")
    assert_matches_truth(db, org, "audio_speeches", start, width="1m")


def test_state_belongs_to_the_warehouse(sandbox, org, db, tmp_path):
    start = midnight(NOW) - 6 * DAY
    load(sandbox, db, start=start, endpoints=["vector_stores"])
    shutil.rmtree(Warehouse(db=db).working_dir())  # losing the local dlt folder loses nothing
    again = load(sandbox, db, endpoints=["vector_stores"])
    assert again.tables["usage_vector_stores"].buckets == 2
    assert_matches_truth(db, org, "vector_stores", start)
    other = tmp_path / "other.duckdb"  # a new file starts fresh (30 days back by default)
    fresh = load(sandbox, other, endpoints=["vector_stores"])
    assert fresh.tables["usage_vector_stores"].buckets == 31


def test_legacy_result_unknown_fields_and_unknown_kinds(org, db):
    plan = FaultPlan.parse(["legacy_result", "extra_fields", "unknown_object"])
    with Sandbox(org, faults=plan) as sb:
        start = midnight(NOW) - 4 * DAY
        s = load(sb, db, start=start, endpoints=["completions", "costs"])
    assert_matches_truth(db, org, "completions", start)
    assert_matches_truth(db, org, "costs", start)
    cols = {r[0] for r in query(db, "select column_name from information_schema.columns where "
                                    "table_schema='openai_usage' and table_name='usage_completions'")}
    assert {"organization_id", "organization_name", "start_time_iso"} <= cols
    assert query(db, "select distinct organization_id from openai_usage.usage_completions "
                     "where not _bucket_emptied")[0][0] == "org-sandbox"
    q = query(db, "select endpoint, object, raw_json from openai_usage._quarantine")
    assert s.quarantined == len(q) > 0
    assert {r[1] for r in q} == {"organization.usage.future_meter.result"}
    assert all('"widgets":3' in r[2] for r in q)


def test_transient_faults_are_retried_to_exact_totals(org, db):
    plan = FaultPlan.parse(["429:every=6", "429_no_retry_after:every=23", "500:p=0.05,burst=2", "503:every=29",
                            "truncate:every=31", "drop:every=37", "malformed:every=41"], seed=3)
    with Sandbox(org, faults=plan, retry_after="0") as sb:
        start = midnight(NOW) - 90 * DAY
        s = load(sb, db, start=start, concurrency=2)
    # every failed attempt was retried: requests the server saw = pages accepted + retries
    assert s.retries >= 10 and sb.stats["requests"] == s.pages + s.retries
    for name in ALL:
        assert_matches_truth(db, org, name, start)


def test_costs_quirk_is_the_end_of_data_not_an_error(org, db):
    with Sandbox(org, faults=FaultPlan.parse(["costs_quirk"])) as sb:
        start = midnight(NOW) - 12 * DAY
        load(sb, db, start=start, endpoints=["costs"])
        load(sb, db, endpoints=["costs"])
    assert_matches_truth(db, org, "costs", start)
    assert query(db, "select max(start_time) from openai_usage.costs")[0][0].timestamp() == midnight(NOW)


def test_quiet_week_in_the_middle_does_not_stop_the_read(db):
    quiet = (midnight(NOW) - 14 * DAY, midnight(NOW) - 7 * DAY)
    org = Org(seed=4, days=40, now=NOW, quiet=(quiet,))
    with Sandbox(org, faults=FaultPlan.parse(["costs_quirk"])) as sb:
        start = midnight(NOW) - 25 * DAY
        load(sb, db, start=start, endpoints=["costs", "embeddings"])
    assert_matches_truth(db, org, "costs", start)
    assert query(db, f"select count(*) from openai_usage.costs where epoch(start_time) > {quiet[1]}")[0][0] > 0


@pytest.mark.parametrize("key,status", [("sk-admin-not-the-right-one", "401"), ("sk-proj-abcdefghijklmnop", "403")])
def test_bad_key_and_project_key_fail_with_the_admin_key_message(sandbox, db, key, status):
    with pytest.raises(AuthError) as e:
        load(sandbox, db, api_key=key, endpoints=["completions"])
    assert status in str(e.value) and "admin key" in str(e.value) and key not in str(e.value)
    assert not db.exists()  # a failed first load leaves no file behind, not even an empty one



def test_a_failed_load_of_an_existing_warehouse_keeps_it(sandbox, db):
    load(sandbox, db, endpoints=["costs"], start=midnight(NOW) - 3 * DAY)
    before = query(db, "select count(*), sum(amount_value) from openai_usage.costs")
    with pytest.raises(AuthError):
        load(sandbox, db, api_key="sk-admin-not-the-right-one", endpoints=["costs"])
    assert query(db, "select count(*), sum(amount_value) from openai_usage.costs") == before


def test_one_request_slot_across_all_endpoints_never_deadlocks(org, db):
    """Window threads hold request slots while handing tables on; dlt shares a few threads among resources, and
    every directory list (eight of them since the spend lists) waits for a slot too. With a single slot this once
    deadlocked twice over: on small queues, and on directory lists holding all of dlt's workers. The load runs as a
    real CLI process, killed if it has not finished in 240 s, so a hang is a failure, not a stuck suite."""
    with Sandbox(org) as sb:
        start = midnight(NOW) - 9 * DAY
        env = {**os.environ, "OPENAI_ADMIN_KEY": ADMIN, "OPENAI_USAGE_NOW": str(sb.org.clock.now())}
        cmd = [sys.executable, "-m", "openai_usage.cli", "load", "--db", str(db), "--base-url", sb.url,
               "--bucket-width", "1h", "--concurrency", "1", "--start", str(start)]
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)
        try:
            out, _ = p.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
            pytest.fail("the load hung with one request slot")
    assert p.returncode == 0, out
    assert query(db, "select count(*) from openai_usage.spend_alerts")[0][0] > 0  # the directory was read too
    for name in ("completions", "images", "costs"):
        assert_matches_truth(db, org, name, start, width="1h" if name != "costs" else "1d")


def test_short_pages_are_followed_by_cursor_to_exact_totals(org, db):
    """The API may answer with fewer buckets than `limit`: follow has_more/next_page, never count."""
    with Sandbox(org, page_buckets=3) as sb:
        start = midnight(NOW) - 20 * DAY
        s = load(sb, db, start=start, endpoints=["completions", "costs"], directory=False)
    assert s.pages == 2 * 7  # 21 daily buckets, 3 per page, for each of the two endpoints
    assert_matches_truth(db, org, "completions", start)
    assert_matches_truth(db, org, "costs", start)


# ------------------------------------------------------------------------------------------------ every page
HOURLY_START = midnight(NOW) - 8 * DAY  # 206 hourly buckets: two windows of up to 168 per endpoint


# Windows whose pages still come short after the first: the query at HOURLY_START answers its first page with 48
# buckets, so the rest of that window is cut into windows of 48, and those (like every other query) answer 12 a
# page, so each pages on by cursor (pages 2, 3, 4) and later-page faults land on them.
STILL_PAGING = [f"short:size=48,window={HOURLY_START}", "short:size=12"]


def _served_on(sb: Sandbox, page: int, width: str = "1h") -> dict[str, set[int]]:
    """Bucket starts the simulator served on `page` of their query, per endpoint (its own record, not ours)."""
    out: dict[str, set[int]] = {}
    for (name, w, start), p in sb.served_on_page.items():
        if w == width and p == page:
            out.setdefault(name, set()).add(start)
    return out


def test_unknown_kinds_fields_and_shapes_on_later_pages_of_every_window_load_exactly(org, db):
    """An unknown result kind on page 2 once crashed the load (the quarantine's hints leaked into the resource);
    here windows page on by cursor, and page 2 brings unknown kinds, page 3 unknown fields, page 4 the legacy
    `result` shape, on every usage endpoint at once, then on costs over several pages."""
    rules = [*STILL_PAGING, "unknown_object:page=2", "extra_fields:page=3", "legacy_result:page=4"]
    with Sandbox(org, faults=FaultPlan.parse(rules)) as sb:
        s = load(sb, db, start=HOURLY_START, bucket_width="1h", directory=False)
        for name in ALL:
            assert_matches_truth(db, org, name, HOURLY_START, width="1d" if name == "costs" else "1h")
        # the quarantine holds exactly the unknown results of page 2 of every query: one per non-empty bucket
        page2 = _served_on(sb, 2)
        assert all(page2.get(name) for name in ALL if name != "costs")
        want = {(name, b["start_time"]) for name in ALL if name != "costs"
                for b in __import__("openai_usage.simulator.truth", fromlist=["buckets"]).buckets(
                    org, name, HOURLY_START, None, "1h") if b["results"] and b["start_time"] in page2[name]}
        got = query(db, "select endpoint, epoch(start_time)::bigint, object from openai_usage._quarantine")
        assert {(e, t) for e, t, _ in got} == want and len(got) == len(want) == s.quarantined
        assert {o for _, _, o in got} == {"organization.usage.future_meter.result"}
        # unknown fields became columns, filled exactly where page 3 carried them
        page3 = _served_on(sb, 3)["completions"]
        filled = {r[0] for r in query(db, "select distinct epoch(start_time)::bigint from "
                                          "openai_usage.usage_completions where organization_id is not null")}
        assert filled and filled <= page3
    # costs: one query pages on by cursor (24 days a page at its first, 12 after the cut), the unknown kind on
    # page 2, then a plain run on top
    costs_start = midnight(NOW) - 38 * DAY
    rules = [f"short:size=24,window={costs_start}", "short:size=12", "unknown_object:page=2"]
    with Sandbox(org, faults=FaultPlan.parse(rules)) as sb:
        load(sb, db, start=costs_start, endpoints=["costs"], directory=False)
        assert _served_on(sb, 2, "1d")["costs"]
        assert_matches_truth(db, org, "costs", costs_start)
        assert query(db, "select count(*) from openai_usage._quarantine where endpoint = 'costs'")[0][0] > 0
        load(sb, db, endpoints=["costs", "completions"], directory=False, bucket_width="1h")
    assert_matches_truth(db, org, "completions", HOURLY_START, width="1h")
    assert_matches_truth(db, org, "costs", costs_start)


def test_transient_faults_on_a_later_page_of_one_window_are_retried_to_exact_totals(org, db):
    # each rule fires on every other request it targets, so a retry of the same page can succeed
    # the first query's first page holds 84 buckets: the rest of its window (84 hours) is one window that pages on
    # 20 at a time, to page 5
    rules = [f"short:size=84,window={HOURLY_START}", "short:size=20", "500:page=3,every=2", "drop:page=5,every=2",
             f"429:window={HOURLY_START},every=3", "truncate:page=2,every=2"]
    with Sandbox(org, faults=FaultPlan.parse(rules), retry_after="0") as sb:
        s = load(sb, db, start=HOURLY_START, bucket_width="1h", endpoints=["completions", "images", "costs"])
    assert s.retries >= 4
    for name in ("completions", "images"):
        assert_matches_truth(db, org, name, HOURLY_START, width="1h")
    assert_matches_truth(db, org, "costs", HOURLY_START)


# ------------------------------------------------------------------------------------------------ no gaps
def _held_days(db, table: str) -> list[int]:
    return [r[0] for r in query(db, f"select distinct epoch(start_time)::bigint from openai_usage.{table} "
                                    "where bucket_width = '1d' order by 1")]


def test_a_dated_first_load_then_plain_loads_leave_no_gap(sandbox, org, db):
    """`load --start A --end B` on a new warehouse, then plain loads: every day from A to today is held."""
    old = midnight(NOW) - 38 * DAY  # older than the 30 days a plain first load reads
    load(sandbox, db, start=old, end=old + 4 * DAY, endpoints=["embeddings", "costs"])
    s = load(sandbox, db, endpoints=["embeddings", "costs"])
    assert any("no day is skipped" in n for n in s.notes)
    for table in ("usage_embeddings", "costs"):
        assert _held_days(db, table) == list(range(old, midnight(NOW) + DAY, DAY))
    assert_matches_truth(db, org, "embeddings", old)
    assert_matches_truth(db, org, "costs", old)
    # the plain load set the position: the next one re-reads only its window
    again = load(sandbox, db, endpoints=["embeddings", "costs"])
    assert again.tables["usage_embeddings"].buckets == 2 and again.tables["costs"].buckets == 4


def test_a_dated_range_that_would_leave_a_gap_is_stretched_to_meet_what_is_held(sandbox, org, db):
    load(sandbox, db, start=midnight(NOW) - 10 * DAY, endpoints=["moderations"])
    old = midnight(NOW) - 36 * DAY
    s = load(sandbox, db, start=old, end=old + 2 * DAY, endpoints=["moderations"])  # ends 24 days before the data
    assert s.backfill and any("end moved" in n for n in s.notes)
    assert _held_days(db, "usage_moderations") == list(range(old, midnight(NOW) + DAY, DAY))
    assert_matches_truth(db, org, "moderations", old)


# ------------------------------------------------------------------------------------------------ concurrency
@pytest.mark.parametrize("concurrency", [1, 3])
def test_concurrency_is_the_most_requests_in_flight_for_the_whole_run(org, db, concurrency):
    """--concurrency N: at most N requests in flight at once over the whole run, usage, costs and directory
    lists together (the API's rate limits are the organization's), and the run does reach N."""
    with Sandbox(org, latency_ms=40) as sb:
        load(sb, db, start=HOURLY_START, bucket_width="1h", concurrency=concurrency)
        assert sb.stats["peak_in_flight"] == concurrency
        assert sb.stats["directory:project_api_keys"] > 0


def test_a_warehouse_left_alone_longer_than_the_first_range_continues_without_a_gap(sandbox, org, db):
    """dlt keeps the re-read window from reaching back past the resource's initial value: were that 30 days
    before *now*, a warehouse last loaded 35 days ago would silently skip 5 days."""
    first = midnight(NOW) - 3 * DAY
    load(sandbox, db, start=first, endpoints=["audio_speeches"])
    org.clock.advance(35 * DAY)
    load(sandbox, db, endpoints=["audio_speeches"])
    assert _held_days(db, "usage_audio_speeches") == list(range(first, midnight(org.clock.now()) + DAY, DAY))
    assert_matches_truth(db, org, "audio_speeches", first)


def test_a_fatal_error_in_one_endpoint_while_others_hold_every_slot_fails_and_never_hangs(org, db):
    """One request slot, many endpoints in flight: when one endpoint fails for good (a refused cursor on its second
    page), every other endpoint's window threads, waiting for a slot or for dlt to drain them, must let go, so the
    run ends with the error instead of hanging. SIGALRM turns a hang into a failure."""
    import signal

    from openai_usage.errors import RequestRejected

    def hang(*_):
        raise TimeoutError("the load hung")

    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(120)
    try:
        with Sandbox(org, faults=FaultPlan.parse([*STILL_PAGING, "bad_cursor:only=images,page=2"])) as sb, \
                pytest.raises(RequestRejected, match="page token is invalid"):
            load(sb, db, start=HOURLY_START, bucket_width="1h", concurrency=1, max_attempts=1)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
