with source as (
    select * from {{ source('raw_product_db', 'users') }}
)

select
    user_id,
    account_id,
    -- Lower-cased: emails are matched across tools (HubSpot, Salesforce).
    lower(email) as email,
    role as user_role,
    created_at,
    last_active_at,
    updated_at
from source
