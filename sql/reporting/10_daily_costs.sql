-- Billed cost per UTC day, project and line item (the figure that matches the invoice).
-- Names: a project the directory does not list shows as 'unknown project (<id>)'; org-level costs
-- (project_id null) as '(organization)'.
create or replace view reporting.daily_costs as
with costs as (
    select day, project_id, line_item, model, currency, sum(amount) as amount
    from staging.stg_costs
    group by day, project_id, line_item, model, currency
)
select c.day, c.project_id, c.line_item, c.model, c.currency, c.amount,
       coalesce(p.project_name, case when c.project_id is null then '(organization)'
                                     else 'unknown project (' || c.project_id || ')' end) as project_name
from costs as c
left join staging.stg_projects as p on p.project_id = c.project_id;
