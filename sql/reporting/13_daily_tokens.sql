-- Completions tokens per organization, UTC day, project and model, with the share of input served from cache.
create or replace view reporting.daily_tokens as
with tokens as (
    select organization,
           day,
           project_id,
           model,
           sum(input_tokens) as input_tokens,
           sum(output_tokens) as output_tokens,
           sum(input_cached_tokens) as input_cached_tokens,
           sum(num_model_requests) as num_model_requests,
           cast(sum(input_cached_tokens) as double) / nullif(sum(input_tokens), 0) as cache_hit_ratio
    from intermediate.int_completions_daily
    group by organization, day, project_id, model
)
select t.*,
       p.name as project_name
from tokens as t
left join intermediate.int_names as p
       on p.organization = t.organization and p.kind = 'project' and p.join_key = coalesce(t.project_id, '');
