"""Writes `sql/staging/20_stg_usage.sql`, `21_stg_usage_ids.sql` and `sql/intermediate/30_int_billable_usage.sql`
from the catalogue, so a new endpoint or metric
reaches the views without hand edits. `make sql` runs it; a test fails if the committed file is stale."""

from __future__ import annotations

import sys

from .. import catalogue
from .views import SQL_DIR

LONG_DIMENSIONS = ("project_id", "user_id", "api_key_id", "model", "batch")
TYPES = {"batch": "boolean"}
TARGET = SQL_DIR / "staging" / "20_stg_usage.sql"
IDS_TARGET = SQL_DIR / "staging" / "21_stg_usage_ids.sql"
ID_DIMENSIONS = ("project_id", "user_id", "api_key_id")


def stg_usage_sql() -> str:
    branches = []
    for name, ep in catalogue.endpoints().items():
        if ep.kind != "usage":
            continue
        dims = {c.name for c in ep.dimensions}
        cols = [f"t.{d}" if d in dims else f"cast(null as {TYPES.get(d, 'varchar')}) as {d}" for d in LONG_DIMENSIONS]
        values = ",\n            ".join(f"('{m.name}', t.{m.name})" for m in ep.metrics)
        branches.append(
            f"    select t.organization, '{name}' as kind, t.bucket_width, t.start_time, t.end_time, "
            f"{', '.join(cols)},\n"
            f"           m.metric, m.value\n"
            f"    from openai_usage.{ep.table} as t\n"
            f"    cross join lateral (values\n            {values}\n    ) as m(metric, value)")
    union = "\n    union all\n".join(branches)
    return f"""-- Generated from schemas/catalogue.yaml by `make sql`: do not edit by hand.
-- Every usage endpoint in one long table, one row per organization, bucket, dimension set and metric.
-- One grain per organization, kind and UTC day: where several bucket widths are loaded for a day, the coarsest wins,
-- so loading 1d and 1h side by side never double counts (and one organization's widths never decide another's).
create or replace view staging.stg_usage as
with unioned as (
{union}
),
graded as (
    select *,
           cast(floor(epoch(start_time) / 86400) as integer) as day_number,
           case bucket_width when '1d' then 1 when '1h' then 2 else 3 end as grain
    from unioned
),
chosen as (
    select *, min(grain) over (partition by organization, kind, day_number) as best_grain
    from graded
)
select organization,
       kind,
       date '1970-01-01' + day_number as day,
       start_time,
       end_time,
       bucket_width,
       {', '.join(LONG_DIMENSIONS)},
       metric,
       value
from chosen
where grain = best_grain and value is not null;
"""


def stg_usage_ids_sql() -> str:
    branches = []
    for ep in catalogue.endpoints().values():
        if ep.kind != "usage":
            continue
        dims = {c.name for c in ep.dimensions}
        cols = [d if d in dims else f"cast(null as varchar) as {d}" for d in ID_DIMENSIONS]
        branches.append(f"select organization, {', '.join(cols)} from openai_usage.{ep.table}")
    union = "\nunion\n".join(branches)
    return f"""-- Generated from schemas/catalogue.yaml by `make sql`: do not edit by hand.
-- Every distinct (organization, project, user, API key) ID combination usage carries, read from the usage tables
-- directly: the name views need the IDs, and collecting them here costs a scan of the IDs, not of the unpivoted
-- stg_usage.
create or replace view staging.stg_usage_ids as
{union};
"""


def int_billable_usage_sql() -> str:
    rows = []
    for name, ep in catalogue.endpoints().items():
        if ep.kind != "usage" or ep.billing is None:
            continue
        named = [(m, terms, "true") for m, terms in ep.billing.meters.items()]
        named += [(i, terms, "false") for i, terms in ep.billing.items.items()]
        rows += [f"('{name}', '{metric}', '{label}', {sign}, {per_model})"
                 for label, terms, per_model in named for metric, sign in terms]
    values = ",\n    ".join(rows)
    return f"""-- Generated from schemas/catalogue.yaml by `make sql`: do not edit by hand.
-- Usage measured in the units Costs bills, named as Costs names it: one row per organization, UTC day, project, API
-- key and line item ('<model>, <meter>' or a plain item such as 'web search tool calls'), with the quantity the
-- catalogue's `billing` defines (e.g. input = input_tokens - input_cached_tokens). Cost allocation splits billed cost
-- by it.
-- Endpoints without an API key dimension (vector stores, code interpreter) carry a null key.
create or replace view intermediate.int_billable_usage as
with meters (kind, metric, label, sign, per_model) as (values
    {values}
)
select u.organization,
       u.day,
       u.project_id,
       u.api_key_id,
       case when m.per_model then u.model || ', ' || m.label else m.label end as line_item,
       sum(m.sign * u.value) as quantity
from staging.stg_usage as u
join meters as m on m.kind = u.kind and m.metric = u.metric
where not m.per_model or u.model is not null
group by u.organization, u.day, u.project_id, u.api_key_id,
         case when m.per_model then u.model || ', ' || m.label else m.label end;
"""


BILLABLE_TARGET = SQL_DIR / "intermediate" / "30_int_billable_usage.sql"
GENERATED = {TARGET: stg_usage_sql, IDS_TARGET: stg_usage_ids_sql, BILLABLE_TARGET: int_billable_usage_sql}


def main() -> None:
    for target, make in GENERATED.items():
        target.write_text(make())
        print(f"wrote sql/{target.relative_to(SQL_DIR)}", file=sys.stderr)


if __name__ == "__main__":
    main()
