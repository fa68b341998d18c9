-- Days far above their trailing norm, per organization: cost per project, tokens per model and per API key.
-- A day is flagged when it exceeds the mean of the previous 14 days (at least 7 of them present)
-- by three standard deviations and by half again. `key_name` names the project or API key
-- (from intermediate.int_names); org-level costs are keyed by that name.
create or replace view reporting.anomalies as
with project_cost as (
    select organization, day, project_id, cast(sum(amount) as double) as value
    from staging.stg_costs
    group by organization, day, project_id
),
key_tokens as (
    select organization, day, api_key_id, cast(sum(value) as double) as value
    from staging.stg_usage
    where metric in ('input_tokens', 'output_tokens') and api_key_id is not null
    group by organization, day, api_key_id
),
series as (
    select c.organization, c.day, 'project' as dimension, coalesce(c.project_id, p.name) as key, p.name as key_name,
           'cost' as measure, c.value
    from project_cost as c
    left join intermediate.int_names as p
           on p.organization = c.organization and p.kind = 'project' and p.join_key = coalesce(c.project_id, '')
    union all
    select organization, day, 'model', model, model, 'tokens', cast(sum(value) as double)
    from staging.stg_usage
    where metric in ('input_tokens', 'output_tokens') and model is not null
    group by organization, day, model
    union all
    select t.organization, t.day, 'api_key', t.api_key_id, k.name, 'tokens', t.value
    from key_tokens as t
    left join intermediate.int_names as k
           on k.organization = t.organization and k.kind = 'api_key' and k.join_key = coalesce(t.api_key_id, '')
),
-- The trailing window is spelled out three times rather than named (not every engine accepts a WINDOW clause);
-- `nulls first` is BigQuery's only order for ascending window keys (day is never null anyway).
scored as (
    select *,
           avg(value) over (partition by organization, dimension, key, measure order by day nulls first
                            rows between 14 preceding and 1 preceding) as trailing_mean,
           stddev_samp(value) over (partition by organization, dimension, key, measure order by day nulls first
                                    rows between 14 preceding and 1 preceding) as trailing_stddev,
           count(value) over (partition by organization, dimension, key, measure order by day nulls first
                              rows between 14 preceding and 1 preceding) as trailing_days
    from series
)
select organization, day, dimension, key, measure, value, trailing_mean, trailing_stddev,
       value / trailing_mean as ratio,
       key_name
from scored
where trailing_days >= 7
  and value > trailing_mean + 3 * coalesce(trailing_stddev, 0)
  and value > 1.5 * trailing_mean;
