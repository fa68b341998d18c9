-- The one dimension of names: one row per (kind, ID) that can appear in a report, plus one row per kind for no ID at
-- all, with the name reports show. The only place the fallbacks live:
--   project: '(organization)' where there is no ID (org-level costs), 'unknown project (<id>)' for an ID the
--            directory never listed;
--   user:    '(no user)' where there is no ID (service-account keys), 'former user (<id>)' for one never listed;
--   api_key: '(no key)' where there is no ID, 'deleted key (<id>)' for a key deleted before it was first listed.
-- IDs come from the directory and from every ID costs and usage carry. A join on a NULL ID never matches, so join on
-- `kind = '<kind>' and join_key = coalesce(<id>, '')`: an equality every engine hashes, never more than one row.
create or replace view intermediate.int_names as
with ids as (
    select 'project' as kind, project_id as id from staging.stg_projects
    union select 'project', project_id from staging.stg_costs
    union select 'project', project_id from staging.stg_usage_ids
    union select 'project', cast(null as varchar)
    union select 'user', user_id from staging.stg_people
    union select 'user', user_id from staging.stg_usage_ids
    union select 'user', cast(null as varchar)
    union select 'api_key', api_key_id from staging.stg_api_keys
    union select 'api_key', api_key_id from staging.stg_usage_ids
    union select 'api_key', api_key_id from staging.stg_costs
    union select 'api_key', cast(null as varchar)
),
listed as (
    select 'project' as kind, project_id as id, project_name as name, cast(null as varchar) as email
    from staging.stg_projects
    union all
    select 'user', user_id, user_name, user_email from staging.stg_people
    union all
    select 'api_key', api_key_id, api_key_name, cast(null as varchar) from staging.stg_api_keys
)
select i.kind,
       coalesce(i.id, '') as join_key,
       i.id,
       coalesce(l.name, case i.kind
           when 'project' then case when i.id is null then '(organization)' else 'unknown project (' || i.id || ')' end
           when 'user' then case when i.id is null then '(no user)' else 'former user (' || i.id || ')' end
           else case when i.id is null then '(no key)' else 'deleted key (' || i.id || ')' end
       end) as name,
       l.email
from ids as i
left join listed as l on l.kind = i.kind and l.id = i.id;
