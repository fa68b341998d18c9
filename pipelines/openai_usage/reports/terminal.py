"""`openai-usage report`: the reporting views as tables a person reads at a glance."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from .data import ReportData
from .format import count, money, pct


def _table(title: str, *cols: str) -> Table:
    t = Table(title=title, title_justify="left", title_style="bold")
    for i, c in enumerate(cols):
        t.add_column(c, justify="left" if i == 0 or c in ("project", "user", "what") else "right")
    return t


def render(data: ReportData, console: Console) -> None:
    if data.empty:
        console.print("No costs loaded yet: run `openai-usage load` (or `make demo`) first.")
        return
    month = data.month.strftime("%B %Y") if data.month else ""
    console.print(f"[bold]OpenAI usage and spend[/bold]  {data.db}  data {data.first_day} .. {data.last_day} (UTC)")
    if data.mtd:
        m = data.mtd
        change = "" if m["change_ratio"] is None else f" ({m['change_ratio'] * 100:+.1f}%)"
        console.print(f"Month to date ({m['month']:%B}, {m['days_elapsed']} of {m['days_in_month']} days): "
                      f"[bold]{money(m['mtd_amount'])}[/bold]  vs {money(m['prior_same_days_amount'])} over the "
                      f"same days last month{change};  forecast for the month: "
                      f"[bold]{money(m['forecast_month_end'])}[/bold]")
    for warning in data.limit_warnings:
        console.print(f"[bold red]WARNING:[/bold red] {warning}")
    t = _table(f"Spend by project, {month}", "project", "amount")
    for pid, _, amount in data.projects:
        t.add_row(pid, money(amount))
    console.print(t)
    t = _table(f"Top API keys by tokens, {month}", "API key", "project", "user", "tokens")
    for key, project, user, tokens in data.api_keys:
        t.add_row(key, project, user, count(tokens))
    console.print(t)
    t = _table(f"Cost by API key owner, {month} (ties out to billed cost)", "owner", "type", "keys", "billed",
               "usage share", "unallocated", "total")
    for name, kind, keys, billed, share, unalloc, total in data.owners[:15]:
        t.add_row(name, kind, count(keys), money(billed), money(share), money(unalloc), money(total))
    console.print(t)
    if data.runway:
        t = _table("Spend limits and alerts this month", "what", "threshold", "month to date", "forecast", "reached on")
        for scope, project, mtd, forecast, kind, amount, crosses, crossed, enforces in data.runway:
            who = "organization" if scope == "organization" else f"project {project}"
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
    for day, dim, key, measure, value, mean, ratio in data.anomalies:
        fmt = money if measure == "cost" else count
        t.add_row(str(day), f"{dim} {key} ({measure})", fmt(value), fmt(mean), f"{ratio:.1f}")
    if not data.anomalies:
        t.add_row("none", "", "", "", "")
    console.print(t)
    t = _table("Billed (Costs) against usage, last 7 days", "day", "billed", "billed tokens", "usage tokens",
               "difference")
    for day, billed, btok, utok, diff in data.billed_vs_usage:
        t.add_row(str(day), money(billed), count(btok), count(utok), count(diff))
    console.print(t)
