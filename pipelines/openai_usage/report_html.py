"""`openai-usage report --html FILE`: one self-contained page (inline CSS and SVG, no scripts, no network)."""

from __future__ import annotations

import html
from pathlib import Path

from .charts import horizontal_bars, stacked_bars, top_series
from .report_data import ReportData
from .report_terminal import count, money, pct

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:18px 32px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#b9c0cf}main{padding:16px 32px;max-width:1100px}
section{background:#fff;border-radius:8px;padding:16px 20px;margin:16px 0;box-shadow:0 1px 2px rgba(0,0,0,.08)}
h2{font-size:16px;margin:0 0 10px}.kpis{display:flex;gap:16px;flex-wrap:wrap}
.kpi{flex:1;min-width:180px;background:#fff;border-radius:8px;padding:14px 18px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.kpi b{display:block;font-size:24px}.kpi span{color:#5b6475}
table{border-collapse:collapse;width:100%}th,td{padding:4px 8px;border-bottom:1px solid #eceef2;text-align:right}
th:first-child,td:first-child{text-align:left}th{color:#5b6475;font-weight:600}
.chart{width:100%;height:auto}.grid{stroke:#e3e6eb}.tick{font-size:11px;fill:#5b6475}.legend{font-size:12px;fill:#1d2330}
.empty{color:#5b6475}th.t,td.t{text-align:left}
"""


TEXT_COLUMNS = {"day", "what", "model", "project", "line item", "API key", "user"}


def _table(headers: list[str], rows: list[list[str]]) -> str:
    left = [h in TEXT_COLUMNS for h in headers]
    head = "".join(f'<th{" class=t" if lf else ""}>{html.escape(h)}</th>' for h, lf in zip(headers, left, strict=True))
    body = "".join("<tr>" + "".join(f'<td{" class=t" if lf else ""}>{html.escape(c)}</td>'
                                    for c, lf in zip(r, left, strict=True)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render(data: ReportData) -> str:
    if data.empty:
        body = '<section><p class="empty">No costs loaded yet: run <code>openai-usage load</code> first.</p></section>'
        return _page("OpenAI usage and spend", "empty warehouse", body)
    month = data.month.strftime("%B %Y") if data.month else ""
    kpis = ""
    if data.mtd:
        m = data.mtd
        change = "" if m["change_ratio"] is None else f"{m['change_ratio'] * 100:+.1f}% vs same days last month"
        kpis = (f'<div class="kpis"><div class="kpi"><span>Month to date ({m["month"]:%B})</span>'
                f'<b>{money(m["mtd_amount"])}</b><span>{change}</span></div>'
                f'<div class="kpi"><span>Same days last month</span><b>{money(m["prior_same_days_amount"])}</b>'
                f'<span>{m["days_elapsed"]} of {m["days_in_month"]} days</span></div>'
                f'<div class="kpi"><span>Forecast for the month</span><b>{money(m["forecast_month_end"])}</b>'
                f'<span>run rate of complete days</span></div></div>')
    days, series = top_series(data.daily_by_item, keep=8)
    cost_chart = stacked_bars(days, series, lambda v: f"${v:,.0f}", label=f"Daily cost by line item, {month}")
    tdays, tseries = top_series(data.daily_tokens_by_model, keep=8)
    token_chart = stacked_bars(tdays, tseries, _short, label=f"Tokens by model, {month}")
    projects = horizontal_bars([(p, float(a)) for p, _, a in data.projects], lambda v: f"${v:,.0f}",
                               label=f"Spend by project, {month}")
    anomalies = _table(["day", "what", "value", "trailing norm", "x norm"], [
        [str(d), f"{dim} {key} ({measure})", money(v) if measure == "cost" else count(v),
         money(mean) if measure == "cost" else count(mean), f"{ratio:.1f}"]
        for d, dim, key, measure, v, mean, ratio in data.anomalies]) if data.anomalies else \
        '<p class="empty">No day in the last 30 stands far above its norm.</p>'
    keys = _table(["API key", "project", "user", "tokens"], [
        [k, p, u, count(t)] for k, p, u, t in data.api_keys])
    models = _table(["model", "cost", "input tokens", "output tokens", "$ per 1M tokens"], [
        [m or "", money(a), count(i), count(o), "" if p is None else f"{p:,.3f}"] for m, a, i, o, p in data.models])
    cache = _table(["model", "requests", "batch share", "input tokens", "cache hit"], [
        [m or "", count(r), pct((b or 0) / r if r else None), count(i), pct(c / i if i and c is not None else None)]
        for m, r, b, i, c in data.batch_cache])
    billed = _table(["day", "billed", "billed tokens", "usage tokens", "difference"], [
        [str(d), money(b), count(bt), count(ut), count(df)] for d, b, bt, ut, df in data.billed_vs_usage])
    body = (kpis
            + f"<section><h2>Daily cost by line item, {month}</h2>{cost_chart}</section>"
            + f"<section><h2>Spend by project, {month}</h2>{projects}</section>"
            + f"<section><h2>Tokens by model, {month}</h2>{token_chart}</section>"
            + f"<section><h2>Top API keys by tokens, {month}</h2>{keys}</section>"
            + f"<section><h2>Anomalies (last 30 days)</h2>{anomalies}</section>"
            + f"<section><h2>Models, {month}</h2>{models}</section>"
            + f"<section><h2>Batch and cache, {month}</h2>{cache}</section>"
            + f"<section><h2>Billed against usage (last 7 days)</h2>{billed}</section>")
    return _page("OpenAI usage and spend", f"{html.escape(data.db)} · data {data.first_day} to {data.last_day} (UTC)",
                 body)


def _short(v: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= size:
            return f"{v / size:.1f}{unit}"
    return f"{v:.0f}"


def _page(title: str, subtitle: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>'
            f'<body><header><h1>{title}</h1><p>{subtitle}</p></header><main>{body}</main></body></html>')


def write(data: ReportData, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(data), encoding="utf-8")
