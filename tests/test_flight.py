"""Several bucket widths in one run, and requests in flight: short pages split into windows of their own, the
run's request slots kept busy. Every figure is checked against the simulator's ground truth."""

from __future__ import annotations

from openai_usage import catalogue
from openai_usage.simulator import Org, Sandbox, truth
from openai_usage.simulator.faults import FaultPlan

from .conftest import ADMIN, DAY, NOW, load, midnight, query
from .helpers import assert_matches_truth, truth_rows, warehouse_rows
from .test_cli import one_line_error, run

HOUR = 3600
PAIR = ["embeddings", "costs"]  # a usage endpoint (1d and 1h) and costs (1d only)


def _held(db, table: str, width: str) -> list[int]:
    return [r[0] for r in query(db, f"select distinct epoch(start_time)::bigint from openai_usage.{table} "
                                    f"where bucket_width = '{width}' order by 1")]


def test_one_run_at_1d_1h_loads_exactly_what_a_1d_run_then_a_1h_run_load(org, tmp_path):
    start = midnight(NOW) - 5 * DAY
    both, apart = tmp_path / "both.duckdb", tmp_path / "apart.duckdb"
    with Sandbox(org) as sb:
        s = load(sb, both, start=start, endpoints=PAIR, bucket_width="1d,1h", directory=False)
        costs_buckets = sb.stats["buckets"]
        load(sb, apart, start=start, endpoints=PAIR, bucket_width="1d", directory=False)
        load(sb, apart, start=start, endpoints=PAIR, bucket_width="1h", directory=False)
    # costs offer only 1d: read once, not once per width
    assert set(s.tables) == {"usage_embeddings (1d)", "usage_embeddings (1h)", "costs"}
    assert s.tables["costs"].buckets == 6
    assert s.tables["usage_embeddings (1d)"].buckets == 6
    assert s.tables["usage_embeddings (1h)"].buckets == 5 * 24 + 14
    assert costs_buckets == 6 + 6 + 5 * 24 + 14  # every bucket the run was served, each once
    for name, width in (("embeddings", "1d"), ("embeddings", "1h"), ("costs", "1d")):
        got = warehouse_rows(both, name, width)
        assert got == warehouse_rows(apart, name, width), (name, width)
        assert got == truth_rows(org, name, start, None, width), (name, width)
    assert warehouse_rows(both, "costs", "1h") == {}


def test_a_second_plain_run_continues_both_positions(org, db):
    start = midnight(NOW) - 4 * DAY
    with Sandbox(org) as sb:
        load(sb, db, start=start, endpoints=PAIR, bucket_width="1d,1h", directory=False)
        org.clock.advance(5 * HOUR)  # 18:20: five more hours, the same day
        again = load(sb, db, endpoints=PAIR, bucket_width=["1d", "1h"], directory=False)
    # each position re-read its own window: 1d usage the last day and today, 1h the last 24 hours up to now,
    # costs its last three days and today
    assert again.tables["usage_embeddings (1d)"].buckets == 2
    assert again.tables["usage_embeddings (1h)"].buckets == 24 + 6
    assert again.tables["costs"].buckets == 4
    assert not again.backfill
    assert_matches_truth(db, org, "embeddings", start, width="1d")
    assert_matches_truth(db, org, "embeddings", start, width="1h")
    assert_matches_truth(db, org, "costs", start)
    assert _held(db, "usage_embeddings", "1h") == list(range(start, midnight(NOW) + 19 * HOUR, HOUR))


def test_a_dated_first_load_at_two_widths_then_plain_loads_leave_no_gap_in_either(org, db):
    old = midnight(NOW) - 36 * DAY  # older than the 30 days a plain first load reads
    with Sandbox(org) as sb:
        load(sb, db, start=old, end=old + 2 * DAY, endpoints=PAIR, bucket_width="1d,1h", directory=False)
        s = load(sb, db, endpoints=PAIR, bucket_width="1d,1h", directory=False)
        assert any("usage_embeddings (1h)" in n and "no day is skipped" in n for n in s.notes), s.notes
        assert any("usage_embeddings (1d)" in n and "no day is skipped" in n for n in s.notes), s.notes
        assert _held(db, "usage_embeddings", "1d") == list(range(old, midnight(NOW) + DAY, DAY))
        assert _held(db, "costs", "1d") == list(range(old, midnight(NOW) + DAY, DAY))
        assert _held(db, "usage_embeddings", "1h") == list(range(old, midnight(NOW) + 14 * HOUR, HOUR))
        again = load(sb, db, endpoints=PAIR, bucket_width="1d,1h", directory=False)
    assert again.tables["usage_embeddings (1d)"].buckets == 2 and again.tables["costs"].buckets == 4
    assert again.tables["usage_embeddings (1h)"].buckets == 25
    assert_matches_truth(db, org, "embeddings", old, width="1d")
    assert_matches_truth(db, org, "embeddings", old, width="1h")
    assert_matches_truth(db, org, "costs", old)


