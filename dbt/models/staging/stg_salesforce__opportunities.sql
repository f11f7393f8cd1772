with source as (
    select * from {{ source('raw_salesforce', 'opportunity') }}
)

select
    Id as opportunity_id,
    AccountId as salesforce_account_id,
    Name as opportunity_name,
    Type as opportunity_type,
    StageName as stage_name,
    Amount as amount,
    cast(CloseDate as date) as close_date,
    IsClosed as is_closed,
    IsWon as is_won,
    SystemModstamp as system_modstamp
from source
where not coalesce(IsDeleted, false)
