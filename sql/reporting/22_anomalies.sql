-- Days far above their trailing norm: cost per project, tokens per model and per API key.
-- A day is flagged when it exceeds the mean of the previous 14 days (at least 7 of them present)
-- by three standard deviations and by half again. `key_name` names the project or API key.
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
-- The trailing window is spelled out three times rather than named (not every engine accepts a WINDOW clause);
-- `nulls first` is BigQuery's only order for ascending window keys (day is never null anyway).
scored as (
    select *,
           avg(value) over (partition by dimension, key, measure order by day nulls first
                            rows between 14 preceding and 1 preceding) as trailing_mean,
           stddev_samp(value) over (partition by dimension, key, measure order by day nulls first
                                    rows between 14 preceding and 1 preceding) as trailing_stddev,
           count(value) over (partition by dimension, key, measure order by day nulls first
                              rows between 14 preceding and 1 preceding) as trailing_days
    from series
)
select s.day, s.dimension, s.key, s.measure, s.value, s.trailing_mean, s.trailing_stddev,
       s.value / s.trailing_mean as ratio,
       case s.dimension
           when 'project' then coalesce(p.project_name, case when s.key = '(organization)' then s.key
                                                             else 'unknown project (' || s.key || ')' end)
           when 'api_key' then coalesce(k.api_key_name, 'deleted key (' || s.key || ')')
           else s.key
       end as key_name
from scored as s
left join staging.stg_projects as p on s.dimension = 'project' and p.project_id = s.key
left join staging.stg_api_keys as k on s.dimension = 'api_key' and k.api_key_id = s.key
where s.trailing_days >= 7
  and s.value > s.trailing_mean + 3 * coalesce(s.trailing_stddev, 0)
  and s.value > 1.5 * s.trailing_mean;
