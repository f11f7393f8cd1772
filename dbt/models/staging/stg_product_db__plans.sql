with source as (
    select * from {{ source('raw_product_db', 'plans') }}
)

select
    plan_id,
    name as plan_name,
    seat_limit,
    monthly_price,
    updated_at
from source
