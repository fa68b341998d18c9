"""`openai-usage status`: how fresh each table is, for a person or a scheduler."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from .. import catalogue
from ..catalogue import DEFAULT_ORGANIZATION, ORGANIZATION
from ..errors import OpenAIUsageError, StaleData
from ..load.warehouse import DATASET, Warehouse
from ..timeutil import human
from ..transform.transpile import information_schema, query
from .data import choose


@dataclass
class TableStatus:
    table: str
    widths: str
    newest_bucket: dt.datetime | None  # start of the newest bucket held (directory tables: the last listing)
    rows: int
    read_until: dt.datetime | None = None  # end of the newest bucket read, empty ones included
    newest_data: dt.datetime | None = None  # end of the newest bucket with figures
    kind: str = "directory"  # "usage" | "costs" | "directory"
    arrival_lag: int = 0  # seconds after which the API's figures for a period are expected
    organization: str = DEFAULT_ORGANIZATION

    @property
    def label(self) -> str:
        """The table's name, with the organization after it for any but the default (as the load summary says)."""
        return self.table if self.organization == DEFAULT_ORGANIZATION else f"{self.table} [{self.organization}]"


@dataclass
class Status:
    tables: list[TableStatus]
    last_load: dt.datetime | None
    loads: int
    organizations: list[str] = field(default_factory=list)  # those shown: every one held, or those asked for

    def age(self, now: dt.datetime) -> dt.timedelta | None:
        return now - self.last_load if self.last_load else None


def read(target: Path | Warehouse, orgs: list[str] | tuple[str, ...] | None = None) -> Status:
    """Freshness per organization and table, read from the tables themselves (status needs no views). `orgs`
    narrows it to those organizations; a name the warehouse does not hold is a ConfigError."""
    wh = target if isinstance(target, Warehouse) else Warehouse(db=target)
    wh.require()
    dialect = wh.dialect

    def q(sql: Any, text: str) -> list[tuple[Any, ...]]:
        return query(sql, text, dialect)

    try:
        with wh.connect(read_only=True) as sql:
            # plain SQL every engine has (no FILTER, no ordered string_agg); names compared folded (Snowflake)
            # (BigQuery lists them per dataset only: information_schema names where)
            tables, columns = (information_schema(v, DATASET, dialect) for v in ("tables", "columns"))
            existing = {str(r[0]).lower() for r in q(sql, f"select table_name from {tables} "
                                                          f"where lower(table_schema) = '{DATASET}'")}
            # A table written before organizations existed has no such column: its rows are the default's.
            with_org = {str(r[0]).lower() for r in q(sql, f"select table_name from {columns} "
                                                          f"where lower(table_schema) = '{DATASET}' "
                                                          f"and lower(column_name) = '{ORGANIZATION}'")}
            directory = list(dict.fromkeys(dl.table for dl in catalogue.directory_lists().values()))
            contract = [ep.table for ep in catalogue.endpoints().values()] + directory
            present = [tb for tb in contract if tb in existing]

            def org_of(table: str) -> str:
                return ORGANIZATION if table in with_org else f"'{DEFAULT_ORGANIZATION}'"

            held: set[str] = set()
            for table in present:
                held.update(str(r[0]) for r in q(sql, f"select distinct {org_of(table)} from {DATASET}.{table}"))
            names = choose(sorted(held), orgs, wh.label) if (held or orgs) else [DEFAULT_ORGANIZATION]
            tables = []
            for name in names:
                for ep in catalogue.endpoints().values():
                    tables.append(TableStatus(ep.table, "", None, 0, kind=ep.kind, arrival_lag=ep.arrival_lag,
                                              organization=name))
                for table in directory:
                    if table in existing:
                        tables.append(TableStatus(table, "listed", None, 0, organization=name))
            by_key = {(t.organization, t.table): t for t in tables}
            for ep in catalogue.endpoints().values():
                if ep.table not in existing:
                    continue
                org = org_of(ep.table)
                for name, newest, read_until, newest_data, rows in q(sql, (
                        f"select {org}, max(start_time), max(end_time), "
                        "max(case when coalesce(_bucket_emptied, false) then null else end_time end), "
                        f"sum(case when coalesce(_bucket_emptied, false) then 0 else 1 end) from {DATASET}.{ep.table} "
                        f"group by {org}")):
                    if (t := by_key.get((str(name), ep.table))) is not None:
                        t.newest_bucket, t.read_until, t.newest_data, t.rows = newest, read_until, newest_data, \
                            int(rows or 0)
                widths: dict[str, list[str]] = {}
                for name, width in q(sql, f"select {org}, bucket_width from {DATASET}.{ep.table} "
                                          f"group by {org}, bucket_width"):
                    widths.setdefault(str(name), []).append(str(width))
                for name, ws in widths.items():
                    if (t := by_key.get((name, ep.table))) is not None:
                        t.widths = ",".join(sorted(ws))
            for table in directory:
                if table not in existing:
                    continue
                org = org_of(table)
                for name, newest, rows in q(sql, f"select {org}, max(last_seen_at), count(*) from {DATASET}.{table} "
                                                 f"group by {org}"):
                    if (t := by_key.get((str(name), table))) is not None:
                        t.newest_bucket, t.rows = newest, int(rows)
            last, loads = (None, 0)
            if "_dlt_loads" in existing:
                last, loads = q(sql, f"select max(inserted_at), count(*) from {DATASET}._dlt_loads where status = 0")[0]
            return Status(tables, last, int(loads), names)
    except duckdb.IOException:
        raise OpenAIUsageError(f"the warehouse {wh.db} is busy (a load is running); try again when it ends") from None


