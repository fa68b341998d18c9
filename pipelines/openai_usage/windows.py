"""Bucket-aligned time arithmetic: where requests start and how a range is cut into windows."""

from __future__ import annotations

import datetime as dt

from .catalogue import WIDTH_SECONDS


def floor(t: int, width: str) -> int:
    w = WIDTH_SECONDS[width]
    return t - t % w


def ceil(t: int, width: str) -> int:
    w = WIDTH_SECONDS[width]
    return -(-t // w) * w


def windows(start: int, end: int, width: str, buckets_per_window: int) -> list[tuple[int, int]]:
    """Cut [start, end) into consecutive windows of whole buckets, each at most one page long.

    `start` and `end` must be on bucket boundaries; every bucket lands in exactly one window.
    """
    w = WIDTH_SECONDS[width]
    if start % w or end % w:
        raise ValueError("windows need bucket-aligned start and end")
    step = w * buckets_per_window
    return [(a, min(a + step, end)) for a in range(start, end, step)]


def to_datetime(t: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, dt.UTC)


def to_unix(value: dt.datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return int(value.timestamp())
