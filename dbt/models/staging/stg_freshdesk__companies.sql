with source as (
    select * from {{ source('raw_freshdesk', 'companies') }}
)

select
    id as freshdesk_company_id,
    custom_fields__cf_product_account_id as account_id,
    name as company_name,
    created_at,
    updated_at
from source
