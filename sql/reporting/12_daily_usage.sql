-- Every usage counter of every endpoint per organization and UTC day, in the long shape BI tools like, with names
-- for the IDs. Names come from the intermediate.int_names view (the same organization's), with the fallbacks for IDs
-- the directory never listed and for no ID at all.
create or replace view reporting.daily_usage as
with usage as (
    select organization, day, kind, project_id, user_id, api_key_id, model, metric, sum(value) as value
    from staging.stg_usage
    group by organization, day, kind, project_id, user_id, api_key_id, model, metric
)
select u.organization, u.day, u.kind, u.project_id, u.user_id, u.api_key_id, u.model, u.metric, u.value,
       p.name as project_name,
       w.name as user_name,
       w.email as user_email,
       k.name as api_key_name
from usage as u
left join intermediate.int_names as p
       on p.organization = u.organization and p.kind = 'project' and p.join_key = coalesce(u.project_id, '')
left join intermediate.int_names as w
       on w.organization = u.organization and w.kind = 'user' and w.join_key = coalesce(u.user_id, '')
left join intermediate.int_names as k
       on k.organization = u.organization and k.kind = 'api_key' and k.join_key = coalesce(u.api_key_id, '');
