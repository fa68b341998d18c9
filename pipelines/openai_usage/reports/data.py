"""The numbers behind the terminal and HTML reports, read from the reporting views only."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..load.warehouse import Warehouse
from ..transform.transpile import query
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
    owners: list[tuple] = field(default_factory=list)  # (owner, type, keys, billed, usage share, unallocated, total)
    runway: list[tuple] = field(default_factory=list)  # see RUNWAY_COLUMNS

    @property
    def limit_warnings(self) -> list[str]:
        """One line per hard limit the forecast reaches before the month ends (or that is already reached)."""
        out = []
        for r in self.runway:
            row = dict(zip(RUNWAY_COLUMNS, r, strict=True))
            if row["enforces_before_month_end"]:
                who = "the organization" if row["scope"] == "organization" else f"project {row['project_name']}"
                when = "was reached on" if row["already_crossed"] else "would enforce on"
                out.append(f"hard spend limit of ${row['threshold_amount']:,.2f} for {who} {when} "
                           f"{row['crosses_on']} (month to date ${row['mtd_amount']:,.2f}, forecast "
                           f"${row['forecast_month_amount']:,.2f}): OpenAI fails its requests once it enforces")
        return out

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


RUNWAY_COLUMNS = ("scope", "project_name", "mtd_amount", "forecast_month_amount", "threshold_type",
                  "threshold_amount", "crosses_on", "already_crossed", "enforces_before_month_end")
MTD_COLUMNS = ("month", "as_of_day", "currency", "mtd_amount", "prior_same_days_amount", "change_amount",
               "change_ratio", "days_elapsed", "days_in_month", "forecast_month_end")


def _day(d: dt.date) -> str:
    return f"date '{d:%Y-%m-%d}'"  # a date computed here, never text from the user


def read(target: Path | Warehouse, month: dt.date | None = None) -> ReportData:
    """Read only, through the warehouse's own SQL client (a DuckDB file or any dlt destination): the warehouse and
    its views must exist (`load` applies them); nothing is created here. The queries are DuckDB SQL, transpiled for
    the destination like the views."""
    wh = target if isinstance(target, Warehouse) else Warehouse(db=target)
    wh.require()
    require_views(wh)
    dialect = wh.dialect
    with wh.connect(read_only=True) as sql:
        def q(text: str) -> list[tuple]:
            return query(sql, text, dialect)

        data = ReportData(wh.label, month)
        data.first_day, data.last_day = q("select min(day), max(day) from staging.stg_costs")[0]
        if data.empty:
            return data
        m = month or data.last_day.replace(day=1)
        data.month = m
        nxt = (m.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        in_month = f"day >= {_day(m)} and day < {_day(nxt)}"
        rows = q(f"select {', '.join(MTD_COLUMNS)} from reporting.month_to_date")
        if rows:
            data.mtd = dict(zip(MTD_COLUMNS, rows[0], strict=True))
        data.projects = q(f"select project_name, currency, amount from reporting.monthly_costs "
                          f"where month = {_day(m)} order by amount desc")
        data.line_items = q(f"select line_item, sum(amount) as amount from reporting.daily_costs where {in_month} "
                            "group by line_item order by amount desc")
        data.models = q(f"select model, amount, input_tokens, output_tokens, cost_per_million_tokens "
                        f"from reporting.model_costs where month = {_day(m)} order by amount desc nulls last")
        data.api_keys = q(
            "select api_key_name, project_name, coalesce(user_email, user_name) as who, sum(value) as tokens "
            f"from reporting.daily_usage where {in_month} and api_key_id is not null "
            "and kind in ('completions', 'embeddings') and metric in ('input_tokens', 'output_tokens') "
            "group by api_key_name, project_name, coalesce(user_email, user_name) order by tokens desc limit 10")
        # The five newest per dimension, written without QUALIFY so every engine keeps the final order.
        data.anomalies = q(
            "select day, dimension, key_name, measure, value, trailing_mean, ratio from ("
            "select day, dimension, key_name, measure, value, trailing_mean, ratio, row_number() over "
            "(partition by dimension order by day desc, ratio desc) as n from reporting.anomalies "
            f"where day > {_day(data.last_day - dt.timedelta(days=30))}) as a "
            "where n <= 5 order by day desc, ratio desc")
        data.batch_cache = q(
            "select model, sum(requests) as requests, sum(batch_requests), sum(input_tokens), "
            f"sum(input_cached_tokens) from reporting.batch_and_cache where month = {_day(m)} group by model "
            "order by requests desc")
        data.billed_vs_usage = q(
            "select day, sum(billed_amount), sum(billed_tokens), sum(usage_tokens), sum(token_difference) "
            f"from reporting.billed_vs_usage where day > {_day(data.last_day - dt.timedelta(days=7))} "
            "group by day order by day desc")
        data.daily_by_item = q(f"select day, line_item, sum(amount) from reporting.daily_costs where {in_month} "
                               "group by day, line_item order by day")
        data.daily_tokens_by_model = q(
            "select day, model, sum(coalesce(input_tokens, 0) + coalesce(output_tokens, 0)) "
            f"from reporting.daily_tokens where {in_month} group by day, model order by day")
        data.owners = q(
            "select owner_name, coalesce(owner_type, ''), sum(api_keys), sum(billed_amount), sum(usage_share_amount), "
            f"sum(unallocated_amount), sum(amount) from reporting.owner_costs where month = {_day(m)} "
            "group by owner_name, coalesce(owner_type, '') order by sum(amount) desc")
        if data.month == data.last_day.replace(day=1):  # the runway is about the current month only
            data.runway = q(f"select {', '.join(RUNWAY_COLUMNS)} from reporting.spend_runway "
                            "where threshold_type is not null order by scope, project_name, threshold_amount")
        return data
