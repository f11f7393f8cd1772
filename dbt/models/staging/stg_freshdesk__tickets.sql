with source as (
    select * from {{ source('raw_freshdesk', 'tickets') }}
)

select
    id as ticket_id,
    company_id as freshdesk_company_id,
    requester_id,
    subject,
    type as ticket_type,
    status as status_code,
    -- Freshdesk's documented codes, spelled out.
    case status
        when 2 then 'open'
        when 3 then 'pending'
        when 4 then 'resolved'
        when 5 then 'closed'
        else 'other'
    end as ticket_status,
    coalesce(status in (2, 3), false) as is_open,
    priority as priority_code,
    case priority
        when 1 then 'low'
        when 2 then 'medium'
        when 3 then 'high'
        when 4 then 'urgent'
    end as priority,
    tags as tags_json,
    -- tags is a JSON list of strings; a plain text match stays portable across warehouses.
    coalesce(lower(tags) like '%"escalation"%', false) as is_escalation,
    created_at,
    updated_at,
    due_by as due_at,
    fr_due_by as first_response_due_at
from source
