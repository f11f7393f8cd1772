-- Sent to HubSpot company properties by the reverse-ETL sync `company_lifecycle`,
-- matched on the product_account_id property, so marketing can build lists for
-- CS-led nurture emails. One row per active account that has a HubSpot company:
-- a churned or CRM-deleted account is no longer written (its properties keep the
-- last values sent; nurture lists should not pick up a lost customer as at risk).
select
    account_id as product_account_id,
    usage_health_band,
    renewal_likelihood_band,
    has_risk_signal as is_renewal_risk,
    has_upsell_signal,
    is_setup_incomplete,
    {{ renews_within('days_until_renewal', 90) }} as renews_within_90_days
from {{ ref('account_360') }}
where hubspot_company_id is not null
  and lifecycle_status = 'active'
