-- Per organization, month, model and project: how much runs as batch, and how much input is served from cache.
create or replace view reporting.batch_and_cache as
with usage as (
    select organization,
           cast(date_trunc('month', day) as date) as month,
           model,
           project_id,
           sum(num_model_requests) as requests,
           sum(case when batch then num_model_requests end) as batch_requests,
           cast(sum(case when batch then coalesce(num_model_requests, 0) else 0 end) as double)
               / nullif(sum(num_model_requests), 0) as batch_share,
           sum(input_tokens) as input_tokens,
           sum(input_cached_tokens) as input_cached_tokens,
           cast(sum(input_cached_tokens) as double) / nullif(sum(input_tokens), 0) as cache_hit_ratio
    from intermediate.int_completions_daily
    group by organization, cast(date_trunc('month', day) as date), model, project_id
)
select u.*,
       p.name as project_name
from usage as u
left join intermediate.int_names as p
       on p.organization = u.organization and p.kind = 'project' and p.join_key = coalesce(u.project_id, '');
