with source as (
    select * from {{ source('raw_salesforce', 'contract') }}
)

select
    Id as contract_id,
    AccountId as salesforce_account_id,
    ContractNumber as contract_number,
    Status as contract_status,
    cast(StartDate as date) as start_date,
    cast(EndDate as date) as end_date,
    ContractTerm as contract_term_months,
    ARR__c as arr,
    coalesce(Auto_Renew__c, false) as is_auto_renew,
    SystemModstamp as system_modstamp
from source
where not coalesce(IsDeleted, false)
