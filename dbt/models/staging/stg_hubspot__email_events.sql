with source as (
    select * from {{ source('raw_hubspot', 'email_events') }}
)

select
    id as email_event_id,
    -- SENT, DELIVERED, OPEN, CLICK, BOUNCE, UNSUBSCRIBED
    upper(type) as event_type,
    created as created_at,
    lower(recipient) as recipient_email,
    emailCampaignId as email_campaign_id,
    portalId as portal_id
from source
