-- Days far above their trailing norm: cost per project, tokens per model and per API key.
-- A day is flagged when it exceeds the mean of the previous 14 days (at least 7 of them present)
-- by three standard deviations and by half again.
create or replace view reporting.anomalies as
with series as (
    select day, 'project' as dimension, coalesce(project_id, '(organization)') as key, 'cost' as measure,
           cast(sum(amount) as double) as value
    from staging.stg_costs
    group by day, coalesce(project_id, '(organization)')
    union all
    select day, 'model', model, 'tokens', cast(sum(value) as double)
    from staging.stg_usage
    where metric in ('input_tokens', 'output_tokens') and model is not null
    group by day, model
    union all
    select day, 'api_key', api_key_id, 'tokens', cast(sum(value) as double)
    from staging.stg_usage
    where metric in ('input_tokens', 'output_tokens') and api_key_id is not null
    group by day, api_key_id
),
scored as (
    select *,
           avg(value) over w as trailing_mean,
           stddev_samp(value) over w as trailing_stddev,
           count(value) over w as trailing_days
    from series
    window w as (partition by dimension, key, measure order by day rows between 14 preceding and 1 preceding)
)
select day, dimension, key, measure, value, trailing_mean, trailing_stddev, value / trailing_mean as ratio
from scored
where trailing_days >= 7
  and value > trailing_mean + 3 * coalesce(trailing_stddev, 0)
  and value > 1.5 * trailing_mean;
