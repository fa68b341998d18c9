-- Billed cost in FinOps FOCUS 1.3 (ratified 2025-12-04) columns: one row per charge as allocated to API keys
-- (intermediate.int_cost_allocation), so `sum(BilledCost)` per billing period is billed cost exactly.
-- Mapping: BilledCost = EffectiveCost = ListCost = ContractedCost = Costs' amount (the API exposes no list price,
-- discount or amortization); charge period = the UTC day; billing period = its calendar month; SkuId = SkuPriceId =
-- the line item, SkuMeter its meter; SubAccount = the project; split allocation columns where cost was split over keys
-- by usage (AllocatedMethodId 'usage_share', with the key's usage in the meter's own unit: tokens, not thousands); the
-- unallocated rows were not allocated and carry no allocation columns. Where Costs gives
-- no quantity (org-level charges), the charge is priced per day: PricingQuantity 1, PricingUnit 'Days'.
-- Corrections (ChargeClass 'Correction'): a billed amount restated after its billing period closed (from
-- openai_usage.restatements) stays as invoiced in its own period, and the difference is a correction row in the period
-- it was detected in, with the original charge period. The cell's largest row carries the adjustment.
-- BillingAccountId (and BillingAccountName) is the organization as configured (`default` for a single admin key): the
-- API names no organization ID. Every cell, correction and name below is matched within its organization.
create or replace view reporting.focus as
with allocated as (
    select a.*,
           cast(date_trunc('month', a.day) as date) as billing_month,
           row_number() over (partition by a.organization, a.day, a.project_id, a.line_item, a.currency,
                                           case when a.method = 'billed' then a.api_key_id end
                              order by a.amount desc, a.api_key_id) as cell_rank
    from intermediate.int_cost_allocation as a
),
restated as (
    select organization,
           date '1970-01-01' + cast(floor(epoch(start_time) / 86400) as integer) as day,
           json_extract_string(cast(dimensions as json), '$.project_id') as project_id,
           json_extract_string(cast(dimensions as json), '$.line_item') as line_item,
           json_extract_string(cast(dimensions as json), '$.api_key_id') as api_key_id,
           date '1970-01-01' + cast(floor(epoch(detected_at) / 86400) as integer) as detected_day,
           -- differences of amounts at precision 37 keep 12 decimals in every engine (Spark drops one at 38)
           cast(coalesce(new_value, 0) as decimal(37, 12)) - cast(coalesce(old_value, 0) as decimal(37, 12)) as delta
    from openai_usage.restatements
    where table_name = 'costs' and metric = 'amount_value'
),
corrections as (
    select organization, day, project_id, line_item, api_key_id,
           cast(date_trunc('month', detected_day) as date) as billing_month, sum(delta) as delta
    from restated
    where detected_day >= cast(cast(date_trunc('month', day) as date) + interval 1 month as date)
    group by organization, day, project_id, line_item, api_key_id, cast(date_trunc('month', detected_day) as date)
),
cell_corrections as (
    select organization, day, project_id, line_item, api_key_id, sum(delta) as delta
    from corrections
    group by organization, day, project_id, line_item, api_key_id
),
charges as (
    select a.organization, a.day, a.billing_month, a.project_id, a.api_key_id, a.line_item, a.model, a.meter,
           a.currency, a.method,
           a.share, a.quantity, a.quantity_unit,
           cast(a.amount as decimal(37, 12))
               - cast(case when a.cell_rank = 1 then coalesce(c.delta, 0) else 0 end as decimal(37, 12)) as amount,
           cast(null as varchar) as charge_class
    from allocated as a
    left join cell_corrections as c
           on c.organization = a.organization and c.day = a.day
          and coalesce(c.project_id, '') = coalesce(a.project_id, '') and c.line_item = a.line_item
          and coalesce(c.api_key_id, '') = coalesce(case when a.method = 'billed' then a.api_key_id end, '')
    union all
    select organization, day, billing_month, project_id, api_key_id, line_item,
           case when strpos(line_item, ', ') > 0 then split_part(line_item, ', ', 1) end,
           case when strpos(line_item, ', ') > 0 then split_part(line_item, ', ', 2) else line_item end,
           'usd', case when api_key_id is not null then 'billed' else 'unallocated' end,
           cast(null as double), cast(null as decimal(38, 6)), cast(null as varchar), delta, 'Correction'
    from corrections
    union all
    -- A group that vanished after its period closed has no row left to carry what was invoiced: one stands in.
    select c.organization, c.day, cast(date_trunc('month', c.day) as date), c.project_id, c.api_key_id, c.line_item,
           case when strpos(c.line_item, ', ') > 0 then split_part(c.line_item, ', ', 1) end,
           case when strpos(c.line_item, ', ') > 0 then split_part(c.line_item, ', ', 2) else c.line_item end,
           'usd', case when c.api_key_id is not null then 'billed' else 'unallocated' end,
           cast(null as double), cast(null as decimal(38, 6)), cast(null as varchar), -c.delta, cast(null as varchar)
    from cell_corrections as c
    where not exists (
        select 1 from allocated as a
        where a.cell_rank = 1 and a.organization = c.organization and a.day = c.day
          and coalesce(a.project_id, '') = coalesce(c.project_id, '')
          and a.line_item = c.line_item
          and coalesce(case when a.method = 'billed' then a.api_key_id end, '') = coalesce(c.api_key_id, ''))
),
named as (
    select c.*,
           p.name as project_name,
           k.name as api_key_name,
           case c.quantity_unit
               when 'tokens' then 'Tokens'
               when '1000_tokens' then case when c.method = 'usage_share' then 'Tokens' else '1000 Tokens' end
               when 'duration_seconds' then 'Seconds' when 'duration_minutes' then 'Minutes'
               when 'duration_hours' then 'Hours' when 'gibibyte_hours' then 'GiB-Hours'
               when 'images' then 'Images' when 'characters' then 'Characters'
               else 'Units' end as unit,
           -- the key's share, truncated to 12 decimals as an exact DECIMAL so every engine writes the same text
           cast(cast(floor(c.share * 1000000000000) as bigint) as decimal(18, 0)) * 0.000000000001 as ratio
    from charges as c
    left join intermediate.int_names as p
           on p.organization = c.organization and p.kind = 'project' and p.join_key = coalesce(c.project_id, '')
    left join intermediate.int_names as k
           on k.organization = c.organization and k.kind = 'api_key' and k.join_key = coalesce(c.api_key_id, '')
)
select cast(amount as decimal(38, 12)) as "BilledCost",
       organization as "BillingAccountId",
       organization as "BillingAccountName",
       upper(currency) as "BillingCurrency",
       cast(cast(billing_month as date) + interval 1 month as timestamp) as "BillingPeriodEnd",
       cast(billing_month as timestamp) as "BillingPeriodStart",
       'Usage' as "ChargeCategory",
       charge_class as "ChargeClass",
       line_item as "ChargeDescription",
       cast(day + 1 as timestamp) as "ChargePeriodEnd",
       cast(day as timestamp) as "ChargePeriodStart",
       cast(amount as decimal(38, 12)) as "ContractedCost",
       cast(amount as decimal(38, 12)) as "EffectiveCost",
       'OpenAI' as "HostProviderName",
       'OpenAI' as "InvoiceIssuerName",
       cast(amount as decimal(38, 12)) as "ListCost",
       case when charge_class is null then cast(coalesce(quantity, 1) as decimal(38, 12)) end as "PricingQuantity",
       case when charge_class is null then case when quantity is null then 'Days' else unit end end as "PricingUnit",
       'OpenAI' as "ProviderName",
       'OpenAI' as "PublisherName",
       'AI and Machine Learning' as "ServiceCategory",
       'OpenAI API' as "ServiceName",
       'OpenAI' as "ServiceProviderName",
       'Generative AI' as "ServiceSubcategory",
       'Usage-Based' as "ChargeFrequency",
       project_id as "SubAccountId",
       case when project_id is not null then project_name end as "SubAccountName",
       case when charge_class is null then cast(coalesce(quantity, 1) as decimal(38, 12)) end as "ConsumedQuantity",
       case when charge_class is null then case when quantity is null then 'Days' else unit end end as "ConsumedUnit",
       line_item as "SkuId",
       line_item as "SkuPriceId",
       meter as "SkuMeter",
       case when method = 'usage_share' and charge_class is null then 'usage_share' end as "AllocatedMethodId",
       case when method = 'usage_share' and charge_class is null
            then '{"Elements":[{"AllocatedRatio":' || cast(ratio as varchar) || ',"UsageUnit":"' || unit
                 || '","UsageQuantity":' || cast(cast(quantity as decimal(38, 0)) as varchar) || '}]}'
       end as "AllocatedMethodDetails",
       case when method = 'usage_share' and charge_class is null then api_key_id end as "AllocatedResourceId",
       case when method = 'usage_share' and charge_class is null then api_key_name end as "AllocatedResourceName",
       api_key_id as "x_ApiKeyId",
       api_key_name as "x_ApiKeyName",
       method as "x_AllocationMethod"
from named;
