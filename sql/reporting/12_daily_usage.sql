-- Every usage counter of every endpoint per UTC day, in the long shape BI tools like.
create or replace view reporting.daily_usage as
select day, kind, project_id, user_id, api_key_id, model, metric, sum(value) as value
from staging.stg_usage
group by day, kind, project_id, user_id, api_key_id, model, metric;
