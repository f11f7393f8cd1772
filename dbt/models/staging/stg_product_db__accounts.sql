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
    updated_at,
    -- When the loader wrote the row: the plan history (snapshot) is watched by it.
    _loaded_at as loaded_at
from source
