-- Billed cost per organization, UTC day, project, line item and API key: the one allocation every cost-per-key view
-- reads. Everything below happens within one organization: its costs are split over its own keys only.
-- `method`:
--   billed       Costs answered grouped by api_key_id: the amount is the API's own.
--   usage_share  Costs came per project and line item only: each (day, project, line item) cost is split over the
--                project's keys by their share of the matching usage (intermediate.int_billable_usage).
--   unallocated  cost with no keyed usage to split by (org-level charges, vector store storage, days without usage),
--                and the key-less rest of a cell Costs billed per key, stays on one explicit row with no key; it is
--                never spread silently.
-- Exact: per (organization, day, project, line item) the amounts sum to the billed cost to the last digit of the
-- DECIMAL. Rule for the rounding residue: every key but one gets cost x share rounded to 12 decimals; the key with the
-- most usage (ties: the smallest key ID) gets the cost minus the others, so it carries the residue (at most a few
-- 1e-12 dollars).
create or replace view intermediate.int_cost_allocation as
with costs as (
    select organization, day, project_id, api_key_id, line_item, model, meter, currency, sum(amount) as amount,
           sum(quantity) as quantity, max(quantity_unit) as quantity_unit
    from staging.stg_costs
    group by organization, day, project_id, api_key_id, line_item, model, meter, currency
),
keyless as (
    select * from costs where api_key_id is null
),
to_split as (
    -- Where Costs billed some of a cell per key, the rest has no key of its own: it is not spread over keys the API
    -- already billed exactly, but stays unallocated.
    select * from keyless as c
    where not exists (
        select 1 from costs as b
        where b.api_key_id is not null and b.organization = c.organization and b.day = c.day
          and b.line_item = c.line_item and b.currency = c.currency
          and coalesce(b.project_id, '') = coalesce(c.project_id, ''))
),
keyed_usage as (
    select organization, day, project_id, api_key_id, line_item, quantity
    from intermediate.int_billable_usage
    where api_key_id is not null and project_id is not null and quantity > 0
),
shares as (
    select c.organization, c.day, c.project_id, u.api_key_id, c.line_item, c.model, c.meter, c.currency,
           c.amount as cost, cast(u.quantity as decimal(38, 6)) as usage_quantity, c.quantity_unit,
           cast(u.quantity as double) / cast(sum(u.quantity) over (
               partition by c.organization, c.day, c.project_id, c.line_item, c.currency) as double) as share,
           row_number() over (partition by c.organization, c.day, c.project_id, c.line_item, c.currency
                              order by u.quantity desc, u.api_key_id) as rank
    from to_split as c
    join keyed_usage as u on u.organization = c.organization and u.day = c.day and u.project_id = c.project_id
                         and u.line_item = c.line_item
),
rounded as (
    select *, case when rank > 1 then cast(cost * share as decimal(38, 12)) end as rounded_amount
    from shares
),
split as (
    select organization, day, project_id, api_key_id, line_item, model, meter, currency,
           case when rank = 1
                -- at precision 37, a difference of two amounts keeps 12 decimals in every engine (Spark drops one at 38)
                then cast(cost as decimal(37, 12)) - cast(coalesce(sum(rounded_amount) over (
                    partition by organization, day, project_id, line_item, currency), 0) as decimal(37, 12))
                else rounded_amount end as amount,
           usage_quantity as quantity, quantity_unit, share,
           'usage_share' as method
    from rounded
)
select organization, day, project_id, api_key_id, line_item, model, meter, currency, amount, quantity, quantity_unit,
       cast(null as double) as share, 'billed' as method
from costs
where api_key_id is not null
union all
select organization, day, project_id, api_key_id, line_item, model, meter, currency, amount, quantity, quantity_unit,
       share, method
from split
union all
select c.organization, c.day, c.project_id, cast(null as varchar), c.line_item, c.model, c.meter, c.currency,
       c.amount, c.quantity, c.quantity_unit, cast(null as double), 'unallocated'
from to_split as c
where not exists (
    select 1 from keyed_usage as u
    where u.organization = c.organization and u.day = c.day and u.project_id = c.project_id
      and u.line_item = c.line_item
)
union all
select c.organization, c.day, c.project_id, cast(null as varchar), c.line_item, c.model, c.meter, c.currency,
       c.amount, c.quantity, c.quantity_unit, cast(null as double), 'unallocated'
from keyless as c
where exists (
    select 1 from costs as b
    where b.api_key_id is not null and b.organization = c.organization and b.day = c.day
      and b.line_item = c.line_item and b.currency = c.currency
      and coalesce(b.project_id, '') = coalesce(c.project_id, '')
);
