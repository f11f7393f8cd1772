with source as (
    select * from {{ source('raw_salesforce', 'contact') }}
)

select
    Id as salesforce_contact_id,
    AccountId as salesforce_account_id,
    FirstName as first_name,
    LastName as last_name,
    lower(Email) as email,
    Title as title,
    coalesce(Is_Champion__c, false) as is_champion,
    SystemModstamp as system_modstamp
from source
where not coalesce(IsDeleted, false)
