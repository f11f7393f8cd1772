with source as (
    select * from {{ source('raw_freshdesk', 'satisfaction_ratings') }}
)

select
    id as satisfaction_rating_id,
    survey_id,
    ticket_id,
    user_id,
    ratings__default_question as rating_code,
    case ratings__default_question
        when 103 then 'happy'
        when 100 then 'neutral'
        when -103 then 'unhappy'
    end as rating,
    feedback,
    created_at,
    updated_at
from source
