with source as (
    select * from {{ source('raw_karte', 'nps_responses') }}
)

select
    response_id as nps_response_id,
    account_id,
    user_id,
    score as nps_score,
    comment,
    responded_at,
    -- The export file the row came from.
    _load_id as export_file
from source
