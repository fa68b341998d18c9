"""`openai-usage report`: the reporting views as tables a person reads at a glance.

With several organizations the figures are their total, a table gives each organization's share, and rows that
belong to one organization (projects, keys, owners, limits, anomalies) name it; with one, none of that is shown."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from .data import ReportData
from .format import count, money, pct


def _table(title: str, *cols: str) -> Table:
    t = Table(title=title, title_justify="left", title_style="bold")
    for i, c in enumerate(cols):
        t.add_column(c, justify="left" if i == 0 or c in ("project", "user", "what", "API key", "owner") else "right")
    return t


def render(data: ReportData, console: Console) -> None:
    if data.empty:
        scope = f" for {data.scope_note}" if data.scope_note else ""
        console.print(f"No costs loaded yet{scope}: run `openai-usage load` (or `make demo`) first.")
        return
    several = data.several
    org_col = ("organization",) if several else ()

    def org(o: str) -> tuple[str, ...]:
        return (o,) if several else ()

    month = data.month.strftime("%B %Y") if data.month else ""
    scope = f"  {data.scope_note}" if data.scope_note else ""
    console.print(f"[bold]OpenAI usage and spend[/bold]  {data.db}{scope}  data {data.first_day} .. {data.last_day} "
                  "(UTC)")
    if data.mtd:
        m = data.mtd
        change = "" if m["change_ratio"] is None else f" ({m['change_ratio'] * 100:+.1f}%)"
        across = f", {len(data.organizations)} organizations" if several else ""
        console.print(f"Month to date ({m['month']:%B}, {m['days_elapsed']} of {m['days_in_month']} days{across}): "
                      f"[bold]{money(m['mtd_amount'])}[/bold]  vs {money(m['prior_same_days_amount'])} over the "
                      f"same days last month{change};  forecast for the month: "
                      f"[bold]{money(m['forecast_month_end'])}[/bold]")
    for warning in data.limit_warnings:
        console.print(f"[bold red]WARNING:[/bold red] {warning}")
    if several:
        t = _table(f"Spend by organization, {month}", "organization", "amount", "share", "forecast")
        rows = data.organization_rows
        for name, amount, forecast, share in rows[:-1]:
            t.add_row(name, money(amount), share, money(forecast))
        name, amount, forecast, share = rows[-1]
        t.add_section()
        t.add_row(f"[bold]{name}[/bold]", f"[bold]{money(amount)}[/bold]", share, money(forecast))
        console.print(t)
    t = _table(f"Spend by project, {month}", *org_col, "project", "amount")
    for o, project, _, amount in data.projects:
        t.add_row(*org(o), project, money(amount))
    console.print(t)
    t = _table(f"Top API keys by tokens, {month}", *org_col, "API key", "project", "user", "tokens")
    for o, key, project, user, tokens in data.api_keys:
        t.add_row(*org(o), key, project, user, count(tokens))
    console.print(t)
    t = _table(f"Cost by API key owner, {month} (ties out to billed cost)", *org_col, "owner", "type", "keys",
               "billed", "usage share", "unallocated", "total")
    for o, name, kind, keys, billed, share, unalloc, total in data.owners[:15]:
        t.add_row(*org(o), name, kind, count(keys), money(billed), money(share), money(unalloc), money(total))
    console.print(t)
    if data.runway:
        t = _table("Spend limits and alerts this month", "what", "threshold", "month to date", "forecast", "reached on")
        for o, scope_, project, mtd, forecast, kind, amount, crosses, crossed, enforces in data.runway:
            who = data.scope_label(o, scope_, project)
            label = "hard limit" if kind == "hard_limit" else "alert"
            when = "never this month" if crosses is None else f"{crosses}{' (forecast)' if not crossed else ''}"
            t.add_row(f"{who}: {label}", money(amount), money(mtd), money(forecast),
                      f"[bold red]{when}[/bold red]" if enforces else when)
        console.print(t)
    t = _table(f"Top line items, {month}", "line item", "amount")
    for item, amount in data.line_items[:12]:
        t.add_row(item, money(amount))
    console.print(t)
    t = _table(f"Models, {month}", "model", "cost", "input tokens", "output tokens", "$ per 1M tokens")
    for model, amount, inp, out, per_m in data.models:
        t.add_row(model, money(amount), count(inp), count(out), "" if per_m is None else f"{per_m:,.3f}")
    console.print(t)
    t = _table(f"Batch and cache, {month}", "model", "requests", "batch share", "input tokens", "cache hit")
    for model, req, batch, inp, cached in data.batch_cache:
        t.add_row(model, count(req), pct((batch or 0) / req if req else None), count(inp),
                  pct(cached / inp if inp and cached is not None else None))
    console.print(t)
    t = _table("Anomalies, last 30 days (far above the trailing 14-day norm)", "day", "what", "value", "norm",
               "x norm")
    for o, day, dim, key, measure, value, mean, ratio in data.anomalies:
        fmt = money if measure == "cost" else count
        where = f"{o}: " if several else ""
        t.add_row(str(day), f"{where}{dim} {key} ({measure})", fmt(value), fmt(mean), f"{ratio:.1f}")
    if not data.anomalies:
        t.add_row("none", "", "", "", "")
    console.print(t)
    t = _table("Billed (Costs) against usage, last 7 days", "day", "billed", "billed tokens", "usage tokens",
               "difference")
    for day, billed, btok, utok, diff in data.billed_vs_usage:
        t.add_row(str(day), money(billed), count(btok), count(utok), count(diff))
    console.print(t)
