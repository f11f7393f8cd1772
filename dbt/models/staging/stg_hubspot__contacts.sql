with source as (
    select * from {{ source('raw_hubspot', 'contacts') }}
)

select
    id as hubspot_contact_id,
    properties__associatedcompanyid as hubspot_company_id,
    lower(properties__email) as email,
    properties__firstname as first_name,
    properties__lastname as last_name,
    properties__jobtitle as job_title,
    properties__hs_lastmodifieddate as last_modified_at,
    createdAt as created_at,
    updatedAt as updated_at
from source
where not coalesce(archived, false)
