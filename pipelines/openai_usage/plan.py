"""Where each endpoint starts and ends in a run: the source's options checked, then stretched so no day is skipped.

The decision needs two facts dlt's incremental cannot know on its own: the stored position of every resource (read
from the source's state) and the buckets the destination already holds (asked of the destination itself, and only
when a range is in question).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from . import catalogue, lake
from .catalogue import DEFAULT_ORGANIZATION, ORGANIZATION, Endpoint
from .errors import ConfigError
from .extract.http import check_base_url
from .timeutil import WIDTH_SECONDS, ceil, day_label, floor, parse_duration, parse_time, to_unix

DEFAULT_START_DAYS = 30
TimeInput = str | int | dt.date | dt.datetime


@dataclass(frozen=True)
class Options:
    """The source's arguments, checked and in the units the pipeline works in (Unix seconds)."""

    endpoints: tuple[str, ...]
    widths: tuple[str, ...]  # every bucket width asked for, in the order given, each once
    start: int | None  # the first bucket at every width not named in `starts`
    end: int | None
    reread: int | None  # seconds; None: each endpoint's own
    group_by: dict[str, tuple[str, ...]]
    concurrency: int
    starts: tuple[tuple[str, int], ...] = ()  # per width, e.g. --start 1d=2025-01-01,1h=2026-10-01

    @classmethod
    def check(cls, *, endpoints: list[str] | None, bucket_width: str | list[str] | tuple[str, ...],
              start: TimeInput | dict[str, TimeInput] | None,
              end: TimeInput | None, reread: str | int | None, group_by: dict[str, Any] | None, concurrency: int,
              base_url: str) -> Options:
        """Bad input is refused here, in one line, before any request is sent."""
        cat = catalogue.endpoints()
        chosen = tuple(endpoints) if endpoints else tuple(cat)
        unknown = [e for e in chosen if e not in cat]
        if unknown:
            raise ConfigError(f"unknown endpoint {unknown[0]!r}; choose from: {', '.join(cat)}")
        widths = parse_widths(bucket_width)
        lo, starts = parse_starts(start, widths)
        hi = parse_time(end, "--end") if end is not None else None
        if hi is not None and any(s is not None and hi <= s for s in (lo, *starts.values())):
            raise ConfigError("--end must be after --start")
        groups: dict[str, tuple[str, ...]] = {}
        for name, dims in (group_by or {}).items():
            if name not in cat:
                raise ConfigError(f"--group-by: unknown endpoint {name!r}")
            dims = (dims,) if isinstance(dims, str) else tuple(dims)
            bad = [d for d in dims if d not in cat[name].group_by]
            if bad:
                raise ConfigError(f"--group-by: {name} cannot be grouped by {bad[0]!r}; "
                                  f"allowed: {', '.join(cat[name].group_by)}")
            groups[name] = dims
        if concurrency < 1:
            raise ConfigError("--concurrency must be at least 1")
        check_base_url(base_url)
        return cls(chosen, widths, lo, hi, parse_duration(reread, "--reread") if reread is not None else None,
                   groups, concurrency, tuple(starts.items()))

    @property
    def dated(self) -> bool:
        """Whether the run was given a start, for any width."""
        return self.start is not None or bool(self.starts)

    def start_for(self, ep: Endpoint, width: str) -> int | None:
        """Where `ep` starts at `width`: the start named for the width it was asked at (costs, read daily whatever
        was asked, take the earliest of those), else the run's start."""
        named = [t for w, t in self.starts if ep.width_for(w) == width]
        return min(named) if named else self.start

    def widths_for(self, ep: Endpoint) -> tuple[str, ...]:
        """The widths this endpoint is read at: each asked-for width it offers, else its own; each once (costs,
        daily only, is read once however many widths are asked for)."""
        return tuple(dict.fromkeys(ep.width_for(w) for w in self.widths))

    def pairs(self) -> list[tuple[Endpoint, str]]:
        """Every (endpoint, width) the run reads: one resource each, with its own incremental position."""
        cat = catalogue.endpoints()
        return [(cat[e], w) for e in self.endpoints for w in self.widths_for(cat[e])]

    def reread_for(self, ep: Endpoint) -> int:
        """Seconds before the stored position that a plain run reads again: the option, else the endpoint's own."""
        return self.reread if self.reread is not None else ep.reread


