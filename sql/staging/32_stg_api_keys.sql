-- One row per API key ever listed, with its project and owner. A key deleted after it was first listed keeps
-- its row (and name); `last_seen_at` tells when the directory last showed it.
create or replace view staging.stg_api_keys as
select id as api_key_id,
       name as api_key_name,
       project_id,
       owner_type,
       owner_id,
       coalesce(owner_email, owner_name) as owner,
       redacted_value,
       created_at,
       last_used_at,
       last_seen_at
from openai_usage.project_api_keys;
