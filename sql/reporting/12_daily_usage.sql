-- Every usage counter of every endpoint per UTC day, in the long shape BI tools like, with names for the IDs.
-- Fallbacks: 'unknown project (<id>)', 'former user (<id>)', 'deleted key (<id>)' for IDs the directory never
-- listed; '(organization)', '(no user)', '(no key)' where the API gave no ID at all.
create or replace view reporting.daily_usage as
with usage as (
    select day, kind, project_id, user_id, api_key_id, model, metric, sum(value) as value
    from staging.stg_usage
    group by day, kind, project_id, user_id, api_key_id, model, metric
)
select u.day, u.kind, u.project_id, u.user_id, u.api_key_id, u.model, u.metric, u.value,
       coalesce(p.project_name, case when u.project_id is null then '(organization)'
                                     else 'unknown project (' || u.project_id || ')' end) as project_name,
       coalesce(w.user_name, case when u.user_id is null then '(no user)'
                                  else 'former user (' || u.user_id || ')' end) as user_name,
       w.user_email,
       coalesce(k.api_key_name, case when u.api_key_id is null then '(no key)'
                                     else 'deleted key (' || u.api_key_id || ')' end) as api_key_name
from usage as u
left join staging.stg_projects as p on p.project_id = u.project_id
left join staging.stg_people as w on w.user_id = u.user_id
left join staging.stg_api_keys as k on k.api_key_id = u.api_key_id;
