-- Billed cost per organization, calendar month (UTC) and project, with the project's current name.
create or replace view reporting.monthly_costs as
with costs as (
    select organization, cast(date_trunc('month', day) as date) as month, project_id, currency, sum(amount) as amount
    from staging.stg_costs
    group by organization, cast(date_trunc('month', day) as date), project_id, currency
)
select c.organization, c.month, c.project_id, c.currency, c.amount,
       p.name as project_name
from costs as c
left join intermediate.int_names as p
       on p.organization = c.organization and p.kind = 'project' and p.join_key = coalesce(c.project_id, '');
