"""A deterministic synthetic organization: who uses what, and exactly how much, minute by minute.

Usage is made of *streams* (one API key using one model with one set of options). Each stream has
an hourly value per metric, drawn from a counter-based hash so any cell can be computed on its own,
in any order, vectorised over streams. Minutes split an hour's value exactly, so every bucket width
adds up to the same totals. Costs are priced from the same cells.

Visibility follows a controllable clock: a minute counts once it has ended; for `restate` seconds
after that it reports 90% of its final value (late-arriving usage), then its final value.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from .. import catalogue
from ..catalogue import Endpoint

HOUR, DAY = 3600, 86400
PRICE_SCALE = 10**10  # money is kept as integers of 1e-10 dollars: exact, and fast in numpy

_M1, _M2, _M3 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a good 64-bit hash, vectorised."""
    with np.errstate(over="ignore"):
        x = (x + _M1).astype(np.uint64)
        x = (x ^ (x >> np.uint64(30))) * _M2
        x = (x ^ (x >> np.uint64(27))) * _M3
        return x ^ (x >> np.uint64(31))


def uniform(*keys: Any) -> np.ndarray:
    """Uniform [0, 1) from integer keys (scalars or broadcastable arrays)."""
    h = np.uint64(0x243F6A8885A308D3)
    with np.errstate(over="ignore"):
        for k in keys:
            h = _mix(np.asarray(k).astype(np.uint64) ^ h)
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


class Clock:
    """'now' for the simulator: fixed for tests, or the wall clock."""

    def __init__(self, now: int | None = None) -> None:
        self.fixed = now

    def now(self) -> int:
        return int(self.fixed if self.fixed is not None else time.time())

    def set(self, now: int) -> None:
        self.fixed = int(now)

    def advance(self, seconds: int) -> None:
        self.fixed = self.now() + int(seconds)


@dataclass
class Streams:
    """One endpoint's streams: dimension codes (-1 = null) and per-stream shape."""

    endpoint: Endpoint
    salt: int
    codes: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]  # code -> value, per dimension
    weight: np.ndarray
    activity: np.ndarray
    audio: np.ndarray  # streams whose model has audio meters

    @property
    def size(self) -> int:
        return len(self.weight)


def _ident(rng: np.random.Generator, prefix: str, n: int, length: int) -> list[str]:
    alphabet = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
    return [prefix + "".join(rng.choice(alphabet, length)) for _ in range(n)]


_FIRST = ["ada", "grace", "alan", "edsger", "barbara", "donald", "margaret", "ken", "frances", "john", "radia",
          "tim", "sophie", "linus", "hedy", "claude", "katherine", "dennis", "lynn", "niklaus"]
_LAST = ["lovelace", "hopper", "turing", "dijkstra", "liskov", "knuth", "hamilton", "thompson", "allen", "backus",
         "perlman", "lee", "wilson", "torvalds", "lamarr", "shannon", "johnson", "ritchie", "conway", "wirth"]
_PROJECTS = ["Default Project", "Support Copilot", "Search Relevance", "Data Labelling", "Sales Assistant",
             "Internal Tools", "Voice Agent", "Docs QA", "Fraud Review", "Marketing Studio", "Research Sandbox",
             "Billing Bot"]


