-- Sudden drops and spikes in an account's daily active users, one row per account
-- and day flagged; the scoring is int_usage_anomalies_scored's (incremental).

with flagged as (
    select
        *,
        signal_date as anomaly_date
    from {{ ref('int_usage_anomalies_scored') }}
    where anomaly_type is not null
),

anomalies as (
    select
        flagged.*,
        lag(anomaly_date) over (partition by account_id, anomaly_type order by anomaly_date) as previous_anomaly_date
    from flagged
)

select
    account_id,
    anomaly_date,
    anomaly_type,
    -- A drop that lasts is flagged every day until the baseline catches up; the
    -- first day of such a run is where it started.
    coalesce(previous_anomaly_date <> {{ add_days('anomaly_date', -1) }}, true) as is_first_day,
    case
        when anomaly_type = 'drop' and ratio_3d <= 0.2 then 'high'
        when anomaly_type = 'drop' and ratio_3d <= 0.35 then 'medium'
        when anomaly_type = 'spike' and z_score >= 8 then 'high'
        when anomaly_type = 'spike' and z_score >= 6 then 'medium'
        else 'low'
    end as severity,
    daily_active_users,
    expected_daily_active_users,
    dau_same_weekday_last_week,
    week_over_week_change,
    z_score,
    ratio_3d as three_day_ratio_to_expected,
    z_score_3d
from anomalies
