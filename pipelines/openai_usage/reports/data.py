"""The numbers behind the terminal and HTML reports, read from the reporting views only."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from ..errors import ConfigError
from ..load.warehouse import Warehouse
from ..transform.views import require_views


@dataclass
class ReportData:
    db: str
    month: dt.date | None
    first_day: dt.date | None = None
    last_day: dt.date | None = None
    mtd: dict[str, Any] | None = None
    projects: list[tuple] = field(default_factory=list)
    line_items: list[tuple] = field(default_factory=list)
    models: list[tuple] = field(default_factory=list)
    api_keys: list[tuple] = field(default_factory=list)
    anomalies: list[tuple] = field(default_factory=list)
    batch_cache: list[tuple] = field(default_factory=list)
    billed_vs_usage: list[tuple] = field(default_factory=list)
    daily_by_item: list[tuple] = field(default_factory=list)
    daily_tokens_by_model: list[tuple] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.last_day is None


def parse_month(text: str | None) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise ConfigError(f"--month: {text!r} is not a month (use YYYY-MM)") from None


def read(db: Path, month: dt.date | None = None) -> ReportData:
    """Read only: the warehouse and its views must exist (`load` applies them); nothing is created here."""
    wh = Warehouse(db=db)
    wh.require()
    require_views(wh)
    con = duckdb.connect(str(db), read_only=True)
    try:
        data = ReportData(str(db), month)
        data.first_day, data.last_day = con.execute("select min(day), max(day) from staging.stg_costs").fetchone()
        if data.empty:
            return data
        m = month or data.last_day.replace(day=1)
        data.month = m
        nxt = (m.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        q = lambda sql, *p: con.execute(sql, list(p)).fetchall()  # noqa: E731
        row = con.execute("select * from reporting.month_to_date").fetchone()
        if row:
            cols = [d[0] for d in con.description]
            data.mtd = dict(zip(cols, row, strict=True))
        data.projects = q("select project_name, currency, amount "
                          "from reporting.monthly_costs where month = ? order by amount desc", m)
        data.line_items = q("select line_item, sum(amount) as amount from reporting.daily_costs "
                            "where day >= ? and day < ? group by 1 order by 2 desc", m, nxt)
        data.models = q("select model, amount, input_tokens, output_tokens, cost_per_million_tokens "
                        "from reporting.model_costs where month = ? order by amount desc nulls last", m)
        data.api_keys = q(
            "select api_key_name, project_name, coalesce(user_email, user_name), sum(value) as tokens "
            "from reporting.daily_usage where day >= ? and day < ? and api_key_id is not null "
            "and kind in ('completions', 'embeddings') and metric in ('input_tokens', 'output_tokens') "
            "group by 1, 2, 3 order by 4 desc limit 10", m, nxt)
        data.anomalies = q("select day, dimension, key_name, measure, value, trailing_mean, ratio "
                           "from reporting.anomalies "
                           "where day > ? qualify row_number() over (partition by dimension order by day desc, "
                           "ratio desc) <= 5 order by day desc, ratio desc",
                           data.last_day - dt.timedelta(days=30))
        data.batch_cache = q(
            "select model, sum(requests), sum(batch_requests), sum(input_tokens), sum(input_cached_tokens) "
            "from reporting.batch_and_cache where month = ? group by model order by 2 desc", m)
        data.billed_vs_usage = q(
            "select day, sum(billed_amount), sum(billed_tokens), sum(usage_tokens), sum(token_difference) "
            "from reporting.billed_vs_usage where day > ? group by day order by day desc",
            data.last_day - dt.timedelta(days=7))
        data.daily_by_item = q("select day, line_item, sum(amount) from reporting.daily_costs "
                               "where day >= ? and day < ? group by 1, 2 order by 1", m, nxt)
        data.daily_tokens_by_model = q(
            "select day, model, sum(coalesce(input_tokens, 0) + coalesce(output_tokens, 0)) "
            "from reporting.daily_tokens where day >= ? and day < ? group by 1, 2 order by 1", m, nxt)
        return data
    finally:
        con.close()
