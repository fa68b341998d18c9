"""Ground truth: exact answers straight from the generator, with no HTTP, JSON or pagination involved."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from ..catalogue import WIDTH_SECONDS
from .org import Org
from .server import bucket_edges


def buckets(org: Org, endpoint: str, start: int, end: int | None = None, width: str = "1d",
            group_by: tuple[str, ...] | None = None, now: int | None = None) -> list[dict[str, Any]]:
    """What the API holds for [start, end) at `now`: buckets with their results (grouped by all by default)."""
    now = org.clock.now() if now is None else now
    ep = org.catalogue[endpoint]
    group_by = ep.group_by if group_by is None else group_by
    stop = end if end is not None else now
    return [{"start_time": a, "end_time": b, "results": org.results(endpoint, a, b, group_by, None, now)}
            for a, b in bucket_edges(start, stop, WIDTH_SECONDS[width])]


def totals(org: Org, endpoint: str, start: int, end: int | None = None, width: str = "1d",
           by: tuple[str, ...] = (), now: int | None = None) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Metric sums keyed by (bucket start, *by dimensions), e.g. by=("project_id",). Money as Decimal."""
    ep = org.catalogue[endpoint]
    out: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    for b in buckets(org, endpoint, start, end, width, tuple(d for d in ep.group_by if d in by), now):
        for r in b["results"]:
            acc = out[(b["start_time"], *(r.get(d) for d in by))]
            for c in ep.metrics:
                v: Any = r
                for k in c.path:
                    v = v.get(k) if isinstance(v, dict) else None
                if isinstance(v, (int, Decimal)) and not isinstance(v, bool):
                    acc[c.name] += v
    return {k: dict(v) for k, v in out.items()}


def grand_total(org: Org, endpoint: str, metric: str, start: int, end: int | None = None, width: str = "1d",
                now: int | None = None) -> int | Decimal:
    return sum((v.get(metric, 0) for v in totals(org, endpoint, start, end, width, (), now).values()), 0)
