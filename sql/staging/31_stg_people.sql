-- Everyone an ID in usage can name: organization users, and the projects' service accounts (which have no email).
create or replace view staging.stg_people as
select id as user_id, name as user_name, email as user_email, 'user' as kind
from openai_usage.users
union all
select id, min(name), cast(null as varchar), 'service_account'
from openai_usage.project_service_accounts
where id not in (select id from openai_usage.users)
group by id;
