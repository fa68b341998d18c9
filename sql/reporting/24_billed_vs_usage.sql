-- Billed (Costs) against usage per organization, day and project. Costs carry token quantities on their model line
-- items ('input', 'cached input', 'output'); usage counts completions input + output and embeddings input.
-- The difference is shown, never hidden: the two APIs do not reconcile exactly, and org-level costs
-- (project_id null) have no usage at all.
create or replace view reporting.billed_vs_usage as
with billed as (
    select organization, day, project_id, sum(amount) as billed_amount,
           sum(case when meter in ('input', 'cached input', 'output') then quantity end) as billed_tokens
    from staging.stg_costs
    group by organization, day, project_id
),
used as (
    select organization, day, project_id, sum(value) as usage_tokens
    from staging.stg_usage
    where (kind = 'completions' and metric in ('input_tokens', 'output_tokens'))
       or (kind = 'embeddings' and metric = 'input_tokens')
    group by organization, day, project_id
),
joined as (
    select coalesce(b.organization, u.organization) as organization,
           coalesce(b.day, u.day) as day,
           coalesce(b.project_id, u.project_id) as project_id,
           coalesce(b.billed_amount, 0) as billed_amount,
           b.billed_tokens,
           u.usage_tokens,
           coalesce(b.billed_tokens, 0) - coalesce(u.usage_tokens, 0) as token_difference
    from billed as b
    full outer join used as u
                 on b.organization = u.organization and b.day = u.day and b.project_id is not distinct from u.project_id
)
select j.*,
       p.name as project_name
from joined as j
left join intermediate.int_names as p
       on p.organization = j.organization and p.kind = 'project' and p.join_key = coalesce(j.project_id, '');
