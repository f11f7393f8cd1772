-- Sent to Salesforce Account fields by the reverse-ETL sync `account_health`
-- (cs_platform/defs/activation/syncs/defs.yaml), matched on Product_Account_Id__c. One row per
-- active account that has a Salesforce Account. Column names are the sync's contract.
-- A deleted Salesforce Account is never written to; a churned account is not
-- either: its fields keep the last scores sent, and no risk flag is raised on a
-- customer who has already left.
select
    account_id,
    salesforce_account_id,
    usage_health_score,
    usage_health_band,
    renewal_likelihood_score,
    renewal_likelihood_band,
    usage_health_change_28d,
    usage_health_top_dropping_component as top_dropping_component,
    has_risk_signal as is_renewal_risk,
    has_upsell_signal,
    -- The per-account report page, linked from the CRM record.
    {{ report_url('account_id') }} as report_url
from {{ ref('account_360') }}
where salesforce_account_id is not null
  and lifecycle_status = 'active'
