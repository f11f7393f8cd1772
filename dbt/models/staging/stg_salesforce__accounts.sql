-- The live Salesforce Accounts: deleted records stay in the raw table (queryAll),
-- they are not accounts any more (stg_salesforce__account_records keeps them).
select
    salesforce_account_id,
    account_id,
    account_name,
    owner_user_id,
    industry,
    number_of_employees,
    csm_impression,
    csm_impression_date,
    created_at,
    system_modstamp
from {{ ref('stg_salesforce__account_records') }}
where not is_deleted
