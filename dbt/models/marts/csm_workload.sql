-- One row per CSM (Salesforce user): the book of business (accounts, ARR), how much
-- of it is red or at risk, and the work done and waiting (last 30 days). The book
-- is the owner's active accounts (churned and CRM-deleted ones are no longer worked);
-- renewals at risk are those of the renewal list's window (renews_within).
with csms as (
    select * from {{ ref('stg_salesforce__users') }}
),

book as (
    select
        owner_user_id,
        count(*) as accounts_owned,
        sum(coalesce(arr, 0)) as arr_owned,
        sum(case when usage_health_band = 'red' then 1 else 0 end) as red_usage_health_accounts,
        sum(case when renewal_likelihood_band = 'red' then 1 else 0 end) as low_renewal_likelihood_accounts,
        sum(case when has_risk_signal and {{ renews_within('days_until_renewal') }}
            then 1 else 0 end) as renewals_at_risk,
        sum(case when has_no_recent_csm_activity then 1 else 0 end) as accounts_without_recent_activity
    from {{ ref('account_360') }}
    where owner_user_id is not null
      and lifecycle_status = 'active'
    group by 1
),

work as (
    select
        owner_user_id,
        sum(case when activity_source = 'salesforce_task' and not is_completed then 1 else 0 end) as tasks_open,
        sum(case when activity_source = 'salesforce_task' and is_completed
                  and activity_date >= {{ add_days(as_of_date(), -30) }} then 1 else 0 end) as tasks_done_30d,
        sum(case when is_touch and activity_date >= {{ add_days(as_of_date(), -30) }} then 1 else 0 end)
            as touches_30d,
        sum(case when activity_source = 'salesforce_event' and is_touch
                  and activity_date >= {{ add_days(as_of_date(), -30) }} then 1 else 0 end) as meetings_30d
    from {{ ref('int_csm_activities_unioned') }}
    where owner_user_id is not null
    group by 1
)

select
    csms.salesforce_user_id as owner_user_id,
    csms.user_name as owner_name,
    csms.email as owner_email,
    csms.title,
    csms.is_active,
    coalesce(book.accounts_owned, 0) as accounts_owned,
    coalesce(book.arr_owned, 0) as arr_owned,
    coalesce(book.red_usage_health_accounts, 0) as red_usage_health_accounts,
    coalesce(book.low_renewal_likelihood_accounts, 0) as low_renewal_likelihood_accounts,
    coalesce(book.renewals_at_risk, 0) as renewals_at_risk,
    coalesce(book.accounts_without_recent_activity, 0) as accounts_without_recent_activity,
    coalesce(work.tasks_open, 0) as tasks_open,
    coalesce(work.tasks_done_30d, 0) as tasks_done_30d,
    coalesce(work.meetings_30d, 0) as meetings_30d,
    coalesce(work.touches_30d, 0) as touches_30d
from csms
left join book
    on csms.salesforce_user_id = book.owner_user_id
left join work
    on csms.salesforce_user_id = work.owner_user_id
