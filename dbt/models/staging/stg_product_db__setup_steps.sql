with source as (
    select * from {{ source('raw_product_db', 'setup_steps') }}
)

select
    account_id,
    step_key,
    completed_at,
    completed_at is not null as is_completed,
    updated_at
from source
