-- One row per (organization, API key) ever listed, with its project and owner. A key deleted after it was first
-- listed keeps its row (and name); `last_seen_at` tells when the directory last showed it. Usage names a key by its
-- organization and ID alone, so should an ID ever be listed under two projects, only its most recent listing is
-- kept: a join on (organization, api_key_id) can never multiply usage rows.
create or replace view staging.stg_api_keys as
select organization, api_key_id, api_key_name, project_id, owner_type, owner_id, owner, owner_name, owner_email,
       redacted_value, created_at, last_used_at, last_seen_at
from (
    select organization,
           id as api_key_id,
           name as api_key_name,
           project_id,
           owner_type,
           owner_id,
           coalesce(owner_email, owner_name) as owner,
           owner_name,
           owner_email,
           redacted_value,
           created_at,
           last_used_at,
           last_seen_at,
           row_number() over (partition by organization, id order by last_seen_at desc, project_id) as listing
    from openai_usage.project_api_keys
) as keys
where listing = 1;
