-- Cost and tokens per organization, month and model; cost per million tokens where line items name the model.
-- Tokens are completions input + output and embeddings input.
create or replace view reporting.model_costs as
with cost as (
    select organization, cast(date_trunc('month', day) as date) as month, model, currency, sum(amount) as amount
    from staging.stg_costs
    where model is not null
    group by organization, cast(date_trunc('month', day) as date), model, currency
),
tokens as (
    select organization, cast(date_trunc('month', day) as date) as month, model,
           sum(case when metric = 'input_tokens' then value end) as input_tokens,
           sum(case when metric = 'output_tokens' then value end) as output_tokens
    from staging.stg_usage
    where kind in ('completions', 'embeddings') and model is not null
    group by organization, cast(date_trunc('month', day) as date), model
)
select coalesce(c.organization, t.organization) as organization,
       coalesce(c.month, t.month) as month,
       coalesce(c.model, t.model) as model,
       c.currency,
       c.amount,
       t.input_tokens,
       t.output_tokens,
       cast(c.amount as double) * 1000000
           / nullif(coalesce(t.input_tokens, 0) + coalesce(t.output_tokens, 0), 0) as cost_per_million_tokens
from cost as c
full outer join tokens as t on c.organization = t.organization and c.month = t.month and c.model = t.model;