def test_a_bad_width_in_the_list_is_one_line_exit_2_and_writes_nothing(tmp_path):
    db = tmp_path / "w.duckdb"
    p = run(["load", "--db", str(db), "--base-url", "http://127.0.0.1:9/v1", "--bucket-width", "1d,2h"], key=ADMIN,
            cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    line = one_line_error(p)
    assert "2h" in line and len([ln for ln in p.stderr.splitlines() if ln.strip()]) == 1
    assert list(tmp_path.iterdir()) == []  # no warehouse, no dlt folder


def test_a_start_per_width_loads_each_width_from_its_own_day_in_one_run(org, db):
    """A long daily history and a short hourly one, in one process: `--start 1d=...,1h=...`. Costs, read daily
    whatever was asked, start with the daily range."""
    daily, hourly = midnight(NOW) - 20 * DAY, midnight(NOW) - 3 * DAY
    with Sandbox(org) as sb:
        s = load(sb, db, start=f"1d={daily},1h={hourly}", endpoints=PAIR, bucket_width="1d,1h", directory=False)
        assert sb.stats["buckets"] == 21 + 21 + 3 * 24 + 14  # every bucket served once
    assert s.tables["usage_embeddings (1d)"].buckets == 21 and s.tables["costs"].buckets == 21
    assert s.tables["usage_embeddings (1h)"].buckets == 3 * 24 + 14
    assert warehouse_rows(db, "embeddings", "1d") == truth_rows(org, "embeddings", daily, None, "1d")
    assert warehouse_rows(db, "embeddings", "1h") == truth_rows(org, "embeddings", hourly, None, "1h")
    assert warehouse_rows(db, "costs", "1d") == truth_rows(org, "costs", daily, None, "1d")
    assert _held(db, "usage_embeddings", "1h")[0] == hourly


def test_a_start_for_a_width_the_run_does_not_read_is_one_line_exit_2(tmp_path):
    p = run(["load", "--db", str(tmp_path / "w.duckdb"), "--base-url", "http://127.0.0.1:9/v1", "--bucket-width",
             "1d", "--start", "1d=2026-01-01,1h=2026-10-01"], key=ADMIN, cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    assert "1h" in one_line_error(p) and "--bucket-width 1d" in one_line_error(p)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------------ short pages
def test_short_pages_of_a_long_costs_range_run_several_at_once_to_exact_totals(org, db):
    """Costs answer a few buckets a page whatever `limit` asks: the rest of the window is cut into fresh windows of
    that length, read concurrently, instead of one cursor after another."""
    start = midnight(NOW) - 35 * DAY  # five weeks: one window of 36 daily buckets, 3 a page
    with Sandbox(org, page_buckets=3, latency_ms=60) as sb:
        s = load(sb, db, start=start, endpoints=["costs"], directory=False, concurrency=4)
        assert sb.stats["peak_in_flight"] == 4  # the slots the run has, all in use at once
        # each bucket asked for once (12 pages), besides the first request, refused for its group_by=api_key_id
        assert s.pages == 12 and sb.stats["requests"] == s.pages + s.retries == 13
        assert s.refused_group_by == {"api_key_id"}
        assert max(sb.served_on_page.values()) == 1  # no cursor followed: every page is a fresh query's first
    assert s.stats.counts["split_windows"] == 11
    assert s.tables["costs"].buckets == 36
    assert_matches_truth(db, org, "costs", start)
    assert query(db, "select sum(amount_value) from openai_usage.costs")[0][0] == truth.grand_total(
        org, "costs", "amount_value", start)


def test_short_pages_with_the_costs_quirk_and_a_quiet_week_still_load_exactly(db):
    quiet = (midnight(NOW) - 14 * DAY, midnight(NOW) - 7 * DAY)
    org = Org(seed=4, days=40, now=NOW, quiet=(quiet,))
    start = midnight(NOW) - 25 * DAY
    with Sandbox(org, page_buckets=3, latency_ms=20, faults=FaultPlan.parse(["costs_quirk"])) as sb:
        s = load(sb, db, start=start, endpoints=["costs", "embeddings"], directory=False)
        # the simulator's quirk ends every costs query (each window cut from a short page too): has_more on its
        # last page, empty pages past the data, then a refused cursor; each is the end of data, not an error
        assert s.stats.counts["quirk_end_of_data"] >= 1 and s.stats.counts["split_windows"] > 0
        load(sb, db, endpoints=["costs", "embeddings"], directory=False)
    assert_matches_truth(db, org, "costs", start)
    assert_matches_truth(db, org, "embeddings", start)
    assert query(db, f"select count(*) from openai_usage.costs where epoch(start_time) > {quiet[1]}")[0][0] > 0
    assert query(db, "select max(start_time) from openai_usage.costs")[0][0].timestamp() == midnight(NOW)


# ------------------------------------------------------------------------------------------------ slots
def test_every_endpoint_at_two_widths_reaches_exactly_the_concurrency(org, db):
    """Every endpoint at 1d and 1h with the directory: the run's requests in flight reach --concurrency and never
    pass it, and what arrives is exactly the truth (pages decoded after their slot is freed included)."""
    start = midnight(NOW) - 9 * DAY
    with Sandbox(org, latency_ms=40) as sb:
        s = load(sb, db, start=start, bucket_width="1d,1h", concurrency=3)
        assert sb.stats["peak_in_flight"] == 3
    for name in catalogue.endpoints():
        for width in catalogue.endpoints()[name].widths[:2]:
            assert_matches_truth(db, org, name, start, width=width)
            assert s.tables[catalogue.endpoints()[name].table if name == "costs" else
                            f"{catalogue.endpoints()[name].table} ({width})"].buckets > 0
