"""`openai_usage_source` the dlt way: called inside someone else's `dlt.pipeline`, configured by dlt's config and
secrets, against the simulator over real HTTP, into a DuckDB file of their choosing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dlt
import pytest

from openai_usage import catalogue, openai_usage_source
from openai_usage.errors import ConfigError
from openai_usage.simulator import Sandbox, truth

from .conftest import ADMIN, DAY, NOW, midnight, query
from .helpers import assert_matches_truth, warehouse_rows

ALL = list(catalogue.endpoints())


def their_pipeline(tmp_path: Path, name: str = "finance_usage") -> dlt.Pipeline:
    """A pipeline as a user writes it: their names, their dataset, their destination file."""
    return dlt.pipeline(pipeline_name=name, pipelines_dir=str(tmp_path / "dlt"), dataset_name="openai_spend",
                        destination=dlt.destinations.duckdb(str(tmp_path / "finance.duckdb")))


def test_the_source_in_a_plain_dlt_pipeline_loads_the_truth_and_continues_from_its_position(
        sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Secrets and options through dlt's own providers, as in a deployment; no OpenAI key in the environment.
    monkeypatch.delenv("OPENAI_ADMIN_KEY", raising=False)
    monkeypatch.setenv("SOURCES__OPENAI_USAGE__API_KEY", ADMIN)
    monkeypatch.setenv("SOURCES__OPENAI_USAGE__BASE_URL", sandbox.url)
    monkeypatch.setenv("OPENAI_USAGE_NOW", str(NOW))
    start = midnight(NOW) - 12 * DAY
    pipeline = their_pipeline(tmp_path)
    pipeline.run(openai_usage_source(start=dt.datetime.fromtimestamp(start, dt.UTC).date()))
    db = tmp_path / "finance.duckdb"
    org = sandbox.org
    for name in ALL:
        assert assert_matches_truth(db, org, name, start, dataset="openai_spend") > 0, name
    total = query(db, "select sum(amount_value) from openai_spend.costs")[0][0]
    assert total == truth.grand_total(org, "costs", "amount_value", start)  # exact to the last digit
    # names came with it: the directory tables are in the same dataset
    assert query(db, "select count(*) from openai_spend.projects")[0][0] == len(org.projects)
    # a first load holds no bucket it reads: appended (one copy of the rows); re-reads below replace whole buckets
    assert pipeline.default_schema.get_table("usage_completions")["write_disposition"] == "append"

    # The next day, a second run of the same pipeline re-reads only the window before its stored position.
    before = {n: warehouse_rows(db, n, dataset="openai_spend") for n in ALL}
    sandbox.stats.clear()
    pipeline.run(openai_usage_source(directory=False))
    assert sandbox.stats["buckets"] == 10 * 2 + 4  # usage: yesterday and today; costs: three days and today
    assert pipeline.default_schema.get_table("usage_completions")["write_disposition"] == "merge"
    assert {n: warehouse_rows(db, n, dataset="openai_spend") for n in ALL} == before
    org.clock.advance(DAY)
    monkeypatch.setenv("OPENAI_USAGE_NOW", str(NOW + DAY))
    sandbox.stats.clear()
    pipeline.run(openai_usage_source(directory=False))
    assert sandbox.stats["buckets"] == 10 * 3 + 5  # the same window, one day on: nothing between is skipped
    for name in ALL:
        assert_matches_truth(db, org, name, start, dataset="openai_spend")
    # The API revises yesterday's completions: the next run corrects them and logs what changed, as the CLI does.
    yesterday = midnight(NOW)
    org.restate("completions", yesterday, yesterday + DAY, 1.5)
    pipeline.run(openai_usage_source(directory=False))
    assert_matches_truth(db, org, "completions", start, dataset="openai_spend")
    logged = query(db, "select distinct table_name, epoch(start_time)::bigint from openai_spend.restatements")
    assert logged == [("usage_completions", yesterday)]


def test_the_sdk_key_convention_and_typed_options(sandbox: Sandbox, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCES__OPENAI_USAGE__API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_ADMIN_KEY", ADMIN)
    start = dt.datetime.fromtimestamp(midnight(NOW) - 3 * DAY, dt.UTC)
    pipeline = their_pipeline(tmp_path, "hourly")
    pipeline.run(openai_usage_source(endpoints=["embeddings"], bucket_width="1h", start=start.isoformat(),
                                     end=start + dt.timedelta(days=2), base_url=sandbox.url, now=NOW,
                                     directory=False))
    db = tmp_path / "finance.duckdb"
    n = assert_matches_truth(db, sandbox.org, "embeddings", int(start.timestamp()), int(start.timestamp()) + 2 * DAY,
                             width="1h", dataset="openai_spend")
    assert n > 0
    assert query(db, "select count(distinct start_time) from openai_spend.usage_embeddings")[0][0] == 48


@pytest.mark.parametrize("kwargs,needle", [
    ({"endpoints": ["nope"]}, "unknown endpoint 'nope'"),
    ({"bucket_width": "2h"}, "unknown bucket width"),
    ({"start": "yesterday"}, "is not a date"),
    ({"start": "2026-11-10", "end": "2026-11-01"}, "--end must be after --start"),
    ({"group_by": {"costs": ["model"]}}, "cannot be grouped by 'model'"),
    ({"base_url": "api.openai.com/v1"}, r"is not an http\(s\) URL"),
])
def test_bad_options_are_refused_when_the_source_is_made(kwargs: dict, needle: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", ADMIN)
    with pytest.raises(ConfigError, match=needle):
        openai_usage_source(**kwargs)


def test_no_key_anywhere_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_ADMIN_KEY", raising=False)
    monkeypatch.delenv("SOURCES__OPENAI_USAGE__API_KEY", raising=False)
    with pytest.raises(ConfigError, match="no admin key"):
        openai_usage_source()


def test_the_source_over_several_windows_short_pages_and_later_page_faults(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Hourly over ten days is two windows per endpoint (168 buckets a page at most); every page is cut short, so each
    window takes several; 500s, drops and truncated bodies land on later pages; then a plain run, the clock moves, and
    a plain run again. Every run ends equal to the truth."""
    from openai_usage.simulator import Org
    from openai_usage.simulator.faults import FaultPlan
    from openai_usage.summary import RunSummary

    monkeypatch.setenv("OPENAI_ADMIN_KEY", ADMIN)
    org = Org(seed=19, days=14, now=NOW)
    start = midnight(NOW) - 10 * DAY
    names = ["completions", "embeddings", "costs"]
    faults = FaultPlan.parse(["short:size=20", "500:page=3,every=2", "drop:page=2,every=3", "truncate:page=4,every=2"])
    with Sandbox(org, faults=faults, retry_after="0") as sb:
        pipeline = their_pipeline(tmp_path, "shapes")
        db = tmp_path / "finance.duckdb"
        first = RunSummary()
        pipeline.run(openai_usage_source(endpoints=names, bucket_width="1h", start=start, base_url=sb.url, now=NOW,
                                         directory=False, max_backoff=0.05, summary=first))
        assert first.retries > 0 and first.pages > 2 * len(names) * 2  # several short pages in each window

        def matches() -> None:
            for name in names:
                width = "1d" if name == "costs" else "1h"
                assert assert_matches_truth(db, org, name, start, width=width, dataset="openai_spend") > 0, name

        matches()
        for run_now in (NOW, NOW + 5 * 3600):  # a plain run at once, then one five hours on
            org.clock.set(run_now)
            pipeline.run(openai_usage_source(endpoints=names, bucket_width="1h", base_url=sb.url, now=run_now,
                                             directory=False, max_backoff=0.05))
            matches()


