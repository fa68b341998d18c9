"""Opt-in, countable, reproducible faults for the simulator.

A rule is written `KIND[:every=N|p=P][,burst=B][,after=A][,times=T][,only=ENDPOINT]`, e.g. `429:every=5`,
`500:p=0.1,burst=3`, `costs_quirk`. Rules without a schedule fire on every request they apply to.
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
}
# Faults that change the page's content rather than replace the response.
CONTENT_KINDS = {"bad_cursor", "costs_quirk", "legacy_result", "extra_fields", "unknown_object"}


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
                if key in ("every", "burst", "after", "times"):
                    setattr(rule, key, int(value))
                    if int(value) < (0 if key == "after" else 1):
                        raise ValueError
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

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    @classmethod
    def parse(cls, specs: list[str] | tuple[str, ...], seed: int = 0) -> FaultPlan:
        return cls([Rule.parse(s) for s in specs], seed)

    def draw(self, endpoint: str, targeted_only: bool = False) -> set[str]:
        """The faults that hit this request (each rule's schedule advances only on requests it applies to).

        With `targeted_only`, only rules naming this endpoint with `only=` apply (directory lists: the
        usage fault schedules stay exactly as they were)."""
        hits: set[str] = set()
        with self._lock:
            for r in self.rules:
                if (r.only and r.only != endpoint) or (targeted_only and not r.only):
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
                    self.counts[r.kind] += 1
        return hits
