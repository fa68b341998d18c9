-- Billed cost per organization, UTC day, project, API key, owner and line item: who spent what, tied out to the
-- invoice. One row per (organization, day, project, line item, key) from intermediate.int_cost_allocation, where
-- `method` says how the amount reached the key (billed, usage_share, unallocated). Per organization, day and project,
-- `amount` sums to billed cost exactly.
-- Owners (a user or a service account) come from the organization's directory of API keys; a key deleted before it
-- was ever listed takes the one user its usage names, where there is exactly one; otherwise the owner is unknown.
create or replace view reporting.cost_allocation as
with usage_owner as (
    select organization, api_key_id, min(user_id) as user_id
    from staging.stg_usage_ids
    where api_key_id is not null and user_id is not null
    group by organization, api_key_id
    having count(distinct user_id) = 1
),
owners as (
    select a.organization,
           a.api_key_id,
           coalesce(k.owner_type, case when o.user_id is not null then 'user' end) as owner_type,
           coalesce(k.owner_id, o.user_id) as owner_id,
           k.owner_name as listed_owner_name
    from (select distinct organization, api_key_id from intermediate.int_cost_allocation
          where api_key_id is not null) as a
    left join staging.stg_api_keys as k on k.organization = a.organization and k.api_key_id = a.api_key_id
    left join usage_owner as o on o.organization = a.organization and o.api_key_id = a.api_key_id
)
select c.organization,
       c.day,
       c.project_id,
       p.name as project_name,
       c.api_key_id,
       k.name as api_key_name,
       o.owner_type,
       o.owner_id,
       case when c.api_key_id is null then '(unallocated)'
            else coalesce(o.listed_owner_name, u.name, '(unknown owner)') end as owner_name,
       c.model,
       c.line_item,
       c.amount,
       c.method,
       c.currency
from intermediate.int_cost_allocation as c
left join owners as o on o.organization = c.organization and o.api_key_id = c.api_key_id
left join intermediate.int_names as p
       on p.organization = c.organization and p.kind = 'project' and p.join_key = coalesce(c.project_id, '')
left join intermediate.int_names as k
       on k.organization = c.organization and k.kind = 'api_key' and k.join_key = coalesce(c.api_key_id, '')
left join intermediate.int_names as u
       on u.organization = c.organization and u.kind = 'user' and u.join_key = coalesce(o.owner_id, '-');
