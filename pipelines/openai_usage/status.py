"""`openai-usage status`: how fresh each table is, for a person or a scheduler."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from . import catalogue
from .errors import ConfigError, UsageError
from .transpile import statements
from .warehouse import DATASET, Warehouse


class Stale(UsageError):
    """Data older than the caller accepts (exit code 1)."""


@dataclass
class TableStatus:
    table: str
    widths: str
    newest_bucket: dt.datetime | None
    rows: int


@dataclass
class Status:
    tables: list[TableStatus]
    last_load: dt.datetime | None
    loads: int

    def age(self, now: dt.datetime) -> dt.timedelta | None:
        return now - self.last_load if self.last_load else None


def read(target: Path | Warehouse) -> Status:
    wh = target if isinstance(target, Warehouse) else Warehouse(db=target)
    if wh.local and not wh.db.exists():
        raise ConfigError(f"no warehouse at {wh.db}: run `openai-usage load --db {wh.db}` first")
    dialect = wh.dialect

    def q(sql: Any, text: str) -> list[tuple[Any, ...]]:
        return sql.rows(statements(text, dialect)[0])

    try:
        with wh.connect(read_only=True) as sql:
            # plain SQL every engine has (no FILTER, no ordered string_agg); names compared folded (Snowflake)
            existing = {str(r[0]).lower() for r in q(sql, "select table_name from information_schema.tables "
                                                          f"where lower(table_schema) = '{DATASET}'")}
            tables = []
            for ep in catalogue.endpoints().values():
                if ep.table not in existing:
                    tables.append(TableStatus(ep.table, "", None, 0))
                    continue
                newest, rows = q(sql, (
                    f"select max(start_time), sum(case when coalesce(_bucket_emptied, false) then 0 else 1 end) "
                    f"from {DATASET}.{ep.table}"))[0]
                widths = sorted(str(r[0]) for r in q(sql, f"select distinct bucket_width from {DATASET}.{ep.table}"))
                tables.append(TableStatus(ep.table, ",".join(widths), newest, int(rows or 0)))
            for dl in catalogue.directory().values():
                if dl.table in existing:
                    newest, rows = q(sql, f"select max(last_seen_at), count(*) from {DATASET}.{dl.table}")[0]
                    tables.append(TableStatus(dl.table, "listed", newest, int(rows)))
            last, loads = (None, 0)
            if "_dlt_loads" in existing:
                last, loads = q(sql, f"select max(inserted_at), count(*) from {DATASET}._dlt_loads where status = 0")[0]
            return Status(tables, last, int(loads))
    except duckdb.IOException:
        raise UsageError(f"the warehouse {wh.db} is busy (a load is running); try again when it ends") from None


def check_age(status: Status, max_age_seconds: int, now: dt.datetime) -> None:
    age = status.age(now)
    if age is None:
        raise Stale("stale: no successful load yet")
    if age.total_seconds() > max_age_seconds:
        allowed = _human(dt.timedelta(seconds=max_age_seconds))
        raise Stale(f"stale: the last successful load was {_human(age)} ago (allowed: {allowed})")


def _human(d: dt.timedelta) -> str:
    s = int(d.total_seconds())
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    if s < 172800:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600}h"
