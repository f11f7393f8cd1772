with source as (
    select * from {{ source('raw_hubspot', 'companies') }}
)

select
    id as hubspot_company_id,
    properties__product_account_id as account_id,
    properties__name as company_name,
    properties__domain as domain,
    properties__lifecyclestage as lifecycle_stage,
    properties__hs_lastmodifieddate as last_modified_at,
    createdAt as created_at,
    updatedAt as updated_at
from source
-- Archived companies are HubSpot's deleted records.
where not coalesce(archived, false)
