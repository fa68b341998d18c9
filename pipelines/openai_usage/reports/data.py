"""The numbers behind the terminal and HTML reports, read from the reporting views only."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..catalogue import DEFAULT_ORGANIZATION
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
    mtd: dict[str, Any] | None = None  # the organizations' month to date added up (see MTD_COLUMNS)
    organizations: list[str] = field(default_factory=list)  # those reported on: all the warehouse holds, or --org
    by_organization: list[tuple] = field(default_factory=list)  # (organization, amount, forecast), see read()
    projects: list[tuple] = field(default_factory=list)  # (organization, project, currency, amount)
    line_items: list[tuple] = field(default_factory=list)
    models: list[tuple] = field(default_factory=list)
    api_keys: list[tuple] = field(default_factory=list)  # (organization, key, project, user, tokens)
    anomalies: list[tuple] = field(default_factory=list)  # (organization, day, dimension, key, measure, ...)
    batch_cache: list[tuple] = field(default_factory=list)
    billed_vs_usage: list[tuple] = field(default_factory=list)
    daily_by_item: list[tuple] = field(default_factory=list)
    daily_tokens_by_model: list[tuple] = field(default_factory=list)
    # (organization, owner, type, keys, billed, usage share, unallocated, total)
    owners: list[tuple] = field(default_factory=list)
    runway: list[tuple] = field(default_factory=list)  # see RUNWAY_COLUMNS

    @property
    def scope_note(self) -> str:
        """Which organizations the report covers, for its header; nothing for a single unnamed ('default') one."""
        if self.several:
            return f"organizations {', '.join(self.organizations)}"
        if self.organizations and self.organizations != [DEFAULT_ORGANIZATION]:
            return f"organization {self.organizations[0]}"
        return ""

    @property
    def organization_rows(self) -> list[tuple[str, Any, Any, str]]:
        """(organization, amount, forecast, share of the total) per organization, then ('total', ...): the
        per-organization table both reports show when there are several."""
        total = sum((Decimal(a or 0) for _, a, _ in self.by_organization), Decimal(0))
        forecasts = [f for _, _, f in self.by_organization if f is not None]
        rows = [(o, a, f, f"{Decimal(a or 0) / total * 100:.1f}%" if total else "")
                for o, a, f in self.by_organization]
        return [*rows, ("total", total, sum(forecasts) if forecasts else None, "100.0%" if total else "")]

    @property
    def several(self) -> bool:
        """More than one organization reported on: the reports name each row's organization and show a total."""
        return len(self.organizations) > 1

    def scope_label(self, organization: str, scope: str, project_name: str | None) -> str:
        """Who a spend limit or alert is for: 'organization' or 'project X', prefixed by the organization's name
        when the report covers several."""
        who = "organization" if scope == "organization" else f"project {project_name}"
        return f"{organization} / {who}" if self.several else who

    @property
    def limit_warnings(self) -> list[str]:
        """One line per hard limit the forecast reaches before the month ends (or that is already reached)."""
        out = []
        for r in self.runway:
            row = dict(zip(RUNWAY_COLUMNS, r, strict=True))
            if row["enforces_before_month_end"]:
                who = "the organization" if row["scope"] == "organization" else f"project {row['project_name']}"
                if self.several:
                    who = (f"organization {row['organization']}" if row["scope"] == "organization"
                           else f"{who} of organization {row['organization']}")
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


RUNWAY_COLUMNS = ("organization", "scope", "project_name", "mtd_amount", "forecast_month_amount", "threshold_type",
                  "threshold_amount", "crosses_on", "already_crossed", "enforces_before_month_end")
MTD_COLUMNS = ("month", "as_of_day", "currency", "mtd_amount", "prior_same_days_amount", "change_amount",
               "change_ratio", "days_elapsed", "days_in_month", "forecast_month_end")


def _day(d: dt.date) -> str:
    return f"date '{d:%Y-%m-%d}'"  # a date computed here, never text from the user


def organizations(sql: Any, dialect: str) -> list[str]:
    """Every organization the warehouse holds anything for (costs, usage or directory), sorted."""
    return sorted(str(r[0]) for r in query(sql, "select distinct organization from intermediate.int_names", dialect))


def choose(held: list[str], wanted: list[str] | tuple[str, ...] | None, label: str) -> list[str]:
    """The organizations to read: those `--org` names (each must be in the warehouse), else all it holds."""
    if not wanted:
        return held
    unknown = [w for w in wanted if w not in held]
    if unknown:
        raise ConfigError(f"--org {unknown[0]!r}: {label} holds no organization of that name "
                          f"(it holds: {', '.join(held) or 'none'})")
    return list(dict.fromkeys(wanted))


def org_filter(names: list[str], column: str = "organization") -> str:
    """A SQL condition on the organization column for names already checked against the warehouse's own."""
    quoted = ", ".join("'" + n.replace("'", "''") + "'" for n in names)
    return f"{column} in ({quoted})" if names else "false"


