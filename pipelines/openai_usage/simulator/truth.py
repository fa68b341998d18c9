"""Ground truth: exact answers straight from the generator, with no HTTP, JSON or pagination involved."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..timeutil import WIDTH_SECONDS
from .org import Org
from .server import bucket_edges


def buckets(org: Org, endpoint: str, start: int, end: int | None = None, width: str = "1d",
            group_by: tuple[str, ...] | None = None, now: int | None = None) -> list[dict[str, Any]]:
    """What the API holds for [start, end) at `now`: buckets with their results (grouped by all by default)."""
    now = org.clock.now() if now is None else now
    ep = org.catalogue[endpoint]
    if group_by is None:  # what a load asks for: every dimension the organization's API groups by
        group_by = tuple(d for d in ep.group_by if d not in org.refused_group_by(ep))
    stop = end if end is not None else now
    return [{"start_time": a, "end_time": b, "results": org.results(endpoint, a, b, group_by, None, now)}
            for a, b in bucket_edges(start, stop, WIDTH_SECONDS[width])]


def totals(org: Org, endpoint: str, start: int, end: int | None = None, width: str = "1d",
           by: tuple[str, ...] = (), now: int | None = None) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Metric sums keyed by (bucket start, *by dimensions), e.g. by=("project_id",). Money as Decimal."""
    ep = org.catalogue[endpoint]
    out: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    for b in buckets(org, endpoint, start, end, width, tuple(d for d in ep.group_by if d in by), now):
        for r in b["results"]:
            acc = out[(b["start_time"], *(r.get(d) for d in by))]
            for c in ep.metrics:
                v: Any = r
                for k in c.path:
                    v = v.get(k) if isinstance(v, dict) else None
                if isinstance(v, (int, Decimal)) and not isinstance(v, bool):
                    acc[c.name] += v
    return {k: dict(v) for k, v in out.items()}


def grand_total(org: Org, endpoint: str, metric: str, start: int, end: int | None = None, width: str = "1d",
                now: int | None = None) -> int | Decimal:
    return sum((v.get(metric, 0) for v in totals(org, endpoint, start, end, width, (), now).values()), 0)


def directory(org: Org) -> dict[str, list[dict[str, Any]]]:
    """The rows each directory table should hold after a load now, read from the org's entities (no HTTP, no
    API rendering): keyed by table, each row with project_id (per-project lists) and the contract columns."""
    people = {u["id"]: u for u in org.users} | {s["id"]: s for s in org.service_accounts}
    projects = [{"id": p["id"], "name": p["name"], "status": "archived" if p["archived"] else "active",
                 "created_at": p["created_at"], "archived_at": p["archived_at"]} for p in org.projects]
    users = [{"id": u["id"], "name": u["name"], "email": u["email"], "role": u["role"], "added_at": u["added_at"]}
             for u in org.users if not u["removed"]]
    accounts = [{"project_id": s["project_id"], "id": s["id"], "name": s["name"], "role": s["role"],
                 "created_at": s["created_at"]} for s in org.service_accounts]
    keys = []
    for k in org.api_keys:
        if k["deleted"]:
            continue
        owner = people[k["owner"]["id"]]
        keys.append({"project_id": k["project_id"], "id": k["id"], "name": k["name"],
                     "redacted_value": k["redacted_value"], "created_at": k["created_at"],
                     "last_used_at": k["last_used_at"], "owner_type": k["owner"]["type"], "owner_id": owner["id"],
                     "owner_name": owner["name"], "owner_email": owner.get("email")})
    limits = [_limit_row(org, None)] + [_limit_row(org, p["id"]) for p in org.projects]
    alerts = [_alert_row(a, None) for a in org.spend_alerts(None)]
    alerts += [_alert_row(a, p["id"]) for p in org.projects for a in org.spend_alerts(p["id"])]
    return {"projects": projects, "users": users, "project_service_accounts": accounts, "project_api_keys": keys,
            "spend_limit": [r for r in limits if r["project_id"] is None],
            "project_spend_limits": [r for r in limits if r["project_id"] is not None],
            "spend_alerts": [r for r in alerts if r["project_id"] is None],
            "project_spend_alerts": [r for r in alerts if r["project_id"] is not None]}


def _limit_row(org: Org, project_id: str | None) -> dict[str, Any]:
    rule = org._spend_rules()[project_id]
    return {"project_id": project_id, "threshold_amount": int(rule["limit"]), "currency": "USD", "interval": "month",
            "enforcement_status": "inactive"}


def _alert_row(alert: dict[str, Any], project_id: str | None) -> dict[str, Any]:
    return {"project_id": project_id, "id": alert["id"], "threshold_amount": alert["threshold_amount"],
            "currency": "USD", "interval": "month", "notification_type": "email",
            "recipients": json.dumps(alert["notification_channel"]["recipients"], separators=(",", ":"))}


def spend_thresholds(org: Org) -> dict[str | None, dict[str, Any]]:
    """Per scope (None: the organization): the hard limit in dollars (None when none is set) and the alerts' dollar
    thresholds by alert id, straight from the generator's rules."""
    out = {}
    for scope, rule in org._spend_rules().items():
        limit = Decimal(int(rule["limit"])) / 100
        out[scope] = {"limit": limit or None,
                      "alerts": {aid: Decimal(int(a)) / 100 for aid, a in zip(rule["alert_ids"], rule["alerts"],
                                                                             strict=True)}}
    return out


def known_ids(org: Org) -> dict[str, set[str]]:
    """Every project, user (or service account) and API key the generator ever made, listed or not."""
    return {"project": {p["id"] for p in org.projects},
            "user": {u["id"] for u in org.users} | {s["id"] for s in org.service_accounts},
            "api_key": {k["id"] for k in org.api_keys}}


def write_file(org: Org, path: Path) -> int:
    """The exact daily totals of every endpoint as JSON (for `openai-usage sandbox --truth`); returns how many
    endpoints were written."""
    doc: dict[str, Any] = {"seed": org.seed, "now": org.clock.now(), "start": org.start, "endpoints": {}}
    for name in org.catalogue:
        rows = totals(org, name, org.start, None, "1d", ())
        doc["endpoints"][name] = [{"start_time": k[0], **{m: str(v) if not isinstance(v, int) else v
                                                          for m, v in vals.items()}}
                                  for k, vals in sorted(rows.items())]
    path.write_text(json.dumps(doc, indent=1))
    return len(doc["endpoints"])
