"""Parsing the dates and durations people type on the command line."""

from __future__ import annotations

import datetime as dt

from .catalogue import parse_duration
from .errors import ConfigError


def parse_time(text: str, what: str) -> int:
    """YYYY-MM-DD, an ISO 8601 date-time (UTC unless it says otherwise) or Unix seconds."""
    value = text.strip()
    if value.isdigit():
        return int(value)
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{what}: {text!r} is not a date (use YYYY-MM-DD or an ISO 8601 time)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp())


def parse_reread(text: str, option: str = "--reread") -> int:
    try:
        return parse_duration(text)
    except ValueError as e:
        raise ConfigError(f"{option}: {e}") from None
