-- Billed cost per organization, month and owner (a user or a service account): the chargeback roll-up of
-- cost_allocation. `billed_amount` came per key from the API, `usage_share_amount` was split by usage; cost no key
-- can carry is one row with owner '(unallocated)'. Per organization and month the amounts sum to billed cost exactly.
create or replace view reporting.owner_costs as
select organization,
       cast(date_trunc('month', day) as date) as month,
       owner_type,
       owner_id,
       owner_name,
       currency,
       count(distinct api_key_id) as api_keys,
       sum(case when method = 'billed' then amount else 0 end) as billed_amount,
       sum(case when method = 'usage_share' then amount else 0 end) as usage_share_amount,
       sum(case when method = 'unallocated' then amount else 0 end) as unallocated_amount,
       sum(amount) as amount
from reporting.cost_allocation
group by organization, cast(date_trunc('month', day) as date), owner_type, owner_id, owner_name, currency;
