-- Everyone an ID in usage can name, per organization: its users, and its projects' service accounts (which have no
-- email). IDs are matched within an organization only: another organization's user is nobody here.
create or replace view staging.stg_people as
select organization, id as user_id, name as user_name, email as user_email, 'user' as kind
from openai_usage.users
union all
select s.organization, s.id, min(s.name), cast(null as varchar), 'service_account'
from openai_usage.project_service_accounts as s
where not exists (select 1 from openai_usage.users as u where u.organization = s.organization and u.id = s.id)
group by s.organization, s.id;
