-- The one dimension of names: one row per (organization, kind, ID) that can appear in a report, plus one row per
-- organization and kind for no ID at all, with the name reports show. The only place the fallbacks live:
--   project: '(organization)' where there is no ID (org-level costs), 'unknown project (<id>)' for an ID the
--            directory never listed;
--   user:    '(no user)' where there is no ID (service-account keys), 'former user (<id>)' for one never listed;
--   api_key: '(no key)' where there is no ID, 'deleted key (<id>)' for a key deleted before it was first listed.
-- IDs come from each organization's directory and from every ID its costs and usage carry; a name is only ever
-- taken from the same organization's directory, since two organizations may hold the same ID. A join on a NULL ID
-- never matches, so join on `organization = <organization> and kind = '<kind>' and join_key = coalesce(<id>, '')`:
-- equalities every engine hashes, never more than one row.
create or replace view intermediate.int_names as
with seen as (
    select organization, 'project' as kind, project_id as id from staging.stg_projects
    union select organization, 'project', project_id from staging.stg_costs
    union select organization, 'project', project_id from staging.stg_usage_ids
    union select organization, 'user', user_id from staging.stg_people
    union select organization, 'user', user_id from staging.stg_usage_ids
    union select organization, 'api_key', api_key_id from staging.stg_api_keys
    union select organization, 'api_key', api_key_id from staging.stg_usage_ids
    union select organization, 'api_key', api_key_id from staging.stg_costs
),
organizations as (
    select distinct organization from seen
),
ids as (
    -- every organization gets its no-ID rows, whether or not its data has a null of that kind yet
    select organization, kind, id from seen
    union select organization, 'project', cast(null as varchar) from organizations
    union select organization, 'user', cast(null as varchar) from organizations
    union select organization, 'api_key', cast(null as varchar) from organizations
),
listed as (
    select organization, 'project' as kind, project_id as id, project_name as name, cast(null as varchar) as email
    from staging.stg_projects
    union all
    select organization, 'user', user_id, user_name, user_email from staging.stg_people
    union all
    select organization, 'api_key', api_key_id, api_key_name, cast(null as varchar) from staging.stg_api_keys
)
select i.organization,
       i.kind,
       coalesce(i.id, '') as join_key,
       i.id,
       coalesce(l.name, case i.kind
           when 'project' then case when i.id is null then '(organization)' else 'unknown project (' || i.id || ')' end
           when 'user' then case when i.id is null then '(no user)' else 'former user (' || i.id || ')' end
           else case when i.id is null then '(no key)' else 'deleted key (' || i.id || ')' end
       end) as name,
       l.email
from ids as i
left join listed as l on l.organization = i.organization and l.kind = i.kind and l.id = i.id;
