-- Every CSM touch on an account in one shape: Salesforce Tasks (calls, emails,
-- to-dos) and Events (meetings). Tasks the platform's plays create carry
-- CS_External_Id__c and are marked automated, so manual and automated touches
-- share one timeline.
with accounts as (
    select account_id, salesforce_account_id from {{ ref('int_accounts_mapped') }}
),

tasks as (
    select
        task_id as activity_id,
        'salesforce_task' as activity_source,
        coalesce(task_type, 'Task') as activity_type,
        salesforce_account_id,
        owner_user_id,
        subject,
        description,
        task_status as activity_status,
        priority,
        -- A completed task happened on its activity date; an open one is a to-do,
        -- dated when it was created and due on its activity date.
        case when task_status = 'Completed' then cast(coalesce(activity_date, cast(created_at as date)) as date)
             else cast(created_at as date)
        end as activity_date,
        activity_date as due_date,
        task_status = 'Completed' as is_completed,
        cs_external_id,
        created_at
    from {{ ref('stg_salesforce__tasks') }}
),

events as (
    select
        event_id as activity_id,
        'salesforce_event' as activity_source,
        coalesce(event_type, 'Meeting') as activity_type,
        salesforce_account_id,
        owner_user_id,
        subject,
        cast(null as {{ dbt.type_string() }}) as description,
        case when cast(start_at as date) < {{ as_of_date() }} then 'Held' else 'Scheduled' end as activity_status,
        cast(null as {{ dbt.type_string() }}) as priority,
        cast(start_at as date) as activity_date,
        cast(start_at as date) as due_date,
        cast(start_at as date) < {{ as_of_date() }} as is_completed,
        cast(null as {{ dbt.type_string() }}) as cs_external_id,
        start_at as created_at
    from {{ ref('stg_salesforce__events') }}
),

unioned as (
    select * from tasks
    union all
    select * from events
)

select
    unioned.activity_id,
    unioned.activity_source,
    unioned.activity_type,
    accounts.account_id,
    unioned.salesforce_account_id,
    unioned.owner_user_id,
    unioned.subject,
    unioned.description,
    unioned.activity_status,
    unioned.priority,
    unioned.activity_date,
    unioned.due_date,
    unioned.is_completed,
    unioned.cs_external_id is not null as is_automated,
    unioned.cs_external_id,
    -- A touch is something that happened with the customer: a completed task or a
    -- meeting held, not a to-do still open.
    unioned.is_completed and unioned.activity_date < {{ as_of_date() }} as is_touch,
    unioned.created_at
from unioned
left join accounts
    on unioned.salesforce_account_id = accounts.salesforce_account_id