def read(target: Path | Warehouse, month: dt.date | None = None, orgs: list[str] | tuple[str, ...] | None = None
         ) -> ReportData:
    """Read only, through the warehouse's own SQL client (a DuckDB file or any dlt destination): the warehouse and
    its views must exist (`load` applies them); nothing is created here. The queries are DuckDB SQL, transpiled for
    the destination like the views. `orgs` narrows the report to those organizations (an unknown name is a
    ConfigError); figures are added up over the organizations reported on."""
    wh = target if isinstance(target, Warehouse) else Warehouse(db=target)
    wh.require()
    require_views(wh)
    dialect = wh.dialect
    with wh.connect(read_only=True) as sql:
        def q(text: str) -> list[tuple]:
            return query(sql, text, dialect)

        data = ReportData(wh.label, month)
        data.organizations = choose(organizations(sql, dialect), orgs, wh.label)
        of = org_filter(data.organizations)
        data.first_day, data.last_day = q(f"select min(day), max(day) from staging.stg_costs where {of}")[0]
        if data.empty:
            return data
        m = month or data.last_day.replace(day=1)
        data.month = m
        nxt = (m.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        in_month = f"{of} and day >= {_day(m)} and day < {_day(nxt)}"
        # Month to date over the organizations, each as of its own newest day: amounts add up, the change is the
        # ratio of the sums (with one organization, exactly the view's row). An organization whose newest costs are
        # from an earlier month has no month to date in the newest one, so it adds nothing here.
        rows = q("select month, max(as_of_day), currency, sum(mtd_amount), sum(prior_same_days_amount), "
                 "sum(change_amount), cast(sum(mtd_amount) as double) "
                 "/ nullif(cast(sum(prior_same_days_amount) as double), 0) - 1, max(days_elapsed), "
                 "max(days_in_month), sum(forecast_month_end) "
                 f"from reporting.month_to_date where {of} and month = "
                 f"(select max(month) from reporting.month_to_date where {of}) "
                 "group by month, currency order by sum(mtd_amount) desc")
        if rows:
            data.mtd = dict(zip(MTD_COLUMNS, rows[0], strict=True))
        if data.several:
            # Each organization's spend in the month, and its forecast where the month is its current one.
            data.by_organization = q(
                "select c.organization, c.amount, f.forecast from ("
                f"select organization, sum(amount) as amount from reporting.monthly_costs where {of} "
                f"and month = {_day(m)} group by organization) as c "
                "left join (select organization, sum(forecast_month_end) as forecast from reporting.month_to_date "
                f"where month = {_day(m)} group by organization) as f on f.organization = c.organization "
                "order by c.amount desc, c.organization")
        data.projects = q(f"select organization, project_name, currency, amount from reporting.monthly_costs "
                          f"where {of} and month = {_day(m)} order by amount desc, organization, project_name")
        data.line_items = q(f"select line_item, sum(amount) as amount from reporting.daily_costs where {in_month} "
                            "group by line_item order by amount desc")
        data.models = q(
            "select model, sum(amount) as amount, sum(input_tokens), sum(output_tokens), "
            "cast(sum(amount) as double) * 1000000 "
            "/ nullif(sum(coalesce(input_tokens, 0) + coalesce(output_tokens, 0)), 0) "
            f"from reporting.model_costs where {of} and month = {_day(m)} group by model, currency "
            "order by amount desc nulls last")
        data.api_keys = q(
            "select organization, api_key_name, project_name, coalesce(user_email, user_name) as who, "
            f"sum(value) as tokens from reporting.daily_usage where {in_month} and api_key_id is not null "
            "and kind in ('completions', 'embeddings') and metric in ('input_tokens', 'output_tokens') "
            "group by organization, api_key_name, project_name, coalesce(user_email, user_name) "
            "order by tokens desc limit 10")
        # The five newest per dimension, written without QUALIFY so every engine keeps the final order.
        data.anomalies = q(
            "select organization, day, dimension, key_name, measure, value, trailing_mean, ratio from ("
            "select organization, day, dimension, key_name, measure, value, trailing_mean, ratio, row_number() over "
            "(partition by dimension order by day desc, ratio desc) as n from reporting.anomalies "
            f"where {of} and day > {_day(data.last_day - dt.timedelta(days=30))}) as a "
            "where n <= 5 order by day desc, ratio desc")
        data.batch_cache = q(
            "select model, sum(requests) as requests, sum(batch_requests), sum(input_tokens), "
            f"sum(input_cached_tokens) from reporting.batch_and_cache where {of} and month = {_day(m)} "
            "group by model order by requests desc")
        data.billed_vs_usage = q(
            "select day, sum(billed_amount), sum(billed_tokens), sum(usage_tokens), sum(token_difference) "
            f"from reporting.billed_vs_usage where {of} and day > {_day(data.last_day - dt.timedelta(days=7))} "
            "group by day order by day desc")
        data.daily_by_item = q(f"select day, line_item, sum(amount) from reporting.daily_costs where {in_month} "
                               "group by day, line_item order by day")
        data.daily_tokens_by_model = q(
            "select day, model, sum(coalesce(input_tokens, 0) + coalesce(output_tokens, 0)) "
            f"from reporting.daily_tokens where {in_month} group by day, model order by day")
        # OFFSET 0 keeps PostgreSQL from pushing the filters into the allocation's CTEs, where its row estimates
        # fall to 1 and it picks nested loops over tens of thousands of rows (minutes instead of seconds).
        data.owners = q(
            "select organization, owner_name, coalesce(owner_type, ''), sum(api_keys), sum(billed_amount), "
            "sum(usage_share_amount), sum(unallocated_amount), sum(amount) "
            "from (select * from reporting.owner_costs offset 0) as o "
            f"where {of} and month = {_day(m)} group by organization, owner_name, coalesce(owner_type, '') "
            "order by sum(amount) desc")
        if data.month == data.last_day.replace(day=1):  # the runway is about the current month only
            data.runway = q(f"select {', '.join(RUNWAY_COLUMNS)} from reporting.spend_runway "
                            f"where {of} and threshold_type is not null "
                            "order by organization, scope, project_name, threshold_amount")
        return data
