"""Comparing the warehouse with the simulator's ground truth, row by row."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from openai_usage import catalogue
from openai_usage.simulator import Org, truth

from .conftest import query


def warehouse_rows(db: Path, endpoint: str, width: str = "1d", dataset: str = "openai_usage",
                   organization: str | None = None) -> dict[tuple, dict[str, Any]]:
    """Rows of one table (of one organization, if given) keyed by (bucket start, *dimensions); fails on a duplicate
    key."""
    ep = catalogue.endpoints()[endpoint]
    dims = [c.name for c in ep.dimensions]
    mets = [c.name for c in ep.metrics]
    sql = (f"select epoch(start_time)::bigint, {', '.join(dims + mets)} from {dataset}.{ep.table} "
           f"where bucket_width = '{width}' and not coalesce(_bucket_emptied, false)"
           + (f" and organization = '{organization}'" if organization else ""))
    out: dict[tuple, dict[str, Any]] = {}
    for row in query(db, sql):
        key = (row[0], *row[1: 1 + len(dims)])
        assert key not in out, f"duplicate row for {key} in {ep.table}"
        out[key] = {m: v for m, v in zip(mets, row[1 + len(dims):], strict=True) if v is not None}
    return out


def truth_rows(org: Org, endpoint: str, start: int, end: int | None = None, width: str = "1d",
               now: int | None = None) -> dict[tuple, dict[str, Any]]:
    ep = catalogue.endpoints()[endpoint]
    out: dict[tuple, dict[str, Any]] = {}
    for b in truth.buckets(org, endpoint, start, end, width, now=now):
        for r in b["results"]:
            key = (b["start_time"], *(r[d.name] for d in ep.dimensions))
            vals: dict[str, Any] = {}
            for c in ep.metrics:
                v: Any = r
                for k in c.path:
                    v = v.get(k) if isinstance(v, dict) else None
                if v is not None:
                    vals[c.name] = Decimal(v) if isinstance(v, Decimal) else v
            assert key not in out
            out[key] = vals
    return out


def expected_anomalies(costs: Iterable[tuple[dt.date, str | None, Any]],
                       usage: Iterable[tuple[dt.date, dict[str, Any]]]) -> set[tuple]:
    """reporting.anomalies' rule computed on its own: (day, dimension, key, measure) where a day's project cost, model
    tokens or API key tokens is above its trailing 14 days' mean by 3 standard deviations and by half again, from
    (day, project_id, amount) costs and (day, usage result) rows."""
    series: dict[tuple, dict[dt.date, float]] = defaultdict(lambda: defaultdict(float))
    for day, pid, amount in costs:
        series[("project", pid or "(organization)", "cost")][day] += float(amount)
    for day, r in usage:
        toks = r.get("input_tokens", 0) + r.get("output_tokens", 0)
        if toks and r.get("model"):
            series[("model", r["model"], "tokens")][day] += toks
        if toks and r.get("api_key_id"):
            series[("api_key", r["api_key_id"], "tokens")][day] += toks
    want = set()
    for key, by_day in series.items():
        days = sorted(by_day)
        for i, d in enumerate(days):
            prev = [by_day[x] for x in days[max(0, i - 14): i]]
            if len(prev) >= 7:
                mean, sd = statistics.mean(prev), statistics.stdev(prev)
                if by_day[d] > mean + 3 * sd and by_day[d] > 1.5 * mean:
                    want.add((d, *key))
    return want


def assert_matches_truth(db: Path, org: Org, endpoint: str, start: int, end: int | None = None,
                         width: str = "1d", dataset: str = "openai_usage", organization: str | None = None) -> int:
    got = warehouse_rows(db, endpoint, width, dataset, organization)
    want = truth_rows(org, endpoint, start, end, width)
    got = {k: v for k, v in got.items() if k[0] >= start and (end is None or k[0] < end)}
    missing = set(want) - set(got)
    extra = set(got) - set(want)
    assert not missing, f"{endpoint}: {len(missing)} rows missing, e.g. {sorted(missing, key=str)[:2]}"
    assert not extra, f"{endpoint}: {len(extra)} unexpected rows, e.g. {sorted(extra, key=str)[:2]}"
    wrong = [(k, got[k], want[k]) for k in want if got[k] != want[k]]
    assert not wrong, f"{endpoint}: {len(wrong)} rows differ, e.g. {wrong[:1]}"
    return len(want)
