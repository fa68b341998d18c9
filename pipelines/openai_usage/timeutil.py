"""Time in one place: Unix seconds throughout, bucket arithmetic, and parsing the dates and durations people type.

Every boundary the pipeline computes is an int of Unix seconds (UTC); datetimes exist only where dlt or a
database wants them (`to_datetime`, `to_unix`).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import time

from .errors import ConfigError

WIDTH_SECONDS = {"1m": 60, "1h": 3600, "1d": 86400}
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def now() -> int:
    """The clock the API's data is judged by: the wall clock, unless OPENAI_USAGE_NOW pins it (simulators, tests)."""
    pinned = os.environ.get("OPENAI_USAGE_NOW", "").strip()
    return int(pinned) if pinned else int(time.time())


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


def to_unix(value: dt.datetime | dt.date) -> int:
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return int(value.timestamp())


def day_label(t: int) -> str:
    return to_datetime(t).strftime("%Y-%m-%d %H:%M" if t % 86400 else "%Y-%m-%d")


def parse_time(value: str | int | dt.date | dt.datetime, what: str) -> int:
    """A date, a datetime (UTC unless it says otherwise), an ISO 8601 string, YYYY-MM-DD or Unix seconds."""
    if isinstance(value, dt.date):  # datetime included
        return to_unix(value)
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{what}: {value!r} is not a date (use YYYY-MM-DD or an ISO 8601 time)") from None
    return to_unix(parsed)


def parse_duration(text: str | int, what: str = "duration") -> int:
    """'90m', '36h', '3d', '1d12h' (or a number of seconds) -> seconds."""
    if isinstance(text, int):
        return text
    total, pos, value = 0, 0, str(text).strip()
    if value.isdigit():
        return int(value)
    for m in re.finditer(r"(\d+)\s*([smhdw])", value):
        if m.start() != pos:
            break
        total += int(m[1]) * _UNITS[m[2]]
        pos = m.end()
    if pos != len(value) or pos == 0:
        raise ConfigError(f"{what}: not a duration: {text!r} (use forms like 36h, 3d or 1d12h)")
    return total


def human(d: dt.timedelta | int) -> str:
    """A duration as a person reads it: 45s, 12m, 3h05m, 2d4h."""
    s = int(d.total_seconds()) if isinstance(d, dt.timedelta) else int(d)
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    if s < 172800:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600}h"
