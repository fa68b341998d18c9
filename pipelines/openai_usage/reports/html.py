"""`openai-usage report --html FILE`: one self-contained page (inline CSS and SVG, no scripts, no network).

The page is the Jinja2 template templates/report.html.j2 (package data), rendered with autoescaping on. This
module only prepares its values: plain strings already formatted, rows as lists of strings in the template's
column order, and the SVG charts from charts.py, which escape their own labels and are passed in as Markup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from .charts import horizontal_bars, stacked_bars, top_series
from .data import ReportData
from .format import count, money, pct, short

TEMPLATES = Path(__file__).parent / "templates"
ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                  trim_blocks=True, lstrip_blocks=True)
TITLE = "OpenAI usage and spend"


def _dollars(v: float) -> str:
    return f"${v:,.0f}"


def _context(data: ReportData) -> dict[str, Any]:
    month = data.month.strftime("%B %Y") if data.month else ""
    mtd = None
    if data.mtd:
        m = data.mtd
        change = "" if m["change_ratio"] is None else f"{m['change_ratio'] * 100:+.1f}% vs same days last month"
        mtd = {"month": f"{m['month']:%B}", "amount": money(m["mtd_amount"]), "change": change,
               "prior": money(m["prior_same_days_amount"]), "elapsed": str(m["days_elapsed"]),
               "days_in_month": str(m["days_in_month"]), "forecast": money(m["forecast_month_end"])}
    several = data.several

    def org(o: str) -> list[str]:  # the organization column, only when the report covers several
        return [o] if several else []

    days, series = top_series(data.daily_by_item, keep=8)
    tdays, tseries = top_series(data.daily_tokens_by_model, keep=8)
    return {
        "db": data.db, "scope_note": data.scope_note, "several": several, "org_header": ["organization"] * several,
        # ["organization", "amount", "share", "forecast"], the last row the total
        "organizations": [[o, money(a), share, money(f)] for o, a, f, share in data.organization_rows]
        if several else [],
        "first_day": str(data.first_day), "last_day": str(data.last_day), "month": month, "mtd": mtd,
        "cost_chart": Markup(stacked_bars(days, series, _dollars, label=f"Daily cost by line item, {month}")),
        "token_chart": Markup(stacked_bars(tdays, tseries, short, label=f"Tokens by model, {month}")),
        "project_chart": Markup(horizontal_bars([(f"{o} / {p}" if several else p, float(a))
                                                 for o, p, _, a in data.projects], _dollars,
                                                label=f"Spend by project, {month}")),
        # [("organization"), "API key", "project", "user", "tokens"]
        "api_keys": [[*org(o), k, p, u, count(t)] for o, k, p, u, t in data.api_keys],
        # ["day", "what", "value", "trailing norm", "x norm"]
        "anomalies": [[str(d), f"{o + ': ' if several else ''}{dim} {key} ({measure})",
                       money(v) if measure == "cost" else count(v),
                       money(mean) if measure == "cost" else count(mean), f"{ratio:.1f}"]
                      for o, d, dim, key, measure, v, mean, ratio in data.anomalies],
        # ["model", "cost", "input tokens", "output tokens", "$ per 1M tokens"]
        "models": [[m or "", money(a), count(i), count(o), "" if p is None else f"{p:,.3f}"]
                   for m, a, i, o, p in data.models],
        # ["model", "requests", "batch share", "input tokens", "cache hit"]
        "batch_cache": [[m or "", count(r), pct((b or 0) / r if r else None), count(i),
                         pct(c / i if i and c is not None else None)] for m, r, b, i, c in data.batch_cache],
        # ["day", "billed", "billed tokens", "usage tokens", "difference"]
        "billed": [[str(d), money(b), count(bt), count(ut), count(df)] for d, b, bt, ut, df in data.billed_vs_usage],
        "limit_warnings": data.limit_warnings,
        # [("organization"), "owner", "type", "keys", "billed", "usage share", "unallocated", "total"]
        "owners": [[*org(o), n, k, count(c), money(b), money(s), money(u), money(t)]
                   for o, n, k, c, b, s, u, t in data.owners],
        # ["what", "threshold", "month to date", "forecast", "reached on"]
        "runway": [[data.scope_label(o, scope, project) + ": " + ("hard limit" if kind == "hard_limit" else "alert"),
                    money(amount), money(mtd), money(fc),
                    "never this month" if crosses is None else f"{crosses}{'' if crossed else ' (forecast)'}"]
                   for o, scope, project, mtd, fc, kind, amount, crosses, crossed, _ in data.runway],
    }


def render(data: ReportData) -> str:
    context = {"title": TITLE, "empty": data.empty}
    if not data.empty:
        context.update(_context(data))
    return ENV.get_template("report.html.j2").render(context)


def write(data: ReportData, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(data), encoding="utf-8")
