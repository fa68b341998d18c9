-- Generated from schemas/catalogue.yaml by `make sql`: do not edit by hand.
-- Usage measured in the units Costs bills, named as Costs names it: one row per organization, UTC day, project, API
-- key and line item ('<model>, <meter>' or a plain item such as 'web search tool calls'), with the quantity the
-- catalogue's `billing` defines (e.g. input = input_tokens - input_cached_tokens). Cost allocation splits billed cost
-- by it.
-- Endpoints without an API key dimension (vector stores, code interpreter) carry a null key.
create or replace view intermediate.int_billable_usage as
with meters (kind, metric, label, sign, per_model) as (values
    ('completions', 'input_tokens', 'input', 1, true),
    ('completions', 'input_cached_tokens', 'input', -1, true),
    ('completions', 'input_cached_tokens', 'cached input', 1, true),
    ('completions', 'output_tokens', 'output', 1, true),
    ('completions', 'input_audio_tokens', 'audio input', 1, true),
    ('completions', 'output_audio_tokens', 'audio output', 1, true),
    ('embeddings', 'input_tokens', 'input', 1, true),
    ('images', 'images', 'images', 1, true),
    ('audio_speeches', 'characters', 'characters', 1, true),
    ('audio_transcriptions', 'seconds', 'seconds', 1, true),
    ('vector_stores', 'usage_bytes', 'vector store storage', 1, false),
    ('code_interpreter_sessions', 'num_sessions', 'code interpreter sessions', 1, false),
    ('web_search_calls', 'num_requests', 'web search tool calls', 1, false),
    ('file_search_calls', 'num_requests', 'file search tool calls', 1, false)
)
select u.organization,
       u.day,
       u.project_id,
       u.api_key_id,
       case when m.per_model then u.model || ', ' || m.label else m.label end as line_item,
       sum(m.sign * u.value) as quantity
from staging.stg_usage as u
join meters as m on m.kind = u.kind and m.metric = u.metric
where not m.per_model or u.model is not null
group by u.organization, u.day, u.project_id, u.api_key_id,
         case when m.per_model then u.model || ', ' || m.label else m.label end;
