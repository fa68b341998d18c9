"""Small, dependency-free SVG charts for the HTML report (it must render offline, with no scripts)."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable, Sequence

PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
           "#bab0ac"]


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    exp = 10 ** (len(str(int(v))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if step * exp >= v:
            return step * exp
    return 10 * exp


def top_series(rows: Sequence[tuple], keep: int = 8) -> tuple[list[dt.date], dict[str, list[float]]]:
    """(day, name, value) rows -> days and one series per name, the smallest folded into 'other'."""
    days = sorted({r[0] for r in rows})
    totals: dict[str, float] = {}
    for _, name, v in rows:
        totals[name or "(none)"] = totals.get(name or "(none)", 0.0) + float(v or 0)
    ranked = sorted(totals, key=totals.get, reverse=True)  # type: ignore[arg-type]
    names = ranked[:keep] + (["other"] if len(ranked) > keep else [])
    idx = {d: i for i, d in enumerate(days)}
    series = {n: [0.0] * len(days) for n in names}
    for day, name, v in rows:
        n = name or "(none)"
        series[n if n in series else "other"][idx[day]] += float(v or 0)
    return days, series


def stacked_bars(days: list[dt.date], series: dict[str, list[float]], fmt: Callable[[float], str],
                 width: int = 960, height: int = 320, label: str = "") -> str:
    left, right, top, bottom = 70, 290, 16, 36
    pw, ph = width - left - right, height - top - bottom
    totals = [sum(s[i] for s in series.values()) for i in range(len(days))]
    ymax = _nice_max(max(totals, default=0))
    bw = pw / max(1, len(days))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{html.escape(label)}" class="chart">']
    for k in range(5):
        y = top + ph - ph * k / 4
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{fmt(ymax * k / 4)}</text>')
    for i, day in enumerate(days):
        y = top + ph
        for j, (name, values) in enumerate(series.items()):
            h = ph * values[i] / ymax
            if h > 0:
                y -= h
                parts.append(f'<rect x="{left + i * bw + 1:.1f}" y="{y:.1f}" width="{max(1.0, bw - 2):.1f}" '
                             f'height="{h:.1f}" fill="{PALETTE[j % len(PALETTE)]}"><title>{day} '
                             f'{html.escape(name)}: {fmt(values[i])}</title></rect>')
        if len(days) <= 16 or i % max(1, len(days) // 8) == 0:
            parts.append(f'<text x="{left + i * bw + bw / 2:.1f}" y="{height - 12}" class="tick" '
                         f'text-anchor="middle">{day:%b %d}</text>')
    for j, name in enumerate(series):
        y = top + 6 + j * 20
        parts.append(f'<rect x="{left + pw + 16}" y="{y}" width="12" height="12" fill="{PALETTE[j % len(PALETTE)]}"/>'
                     f'<text x="{left + pw + 34}" y="{y + 10}" class="legend">{html.escape(_fit(name, 40))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _fit(name: str, n: int) -> str:
    return name if len(name) <= n else name[: n - 1] + "…"


def horizontal_bars(items: list[tuple[str, float]], fmt: Callable[[float], str], width: int = 960,
                    label: str = "") -> str:
    left, right, row = 260, 110, 26
    height = 10 + row * max(1, len(items))
    vmax = max((v for _, v in items), default=0) or 1.0
    pw = width - left - right
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{html.escape(label)}" class="chart">']
    for i, (name, v) in enumerate(items):
        y = 5 + i * row
        w = pw * v / vmax
        parts.append(f'<text x="{left - 8}" y="{y + 16}" class="legend" text-anchor="end">{html.escape(_fit(name, 40))}'
                     '</text>'
                     f'<rect x="{left}" y="{y + 3}" width="{max(1.0, w):.1f}" height="{row - 8}" '
                     f'fill="{PALETTE[i % len(PALETTE)]}"><title>{html.escape(name)}: {fmt(v)}</title></rect>'
                     f'<text x="{left + w + 6:.1f}" y="{y + 16}" class="tick">{fmt(v)}</text>')
    parts.append("</svg>")
    return "".join(parts)
