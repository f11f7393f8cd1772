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
    CreatedDate as created_at,
    SystemModstamp as system_modstamp
from source
-- Deleted records stay in the raw table (queryAll); they are not accounts any more.
where not coalesce(IsDeleted, false)
