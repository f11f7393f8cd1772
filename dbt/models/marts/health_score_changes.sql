-- The drill-down a CSM reads when an account turns yellow or red: one row per
-- account and score whose band is worse today than at some day in the last
-- `band_change_lookback_days`; since when (the day after the last better day), the
-- band it fell from, and which components pulled the score down over 7 and 28 days.
-- An unresolved sudden drop in active users (int_usage_drops_tracked) is shown on
-- the account's usage_health row, and gives it a row even while the band holds: a
-- collapse a few days old has not yet moved a score built on 28-day measures.
{%- set scores = ['usage_health', 'renewal_likelihood'] %}
with history as (
    {{ latest_days(ref('health_score_history'), 'score_date', var('band_change_lookback_days')) }}
),

current_day as (
    select max(score_date) as score_date from history
),

banded as (
    {%- for score in scores %}
    select
        account_id,
        score_date,
        '{{ score }}' as score_name,
        {{ score }}_band as band,
        case {{ score }}_band when 'green' then 1 when 'yellow' then 2 when 'red' then 3 end as band_rank
    from history
    where {{ score }}_band in ('green', 'yellow', 'red')
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

now as (
    select banded.*
    from banded
    inner join current_day
        on banded.score_date = current_day.score_date
),

last_better as (
    select
        now.account_id,
        now.score_name,
        max(earlier.score_date) as last_better_date
    from now
    inner join banded as earlier
        on now.account_id = earlier.account_id
        and now.score_name = earlier.score_name
        and earlier.band_rank < now.band_rank
    group by 1, 2
),

trends as (
    select * from {{ ref('health_score_trends') }}
),

accounts as (
    -- Active accounts only: a churned or CRM-deleted account is nobody's to act on.
    select account_id, account_name, owner_user_id, owner_name
    from {{ ref('int_accounts_mapped') }}
    where lifecycle_status = 'active'
),

usage_drops as (
    select * from {{ ref('int_usage_drops_tracked') }}
    where is_unresolved
)

select
    now.account_id,
    accounts.account_name,
    accounts.owner_user_id,
    accounts.owner_name,
    now.score_name,
    now.band as band_now,
    better_day.band as band_before,
    last_better.last_better_date,
    {{ add_days('last_better.last_better_date', 1) }} as worse_since_date,
    {{ days_between('last_better.last_better_date', 'now.score_date') }} as days_in_worse_band,
    trends.score_now,
    trends.score_7d_ago,
    trends.score_28d_ago,
    trends.change_7d,
    trends.change_28d,
    trends.top_dropping_component,
    trends.dropping_components_7d,
    trends.dropping_components_28d,
    usage_drops.account_id is not null as has_unresolved_usage_drop,
    usage_drops.drop_start_date as usage_drop_start_date,
    usage_drops.severity as usage_drop_severity,
    usage_drops.usage_drop_share
from now
left join last_better
    on now.account_id = last_better.account_id and now.score_name = last_better.score_name
left join banded as better_day
    on better_day.account_id = last_better.account_id
    and better_day.score_name = last_better.score_name
    and better_day.score_date = last_better.last_better_date
left join trends
    on now.account_id = trends.account_id and now.score_name = trends.score_name
inner join accounts
    on now.account_id = accounts.account_id
left join usage_drops
    on now.account_id = usage_drops.account_id and now.score_name = 'usage_health'
where last_better.last_better_date is not null or usage_drops.account_id is not null
