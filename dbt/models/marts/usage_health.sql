-- Usage health today, one row per account: the 0-100 score and band, each
-- component's raw value and 0-100 score, the components that had no data (left out,
-- the other weights scaled up), and how the score moved over 7 and 28 days.
{%- set components = health_score_components() | selectattr('score', 'equalto', 'usage_health') | list %}
with latest as (
    select history.*
    from {{ ref('health_score_history') }} as history
    -- Active accounts only: churned and CRM-deleted ones are in account_360 with their status.
    inner join {{ ref('int_accounts_mapped') }} as accounts
        on history.account_id = accounts.account_id and accounts.lifecycle_status = 'active'
    where history.score_date = {{ latest_day_in(ref('health_score_history'), 'score_date') or 'cast(null as date)' }}
),

trend as (
    select * from {{ ref('health_score_trends') }}
    where score_name = 'usage_health'
)

select
    latest.account_id,
    latest.score_date,
    latest.usage_health_score,
    latest.usage_health_band,
    latest.usage_health_missing_components as missing_components,
    trend.score_7d_ago,
    trend.score_28d_ago,
    trend.change_7d,
    trend.change_28d,
    trend.top_dropping_component,
    trend.dropping_components_28d,
    {%- for c in components %}
    latest.{{ c.component }}_value,
    latest.{{ c.component }}_score{% if not loop.last %},{% endif %}
    {%- endfor %}
from latest
left join trend
    on latest.account_id = trend.account_id
