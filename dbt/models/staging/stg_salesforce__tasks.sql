with source as (
    select * from {{ source('raw_salesforce', 'task') }}
)

select
    Id as task_id,
    AccountId as salesforce_account_id,
    WhatId as what_id,
    OwnerId as owner_user_id,
    Subject as subject,
    Type as task_type,
    Status as task_status,
    Priority as priority,
    cast(ActivityDate as date) as activity_date,
    Description as description,
    -- Set on tasks the platform created (plays, renewal-risk tasks): their idempotency key.
    CS_External_Id__c as cs_external_id,
    CreatedDate as created_at,
    SystemModstamp as system_modstamp
from source
where not coalesce(IsDeleted, false)
