"""What one run read, per table, typed: filled by the source's resources as data streams, read by whoever ran it."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field


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


@dataclass
class RunSummary:
    tables: dict[str, TableRun] = field(default_factory=dict)
    stats: RunStats = field(default_factory=RunStats)
    notes: list[str] = field(default_factory=list)  # how this run's ranges were chosen, where that is not obvious
    backfill: bool = False  # an exact range that leaves the incremental positions alone
    seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def table(self, name: str, listed: bool = False) -> TableRun:
        with self._lock:
            return self.tables.setdefault(name, TableRun(listed=listed))

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
    def warnings(self) -> list[str]:
        return [p for t in self.tables.values() for p in t.problems]