def parse_starts(value: TimeInput | dict[str, TimeInput] | None,
                 widths: tuple[str, ...]) -> tuple[int | None, dict[str, int]]:
    """A start for every width, and starts for named widths: `2025-01-01`, `1d=2025-01-01,1h=2026-10-01`,
    `2025-01-01,1h=2026-10-01` or {"1d": ..., "1h": ...}. A width named must be one the run reads."""
    if value is None:
        return None, {}
    if isinstance(value, dict):
        items = [(str(w), t) for w, t in value.items()]
    elif isinstance(value, str) and "=" in value:
        items = [(w.strip(), t.strip()) if sep else ("", w.strip())
                 for w, sep, t in (part.partition("=") for part in value.split(",") if part.strip())]
    else:
        return parse_time(value, "--start"), {}
    default: int | None = None
    named: dict[str, int] = {}
    for width, when in items:
        if not width:
            default = parse_time(when, "--start")
        elif width not in widths:
            raise ConfigError(f"--start {width}=...: {width!r} is not a bucket width this run reads "
                              f"(--bucket-width {','.join(widths)})")
        else:
            named[width] = parse_time(when, f"--start {width}")
    return default, named


def parse_widths(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """'1d', '1d,1h' or a list of widths -> the widths, in the order given, each once; anything else is refused in
    one line."""
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    widths = tuple(dict.fromkeys(w.strip() for w in items if w.strip()))
    if not widths:
        raise ConfigError("--bucket-width: no width given; use 1d, 1h or 1m, or several as 1d,1h")
    bad = [w for w in widths if w not in WIDTH_SECONDS]
    if bad:
        raise ConfigError(f"unknown bucket width {bad[0]!r}; use 1d, 1h or 1m, or several as 1d,1h")
    return widths


@dataclass(frozen=True)
class EndpointPlan:
    """What one endpoint reads in a run. `initial` is where a resource with no stored position starts; `end`
    makes the run a backfill of exactly [initial, end) that leaves the position alone."""

    name: str
    width: str
    initial: int
    end: int | None = None
    organization: str = DEFAULT_ORGANIZATION
    resumed: bool = False  # re-reads what a run that failed part way may have left behind (see `resume_from`)


def resource_name(ep: Endpoint, width: str, organization: str = DEFAULT_ORGANIZATION) -> str:
    """Each width of each organization keeps its own incremental position; all share the endpoint's table. The
    default organization keeps the names single-organization warehouses have always had."""
    name = ep.table if width == "1d" else f"{ep.table}_{width}"
    return name if organization == DEFAULT_ORGANIZATION else f"{name}__{organization}"


def positions(source_state: dict[str, Any]) -> dict[str, Any]:
    """The stored incremental position of each resource, from the source's state."""
    resources = source_state.get("resources") or {}
    return {name: (r.get("incremental") or {}).get("start_time", {}).get("last_value")
            for name, r in resources.items()}


def resume_points(source_state: dict[str, Any]) -> dict[str, int]:
    """Where a resource must read again from, per resource: set when an organization's run failed part way. Its
    windows finish out of order, so the position may have moved past buckets that never arrived; the next run
    re-reads from where the failed one began (a backfill up to now) and then clears it."""
    resources = source_state.get("resources") or {}
    return {name: int(r["resume_from"]) for name, r in resources.items() if r.get("resume_from") is not None}


def pipeline_positions(pipeline: Any, source_name: str = "openai_usage") -> dict[str, Any]:
    """The stored positions in a pipeline's state (what `positions` reads from inside the source)."""
    return positions(pipeline.state.get("sources", {}).get(source_name, {}))


def settled(opts: Options, held_positions: dict[str, Any], organization: str = DEFAULT_ORGANIZATION,
            resumes: dict[str, int] | None = None) -> bool:
    """A plain run whose endpoints all have a position: the positions alone decide, nothing else is asked."""
    names = [resource_name(ep, width, organization) for ep, width in opts.pairs()]
    return not opts.dated and all(held_positions.get(n) is not None and n not in (resumes or {}) for n in names)


def dataset_tables(client: Any) -> set[str]:
    """The tables (lower case) of a dlt SQL client's dataset; none when the dataset is not there yet."""
    if not client.has_dataset():
        return set()
    return {str(r[0]).lower() for r in client.execute_sql(
        "select table_name from information_schema.tables where lower(table_schema) = "
        f"'{client.dataset_name.lower()}'") or []}


def held_buckets(pipeline: Any, tables: list[str]) -> dict[tuple[str, str, str], tuple[int, int]]:
    """The buckets each table holds in the pipeline's destination, per organization and width: (organization,
    table, width) -> (oldest, newest) bucket start. Buckets re-read and found empty count: the destination knows
    nothing happened there."""
    out: dict[tuple[str, str, str], tuple[int, int]] = {}
    with lake.sql_client(pipeline) as client:
        existing = dataset_tables(client)
        for table in tables:
            if table.lower() not in existing:
                continue
            for org, width, oldest, newest in client.execute_sql(
                    f"select {ORGANIZATION}, bucket_width, min(start_time), max(start_time) from "
                    f"{client.make_qualified_table_name(table)} group by {ORGANIZATION}, bucket_width") or []:
                out[(str(org), table, str(width))] = (to_unix(oldest), to_unix(newest))
    return out


def plan_endpoints(opts: Options, now: int, stored: dict[str, Any],
                   held: dict[tuple[str, str, str], tuple[int, int]], organization: str = DEFAULT_ORGANIZATION,
                   resumes: dict[str, int] | None = None) -> tuple[list[EndpointPlan], list[str]]:
    """Where each endpoint starts and ends this run, at each of its widths, and notes for the summary.

    - A plain run continues from the stored position; with none yet, from the newest bucket the destination holds
      (say after a dated first load), else from 30 days ago.
    - `start` on an endpoint that has a position, or any `end`, is a backfill: exact range, position untouched.
    - Whatever the dates, a run never leaves a gap between the oldest and the newest bucket the destination holds:
      a range that would is stretched to meet the held buckets, and the summary says so.
    - A plain run after a run that failed part way re-reads from where that one began (see `resume_points`).
    Each organization is planned on its own: its positions, and the buckets it holds; each width of an endpoint on
    its own too (its own position, the buckets held at that width).
    """
    resumes = resumes or {}
    who = "" if organization == DEFAULT_ORGANIZATION else f" [{organization}]"
    default_start = floor(now, "1d") - DEFAULT_START_DAYS * 86400
    plans, notes = [], []
    for ep, width in opts.pairs():
        name = ep.name
        oldest, newest = held.get((organization, ep.table, width), (None, None))
        first = opts.start_for(ep, width)
        start = floor(first, width) if first is not None else None
        rname = resource_name(ep, width, organization)
        has_position = stored.get(rname) is not None
        end = ceil(opts.end, width) if opts.end is not None else None
        if start is None and end is None and has_position and rname in resumes:
            start, end = floor(resumes[rname], width), ceil(now + 1, width)
            notes.append(f"{ep.table} ({width}){who}: the last run failed part way; reading again from "
                         f"{day_label(start)}")
            plans.append(EndpointPlan(name, width, start, end, organization, resumed=True))
            continue
        if end is None and start is not None and has_position:
            end = ceil(now + 1, width)  # an older start on a loaded endpoint: backfill up to now
        if start is None and has_position:
            # The position decides; `initial` only bounds how far back dlt lets the re-read window reach. At the
            # epoch it never bounds it, so a warehouse left alone for longer than the first range has no gap.
            start = 0
        elif start is None:
            start = newest if newest is not None else default_start
            if newest is not None and newest < default_start:
                notes.append(f"{ep.table} ({width}){who}: no position yet, continuing from the newest bucket held "
                             f"({day_label(newest)}) so no day is skipped")
        elif newest is not None and start > newest:
            notes.append(f"{ep.table} ({width}){who}: start moved from {day_label(start)} to {day_label(newest)}, the "
                         "newest bucket held, so no day is skipped")
            start = newest
        if end is not None and oldest is not None and end < oldest:
            notes.append(f"{ep.table} ({width}){who}: end moved from {day_label(end)} to {day_label(oldest)}, the "
                         "oldest bucket held, so no day is skipped")
            end = oldest
        plans.append(EndpointPlan(name, width, start, end, organization))
    return plans, notes
