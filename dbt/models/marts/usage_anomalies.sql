{{ config(materialized='view') }}
-- Sudden drops and spikes in an account's daily active users, one row per account
-- and day flagged. The scoring, the start of each run of flagged days and the
-- severity are int_usage_anomalies_scored's (incremental). A drop is a collapse
-- from a normal level, dated on its first day that is low by itself; a gradual
-- decline is not listed (usage health's usage_trend measures it). A view: a table would
-- copy every flagged day of all history on each daily run; readers filter by day
-- (account_segments reads the last 3), and on BigQuery only those partitions are read.

select
    account_id,
    signal_date as anomaly_date,
    anomaly_type,
    is_first_day,
    severity,
    daily_active_users,
    expected_daily_active_users,
    dau_same_weekday_last_week,
    week_over_week_change,
    z_score,
    ratio_3d as three_day_ratio_to_expected,
    z_score_3d
from {{ ref('int_usage_anomalies_scored') }}
where anomaly_type is not null
