"""Opt-in, countable, reproducible faults for the simulator.

A rule is written `KIND[:every=N|p=P][,burst=B][,after=A][,times=T][,only=ENDPOINT][,page=N][,window=START]
[,size=N]`, e.g. `429:every=5`, `500:p=0.1,burst=3`, `unknown_object:page=2,only=completions`. Rules without a
schedule fire on every request they apply to.

Where a fault lands is addressable, so tests can put any of them on any page, window and endpoint:
- `only=ENDPOINT` (an endpoint or directory list name) restricts the rule to that endpoint;
- `page=N` to the N-th page of a query (1 is the request without a cursor, 2 the one after the first cursor);
- `window=START` to queries whose `start_time` is START (Unix seconds or YYYY-MM-DD, UTC), i.e. one window.
`size=N` sets how many buckets a `short` page holds (default 1); where several `short` rules hit one request, the
first of them in the plan decides (so `short:size=48,window=START` before `short:size=12` answers one window's first
query with 48 buckets a page and every other query with 12).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field

KINDS = {
    "429": "rate limited, with Retry-After",
    "429_no_retry_after": "rate limited, without Retry-After",
    "500": "internal server error",
    "502": "bad gateway",
    "503": "service unavailable",
    "slow": "answer only after the client's timeout",
    "drop": "close the connection in the middle of the body",
    "truncate": "200 with the JSON body cut short",
    "malformed": "200 with a body that is not JSON",
    "bad_cursor": "hand out a next_page cursor the server will refuse",
    "costs_quirk": "costs: has_more with a cursor on empty pages past the data, then 400 on it",
    "legacy_result": "buckets carry `result` instead of `results`",
    "extra_fields": "unknown extra fields on buckets and results",
    "unknown_object": "an extra result of an unknown object kind in every non-empty bucket",
    "short": "a page with fewer buckets than `limit` (size=N, default 1), has_more and a cursor to the rest",
}


class FaultSpecError(ValueError):
    pass


@dataclass
class Rule:
    kind: str
    every: int | None = None
    p: float | None = None
    burst: int = 1
    after: int = 0
    times: int | None = None
    only: str | None = None
    page: int | None = None
    window: int | None = None
    size: int = 1
    seen: int = 0
    fired: int = 0
    burst_left: int = 0

    @classmethod
    def parse(cls, text: str) -> Rule:
        kind, _, opts = text.strip().partition(":")
        if kind not in KINDS:
            raise FaultSpecError(f"unknown fault {kind!r}; known: {', '.join(KINDS)}")
        rule = cls(kind)
        for opt in filter(None, opts.split(",")):
            key, _, value = opt.partition("=")
            try:
                if key in ("every", "burst", "after", "times", "page", "size"):
                    setattr(rule, key, int(value))
                    if int(value) < (0 if key == "after" else 1):
                        raise ValueError
                elif key == "window":
                    rule.window = _unix(value)
                elif key == "p":
                    rule.p = float(value)
                    if not 0.0 <= rule.p <= 1.0:
                        raise ValueError
                elif key == "only":
                    rule.only = value
                else:
                    raise FaultSpecError(f"unknown fault option {key!r} in {text!r}")
            except ValueError:
                raise FaultSpecError(f"bad value for {key!r} in fault {text!r}") from None
        return rule


@dataclass
class FaultPlan:
    rules: list[Rule] = field(default_factory=list)
    seed: int = 0
    counts: Counter = field(default_factory=Counter)

    def size(self, kind: str, hits: set[str] | None = None) -> int:
        """The `size` of the first rule of this kind that hit the request (`hits`, as `draw` returned it), else of
        the first rule of this kind (how many buckets a short page holds)."""
        sizes = getattr(hits, "sizes", {})
        return sizes[kind] if kind in sizes else next((r.size for r in self.rules if r.kind == kind), 1)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    @classmethod
    def parse(cls, specs: list[str] | tuple[str, ...], seed: int = 0) -> FaultPlan:
        return cls([Rule.parse(s) for s in specs], seed)

    def draw(self, endpoint: str, targeted_only: bool = False, page: int | None = None,
             window: int | None = None) -> set[str]:
        """The faults that hit this request (each rule's schedule advances only on requests it applies to).

        `page` (1 = no cursor) and `window` (the query's start_time) say where the request stands, for rules
        that target them. With `targeted_only`, only rules naming this endpoint with `only=` apply (directory
        lists: the usage fault schedules stay exactly as they were)."""
        hits = Hits()
        with self._lock:
            for r in self.rules:
                if (r.only and r.only != endpoint) or (targeted_only and not r.only):
                    continue
                if (r.page is not None and r.page != page) or (r.window is not None and r.window != window):
                    continue
                r.seen += 1
                if r.times is not None and r.fired >= r.times and r.burst_left == 0:
                    continue
                fire = r.burst_left > 0
                if fire:
                    r.burst_left -= 1
                elif r.seen > r.after:
                    n = r.seen - r.after
                    if r.every is not None:
                        fire = n % r.every == 0
                    elif r.p is not None:
                        fire = self._rng.random() < r.p
                    else:
                        fire = True
                    if fire:
                        r.fired += 1
                        r.burst_left = r.burst - 1
                if fire:
                    hits.add(r.kind)
                    hits.sizes.setdefault(r.kind, r.size)
                    self.counts[r.kind] += 1
        return hits


class Hits(set):
    """The faults that hit one request, and the `size` of the first rule of each kind that hit it."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: dict[str, int] = {}


def _unix(text: str) -> int:
    if text.isdigit():
        return int(text)
    import datetime as dt

    try:
        return int(dt.datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=dt.UTC).timestamp())
    except ValueError:
        raise ValueError(text) from None
