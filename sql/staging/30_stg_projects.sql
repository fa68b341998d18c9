-- One row per (organization, project) in the organization's directory, archived ones included, with its current
-- name.
create or replace view staging.stg_projects as
select organization,
       id as project_id,
       name as project_name,
       status as project_status,
       coalesce(status = 'archived' or archived_at is not null, false) as is_archived,
       created_at,
       archived_at,
       last_seen_at
from openai_usage.projects;
