-- When spend reaches each hard limit and alert threshold this month, per organization and per project.
-- One row per (organization, scope, threshold); a scope with costs and no threshold has one row with no threshold.
-- Each configured organization is its own: its limits and alerts count against its own costs only, and "as of" is
-- its newest day with costs (usually still open). The forecast: month-to-date billed cost, plus the
-- trailing seven days before it (days without costs count as zero) at their daily average for every day left:
--   cumulative(end of day x) = mtd_amount + trailing_7d_amount / 7 * (x - as_of_day)
-- The forecast is an estimate and a DOUBLE (as in month_to_date); the dates below never divide.
-- `crosses_on` is the first day the actual cumulative cost (up to as_of_day) or the forecast (after it) reaches the
-- threshold, compared without division so the day is exact; null if it is not reached this month.
-- Thresholds are those the directory's last refresh listed, in dollars (the API gives cents), set against the
-- scope's costs in the threshold's currency; a hard limit of 0 means none is set.
create or replace view reporting.spend_runway as
with offsets (n) as (values
    (0), (1), (2), (3), (4), (5), (6), (7),
    (8), (9), (10), (11), (12), (13), (14), (15),
    (16), (17), (18), (19), (20), (21), (22), (23),
    (24), (25), (26), (27), (28), (29), (30)
),
bounds as (
    select organization,
           as_of_day,
           cast(date_trunc('month', as_of_day) as date) as month_start,
           cast(cast(date_trunc('month', as_of_day) as date) + interval 1 month as date) - 1 as last_day
    from (select organization, max(day) as as_of_day from staging.stg_costs group by organization) as newest
    where as_of_day is not null
),
scoped as (
    select organization, 'organization' as scope, cast(null as varchar) as project_id, day, currency, amount
    from staging.stg_costs
    union all
    select organization, 'project', project_id, day, currency, amount from staging.stg_costs
    where project_id is not null
),
totals as (
    select s.organization, s.scope, s.project_id, s.currency, b.as_of_day, b.month_start, b.last_day,
           sum(case when s.day >= b.month_start and s.day <= b.as_of_day then s.amount else 0 end) as mtd_amount,
           sum(case when s.day >= b.as_of_day - 7 and s.day < b.as_of_day then s.amount else 0 end)
               as trailing_7d_amount
    from scoped as s
    join bounds as b on b.organization = s.organization
    group by s.organization, s.scope, s.project_id, s.currency, b.as_of_day, b.month_start, b.last_day
),
days as (
    -- Every day of each organization's month: its first day plus 0..30, as values so every engine can read it.
    select b.organization, cast(b.month_start + o.n as date) as day
    from bounds as b
    cross join offsets as o
    where b.month_start + o.n <= b.last_day
),
daily as (
    select organization, scope, coalesce(project_id, '') as scope_key, currency, day, sum(amount) as amount
    from scoped
    group by organization, scope, coalesce(project_id, ''), currency, day
),
path as (
    select t.organization, t.scope, coalesce(t.project_id, '') as scope_key, t.currency, d.day, t.as_of_day,
           t.mtd_amount, t.trailing_7d_amount,
           sum(coalesce(y.amount, 0)) over (partition by t.organization, t.scope, t.project_id, t.currency
                                         order by d.day nulls first) as actual
    from totals as t
    join days as d on d.organization = t.organization
    left join daily as y on y.organization = t.organization and y.scope = t.scope
                        and y.scope_key = coalesce(t.project_id, '') and y.currency = t.currency and y.day = d.day
),
refreshed as (
    -- Each organization's newest directory refresh: a limit or alert that it did not list again was deleted (or is
    -- no longer readable, which the load warned of), and no longer counts.
    select organization, max(t) as refreshed_at from (
        select organization, max(last_seen_at) as t from openai_usage.projects group by organization
        union all select organization, max(last_seen_at) from openai_usage.spend_limits group by organization
        union all select organization, max(last_seen_at) from openai_usage.spend_alerts group by organization
    ) as seen
    group by organization
),
thresholds as (
    select l.organization, l.scope, coalesce(l.project_id, '') as scope_key,
           lower(coalesce(l.currency, 'usd')) as currency,
           'hard_limit' as threshold_type, cast(null as varchar) as threshold_id,
           cast(l.threshold_amount as decimal(18, 0)) * 0.01 as threshold_amount, l.enforcement_status
    from openai_usage.spend_limits as l
    join refreshed as r on r.organization = l.organization
    where l.threshold_amount > 0 and l.last_seen_at >= r.refreshed_at
    union all
    select a.organization, a.scope, coalesce(a.project_id, ''), lower(coalesce(a.currency, 'usd')), 'alert', a.id,
           cast(a.threshold_amount as decimal(18, 0)) * 0.01, cast(null as varchar)
    from openai_usage.spend_alerts as a
    join refreshed as r on r.organization = a.organization
    where a.last_seen_at >= r.refreshed_at
),
crossings as (
    select th.organization, th.scope, th.scope_key, th.currency, th.threshold_type, th.threshold_id,
           th.threshold_amount, th.enforcement_status, min(p.day) as crosses_on
    from thresholds as th
    join path as p on p.organization = th.organization and p.scope = th.scope and p.scope_key = th.scope_key
                  and p.currency = th.currency
    where (p.day <= p.as_of_day and p.actual >= th.threshold_amount)
       or (p.day > p.as_of_day
           and p.mtd_amount * 7 + p.trailing_7d_amount * date_diff('day', p.as_of_day, p.day) >= th.threshold_amount * 7)
    group by th.organization, th.scope, th.scope_key, th.currency, th.threshold_type, th.threshold_id,
             th.threshold_amount, th.enforcement_status
),
scope_thresholds as (
    select th.organization, th.scope, th.scope_key, th.currency, th.threshold_type, th.threshold_id,
           th.threshold_amount, th.enforcement_status, c.crosses_on
    from thresholds as th
    left join crossings as c on c.organization = th.organization and c.scope = th.scope
                            and c.scope_key = th.scope_key and c.currency = th.currency
                            and c.threshold_type = th.threshold_type
                            and coalesce(c.threshold_id, '') = coalesce(th.threshold_id, '')
)
select t.organization,
       t.month_start as month,
       t.as_of_day,
       t.scope,
       t.project_id,
       case when t.scope = 'project' then n.name end as project_name,
       t.currency,
       t.mtd_amount,
       t.trailing_7d_amount,
       cast(t.mtd_amount as double)
           + cast(t.trailing_7d_amount as double) * date_diff('day', t.as_of_day, t.last_day) / 7 as forecast_month_amount,
       s.threshold_type,
       s.threshold_id,
       s.threshold_amount,
       s.enforcement_status,
       s.crosses_on,
       coalesce(s.crosses_on <= t.as_of_day, false) as already_crossed,
       coalesce(s.threshold_type = 'hard_limit' and s.crosses_on is not null, false) as enforces_before_month_end
from totals as t
left join scope_thresholds as s on s.organization = t.organization and s.scope = t.scope
                               and s.scope_key = coalesce(t.project_id, '') and s.currency = t.currency
left join intermediate.int_names as n
       on n.organization = t.organization and n.kind = 'project' and n.join_key = coalesce(t.project_id, '');
