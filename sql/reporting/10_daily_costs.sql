-- Billed cost per UTC day, project and line item (the figure that matches the invoice).
create or replace view reporting.daily_costs as
select day, project_id, line_item, model, currency, sum(amount) as amount
from staging.stg_costs
group by day, project_id, line_item, model, currency;
