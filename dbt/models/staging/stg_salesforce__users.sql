with source as (
    select * from {{ source('raw_salesforce', 'user') }}
)

select
    Id as salesforce_user_id,
    Name as user_name,
    lower(Email) as email,
    Title as title,
    -- The user's manager (a CSM's CS Lead): where plays send "my team's accounts".
    ManagerId as manager_user_id,
    IsActive as is_active,
    SystemModstamp as system_modstamp
from source
