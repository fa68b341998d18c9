-- Billed cost per calendar month (UTC) and project.
create or replace view reporting.monthly_costs as
select cast(date_trunc('month', day) as date) as month, project_id, currency, sum(amount) as amount
from staging.stg_costs
group by cast(date_trunc('month', day) as date), project_id, currency;
