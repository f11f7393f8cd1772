with source as (
    select * from {{ source('raw_salesforce', 'user') }}
)

select
    Id as salesforce_user_id,
    Name as user_name,
    lower(Email) as email,
    Title as title,
    IsActive as is_active,
    SystemModstamp as system_modstamp
from source