def test_only_tables_that_hold_none_of_the_ranges_read_are_appended() -> None:
    """Appending instead of delete-insert is only for tables where the delete would find nothing: no bucket of the
    same organization and width inside any range the run reads into the table."""
    from openai_usage.plan import EndpointPlan
    from openai_usage.source import _fresh_tables

    d = midnight(NOW) - 30 * DAY
    held = {("default", "usage_completions", "1d"): (d + 10 * DAY, d + 20 * DAY),
            ("acme", "usage_embeddings", "1d"): (d, d + 29 * DAY),
            ("default", "usage_images", "1h"): (d, d + 29 * DAY)}

    def fresh(*plans: EndpointPlan) -> set[str]:
        return _fresh_tables([(None, list(plans))], held, NOW)  # type: ignore[list-item]

    assert fresh(EndpointPlan("completions", "1d", d + 21 * DAY)) == {"usage_completions"}  # after the newest
    assert fresh(EndpointPlan("completions", "1d", d + 20 * DAY)) == set()  # the newest bucket is read again
    assert fresh(EndpointPlan("completions", "1d", d, d + 10 * DAY)) == {"usage_completions"}  # older backfill
    assert fresh(EndpointPlan("completions", "1d", d, d + 11 * DAY)) == set()  # reaches the oldest held
    assert fresh(EndpointPlan("completions", "1d", 0)) == set()  # a stored position: re-reads what is held
    # one organization's or width's buckets never make another's range a replacement
    assert fresh(EndpointPlan("embeddings", "1d", d)) == {"usage_embeddings"}
    assert fresh(EndpointPlan("images", "1d", d)) == {"usage_images"}
    # a table is appended only when no range read into it overlaps
    assert fresh(EndpointPlan("completions", "1d", d + 21 * DAY), EndpointPlan("completions", "1h", d)) == \
        {"usage_completions"}
    assert fresh(EndpointPlan("images", "1d", d), EndpointPlan("images", "1h", d + 5 * DAY)) == set()


def test_parts_are_handed_to_dlt_joined_unless_their_extra_columns_disagree() -> None:
    import pyarrow as pa

    from openai_usage.source import _joined

    a = pa.table({"x": [1], "extra": [1]})
    joined = list(_joined([a, pa.table({"x": [2]})]))  # a part without the unknown field: nulls there
    assert [t.to_pydict() for t in joined] == [{"x": [1, 2], "extra": [1, None]}]
    assert [t.num_rows for t in _joined([a, pa.table({"x": [3], "extra": ["s"]})])] == [1, 1]  # dlt evolves
