-- This month so far against the same days of last month, and a run-rate forecast for the month end, per
-- organization. "As of" is the organization's newest day with costs (each organization is read on its own, and may
-- be behind); the forecast extrapolates from complete days only, because the newest day is usually still open.
create or replace view reporting.month_to_date as
with as_of as (
    select organization, max(day) as as_of_day from staging.stg_costs group by organization
),
bounds as (
    select organization,
           as_of_day,
           cast(date_trunc('month', as_of_day) as date) as month_start,
           cast(date_trunc('month', as_of_day) - interval 1 month as date) as prior_month_start,
           extract(day from as_of_day) as days_elapsed,
           extract(day from cast(date_trunc('month', as_of_day) + interval 1 month as date) - 1) as days_in_month
    from as_of
    where as_of_day is not null
),
totals as (
    select b.organization,
           b.month_start,
           b.as_of_day,
           b.days_elapsed,
           b.days_in_month,
           c.currency,
           sum(case when c.day >= b.month_start and c.day <= b.as_of_day then c.amount end) as mtd_amount,
           sum(case when c.day >= b.month_start and c.day <= b.as_of_day and c.is_complete_day
                    then c.amount end) as complete_days_amount,
           count(distinct case when c.day >= b.month_start and c.day <= b.as_of_day and c.is_complete_day
                               then c.day end) as complete_days,
           sum(case when c.day >= b.prior_month_start and c.day < b.prior_month_start + cast(b.days_elapsed as integer)
                         and c.day < b.month_start
                    then c.amount end) as prior_same_days_amount
    from bounds as b
    join staging.stg_costs as c on c.organization = b.organization
    group by b.organization, b.month_start, b.as_of_day, b.days_elapsed, b.days_in_month, c.currency
)
select organization,
       month_start as month,
       as_of_day,
       currency,
       coalesce(mtd_amount, 0) as mtd_amount,
       coalesce(prior_same_days_amount, 0) as prior_same_days_amount,
       coalesce(mtd_amount, 0) - coalesce(prior_same_days_amount, 0) as change_amount,
       cast(mtd_amount as double) / nullif(cast(prior_same_days_amount as double), 0) - 1 as change_ratio,
       cast(days_elapsed as integer) as days_elapsed,
       cast(days_in_month as integer) as days_in_month,
       cast(complete_days_amount as double) / nullif(complete_days, 0) * days_in_month as forecast_month_end
from totals;
