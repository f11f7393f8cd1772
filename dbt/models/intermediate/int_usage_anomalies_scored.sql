{{
    config(
        materialized='incremental',
        unique_key=['account_id', 'signal_date'],
        on_schema_change='append_new_columns',
        partition_by=monthly_partitions('signal_date'),
        cluster_by=['account_id'],
    )
}}
{#-
  Every account-day that has a same-weekday baseline, scored against it; the
  flagged ones (anomaly_type drop or spike) are what usage_anomalies lists.
  A day is compared with its own weekday over the 8 weeks before (usage has a
  strong weekly rhythm): the week-over-week change, and a z-score against those 8
  same-weekday values. A drop must also hold: the day and the two after it (as far
  as data exists) are together far below what their weekdays lead to expect. That
  keeps a quiet Saturday in a small account from looking like a drop, and dates a
  real drop on the day it started.
  Incremental, so that a daily run re-scores a few days rather than all history:
  the signals' re-loaded days (usage_reload_days), the two days before them (their
  flags depend on those) and the new days. One day more is read, so that the first
  re-scored day knows whether the day before it was flagged too (is_first_day).
-#}
{%- set last_scored = latest_day(this, 'signal_date') if is_incremental() else none -%}
{%- set rescore_from = date_literal(last_scored, -1 - var('usage_reload_days')) -%}
with days as (
    select
        account_id,
        signal_date,
        daily_active_users,
        dau_same_weekday_last_week,
        dau_same_weekday_mean_8w as expected,
        -- The spread of a handful of counts can be tiny by chance: never below the
        -- Poisson noise of the expected count, nor below 1 user.
        greatest(coalesce(dau_same_weekday_sd_8w, 0), sqrt(coalesce(dau_same_weekday_mean_8w, 0)), 1.0) as spread
    from {{ ref('int_account_signals_computed') }}
    {%- if rescore_from %}
    where signal_date >= {{ date_literal(last_scored, -2 - var('usage_reload_days')) }}
    {%- endif %}
),

with_next as (
    select
        days.*,
        {%- set next_days = 'partition by account_id order by signal_date' %}
        lead(daily_active_users, 1) over ({{ next_days }}) as dau_next_1,
        lead(daily_active_users, 2) over ({{ next_days }}) as dau_next_2,
        lead(expected, 1) over ({{ next_days }}) as expected_next_1,
        lead(expected, 2) over ({{ next_days }}) as expected_next_2,
        lead(spread, 1) over ({{ next_days }}) as spread_next_1,
        lead(spread, 2) over ({{ next_days }}) as spread_next_2
    from days
    where expected is not null
),

scored as (
    select
        account_id,
        signal_date,
        daily_active_users,
        expected as expected_daily_active_users,
        dau_same_weekday_last_week,
        {{ safe_ratio('daily_active_users - dau_same_weekday_last_week', 'dau_same_weekday_last_week') }}
            as week_over_week_change,
        (daily_active_users - expected) / spread as z_score,
        -- The day and up to two following days, against what their weekdays expect.
        daily_active_users + coalesce(dau_next_1, 0) + coalesce(dau_next_2, 0) as observed_3d,
        expected
            + case when dau_next_1 is null then 0 else coalesce(expected_next_1, 0) end
            + case when dau_next_2 is null then 0 else coalesce(expected_next_2, 0) end as expected_3d,
        sqrt(
            spread * spread
            + case when dau_next_1 is null then 0 else coalesce(spread_next_1 * spread_next_1, 0) end
            + case when dau_next_2 is null then 0 else coalesce(spread_next_2 * spread_next_2, 0) end
        ) as spread_3d
    from with_next
),

flagged as (
    select
        scored.*,
        {{ safe_ratio('observed_3d', 'expected_3d') }} as ratio_3d,
        (observed_3d - expected_3d) / spread_3d as z_score_3d,
        case
            when expected_daily_active_users >= 1
                and daily_active_users <= 0.5 * expected_daily_active_users
                and observed_3d <= 0.5 * expected_3d
                and (observed_3d - expected_3d) / spread_3d <= -3
                then 'drop'
            when daily_active_users >= 2 * expected_daily_active_users
                and daily_active_users - expected_daily_active_users >= 5
                and z_score >= 4
                then 'spike'
        end as anomaly_type
    from scored
),

-- The flagged day before each flagged day (a window over the few flagged rows only).
runs as (
    select
        account_id,
        signal_date,
        lag(signal_date) over (partition by account_id order by signal_date) as previous_date,
        lag(anomaly_type) over (partition by account_id order by signal_date) as previous_anomaly_type
    from flagged
    where anomaly_type is not null
),

with_runs as (
    select
        flagged.*,
        runs.previous_date,
        runs.previous_anomaly_type
    from flagged
    left join runs
        on flagged.account_id = runs.account_id and flagged.signal_date = runs.signal_date
)

select
    account_id,
    signal_date,
    daily_active_users,
    expected_daily_active_users,
    dau_same_weekday_last_week,
    week_over_week_change,
    z_score,
    observed_3d,
    expected_3d,
    spread_3d,
    ratio_3d,
    z_score_3d,
    anomaly_type,
    -- A drop that lasts is flagged every day until the baseline catches up; the
    -- first day of such a run is where it started.
    case when anomaly_type is not null then
        not coalesce(previous_date = {{ add_days('signal_date', -1) }} and previous_anomaly_type = anomaly_type, false)
    end as is_first_day,
    case
        when anomaly_type = 'drop' and ratio_3d <= 0.2 then 'high'
        when anomaly_type = 'drop' and ratio_3d <= 0.35 then 'medium'
        when anomaly_type = 'spike' and z_score >= 8 then 'high'
        when anomaly_type = 'spike' and z_score >= 6 then 'medium'
        when anomaly_type is not null then 'low'
    end as severity
from with_runs
{%- if rescore_from %}
where signal_date >= {{ rescore_from }}
{%- endif %}
{{ stored_by_day('signal_date') }}
