with source as (
    select * from {{ source('raw_airtable', 'feature_requests') }}
)

select
    id as feature_request_id,
    fields__AccountId as account_id,
    fields__Title as title,
    fields__Category as category,
    fields__Status as request_status,
    fields__Priority as priority,
    coalesce(fields__Votes, 0) as votes,
    cast(fields__RequestedAt as date) as requested_date,
    createdTime as created_at
from source
