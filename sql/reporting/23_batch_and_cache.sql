-- Per month, model and project: how much runs as batch, and how much input is served from cache.
create or replace view reporting.batch_and_cache as
with usage as (
    select cast(date_trunc('month', day) as date) as month,
           model,
           project_id,
           sum(case when metric = 'num_model_requests' then value end) as requests,
           sum(case when metric = 'num_model_requests' and batch then value end) as batch_requests,
           cast(sum(case when metric = 'num_model_requests' and batch then value else 0 end) as double)
               / nullif(sum(case when metric = 'num_model_requests' then value end), 0) as batch_share,
           sum(case when metric = 'input_tokens' then value end) as input_tokens,
           sum(case when metric = 'input_cached_tokens' then value end) as input_cached_tokens,
           cast(sum(case when metric = 'input_cached_tokens' then value end) as double)
               / nullif(sum(case when metric = 'input_tokens' then value end), 0) as cache_hit_ratio
    from staging.stg_usage
    where kind = 'completions'
    group by cast(date_trunc('month', day) as date), model, project_id
)
select u.*,
       p.name as project_name
from usage as u
left join intermediate.int_names as p on p.kind = 'project' and p.join_key = coalesce(u.project_id, '');
