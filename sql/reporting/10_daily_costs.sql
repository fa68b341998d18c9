-- Billed cost per UTC day, project and line item (the figure that matches the invoice).
-- Project names, with their fallbacks (org-level costs, projects the directory never listed), come from
-- intermediate.int_names.
create or replace view reporting.daily_costs as
with costs as (
    select day, project_id, line_item, model, currency, sum(amount) as amount
    from staging.stg_costs
    group by day, project_id, line_item, model, currency
)
select c.day, c.project_id, c.line_item, c.model, c.currency, c.amount,
       p.name as project_name
from costs as c
left join intermediate.int_names as p on p.kind = 'project' and p.join_key = coalesce(c.project_id, '');
