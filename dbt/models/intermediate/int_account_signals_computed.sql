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
  One row per account per day of the usage history: the raw measures behind every
  health-score component, as they stood on that day (no data after it is used).

  Two techniques keep an incremental run proportional to the new days:
  - Usage is dense (a value every day), so its rolling windows are window functions
    over a gap-free day spine; a run re-reads the `signal_lookback_days` (8 weeks)
    before the first day it writes, the longest reach of those windows.
  - Sparse events (users created, setup steps done, escalations, NPS answers) are
    kept as running totals of daily changes. A change dated before the spine starts
    is booked on its first day ("carried in"), so the totals are right however short
    the spine is. A rolling window over events is a +1 on the event's day and a -1
    on the day it leaves the window.
-#}
{%- set lookback = var('signal_lookback_days') -%}
{#- Which days a run writes (macros/incremental_bounds.sql): the last
    `usage_reload_days` it has and the new ones, every day from the earliest input
    row (re-)loaded or recomputed since the last run, or all history after an edit
    of the seeds it reads (a new version of an account's Salesforce fields, the
    impression, or of its plan counts from its day on). It reads the look-back before them. Both are constants in
    the SQL, so that only those days are read (BigQuery prunes partitions only with
    constants: macros/dates.sql). -#}
{%- set plan = recompute_plan(
    'signal_date',
    inputs=[
        [ref('int_feature_usage_pivoted_to_account_days'), 'usage_date', '_computed_at'],
        [source('raw_google_analytics', 'page_views_daily'), adapter.quote('date'), '_loaded_at'],
        [source('raw_karte', 'nps_responses'), 'cast(responded_at as date)', '_loaded_at'],
        [source('raw_hubspot', 'email_events'), 'cast(created as date)', '_loaded_at'],
        [ref('snapshot_salesforce__accounts'), 'cast(dbt_valid_from as date)', 'loaded_at'],
        [ref('snapshot_product_db__accounts'), 'cast(dbt_valid_from as date)', 'loaded_at'],
    ],
    config_seeds=signal_seeds()) -%}
{%- set write_from = date_literal(plan['from']) -%}
{%- set read_from = date_literal(plan['from'], -lookback) -%}

with accounts as (
    select * from {{ ref('int_accounts_mapped') }}
),

history as (
    select
        min(usage_date) as history_start,
        max(usage_date) as history_end
    from {{ ref('int_feature_usage_pivoted_to_account_days') }}
    where usage_date < {{ as_of_date() }}
),

bounds as (
    select
        history_start,
        history_end as write_through,
        {{ write_from or 'history_start' }} as write_from
    from history
),

bounds_with_read as (
    select
        *,
        greatest(history_start, {{ add_days('write_from', -lookback) }}) as read_from
    from bounds
),

account_ranges as (
    select
        accounts.account_id,
        accounts.freshdesk_company_id,
        accounts.created_date,
        greatest(accounts.created_date, bounds.history_start) as account_history_start,
        greatest(accounts.created_date, bounds.read_from) as spine_start,
        bounds.write_through as spine_end,
        bounds.write_from
    from accounts
    cross join bounds_with_read as bounds
    where accounts.created_date <= bounds.write_through
),

spine as (
    {{ spine_days('account_ranges', 'spine_start', 'spine_end', 'signal_date') }}
),

-- Dense daily measures, read only from read_from on (older row groups are skipped:
-- the usage table is stored by day; a full build reads it all without the filter).
usage_days as (
    select *
    from {{ ref('int_feature_usage_pivoted_to_account_days') }}
    {%- if read_from %}
    where usage_date >= {{ read_from }}
    {%- endif %}
),

tickets as (
    select * from {{ ref('int_support_tickets_joined') }}
),

tickets_daily as (
    select
        account_id,
        created_date as activity_date,
        count(*) as tickets_opened,
        sum(case when is_escalation then 1 else 0 end) as escalations_opened
    from tickets
    {%- if read_from %}
    where created_date >= {{ read_from }}
    {%- endif %}
    group by 1, 2
),

help_site_daily as (
    select
        account_id,
        visit_date as activity_date,
        sum(case when site = 'help' then sessions else 0 end) as help_site_sessions,
        count(*) as web_rows
    from {{ ref('stg_google_analytics__page_views_daily') }}
    {%- if read_from %}
    where visit_date >= {{ read_from }}
    {%- endif %}
    group by 1, 2
),

champions as (
    select distinct
        accounts.account_id,
        contacts.email
    from {{ ref('stg_salesforce__contacts') }} as contacts
    inner join accounts
        on contacts.salesforce_account_id = accounts.salesforce_account_id
    where contacts.is_champion and contacts.email is not null
),

champion_emails_daily as (
    select
        champions.account_id,
        cast(events.created_at as date) as activity_date,
        count(*) as champion_engagements
    from {{ ref('stg_hubspot__email_events') }} as events
    inner join champions
        on events.recipient_email = champions.email
    where events.event_type in ('OPEN', 'CLICK')
      {%- if read_from %}
      and cast(events.created_at as date) >= {{ read_from }}
      {%- endif %}
    group by 1, 2
),

-- Sparse changes, carried in to the spine's first day when older.
nps_settings as (
    select coalesce(max(stale_after_days), 36500) as nps_window_days
    from {{ ref('health_score_components') }}
    where component_name = 'nps'
),

setup_steps as (
    select steps.account_id, cast(steps.completed_at as date) as change_date
    from {{ ref('stg_product_db__setup_steps') }} as steps
    inner join {{ ref('setup_step_definitions') }} as definitions
        on steps.step_key = definitions.step_key
    where steps.is_completed
),

changes as (
    select account_id, cast(created_at as date) as change_date,
        1 as users_added, 0 as setup_steps_done, 0 as escalation_window_change,
        0 as nps_score_change, 0 as nps_answer_change
    from {{ ref('stg_product_db__users') }}

    union all
    select account_id, change_date, 0, 1, 0, 0, 0
    from setup_steps

    -- An escalation counts from the day it opens until 90 days after it closes:
    -- "escalations open at any time in the last 90 days".
    union all
    select account_id, created_date, 0, 0, 1, 0, 0
    from tickets
    where is_escalation
    union all
    select account_id, {{ add_days('closed_date', 90) }}, 0, 0, -1, 0, 0
    from tickets
    where is_escalation and closed_date is not null

    -- An NPS answer counts until it is older than the seed's stale_after_days.
    union all
    select account_id, cast(responded_at as date), 0, 0, 0, nps_score, 1
    from {{ ref('stg_karte__nps_responses') }}
    where nps_score is not null
    union all
    select account_id, {{ add_days('cast(responded_at as date)', 'nps_settings.nps_window_days') }}, 0, 0, 0, -nps_score, -1
    from {{ ref('stg_karte__nps_responses') }}
    cross join nps_settings
    where nps_score is not null
),

changes_daily as (
    select
        changes.account_id,
        greatest(changes.change_date, account_ranges.spine_start) as signal_date,
        sum(users_added) as users_added,
        sum(setup_steps_done) as setup_steps_done,
        sum(escalation_window_change) as escalation_window_change,
        sum(nps_score_change) as nps_score_change,
        sum(nps_answer_change) as nps_answer_change
    from changes
    inner join account_ranges
        on changes.account_id = account_ranges.account_id
    where changes.change_date <= account_ranges.spine_end
    group by 1, 2
),

daily as (
    select
        spine.account_id,
        spine.signal_date,
        spine.freshdesk_company_id,
        spine.account_history_start,
        spine.write_from,
        coalesce(usage_days.daily_active_users, 0) as daily_active_users,
        coalesce(usage_days.key_feature_user_days, 0) as key_feature_user_days,
        coalesce(usage_days.event_count, 0) as event_count,
        coalesce(tickets_daily.tickets_opened, 0) as tickets_opened,
        coalesce(tickets_daily.escalations_opened, 0) as escalations_opened,
        coalesce(help_site_daily.help_site_sessions, 0) as help_site_sessions,
        coalesce(help_site_daily.web_rows, 0) as web_rows,
        coalesce(champion_emails_daily.champion_engagements, 0) as champion_engagements,
        coalesce(changes_daily.users_added, 0) as users_added,
        coalesce(changes_daily.setup_steps_done, 0) as setup_steps_done,
        coalesce(changes_daily.escalation_window_change, 0) as escalation_window_change,
        coalesce(changes_daily.nps_score_change, 0) as nps_score_change,
        coalesce(changes_daily.nps_answer_change, 0) as nps_answer_change
    from spine
    left join usage_days
        on spine.account_id = usage_days.account_id and spine.signal_date = usage_days.usage_date
    left join tickets_daily
        on spine.account_id = tickets_daily.account_id and spine.signal_date = tickets_daily.activity_date
    left join help_site_daily
        on spine.account_id = help_site_daily.account_id and spine.signal_date = help_site_daily.activity_date
    left join champion_emails_daily
        on spine.account_id = champion_emails_daily.account_id
        and spine.signal_date = champion_emails_daily.activity_date
    left join changes_daily
        on spine.account_id = changes_daily.account_id and spine.signal_date = changes_daily.signal_date
),

{#- The rolling measures (macros/rolling.sql). The same weekday in each of the 8
    weeks before is there because usage has a strong weekly rhythm: a day is
    compared with its own weekday (usage_anomalies). -#}
{%- set rolling = [
    ['dau_avg_7d', 'avg', 'daily_active_users', [6, 0]],
    ['dau_avg_28d', 'avg', 'daily_active_users', [27, 0]],
    ['dau_sum_28d', 'sum', 'daily_active_users', [27, 0]],
    ['dau_sum_prior_28d', 'sum', 'daily_active_users', [55, 28]],
    ['key_feature_user_days_28d', 'sum', 'key_feature_user_days', [27, 0]],
    ['events_28d', 'sum', 'event_count', [27, 0]],
    ['tickets_opened_28d', 'sum', 'tickets_opened', [27, 0]],
    ['escalations_opened_28d', 'sum', 'escalations_opened', [27, 0]],
    ['help_site_sessions_28d', 'sum', 'help_site_sessions', [27, 0]],
    ['web_rows_56d', 'sum', 'web_rows', [55, 0]],
    ['champion_engagements_56d', 'sum', 'champion_engagements', [55, 0]],
] -%}
{%- for week in range(1, 9) -%}
    {%- do rolling.append(['dau_' ~ week ~ 'w_ago', 'lag', 'daily_active_users', [7 * week, 7 * week]]) -%}
{%- endfor -%}
{#- Running totals last: a full build on DuckDB measured ~20% slower with them before the lags. -#}
{%- do rolling.extend([
    ['seats_used', 'sum', 'users_added', 'running'],
    ['setup_steps_completed', 'sum', 'setup_steps_done', 'running'],
    ['escalations_90d', 'sum', 'escalation_window_change', 'running'],
    ['nps_score_total', 'sum', 'nps_score_change', 'running'],
    ['nps_answers', 'sum', 'nps_answer_change', 'running'],
]) -%}
{%- set form = rolling_form(plan['from'], ref('int_feature_usage_pivoted_to_account_days'), 'usage_date') %}

{#- The join form reads each written day's own columns from `written`. -#}
{%- set row = 'written.' if form == 'join' else '' %}

windowed as (
    select
        {{ row }}account_id,
        {{ row }}signal_date,
        {{ row }}write_from,
        {{ row }}freshdesk_company_id,
        {{ days_between(row ~ 'account_history_start', row ~ 'signal_date') }} + 1 as days_of_history,
        {{ row }}daily_active_users,
        {%- for measure in rolling %}
        {{ rolling_over_join(measure, 'signal_date') if form == 'join'
           else rolling_over_window(measure, 'account_id', 'signal_date') }}{{ ',' if not loop.last }}
        {%- endfor %}
    {%- if form == 'join' %}
    -- A few days to write: each joined to the look-back days up to it.
    from daily as written
    inner join daily as reached
        on written.account_id = reached.account_id
        and reached.signal_date <= written.signal_date
    where written.signal_date >= written.write_from
    group by 1, 2, 3, 4, 5, 6
    {%- else %}
    from daily
    {%- endif %}
),

key_features as (
    select count(*) as key_feature_count
    from {{ ref('product_features') }}
    where is_key_feature
),

setup_definitions as (
    select count(*) as setup_steps_total
    from {{ ref('setup_step_definitions') }}
),

has_champion as (
    select distinct account_id from champions
),

contracts as (
    select * from {{ ref('int_contracts_summarized') }}
),

-- The CSM impression as it held on each day, from the history of the account's
-- Salesforce records (snapshots/staging/crm_history.yml): each version holds from
-- the day Salesforce changed the record (SystemModstamp) until the day of the next
-- version of any of the account's records, so when there are several the most
-- recently changed one holds, as in int_accounts_mapped. The earliest version known also
-- stands for the days before it (held_from null): the best knowledge of them. A
-- deleted record holds no impression. A daily run and a full rebuild read the same
-- versions, so they date a change alike.
impressions as (
    select
        versions.account_id,
        case when versions.version_number > 1 then cast(versions.dbt_valid_from as date) end as held_from,
        cast(versions.next_valid_from as date) as held_until,
        case when not versions.is_deleted then versions.csm_impression end as csm_impression,
        case when not versions.is_deleted then versions.csm_impression_date end as csm_impression_date,
        impression_values.impression_value
    from (
        select
            account_id,
            csm_impression,
            csm_impression_date,
            is_deleted,
            dbt_valid_from,
            row_number() over (partition by account_id order by dbt_valid_from, salesforce_account_id)
                as version_number,
            lead(dbt_valid_from) over (partition by account_id order by dbt_valid_from, salesforce_account_id)
                as next_valid_from
        from {{ ref('snapshot_salesforce__accounts') }}
        where account_id is not null
    ) as versions
    left join {{ ref('csm_impression_values') }} as impression_values
        on versions.csm_impression = impression_values.csm_impression
        and not versions.is_deleted
),

-- The plan (its seat limit) as it held on each day, from the product account's
-- history (snapshot_product_db__accounts), dated like the impression above: a
-- downgrade last month does not rewrite the plan fit of the months before it.
plans_held as (
    select
        versions.account_id,
        case when versions.version_number > 1 then cast(versions.dbt_valid_from as date) end as held_from,
        cast(versions.next_valid_from as date) as held_until,
        plans.seat_limit
    from (
        select
            account_id,
            plan_id,
            dbt_valid_from,
            row_number() over (partition by account_id order by dbt_valid_from) as version_number,
            lead(dbt_valid_from) over (partition by account_id order by dbt_valid_from) as next_valid_from
        from {{ ref('snapshot_product_db__accounts') }}
    ) as versions
    left join {{ ref('stg_product_db__plans') }} as plans
        on versions.plan_id = plans.plan_id
)

select
    windowed.account_id,
    windowed.signal_date,
    windowed.days_of_history,
    windowed.daily_active_users,
    windowed.dau_avg_7d,
    windowed.dau_avg_28d,
    windowed.events_28d,
    windowed.seats_used,
    plans_held.seat_limit,
    windowed.setup_steps_completed,
    setup_definitions.setup_steps_total,
    windowed.tickets_opened_28d,
    windowed.escalations_opened_28d,
    windowed.help_site_sessions_28d,
    windowed.nps_answers as nps_answers_counted,
    windowed.dau_1w_ago as dau_same_weekday_last_week,
    -- Mean and standard deviation of the same weekday over the 8 weeks before
    -- (null until 4 such weeks exist).
    {%- set weeks = range(1, 9) | map('string') | list %}
    {%- set weeks_seen %}({% for w in weeks %}case when windowed.dau_{{ w }}w_ago is null then 0 else 1 end{% if not loop.last %} + {% endif %}{% endfor %}){% endset %}
    {%- set mean %}(({% for w in weeks %}coalesce(windowed.dau_{{ w }}w_ago, 0){% if not loop.last %} + {% endif %}{% endfor %}) / {{ weeks_seen }}){% endset %}
    {%- set mean_of_squares %}(({% for w in weeks %}coalesce(windowed.dau_{{ w }}w_ago * windowed.dau_{{ w }}w_ago, 0){% if not loop.last %} + {% endif %}{% endfor %}) / {{ weeks_seen }}){% endset %}
    case when {{ weeks_seen }} >= 4 then {{ mean }} end as dau_same_weekday_mean_8w,
    case when {{ weeks_seen }} >= 4 then sqrt(greatest({{ mean_of_squares }} - {{ mean }} * {{ mean }}, 0)) end
        as dau_same_weekday_sd_8w,

    -- The component values (macros/scoring.sql lists them; the seed scores them).
    -- Null means "no data": the component is left out and the others reweighted.
    {{ safe_ratio('windowed.dau_avg_28d', 'windowed.seats_used') }} as active_user_ratio,
    {{ safe_ratio('windowed.key_feature_user_days_28d', 'windowed.dau_sum_28d * key_features.key_feature_count') }}
        as key_feature_adoption,
    -- A trend needs two full 28-day periods of history and some usage in the first.
    case when windowed.days_of_history >= 56
        then {{ safe_ratio('windowed.dau_sum_28d', 'windowed.dau_sum_prior_28d') }}
    end as usage_trend_ratio,
    case when setup_definitions.setup_steps_total > 0
        then {{ safe_ratio('windowed.setup_steps_completed', 'setup_definitions.setup_steps_total') }}
    end as setup_completion_ratio,
    -- Without a Freshdesk company the account's support history is unknown, not empty.
    case when windowed.freshdesk_company_id is not null
        then windowed.tickets_opened_28d + 2 * windowed.escalations_opened_28d
    end as support_load_28d,
    case when windowed.web_rows_56d > 0
        then coalesce({{ safe_ratio('windowed.help_site_sessions_28d', 'windowed.seats_used') }}, 0)
    end as help_site_sessions_per_user_28d,
    case when windowed.nps_answers > 0
        then {{ safe_ratio('windowed.nps_score_total', 'windowed.nps_answers') }}
    end as nps_average,
    case when windowed.freshdesk_company_id is not null then windowed.escalations_90d end as escalations_90d,
    case when has_champion.account_id is not null then windowed.champion_engagements_56d end
        as champion_engagements_56d,
    case when contracts.customer_since_date <= windowed.signal_date
        then {{ days_between('contracts.customer_since_date', 'windowed.signal_date') }}
    end as customer_tenure_days,
    {{ safe_ratio('windowed.seats_used', 'plans_held.seat_limit') }} as seat_utilization,
    case when impressions.csm_impression_date <= windowed.signal_date then impressions.impression_value end
        as csm_impression_value,
    case when impressions.csm_impression_date <= windowed.signal_date then impressions.csm_impression end
        as csm_impression,
    case when impressions.csm_impression_date <= windowed.signal_date
        then {{ days_between('impressions.csm_impression_date', 'windowed.signal_date') }}
    end as csm_impression_age_days,
    {{ bookkeeping_columns(plan) }}
from windowed
cross join key_features
cross join setup_definitions
left join has_champion
    on windowed.account_id = has_champion.account_id
left join contracts
    on windowed.account_id = contracts.account_id
left join impressions
    on windowed.account_id = impressions.account_id
    and (impressions.held_from is null or impressions.held_from <= windowed.signal_date)
    and (impressions.held_until is null or windowed.signal_date < impressions.held_until)
left join plans_held
    on windowed.account_id = plans_held.account_id
    and (plans_held.held_from is null or plans_held.held_from <= windowed.signal_date)
    and (plans_held.held_until is null or windowed.signal_date < plans_held.held_until)
where windowed.signal_date >= windowed.write_from
{{ stored_by_day('signal_date') }}
