-- Costs as billed, one row per organization, UTC day, project, line item and (where the API grouped by it) API key.
-- The model and meter are parsed from line items such as 'gpt-4o-2024-08-06, input'; plain items ('web search tool
-- calls') have no model. `api_key_id` is null where Costs was not grouped by key (the live API refused it in 2026-07).
create or replace view staging.stg_costs as
select organization,
       date '1970-01-01' + cast(floor(epoch(start_time) / 86400) as integer) as day,
       start_time,
       end_time,
       epoch(end_time) - epoch(start_time) >= 86400 as is_complete_day,
       project_id,
       api_key_id,
       line_item,
       case when strpos(line_item, ', ') > 0 then split_part(line_item, ', ', 1) end as model,
       case when strpos(line_item, ', ') > 0 then split_part(line_item, ', ', 2) else line_item end as meter,
       lower(amount_currency) as currency,
       amount_value as amount,
       -- The API's quantity is a JSON float: as an exact DECIMAL rounded to 6 places, by steps every engine takes alike
       -- (whole part, then the fraction in millionths), so sums and FOCUS quantities are the same everywhere.
       cast(cast(floor(quantity) as bigint) as decimal(38, 6))
           + cast(cast(floor((quantity - floor(quantity)) * 1000000 + 0.5) as bigint) as decimal(18, 0)) * 0.000001
           as quantity,
       quantity_unit
from openai_usage.costs
where not coalesce(_bucket_emptied, false)
  and bucket_width = '1d';
