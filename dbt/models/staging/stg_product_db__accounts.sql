with source as (
    select * from {{ source('raw_product_db', 'accounts') }}
)

select
    account_id,
    name as account_name,
    plan_id,
    industry,
    status as account_status,
    created_at,
    updated_at
from source
