-- Generated from schemas/catalogue.yaml by `make sql`: do not edit by hand.
-- Every distinct (organization, project, user, API key) ID combination usage carries, read from the usage tables
-- directly: the name views need the IDs, and collecting them here costs a scan of the IDs, not of the unpivoted
-- stg_usage.
create or replace view staging.stg_usage_ids as
select organization, project_id, user_id, api_key_id from openai_usage.usage_completions
union
select organization, project_id, user_id, api_key_id from openai_usage.usage_embeddings
union
select organization, project_id, user_id, api_key_id from openai_usage.usage_moderations
union
select organization, project_id, user_id, api_key_id from openai_usage.usage_images
union
select organization, project_id, user_id, api_key_id from openai_usage.usage_audio_speeches
union
select organization, project_id, user_id, api_key_id from openai_usage.usage_audio_transcriptions
union
select organization, project_id, cast(null as varchar) as user_id, cast(null as varchar) as api_key_id from openai_usage.usage_vector_stores
union
select organization, project_id, cast(null as varchar) as user_id, cast(null as varchar) as api_key_id from openai_usage.usage_code_interpreter_sessions
union
select organization, project_id, user_id, api_key_id from openai_usage.usage_web_search_calls
union
select organization, project_id, user_id, api_key_id from openai_usage.usage_file_search_calls;
