-- Billed cost per organization, UTC day, project and line item (the figure that matches the invoice).
-- Project names, with their fallbacks (org-level costs, projects the directory never listed), come from
-- intermediate.int_names, within the same organization.
create or replace view reporting.daily_costs as
with costs as (
    select organization, day, project_id, line_item, model, currency, sum(amount) as amount
    from staging.stg_costs
    group by organization, day, project_id, line_item, model, currency
)
select c.organization, c.day, c.project_id, c.line_item, c.model, c.currency, c.amount,
       p.name as project_name
from costs as c
left join intermediate.int_names as p
       on p.organization = c.organization and p.kind = 'project' and p.join_key = coalesce(c.project_id, '');