def staleness(status: Status, max_age_seconds: int, now: dt.datetime, data_now: dt.datetime) -> list[str]:
    """Why the warehouse is stale, one reason per line; empty when it is fresh.

    Two things are judged: when the last load succeeded (against the machine's clock, `now`), and the data itself
    (against the API's clock, `data_now`): every loaded table must have been read up to within `max_age`, and the
    newest figures of each kind (usage, costs) must be within `max_age` plus that kind's known arrival lag, since
    costs, for one, arrive about a day after the usage they bill.
    """
    allowed = human(dt.timedelta(seconds=max_age_seconds))
    reasons = []
    age = status.age(now)
    if age is None:
        reasons.append("no successful load yet")
    elif age.total_seconds() > max_age_seconds:
        reasons.append(f"the last successful load was {human(age)} ago (allowed: {allowed})")
    freshest: dict[tuple[str, str], TableStatus] = {}  # per organization and kind: each is read on its own
    for t in status.tables:
        if t.kind == "directory" or t.read_until is None:
            continue
        behind = data_now - t.read_until
        if behind.total_seconds() > max_age_seconds:
            reasons.append(f"data: {t.label} was last read up to {_utc(t.read_until)}, {human(behind)} ago "
                           f"(allowed: {allowed})")
        best = freshest.get((t.organization, t.kind))
        if t.newest_data is not None and (best is None or best.newest_data < t.newest_data):
            freshest[(t.organization, t.kind)] = t
    for (org, kind), t in sorted(freshest.items()):
        behind = data_now - t.newest_data
        if behind.total_seconds() > max_age_seconds + t.arrival_lag:
            lag = human(dt.timedelta(seconds=t.arrival_lag))
            whose = "" if org == DEFAULT_ORGANIZATION else f" of {org}"
            reasons.append(f"data: the newest {kind} figures{whose} end {_utc(t.newest_data)}, {human(behind)} ago "
                           f"(allowed: {allowed} plus {lag} for {kind} to arrive)")
    return reasons


def raise_if_stale(reasons: list[str]) -> None:
    """The reasons `staleness` gave, as the one-line error a scheduler sees (exit code 1)."""
    if reasons:
        more = f" (and {len(reasons) - 1} more, listed above)" if len(reasons) > 1 else ""
        raise StaleData(f"stale: {reasons[0]}{more}")


def _utc(t: dt.datetime) -> str:
    return f"{t.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"

