-- Completions per organization, UTC day, project, model and batch flag, one column per metric: the pivot that the
-- token and the batch-and-cache reports share, written once. NULL where a metric has no figures, as in stg_usage.
create or replace view intermediate.int_completions_daily as
select organization,
       day,
       project_id,
       model,
       batch,
       sum(case when metric = 'input_tokens' then value end) as input_tokens,
       sum(case when metric = 'output_tokens' then value end) as output_tokens,
       sum(case when metric = 'input_cached_tokens' then value end) as input_cached_tokens,
       sum(case when metric = 'num_model_requests' then value end) as num_model_requests
from staging.stg_usage
where kind = 'completions'
group by organization, day, project_id, model, batch;
