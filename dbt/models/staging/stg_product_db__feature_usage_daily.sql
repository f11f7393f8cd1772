with source as (
    select * from {{ source('raw_product_db', 'feature_usage_daily') }}
)

select
    account_id,
    cast(usage_date as date) as usage_date,
    feature_key,
    active_users,
    event_count
from source