class Org:
    """A synthetic organization: entities from a seed, usage from a hash of (seed, stream, time)."""

    def __init__(self, seed: int = 7, days: int = 90, now: int | None = None, scale: float = 1.0,
                 quiet: tuple[tuple[int, int], ...] = (), costs_by_key: bool = False) -> None:
        self.seed = int(seed)
        # Costs grouped by api_key_id: the spec offers it, the live API answered 400 in 2026-07; both can be served.
        self.costs_by_key = costs_by_key
        self.restated: list[tuple[str, int, int, float, dict[str, Any]]] = []  # see `restate`
        self.clock = Clock(now)
        self.scale = float(scale)
        self.start = (self.clock.now() // DAY - int(days)) * DAY  # first day with usage (UTC midnight)
        self.quiet = tuple(quiet)  # [start, end) periods with no usage at all
        self.revision = 0  # bumped by every change to history, so caches of closed buckets stay honest
        self.catalogue = catalogue.endpoints()
        rng = np.random.default_rng(self.seed)
        n_proj = min(len(_PROJECTS), 5 + int(2 * np.sqrt(self.scale)))
        n_users = int(12 * max(1.0, np.sqrt(self.scale) * 4))
        self.projects = [
            {"id": pid, "name": _PROJECTS[i], "archived": i == n_proj - 1 and n_proj > 5}
            for i, pid in enumerate(_ident(rng, "proj_", n_proj, 24))
        ]
        self.users = []
        for i, uid in enumerate(_ident(rng, "user-", n_users, 24)):
            first, last = _FIRST[i % len(_FIRST)], _LAST[(i * 7 + i // len(_FIRST)) % len(_LAST)]
            suffix = "" if i < len(_FIRST) else str(i // len(_FIRST))
            self.users.append({"id": uid, "name": f"{first.title()} {last.title()}",
                               "email": f"{first}.{last}{suffix}@example.com"})
        self.service_accounts: list[dict[str, Any]] = []
        self.api_keys: list[dict[str, Any]] = []
        keys_per_project = max(2, int(3 * self.scale**0.5 * 2))
        for p in self.projects:
            for j in range(rng.integers(1, 3)):
                sa_id = _ident(rng, "user-", 1, 24)[0]
                self.service_accounts.append({"id": sa_id, "name": f"{p['name'].lower().replace(' ', '-')}-bot-{j}",
                                              "project_id": p["id"]})
            sas = [s for s in self.service_accounts if s["project_id"] == p["id"]]
            for k in range(keys_per_project):
                kid = _ident(rng, "key_", 1, 16)[0]
                if rng.random() < 0.25:
                    owner = {"type": "service_account", "id": sas[k % len(sas)]["id"]}
                else:
                    owner = {"type": "user", "id": self.users[int(rng.integers(len(self.users)))]["id"]}
                self.api_keys.append({"id": kid, "name": f"{p['name'].split()[0].lower()}-key-{k}",
                                      "project_id": p["id"], "owner": owner})
        self.vector_store_ids = _ident(rng, "vs_", max(3, n_proj), 24)
        self.streams = {name: self._make_streams(i, ep, rng) for i, (name, ep) in enumerate(self.catalogue.items())
                        if ep.kind == "usage"}
        self._directory_details()

    # ---------------------------------------------------------------- entities and streams
    def _make_streams(self, salt: int, ep: Endpoint, rng: np.random.Generator) -> Streams:
        sim = ep.sim
        n = max(1, round(sim.get("streams", 10) * self.scale))
        models = list(sim.get("models", {}) or [None])
        values = sim.get("values", {})
        keys = self.api_keys
        key_idx = rng.integers(len(keys), size=n)
        codes: dict[str, np.ndarray] = {}
        labels: dict[str, np.ndarray] = {}

        def put(dim: str, vals: list[Any], idx: np.ndarray) -> None:
            uniq = sorted({v for v in vals if v is not None}, key=str)
            pos = {v: i for i, v in enumerate(uniq)}
            labels[dim] = np.array(uniq, dtype=object)
            codes[dim] = np.array([pos[vals[i]] if vals[i] is not None else -1 for i in idx], dtype=np.int64)

        pids = [k["project_id"] for k in keys]
        users = [k["owner"]["id"] if k["owner"]["type"] == "user" else None for k in keys]
        kids = [k["id"] for k in keys]
        model_idx = rng.integers(len(models), size=n)
        for dim in ep.group_by:
            if dim == "project_id":
                if ep.group_by == ("project_id",):  # project-level meters: spread over all projects
                    put(dim, [p["id"] for p in self.projects], np.arange(n) % len(self.projects))
                else:
                    put(dim, pids, key_idx)
            elif dim == "user_id":
                put(dim, users, key_idx)
            elif dim == "api_key_id":
                put(dim, kids, key_idx)
            elif dim == "model":
                put(dim, models, model_idx)
            elif dim == "vector_store_id":
                put(dim, self.vector_store_ids, rng.integers(len(self.vector_store_ids), size=n))
            else:
                choices = values.get(dim, [None])
                put(dim, choices, rng.integers(len(choices), size=n))
        audio_models = {m for m, spec in (sim.get("models") or {}).items() if (spec or {}).get("audio")}
        audio = np.array([models[i] in audio_models for i in model_idx], dtype=bool)
        weight = rng.lognormal(0.0, 1.0, size=n)
        weight = weight / weight.mean()
        activity = rng.uniform(0.35, 1.0, size=n)
        return Streams(ep, salt, codes, labels, weight, activity, audio)

    def _directory_details(self) -> None:
        """What the Admin API's directory says about each entity, from its own generator so usage is unchanged.

        Some IDs in usage are deliberately missing from the directory, as in real organizations:
        every sixth API key was deleted, and one user who owns a key has left the organization.
        """
        rng = np.random.default_rng(self.seed + 1)
        day = lambda lo, hi: int(self.start - DAY * rng.integers(lo, hi) - rng.integers(DAY))  # noqa: E731
        for i, p in enumerate(self.projects):
            p["created_at"] = day(30, 400) if i else day(400, 800)  # the default project came first
            p["archived_at"] = day(0, 20) + 20 * DAY if p["archived"] else None
        for i, u in enumerate(self.users):
            u["role"] = "owner" if i == 0 else ("reader" if i % 3 else "owner")
            u["added_at"] = day(10, 300)
            u["removed"] = False
        for s in self.service_accounts:
            s["role"] = "member"
            s["created_at"] = day(5, 200)
        # The owner of the first user-owned key has left: their usage stays, their directory entry is gone.
        leaver = next(k["owner"]["id"] for k in self.api_keys if k["owner"]["type"] == "user")
        next(u for u in self.users if u["id"] == leaver)["removed"] = True
        for i, k in enumerate(self.api_keys):
            k["created_at"] = day(1, 120)
            k["last_used_at"] = int(self.clock.now() - rng.integers(60, 3 * DAY))
            k["redacted_value"] = "sk-proj-****" + "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz0123456789"), 4))
            k["deleted"] = i % 6 == 5

    # ---------------------------------------------------------------- spend limits and alerts
    def _spend_rules(self) -> dict[str | None, dict[str, Any]]:
        """Hard limits and alerts per scope (None: the organization), in cents, sized from a typical day's cost so
        some are crossed within a month and some are not. Computed once, from the seed alone."""
        if getattr(self, "_spend", None) is None:
            day = self.start + min(7, max(0, (self.clock.now() - self.start) // DAY - 1)) * DAY
            daily = sum(r["amount"]["value"] for r in self.cost_results(day, day + DAY, (), None, day + 10 * DAY))
            month = int(daily * 30 * 100)  # cents
            rng = np.random.default_rng(self.seed + 2)
            rules: dict[str | None, dict[str, Any]] = {
                None: {"limit": round(month * 1.04, -4), "alerts": [round(month * 0.5, -2), round(month * 0.9, -2)]}}
            for i, p in enumerate(self.projects):
                share = (0.25, 0.0, 0.03)[i % 3]  # a generous limit, no limit (threshold 0), a tight one
                rules[p["id"]] = {"limit": round(month * share, -2),
                                  "alerts": [round(month * share * 0.8, -2)] if share else []}
            for rule in rules.values():
                rule["alert_ids"] = _ident(rng, "alert_", len(rule["alerts"]), 20)
            self._spend = rules
        return self._spend

    def spend_limit(self, project_id: str | None = None) -> dict[str, Any]:
        """The hard spend limit of the organization or a project, as the API answers it (threshold 0: none set)."""
        rule = self._spend_rules()[project_id]
        return {"object": "project.spend_limit" if project_id else "organization.spend_limit",
                "threshold_amount": int(rule["limit"]), "currency": "USD", "interval": "month",
                "enforcement": {"status": "inactive"}}

    def spend_alerts(self, project_id: str | None = None) -> list[dict[str, Any]]:
        rule = self._spend_rules()[project_id]
        return [{"id": aid, "object": "project.spend_alert" if project_id else "organization.spend_alert",
                 "threshold_amount": int(amount), "currency": "USD", "interval": "month",
                 "notification_channel": {"type": "email", "recipients": [self.users[0]["email"]],
                                          "subject_prefix": None}}
                for aid, amount in zip(rule["alert_ids"], rule["alerts"], strict=True)]

    def directory(self, name: str, project_id: str | None = None) -> list[dict[str, Any]] | dict[str, Any] | None:
        """The items one directory list returns now, in the API's current shape (one object for a spend limit);
        None for an unknown project."""
        people = {u["id"]: u for u in self.users} | {s["id"]: s for s in self.service_accounts}
        if project_id is not None and project_id not in {p["id"] for p in self.projects}:
            return None
        if name in ("spend_limit", "project_spend_limits"):
            return self.spend_limit(project_id)
        if name in ("spend_alerts", "project_spend_alerts"):
            return self.spend_alerts(project_id)
        if name == "projects":
            return [{"id": p["id"], "object": "organization.project", "name": p["name"],
                     "created_at": p["created_at"], "archived_at": p["archived_at"],
                     "status": "archived" if p["archived"] else "active"} for p in self.projects]
        if name == "users":
            return [{"object": "organization.user", "id": u["id"], "name": u["name"], "email": u["email"],
                     "role": u["role"], "added_at": u["added_at"]} for u in self.users if not u["removed"]]
        if name == "project_service_accounts":
            return [{"object": "organization.project.service_account", "id": s["id"], "name": s["name"],
                     "role": s["role"], "created_at": s["created_at"]}
                    for s in self.service_accounts if s["project_id"] == project_id]
        if name == "project_api_keys":
            out = []
            for k in self.api_keys:
                if k["project_id"] != project_id or k["deleted"]:
                    continue
                who = people[k["owner"]["id"]]
                kind = k["owner"]["type"]
                owner: dict[str, Any] = {"type": kind, kind: {
                    "id": who["id"], "name": who["name"], "created_at": who.get("added_at", who.get("created_at")),
                    "role": who["role"], **({"email": who["email"]} if kind == "user" else {})}}
                out.append({"object": "organization.project.api_key", "redacted_value": k["redacted_value"],
                            "name": k["name"], "created_at": k["created_at"], "last_used_at": k["last_used_at"],
                            "id": k["id"], "owner": owner})
            return out
        raise KeyError(name)

    def rename_project(self, project_id: str, name: str) -> None:
        next(p for p in self.projects if p["id"] == project_id)["name"] = name

    # ---------------------------------------------------------------- rewriting history (tests, demos)
    def silence(self, start: int, end: int) -> None:
        """From now on the API says nothing happened in [start, end)."""
        self.quiet = (*self.quiet, (start, end))
        self.revision += 1

    def refused_group_by(self, ep: Endpoint) -> set[str]:
        """The dimensions this organization's API refuses to group `ep` by (a 400), though the spec lists them."""
        return set() if self.costs_by_key else set(ep.refusable)

    def restate(self, endpoint: str, start: int, end: int, factor: float, **where: Any) -> None:
        """From now on the API reports `endpoint`'s usage in [start, end) (whole hours) scaled by `factor`, for the
        streams matching `where` (dimension=value): a revision after the fact. Costs priced from it follow."""
        self.restated.append((endpoint, start, end, float(factor), dict(where)))
        self.revision += 1

    def retire(self, endpoint: str, dimension: str, value: Any) -> None:
        """Every stream of `endpoint` with this dimension value never had any usage (a group vanishes)."""
        st = self.streams[endpoint]
        code = list(st.labels[dimension]).index(value)
        st.activity[st.codes[dimension] == code] = 0.0
        self.revision += 1

    # ---------------------------------------------------------------- usage cells
    def _rhythm(self, hours: np.ndarray) -> np.ndarray:
        """Daily and weekly rhythm with steady growth and a few spike days per org."""
        hod = hours % 24
        day = hours // 24
        daily = 0.25 + 0.75 * (0.5 - 0.5 * np.cos(2 * np.pi * (hod - 4) / 24)) ** 1.5
        dow = (day + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
        weekly = np.where(dow >= 5, 0.45, 1.0)
        growth = 1.0 + 0.006 * np.maximum(0, day - self.start // DAY)
        spike = np.where(uniform(self.seed, 99, day) < 0.02, 3.0, 1.0)
        return daily * weekly * growth * spike

    def hourly(self, name: str, hours: np.ndarray) -> dict[str, np.ndarray]:
        """Final values per (hour, stream) for every generated metric: int64 arrays of shape (H, S)."""
        st = self.streams[name]
        ep = st.endpoint
        h = hours[:, None].astype(np.int64)
        s = np.arange(st.size, dtype=np.int64)[None, :]
        live = (h * HOUR >= self.start)
        for q0, q1 in self.quiet:
            live &= ~((h * HOUR >= q0) & (h * HOUR < q1))
        rhythm = self._rhythm(h)
        if "project_id" in st.codes:  # now and then one project has a day far above its norm
            spike = uniform(self.seed, 98, h // 24, st.codes["project_id"][None, :]) < 0.03
            rhythm = rhythm * np.where(spike, 4.0, 1.0)
        active = live & (uniform(self.seed, st.salt, s, h, 1) < np.minimum(1.0, st.activity[None, :] * (0.4 + rhythm)))
        scale = np.ones((h.shape[0], st.size))
        for r_name, r0, r1, factor, where in self.restated:
            if r_name == name:
                streams = np.ones(st.size, bool)
                for dim, value in where.items():
                    streams &= np.array([_decode(st, dim, c) == value for c in st.codes[dim]], dtype=bool)
                scale = np.where((h * HOUR >= r0) & (h * HOUR < r1) & streams[None, :], scale * factor, scale)
        out: dict[str, np.ndarray] = {}
        for k, col in enumerate(ep.metrics):
            sim = col.sim
            if not sim:
                continue
            noise = 0.6 + 0.8 * uniform(self.seed, st.salt, s, h, 10 + k)
            if "mean" in sim:
                v = sim["mean"] * st.weight[None, :] * rhythm * noise * scale
            else:
                ratio = np.where(st.audio[None, :], sim.get("audio", sim["ratio"]), sim["ratio"])
                v = out[sim["of"]] * ratio * (0.8 + 0.4 * noise / 1.4)
                if "min" in sim:
                    v = np.maximum(v, sim["min"])
            out[col.name] = np.where(active, np.floor(v), 0).astype(np.int64)
        return out

    def _minutes(self, name: str, hour: int, final: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Split one hour's final values (shape (S,)) exactly into 60 minutes: shape (60, S)."""
        st = self.streams[name]
        s = np.arange(st.size, dtype=np.int64)[None, :]
        m = np.arange(60, dtype=np.int64)[:, None]
        w = 1.0 + uniform(self.seed, st.salt, s, hour, m, 3)
        cum = np.cumsum(w, axis=0) / w.sum(axis=0)
        cum[-1] = 1.0
        out = {}
        for metric, v in final.items():
            edges = np.floor(v[None, :] * cum).astype(np.int64)
            out[metric] = np.diff(np.vstack([np.zeros((1, st.size), np.int64), edges]), axis=0)
        return out

    def stream_totals(self, name: str, start: int, end: int, now: int | None = None) -> dict[str, np.ndarray]:
        """Observed totals per stream over [start, end) as seen at `now`: int64 arrays of shape (S,)."""
        now = self.clock.now() if now is None else now
        st = self.streams[name]
        restate = st.endpoint.restate_seconds
        metrics = [c.name for c in st.endpoint.metrics if c.sim]
        totals = {m: np.zeros(st.size, np.int64) for m in metrics}
        end = min(end, now)
        if end <= start:
            return totals
        hours = np.arange(start // HOUR, -(-end // HOUR), dtype=np.int64)
        whole = (hours * HOUR >= start) & ((hours + 1) * HOUR <= end) & ((hours + 1) * HOUR <= now - restate)
        if whole.any():
            vals = self.hourly(name, hours[whole])
            for m in metrics:
                totals[m] += vals[m].sum(axis=0)
        for hour in hours[~whole]:
            final = {m: v[0] for m, v in self.hourly(name, np.array([hour])).items()}
            mins = self._minutes(name, int(hour), final)
            m_start = hour * HOUR + np.arange(60) * 60
            m_end = m_start + 60
            take = (m_start >= start) & (m_start < end) & (m_end <= now)
            late = (m_end > now - restate)[:, None]
            for m in metrics:
                v = mins[m]
                v = np.where(late, v - v // 10, v)
                totals[m] += v[take].sum(axis=0)
        return totals

    # ---------------------------------------------------------------- results as the API groups them
    def usage_results(self, name: str, start: int, end: int, group_by: tuple[str, ...] = (),
                      filters: dict[str, set[Any]] | None = None, now: int | None = None) -> list[dict[str, Any]]:
        """The results of one bucket: one per combination of grouped dimensions, nulls elsewhere."""
        st = self.streams[name]
        ep = st.endpoint
        totals = self.stream_totals(name, start, end, now)
        mask = np.zeros(st.size, bool)
        for v in totals.values():
            mask |= v > 0
        for dim, allowed in (filters or {}).items():
            vals = np.array([_decode(st, dim, c) for c in st.codes[dim]], dtype=object)
            mask &= np.isin(vals, np.array(list(allowed), dtype=object))
        idx = np.nonzero(mask)[0]
        if idx.size == 0:
            return []
        gdims = [d for d in ep.group_by if d in group_by]
        if gdims:
            keys = np.stack([st.codes[d][idx] for d in gdims], axis=1)
            uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
        else:
            uniq, inverse = np.zeros((1, 0), np.int64), np.zeros(idx.size, np.int64)
        inverse = inverse.ravel()
        order = np.argsort(inverse, kind="stable")
        starts = np.searchsorted(inverse[order], np.arange(len(uniq)))
        sums = {m: np.add.reduceat(v[idx][order], starts) for m, v in totals.items()}
        results = []
        for g in range(len(uniq)):
            r: dict[str, Any] = {"object": ep.object}
            for c in ep.metrics:
                if c.sim:
                    r[c.name] = int(sums[c.name][g])
            for d in ep.group_by:
                r[d] = _decode(st, d, uniq[g][gdims.index(d)]) if d in gdims else None
            results.append(r)
        return results

    def cost_results(self, start: int, end: int, group_by: tuple[str, ...] = (),
                     filters: dict[str, set[Any]] | None = None, now: int | None = None) -> list[dict[str, Any]]:
        """One costs bucket: amounts as exact Decimals, priced per API key from the usage cells of the same window
        (each line item's quantity as the catalogue's `billing` defines it), then summed to the grouping asked."""
        now = self.clock.now() if now is None else now
        cells: dict[tuple[str | None, str | None, str], list[int]] = {}  # (project, key, line item) -> [units, qty]
        units_of: dict[str, str | None] = {}  # line item -> its quantity_unit

        def add(project: str | None, key: str | None, item: str, units: int, qty: int) -> None:
            acc = cells.setdefault((project, key, item), [0, 0])
            acc[0] += units
            acc[1] += qty

        for name, st in self.streams.items():
            bill = st.endpoint.billing
            if bill is None:
                continue
            totals = self.stream_totals(name, start, end, now)
            proj = [_decode(st, "project_id", c) for c in st.codes["project_id"]]
            keys = ([_decode(st, "api_key_id", c) for c in st.codes["api_key_id"]] if "api_key_id" in st.codes
                    else [None] * st.size)
            models = ([_decode(st, "model", c) for c in st.codes["model"]] if "model" in st.codes
                      else [None] * st.size)
            prices = st.endpoint.sim.get("models") or {}
            item_prices = st.endpoint.sim.get("prices") or {}

            def quantity(terms: tuple[tuple[str, int], ...], totals: dict[str, np.ndarray] = totals,
                         size: int = st.size) -> list[int]:
                return sum((sign * totals[m] for m, sign in terms), np.zeros(size, np.int64)).tolist()

            for item, terms in bill.items.items():
                units, units_of[item] = _price_units(item_prices[item], per_million=False), bill.unit
                for s, q in enumerate(quantity(terms)):
                    if q:
                        add(proj[s], keys[s], item, q * units, q)
            for meter, terms in bill.meters.items():
                for s, q in enumerate(quantity(terms)):
                    price = (prices.get(models[s]) or {}).get(meter)
                    if q and price is not None:
                        item = f"{models[s]}, {meter}"
                        units_of[item] = bill.unit
                        add(proj[s], keys[s], item, q * _price_units(price, per_million=True), q)
        for item, daily in (self.catalogue["costs"].sim.get("org_items") or {}).items():
            per_minute = _price_units(daily, per_million=False) // 1440
            minutes = self._billable_minutes(start, min(end, now))
            if minutes:
                add(None, None, item, per_minute * minutes, 0)

        for dim, at in (("project_id", 0), ("api_key_id", 1)):
            if filters and dim in filters:
                cells = {k: v for k, v in cells.items() if k[at] in filters[dim]}
        grouped: dict[tuple[str | None, str | None, str | None], list[int]] = {}
        for (p, k, item), (units, qty) in cells.items():
            key = (p if "project_id" in group_by else None, k if "api_key_id" in group_by else None,
                   item if "line_item" in group_by else None)
            acc = grouped.setdefault(key, [0, 0])
            acc[0] += units
            acc[1] += qty
        out = []
        for (p, k, item), (units, qty) in sorted(grouped.items(), key=lambda kv: tuple(map(str, kv[0]))):
            if units == 0:
                continue
            by_item = "line_item" in group_by and qty
            out.append({
                "object": "organization.costs.result",
                "amount": {"value": Decimal(units).scaleb(-10).normalize(), "currency": "usd"},
                "line_item": item,
                "project_id": p,
                "api_key_id": k,
                "quantity": qty if by_item else None,
                "quantity_unit": units_of.get(item) if by_item else None,
            })
        return out

    def _billable_minutes(self, start: int, end: int) -> int:
        start = max(start, self.start)
        if end <= start:
            return 0
        quiet = sum(max(0, min(end, q1) - max(start, q0)) for q0, q1 in self.quiet)
        return (end - start - quiet) // 60

    def results(self, name: str, start: int, end: int, group_by: tuple[str, ...] = (),
                filters: dict[str, set[Any]] | None = None, now: int | None = None) -> list[dict[str, Any]]:
        if self.catalogue[name].kind == "costs":
            return self.cost_results(start, end, group_by, filters, now)
        return self.usage_results(name, start, end, group_by, filters, now)


def _decode(st: Streams, dim: str, code: int) -> Any:
    if code < 0:
        return None
    return st.labels[dim][code]


def _price_units(dollars: float, per_million: bool) -> int:
    units = Decimal(str(dollars)) * PRICE_SCALE / (10**6 if per_million else 1)
    if units != units.to_integral_value():
        raise ValueError(f"price {dollars} is finer than 1e-10 dollars")
    return int(units)
