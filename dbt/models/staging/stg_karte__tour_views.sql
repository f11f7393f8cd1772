with source as (
    select * from {{ source('raw_karte', 'tour_views') }}
)

select
    event_id as tour_view_id,
    account_id,
    user_id,
    tour_id,
    step as step_number,
    coalesce(completed, false) as is_completed,
    viewed_at
from source
