-- Renewal likelihood today, one row per account: a score separate from usage health,
-- because good usage does not guarantee a renewal. Same shape as usage_health, plus
-- the CSM's impression and whether it is too old to count (stale).
{%- set components = health_score_components() | selectattr('score', 'equalto', 'renewal_likelihood') | list %}
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
    where score_name = 'renewal_likelihood'
)

select
    latest.account_id,
    latest.score_date,
    latest.renewal_likelihood_score,
    latest.renewal_likelihood_band,
    latest.renewal_likelihood_missing_components as missing_components,
    latest.csm_impression,
    latest.csm_impression_age_days,
    latest.is_csm_impression_stale,
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
