with source as (
    select * from {{ source('raw_salesforce', 'event') }}
)

select
    Id as event_id,
    AccountId as salesforce_account_id,
    WhatId as what_id,
    OwnerId as owner_user_id,
    Subject as subject,
    Type as event_type,
    StartDateTime as start_at,
    EndDateTime as end_at,
    SystemModstamp as system_modstamp
from source
where not coalesce(IsDeleted, false)
