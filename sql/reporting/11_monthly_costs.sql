-- Billed cost per calendar month (UTC) and project, with the project's current name.
create or replace view reporting.monthly_costs as
with costs as (
    select cast(date_trunc('month', day) as date) as month, project_id, currency, sum(amount) as amount
    from staging.stg_costs
    group by cast(date_trunc('month', day) as date), project_id, currency
)
select c.month, c.project_id, c.currency, c.amount,
       coalesce(p.project_name, case when c.project_id is null then '(organization)'
                                     else 'unknown project (' || c.project_id || ')' end) as project_name
from costs as c
left join staging.stg_projects as p on p.project_id = c.project_id;
