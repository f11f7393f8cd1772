-- Every Salesforce Account record the loader holds, deleted ones included: the
-- loader reads with queryAll, so a deletion arrives as the record once more with
-- IsDeleted = true. Kept and flagged (is_deleted), unlike the other staging models:
-- the history snapshot (snapshots/staging/crm_history.yml) records deletions as
-- versions, and int_accounts_mapped tells a deleted account by them.
with source as (
    select * from {{ source('raw_salesforce', 'account') }}
)

select
    Id as salesforce_account_id,
    -- The product account id: the key every other tool is joined on.
    Product_Account_Id__c as account_id,
    Name as account_name,
    OwnerId as owner_user_id,
    Industry as industry,
    NumberOfEmployees as number_of_employees,
    CSM_Impression__c as csm_impression,
    cast(CSM_Impression_Date__c as date) as csm_impression_date,
    coalesce(IsDeleted, false) as is_deleted,
    CreatedDate as created_at,
    SystemModstamp as system_modstamp,
    _loaded_at as loaded_at
from source
