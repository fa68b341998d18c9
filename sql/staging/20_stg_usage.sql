-- Generated from schemas/catalogue.yaml by `make sql`: do not edit by hand.
-- Every usage endpoint in one long table, one row per organization, bucket, dimension set and metric.
-- One grain per organization, kind and UTC day: where several bucket widths are loaded for a day, the coarsest wins,
-- so loading 1d and 1h side by side never double counts (and one organization's widths never decide another's).
create or replace view staging.stg_usage as
with unioned as (
    select t.organization, 'completions' as kind, t.bucket_width, t.start_time, t.end_time, t.project_id, t.user_id, t.api_key_id, t.model, t.batch,
           m.metric, m.value
    from openai_usage.usage_completions as t
    cross join lateral (values
            ('input_tokens', t.input_tokens),
            ('output_tokens', t.output_tokens),
            ('input_cached_tokens', t.input_cached_tokens),
            ('input_audio_tokens', t.input_audio_tokens),
            ('output_audio_tokens', t.output_audio_tokens),
            ('num_model_requests', t.num_model_requests),
            ('input_cache_write_tokens', t.input_cache_write_tokens),
            ('input_uncached_tokens', t.input_uncached_tokens),
            ('input_text_tokens', t.input_text_tokens),
            ('output_text_tokens', t.output_text_tokens),
            ('input_cached_text_tokens', t.input_cached_text_tokens),
            ('input_cached_audio_tokens', t.input_cached_audio_tokens),
            ('input_image_tokens', t.input_image_tokens),
            ('input_cached_image_tokens', t.input_cached_image_tokens),
            ('output_image_tokens', t.output_image_tokens)
    ) as m(metric, value)
    union all
    select t.organization, 'embeddings' as kind, t.bucket_width, t.start_time, t.end_time, t.project_id, t.user_id, t.api_key_id, t.model, cast(null as boolean) as batch,
           m.metric, m.value
    from openai_usage.usage_embeddings as t
    cross join lateral (values
            ('input_tokens', t.input_tokens),
            ('num_model_requests', t.num_model_requests)
    ) as m(metric, value)
    union all
    select t.organization, 'moderations' as kind, t.bucket_width, t.start_time, t.end_time, t.project_id, t.user_id, t.api_key_id, t.model, cast(null as boolean) as batch,
           m.metric, m.value
    from openai_usage.usage_moderations as t
    cross join lateral (values
            ('input_tokens', t.input_tokens),
            ('num_model_requests', t.num_model_requests)
    ) as m(metric, value)
    union all
    select t.organization, 'images' as kind, t.bucket_width, t.start_time, t.end_time, t.project_id, t.user_id, t.api_key_id, t.model, cast(null as boolean) as batch,
           m.metric, m.value
    from openai_usage.usage_images as t
    cross join lateral (values
            ('images', t.images),
            ('num_model_requests', t.num_model_requests)
    ) as m(metric, value)
    union all
    select t.organization, 'audio_speeches' as kind, t.bucket_width, t.start_time, t.end_time, t.project_id, t.user_id, t.api_key_id, t.model, cast(null as boolean) as batch,
           m.metric, m.value
    from openai_usage.usage_audio_speeches as t
    cross join lateral (values
            ('characters', t.characters),
            ('num_model_requests', t.num_model_requests)
    ) as m(metric, value)
    union all
    select t.organization, 'audio_transcriptions' as kind, t.bucket_width, t.start_time, t.end_time, t.project_id, t.user_id, t.api_key_id, t.model, cast(null as boolean) as batch,
           m.metric, m.value
    from openai_usage.usage_audio_transcriptions as t
    cross join lateral (values
            ('seconds', t.seconds),
            ('num_model_requests', t.num_model_requests)
    ) as m(metric, value)
    union all
    select t.organization, 'vector_stores' as kind, t.bucket_width, t.start_time, t.end_time, t.project_id, cast(null as varchar) as user_id, cast(null as varchar) as api_key_id, cast(null as varchar) as model, cast(null as boolean) as batch,
           m.metric, m.value
    from openai_usage.usage_vector_stores as t
    cross join lateral (values
            ('usage_bytes', t.usage_bytes)
    ) as m(metric, value)
    union all
    select t.organization, 'code_interpreter_sessions' as kind, t.bucket_width, t.start_time, t.end_time, t.project_id, cast(null as varchar) as user_id, cast(null as varchar) as api_key_id, cast(null as varchar) as model, cast(null as boolean) as batch,
           m.metric, m.value
    from openai_usage.usage_code_interpreter_sessions as t
    cross join lateral (values
            ('num_sessions', t.num_sessions)
    ) as m(metric, value)
    union all
    select t.organization, 'web_search_calls' as kind, t.bucket_width, t.start_time, t.end_time, t.project_id, t.user_id, t.api_key_id, t.model, cast(null as boolean) as batch,
           m.metric, m.value
    from openai_usage.usage_web_search_calls as t
    cross join lateral (values
            ('num_requests', t.num_requests),
            ('num_model_requests', t.num_model_requests)
    ) as m(metric, value)
    union all
    select t.organization, 'file_search_calls' as kind, t.bucket_width, t.start_time, t.end_time, t.project_id, t.user_id, t.api_key_id, cast(null as varchar) as model, cast(null as boolean) as batch,
           m.metric, m.value
    from openai_usage.usage_file_search_calls as t
    cross join lateral (values
            ('num_requests', t.num_requests)
    ) as m(metric, value)
),
graded as (
    select *,
           cast(floor(epoch(start_time) / 86400) as integer) as day_number,
           case bucket_width when '1d' then 1 when '1h' then 2 else 3 end as grain
    from unioned
),
chosen as (
    select *, min(grain) over (partition by organization, kind, day_number) as best_grain
    from graded
)
select organization,
       kind,
       date '1970-01-01' + day_number as day,
       start_time,
       end_time,
       bucket_width,
       project_id, user_id, api_key_id, model, batch,
       metric,
       value
from chosen
where grain = best_grain and value is not null;
