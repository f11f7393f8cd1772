-- Each account's latest sudden drop in daily active users (a collapse that
-- usage_anomalies flags, started in the last `usage_drop_lookback_days`) and
-- whether usage has come back since. Unresolved while the days since it started
-- (the last 7 at most) have fewer than `usage_drop_recovered_share` of the users
-- that the same weekdays had before it: each day is set against its weekday's
-- baseline as it stood in the week before the drop (8 weeks of pre-drop days), so
-- neither the weekday mix of a 3-day-old drop nor a baseline that has since
-- caught up with the drop makes it look recovered. account_360 turns an
-- unresolved drop into a risk signal.
with scored as (
    {{ latest_days(ref('int_usage_anomalies_scored'), 'signal_date', var('usage_drop_lookback_days') + 7) }}
),

current_day as (
    select max(signal_date) as signal_date from scored
),

starts as (
    select
        scored.account_id,
        scored.signal_date as drop_start_date,
        scored.severity,
        row_number() over (partition by scored.account_id order by scored.signal_date desc) as recency
    from scored
    cross join current_day
    where scored.anomaly_type = 'drop'
      and scored.is_first_day
      and scored.signal_date > {{ add_days('current_day.signal_date', -var('usage_drop_lookback_days')) }}
),

latest as (
    select
        starts.account_id,
        starts.drop_start_date,
        starts.severity,
        current_day.signal_date as current_date_scored
    from starts
    cross join current_day
    where starts.recency = 1
),

-- The days since the start (the last 7 at most), each with the day of the same
-- weekday in the week before the start.
compared as (
    select
        latest.account_id,
        latest.drop_start_date,
        latest.severity,
        latest.current_date_scored,
        since.daily_active_users,
        before.expected_daily_active_users as pre_drop_expected
    from latest
    inner join scored as since
        on latest.account_id = since.account_id
        and since.signal_date >= latest.drop_start_date
        and since.signal_date > {{ add_days('latest.current_date_scored', -7) }}
    inner join scored as before
        on latest.account_id = before.account_id
        and before.signal_date >= {{ add_days('latest.drop_start_date', -7) }}
        and before.signal_date < latest.drop_start_date
        and mod({{ days_between('before.signal_date', 'since.signal_date') }}, 7) = 0
),

measured as (
    select
        account_id,
        drop_start_date,
        severity,
        current_date_scored,
        count(*) as days_compared,
        sum(daily_active_users) / count(*) as recent_daily_active_users,
        sum(pre_drop_expected) / count(*) as pre_drop_daily_active_users,
        {{ safe_ratio('sum(daily_active_users)', 'sum(pre_drop_expected)') }} as recovery_ratio
    from compared
    group by 1, 2, 3, 4
)

select
    account_id,
    drop_start_date,
    severity,
    {{ days_between('drop_start_date', 'current_date_scored') }} + 1 as days_since_drop_start,
    days_compared,
    recent_daily_active_users,
    pre_drop_daily_active_users,
    recovery_ratio,
    greatest(1 - recovery_ratio, 0) as usage_drop_share,
    recovery_ratio < {{ var('usage_drop_recovered_share') }} as is_unresolved
from measured
