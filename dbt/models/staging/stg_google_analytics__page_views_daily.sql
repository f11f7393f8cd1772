with source as (
    select * from {{ source('raw_google_analytics', 'page_views_daily') }}
)

select
    cast({{ adapter.quote('date') }} as date) as visit_date,
    customEvent_account_id as account_id,
    hostName as host_name,
    -- help.example.com is the help site; everything else is the product itself.
    case when lower(hostName) like 'help.%' then 'help' else 'app' end as site,
    screenPageViews as page_views,
    sessions,
    activeUsers as active_users
from source
