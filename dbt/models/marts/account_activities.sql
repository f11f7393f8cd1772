-- Every touch on an account in one timeline: Salesforce Tasks and Events logged by
-- people, the Tasks the platform's plays create in Salesforce (is_automated), and
-- every message, Task or action a play sent (plays.play_firings, status sent).
-- Newest first per account when sorted by activity_date.
-- The play rows are here only: int_csm_activities_unioned, from which the CSM
-- activity measures and the no-recent-CSM-activity signal come, does not read
-- them, so an automated alert never counts as a CSM touch. This model is a leaf:
-- nothing upstream of account_segments (where plays start) may read the firings.
with activities as (
    select * from {{ ref('int_csm_activities_unioned') }}
),

firings as (
    {{ source_or_empty('plays', 'play_firings') }}
),

accounts as (
    select account_id, account_name, salesforce_account_id from {{ ref('int_accounts_mapped') }}
),

owners as (
    select salesforce_user_id, user_name from {{ ref('stg_salesforce__users') }}
),

salesforce as (
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
        cast(null as {{ dbt.type_string() }}) as play,
        activities.subject,
        activities.description,
        activities.activity_status,
        activities.is_completed,
        activities.is_touch,
        activities.due_date,
        activities.priority,
        activities.owner_user_id,
        owners.user_name as owner_name,
        cast(null as {{ dbt.type_string() }}) as recipient,
        activities.cs_external_id,
        activities.created_at
    from activities
    left join accounts
        on activities.account_id = accounts.account_id
    left join owners
        on activities.owner_user_id = owners.salesforce_user_id
),

plays as (
    -- Only what went out: pending, failed and suppressed decisions are not activities.
    select
        firings.firing_id as activity_id,
        firings.account_id,
        accounts.account_name,
        accounts.salesforce_account_id,
        cast(firings.sent_at as date) as activity_date,
        'play' as activity_source,
        'play_' || firings.level as activity_type,
        'automated' as origin,
        true as is_automated,
        firings.play,
        {{ dbt.split_part('firings.message', newline(), 1) }} as subject,
        firings.message as description,
        'Sent' as activity_status,
        true as is_completed,
        -- Not a CSM touch: nobody spoke with the customer.
        false as is_touch,
        cast(null as date) as due_date,
        cast(null as {{ dbt.type_string() }}) as priority,
        cast(null as {{ dbt.type_string() }}) as owner_user_id,
        cast(null as {{ dbt.type_string() }}) as owner_name,
        firings.recipient,
        -- A task play's key is the Salesforce Task's CS_External_Id__c: the two rows link.
        case when firings.level = 'task' then firings.destination_ref end as cs_external_id,
        firings.sent_at as created_at
    from firings
    left join accounts
        on firings.account_id = accounts.account_id
    where firings.status = 'sent'
)

select * from salesforce
union all
select * from plays
