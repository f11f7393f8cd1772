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
  same-weekday values.

  Low usage: the day is at most half its weekday's baseline, and so are the day
  and the two after it together (as far as data exists; at least 1 user expected
  over them). A run of such days counts from its first day that is clearly low
  by itself: at least 1 user expected, at most half of them seen with a z-score
  of anomaly_drop_start_max_z_score or lower, or at most
  anomaly_drop_start_max_ratio of them seen (where a handful of users is
  expected, a z-score says little), and the 3 days' z-score -3 or lower. A quiet
  Saturday before a Monday collapse is low only because its 3 days include the
  collapse; by itself it is not, so the drop is dated on the Monday. The run is
  then a collapse or a decline, by its start day:
  - collapse (anomaly_type drop): the week before it was at a normal level
    (prior_7d_ratio at least anomaly_collapse_min_prior_ratio) and the start day
    and the two after fell to at most anomaly_collapse_max_fall_ratio of it;
  - decline (not flagged): usage was already well below its baseline the week
    before, or fell less. A gradual decline is what the usage_trend health-score
    component measures; calling it a sudden drop would be wrong.
  Every day of a run keeps its start day and kind (low_usage_since,
  low_usage_kind), so a lasting collapse is flagged every day until the baseline
  catches up or usage recovers, with is_first_day on the start day.

  Incremental, so that a daily run re-scores a few days rather than all history:
  the signals' re-loaded days (usage_reload_days) or, when older signal days were
  recomputed (late data), those (macros/incremental_bounds.sql), the two days before
  them (their flags depend on those) and the new days. Eight days more are read: the first
  re-scored day needs the day before it (is_first_day of a spike, whether a run
  goes on) and the week before it (prior_7d_ratio). A run that started before the
  re-scored days takes its start and kind from the stored row of the day before
  them, which no later data changes. The days read and that stored day are
  offsets from the first re-scored day (rescore_day): widening the bound is one line.
-#}
{%- set plan = recompute_plan(
    'signal_date',
    inputs=[[ref('int_account_signals_computed'), 'signal_date', '_computed_at']],
    affects_days_before=2) -%}
{%- set rescore_day = plan['from'] -%}
{%- set rescore_from = date_literal(rescore_day) -%}
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
    where signal_date >= {{ date_literal(rescore_day, -8) }}
    {%- endif %}
),

with_neighbours as (
    select
        days.*,
        {%- set by_day = 'partition by account_id order by signal_date' %}
        lead(daily_active_users, 1) over ({{ by_day }}) as dau_next_1,
        lead(daily_active_users, 2) over ({{ by_day }}) as dau_next_2,
        lead(expected, 1) over ({{ by_day }}) as expected_next_1,
        lead(expected, 2) over ({{ by_day }}) as expected_next_2,
        lead(spread, 1) over ({{ by_day }}) as spread_next_1,
        lead(spread, 2) over ({{ by_day }}) as spread_next_2,
        -- The 7 days before (one row per day: the signals have no gaps), all with a baseline.
        {%- set week_before = by_day ~ ' rows between 7 preceding and 1 preceding' %}
        case when count(expected) over ({{ week_before }}) = 7
            then {{ safe_ratio('sum(daily_active_users) over (' ~ week_before ~ ')',
                               'sum(expected) over (' ~ week_before ~ ')') }}
        end as prior_7d_ratio
    from days
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
        prior_7d_ratio,
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
    from with_neighbours
    where expected is not null
),

measured as (
    select
        scored.*,
        {{ safe_ratio('observed_3d', 'expected_3d') }} as ratio_3d,
        (observed_3d - expected_3d) / spread_3d as z_score_3d
    from scored
),

