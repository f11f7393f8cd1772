-- Every CSM touch on an account in one timeline: Salesforce Tasks and Events logged
-- by people, and the Tasks the platform's plays create (is_automated), newest first
-- per account when sorted by activity_date.
with activities as (
    select * from {{ ref('int_csm_activities_unioned') }}
),

accounts as (
    select account_id, account_name from {{ ref('int_accounts_mapped') }}
),

owners as (
    select salesforce_user_id, user_name from {{ ref('stg_salesforce__users') }}
)

select
    activities.activity_id,
    activities.account_id,
    accounts.account_name,
    activities.salesforce_account_id,
    activities.activity_date,
    activities.activity_source,
    activities.activity_type,
    case when activities.is_automated then 'automated' else 'manual' end as origin,
    activities.is_automated,
    activities.subject,
    activities.description,
    activities.activity_status,
    activities.is_completed,
    activities.is_touch,
    activities.due_date,
    activities.priority,
    activities.owner_user_id,
    owners.user_name as owner_name,
    activities.cs_external_id,
    activities.created_at
from activities
left join accounts
    on activities.account_id = accounts.account_id
left join owners
    on activities.owner_user_id = owners.salesforce_user_id
