"""Small formatters shared by the terminal and the HTML report: money, counts, shares and short axis labels."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def money(v: Any, signed: bool = False) -> str:
    if v is None:
        return ""
    d = Decimal(v)
    return f"{'-' if d < 0 else '+' if signed else ''}${abs(d):,.2f}"


def count(v: Any) -> str:
    return "" if v is None else f"{int(v):,}"


def pct(v: Any) -> str:
    return "" if v is None else f"{float(v) * 100:.1f}%"


def short(v: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= size:
            return f"{v / size:.1f}{unit}"
    return f"{v:.0f}"
