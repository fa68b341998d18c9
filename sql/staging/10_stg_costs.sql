-- Costs as billed, one row per UTC day, project and line item. The model and meter are parsed from line items
-- such as 'gpt-4o-2024-08-06, input'; plain items ('web search tool calls') have no model.
create or replace view staging.stg_costs as
select date '1970-01-01' + cast(floor(epoch(start_time) / 86400) as integer) as day,
       start_time,
       end_time,
       epoch(end_time) - epoch(start_time) >= 86400 as is_complete_day,
       project_id,
       line_item,
       case when strpos(line_item, ', ') > 0 then split_part(line_item, ', ', 1) end as model,
       case when strpos(line_item, ', ') > 0 then split_part(line_item, ', ', 2) else line_item end as meter,
       lower(amount_currency) as currency,
       amount_value as amount,
       quantity
from openai_usage.costs
where not coalesce(_bucket_emptied, false)
  and bucket_width = '1d';