judged as (
    select
        measured.*,
        coalesce(
            daily_active_users <= 0.5 * expected_daily_active_users
            and observed_3d <= 0.5 * expected_3d
            and expected_3d >= 1, false) as is_low_usage,
        -- Low by itself, not only through the days after it.
        coalesce(
            expected_daily_active_users >= 1
            and daily_active_users <= 0.5 * expected_daily_active_users
            and (z_score <= {{ var('anomaly_drop_start_max_z_score') }}
                or daily_active_users <= {{ var('anomaly_drop_start_max_ratio') }} * expected_daily_active_users)
            and observed_3d <= 0.5 * expected_3d
            and z_score_3d <= -3, false) as is_clearly_low,
        coalesce(
            prior_7d_ratio >= {{ var('anomaly_collapse_min_prior_ratio') }}
            and ratio_3d <= {{ var('anomaly_collapse_max_fall_ratio') }} * prior_7d_ratio, false) as starts_collapse,
        daily_active_users >= 2 * expected_daily_active_users
        and daily_active_users - expected_daily_active_users >= 5
        and z_score >= 4 as is_spike
    from measured
),

-- Runs of low days: a day that is not low opens the next run number.
numbered as (
    select
        judged.*,
        sum(case when is_low_usage then 0 else 1 end) over (
            partition by account_id order by signal_date rows between unbounded preceding and current row
        ) as run_number,
        lag(is_spike) over (partition by account_id order by signal_date) as previous_is_spike
    from judged
),

run_starts as (
    select
        numbered.*,
        case when is_low_usage then
            min(case when is_clearly_low then signal_date end) over (
                partition by account_id, run_number order by signal_date
                rows between unbounded preceding and current row)
        end as run_start
    from numbered
),

runs as (
    select
        run_starts.*,
        case when run_start is not null then
            case when max(case when signal_date = run_start and starts_collapse then 1 else 0 end) over (
                partition by account_id, run_number order by signal_date
                rows between unbounded preceding and current row) = 1
            then 'collapse' else 'decline' end
        end as run_kind
    from run_starts
),

{%- if rescore_from %}

-- The run going on the day before the re-scored days, as stored: its start may
-- lie before the days read.
carried as (
    select
        stored.account_id,
        stored.low_usage_since,
        stored.low_usage_kind,
        fresh.run_number
    from {{ this }} as stored
    inner join runs as fresh
        on stored.account_id = fresh.account_id and stored.signal_date = fresh.signal_date
    where stored.signal_date = {{ date_literal(rescore_day, -1) }}
      and stored.is_low_usage
),
{%- endif %}

with_runs as (
    select
        runs.*,
        {%- if rescore_from %}
        coalesce(carried.low_usage_since, runs.run_start) as low_usage_since,
        case when carried.low_usage_since is not null then carried.low_usage_kind else runs.run_kind end
            as low_usage_kind
        {%- else %}
        runs.run_start as low_usage_since,
        runs.run_kind as low_usage_kind
        {%- endif %}
    from runs
    {%- if rescore_from %}
    left join carried
        on runs.account_id = carried.account_id
        and runs.run_number = carried.run_number
        and runs.is_low_usage
    {%- endif %}
),

flagged as (
    select
        with_runs.*,
        case
            when low_usage_kind = 'collapse' then 'drop'
            when is_spike then 'spike'
        end as anomaly_type
    from with_runs
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
    prior_7d_ratio,
    is_low_usage,
    low_usage_since,
    low_usage_kind,
    anomaly_type,
    -- A drop that lasts is flagged every day of its run; the first day of a run is
    -- where it started.
    case
        when anomaly_type = 'drop' then signal_date = low_usage_since
        when anomaly_type = 'spike' then not coalesce(previous_is_spike, false)
    end as is_first_day,
    case
        when anomaly_type = 'drop' and ratio_3d <= 0.2 then 'high'
        when anomaly_type = 'drop' and ratio_3d <= 0.35 then 'medium'
        when anomaly_type = 'spike' and z_score >= 8 then 'high'
        when anomaly_type = 'spike' and z_score >= 6 then 'medium'
        when anomaly_type is not null then 'low'
    end as severity,
    {{ bookkeeping_columns(plan) }}
from flagged
{%- if rescore_from %}
where signal_date >= {{ rescore_from }}
{%- endif %}
{{ stored_by_day('signal_date') }}
