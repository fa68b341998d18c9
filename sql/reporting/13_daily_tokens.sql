-- Completions tokens per UTC day, project and model, with the share of input served from cache.
create or replace view reporting.daily_tokens as
with tokens as (
    select day,
           project_id,
           model,
           sum(case when metric = 'input_tokens' then value end) as input_tokens,
           sum(case when metric = 'output_tokens' then value end) as output_tokens,
           sum(case when metric = 'input_cached_tokens' then value end) as input_cached_tokens,
           sum(case when metric = 'num_model_requests' then value end) as num_model_requests,
           cast(sum(case when metric = 'input_cached_tokens' then value end) as double)
               / nullif(sum(case when metric = 'input_tokens' then value end), 0) as cache_hit_ratio
    from staging.stg_usage
    where kind = 'completions'
    group by day, project_id, model
)
select t.*,
       p.name as project_name
from tokens as t
left join intermediate.int_names as p on p.kind = 'project' and p.join_key = coalesce(t.project_id, '');
