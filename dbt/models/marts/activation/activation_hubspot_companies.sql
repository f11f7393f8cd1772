-- Sent to HubSpot company properties by the reverse-ETL sync `company_lifecycle`,
-- matched on the product_account_id property, so marketing can build lists for
-- CS-led nurture emails. One row per account that has a HubSpot company.
select
    account_id as product_account_id,
    usage_health_band,
    renewal_likelihood_band,
    has_risk_signal as is_renewal_risk,
    has_upsell_signal,
    is_setup_incomplete,
    coalesce(days_until_renewal between 0 and 89, false) as renews_within_90_days
from {{ ref('account_360') }}
where hubspot_company_id is not null
