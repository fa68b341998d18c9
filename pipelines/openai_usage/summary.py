"""What one run read, per table, typed: filled by the source's resources as data streams, read by whoever ran it."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .catalogue import DEFAULT_ORGANIZATION
from .errors import RunCancelled


@dataclass
class RunStats:
    """Request counters shared by every thread of one run: requests sent, pages accepted, retries."""

    counts: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.counts[key] += n


@dataclass
class TableRun:
    """One table's share of a run. Directory lists count rows only (`listed`); they have no buckets."""

    rows: int = 0
    buckets: int = 0
    empty_buckets: int = 0
    quarantined: int = 0
    extra_columns: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    listed: bool = False
    table: str = ""
    organization: str = DEFAULT_ORGANIZATION
    shown: str = ""  # the table's name in the summary: with its width, when the run read it at several

    grouped_by: tuple[str, ...] = ()  # the dimensions the API answered with
    restated_buckets: set[tuple[Any, str]] = field(default_factory=set)  # closed buckets whose figures changed
    restated_amount: Decimal = Decimal(0)  # net change of billed cost (costs' amount_value) in them
    refused_group_by: set[str] = field(default_factory=set)  # asked for, refused by the API: the run went on without

    def add_restatements(self, rows: Any) -> None:
        """Count a part's restatement rows (an Arrow table with the restatements contract). A table is filled by its
        own resource only, so no lock is needed."""
        for r in rows.to_pylist():
            self.restated_buckets.add((r["start_time"], r["bucket_width"]))
            if r["metric"] == "amount_value":
                self.restated_amount += (r["new_value"] or 0) - (r["old_value"] or 0)


@dataclass
class RunSummary:
    tables: dict[str, TableRun] = field(default_factory=dict)
    stats: RunStats = field(default_factory=RunStats)
    notes: list[str] = field(default_factory=list)  # how this run's ranges were chosen, where that is not obvious
    backfill: bool = False  # an exact range that leaves the incremental positions alone
    merges: bool = False  # usage rows replace buckets a table may hold (delete-insert), not only append
    seconds: float = 0.0
    organizations: list[str] = field(default_factory=list)  # the organizations this run loaded (or tried to)
    failed: dict[str, str] = field(default_factory=dict)  # organization -> why its part of the run stopped
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _causes: set[str] = field(default_factory=set, repr=False)

    def table(self, name: str, listed: bool = False, organization: str = DEFAULT_ORGANIZATION,
              shown: str | None = None) -> TableRun:
        """One table's share of the run, per organization: keyed by the table's name (or `shown`: `usage_x (1h)` for
        each width of a table the run reads at several), with ` [organization]` after it for organizations other
        than the default."""
        shown = shown or name
        key = shown if organization == DEFAULT_ORGANIZATION else f"{shown} [{organization}]"
        with self._lock:
            return self.tables.setdefault(key, TableRun(listed=listed, table=name, organization=organization,
                                                        shown=shown))

    def fail(self, organization: str, error: BaseException) -> None:
        """Record why an organization's part of the run stopped; the first failure is the cause (the rest of its
        resources were cancelled because of it)."""
        with self._lock:
            if isinstance(error, RunCancelled):
                self.failed.setdefault(organization, str(error))
            elif organization not in self._causes:
                self._causes.add(organization)
                self.failed[organization] = str(error)

    @property
    def requests(self) -> int:
        return self.stats.counts["requests"]

    @property
    def pages(self) -> int:
        return self.stats.counts["pages"]

    @property
    def retries(self) -> int:
        return self.stats.counts["retries"]

    @property
    def quarantined(self) -> int:
        return sum(t.quarantined for t in self.tables.values())

    @property
    def restated_buckets(self) -> int:
        return sum(len(t.restated_buckets) for t in self.tables.values())

    @property
    def restated_amount(self) -> Decimal:
        return sum((t.restated_amount for t in self.tables.values()), Decimal(0))

    @property
    def allocation_method(self) -> str | None:
        """How this run's costs reach API keys: 'billed' (Costs answered per key) or 'usage_share' (it refused, so
        cost_allocation splits each project's line items over keys by their usage); None if costs were not read."""
        costs = [t for t in self.tables.values() if t.table == "costs" and t.buckets]
        if not costs:
            return None
        return "billed" if all("api_key_id" in t.grouped_by for t in costs) else "usage_share"

    @property
    def refused_group_by(self) -> set[str]:
        return {d for t in self.tables.values() for d in t.refused_group_by}

    @property
    def warnings(self) -> list[str]:
        return [p if t.organization == DEFAULT_ORGANIZATION else f"[{t.organization}] {p}"
                for t in self.tables.values() for p in t.problems]
