-- One row per customer account with what a CSM would otherwise gather from seven
-- tools: plan and contract, owner, seats, usage, support, NPS, setup, feature
-- requests, help-site visits, CSM activity and impression, both health scores, and
-- the upsell and renewal-risk signals derived from them. Churned accounts and those
-- deleted in Salesforce stay here, flagged by lifecycle_status; the active marts
-- (renewal list, CSM books, segments, activation) keep `active` accounts only.
with accounts as (
    select * from {{ ref('int_accounts_mapped') }}
),

contracts as (
    select * from {{ ref('int_contracts_summarized') }}
),

signals as (
    -- The latest day, and the 28 days of the sustained-upsell check.
    {{ latest_days(ref('int_account_signals_computed'), 'signal_date', 28) }}
),

latest_day as (
    select max(signal_date) as signal_date from signals
),

signals_now as (
    select signals.*
    from signals
    inner join latest_day
        on signals.signal_date = latest_day.signal_date
),

-- "Sustained" upsell: the lowest seat use of the last 28 days, not one busy day.
seats_28d as (
    select
        signals.account_id,
        min(signals.seat_utilization) as min_seat_utilization_28d,
        count(*) as days_observed
    from signals
    cross join latest_day
    where signals.signal_date > {{ add_days('latest_day.signal_date', -28) }}
    group by 1
),

users as (
    -- Distinct users active in the last 7/28/90 days, from each user's last activity.
    select
        account_id,
        count(*) as users_total,
        sum(case when cast(last_active_at as date) >= {{ add_days(as_of_date(), -7) }} then 1 else 0 end) as active_users_7d,
        sum(case when cast(last_active_at as date) >= {{ add_days(as_of_date(), -28) }} then 1 else 0 end) as active_users_28d,
        sum(case when cast(last_active_at as date) >= {{ add_days(as_of_date(), -90) }} then 1 else 0 end) as active_users_90d
    from {{ ref('stg_product_db__users') }}
    where cast(created_at as date) < {{ as_of_date() }}
    group by 1
),

key_features as (
    select
        account_id,
        sum(case when days_used_28d > 0 then 1 else 0 end) as key_features_used_28d,
        {{ dbt.listagg("case when days_used_28d = 0 then feature_key end", "', '", "order by feature_key") }}
            as key_features_unused_28d,
        sum(avg_daily_users_28d) as key_feature_avg_daily_users_28d
    from {{ ref('int_feature_usage_summarized_28d') }}
    where is_key_feature
    group by 1
),

tickets as (
    select
        account_id,
        sum(case when is_open then 1 else 0 end) as open_tickets,
        sum(case when is_open and is_escalation then 1 else 0 end) as open_escalations,
        sum(case when created_date >= {{ add_days(as_of_date(), -90) }} then 1 else 0 end) as tickets_90d,
        sum(case when is_escalation and created_date >= {{ add_days(as_of_date(), -90) }} then 1 else 0 end)
            as escalations_90d
    from {{ ref('int_support_tickets_joined') }}
    where created_date < {{ as_of_date() }}
    group by 1
),

nps_ranked as (
    select
        account_id,
        nps_score,
        responded_at,
        row_number() over (partition by account_id order by responded_at desc, nps_response_id) as recency
    from {{ ref('stg_karte__nps_responses') }}
    where cast(responded_at as date) < {{ as_of_date() }} and nps_score is not null
),

nps as (
    select
        account_id,
        max(case when recency = 1 then nps_score end) as latest_nps_score,
        max(case when recency = 1 then cast(responded_at as date) end) as latest_nps_date,
        count(*) as nps_responses
    from nps_ranked
    group by 1
),

setup as (
    select * from {{ ref('setup_status') }}
),

feature_requests as (
    select
        account_id,
        count(*) as feature_requests_total,
        sum(case when request_status not in ('Shipped', 'Declined') then 1 else 0 end) as feature_requests_open,
        max(requested_date) as latest_feature_request_date
    from {{ ref('stg_airtable__feature_requests') }}
    group by 1
),

help_site as (
    select
        account_id,
        sum(sessions) as help_site_sessions_28d,
        sum(page_views) as help_site_page_views_28d
    from {{ ref('stg_google_analytics__page_views_daily') }}
    where site = 'help'
      and visit_date < {{ as_of_date() }}
      and visit_date >= {{ add_days(as_of_date(), -28) }}
    group by 1
),

touches as (
    select
        account_id,
        max(activity_date) as last_csm_activity_date,
        sum(case when activity_date >= {{ add_days(as_of_date(), -30) }} then 1 else 0 end) as csm_touches_30d
    from {{ ref('int_csm_activities_unioned') }}
    where is_touch and account_id is not null
    group by 1
),

scores as (
    select history.*
    from {{ ref('health_score_history') }} as history
    -- The latest signal day, as a constant: only its partition is read.
    where history.score_date = {{ latest_day_in(ref('int_account_signals_computed'), 'signal_date') or 'cast(null as date)' }}
),

usage_trend as (
    select * from {{ ref('health_score_trends') }}
    where score_name = 'usage_health'
),

renewal_trend as (
    select * from {{ ref('health_score_trends') }}
    where score_name = 'renewal_likelihood'
),

joined as (
    select
        accounts.account_id,
        accounts.account_name,
        accounts.industry,
        accounts.account_status,
        accounts.lifecycle_status,
        accounts.created_date,
        {{ days_between('accounts.created_date', as_of_date()) }} as account_age_days,
        accounts.plan_id,
        accounts.plan_name,
        accounts.seat_limit,
        accounts.monthly_price,
        accounts.salesforce_account_id,
        accounts.hubspot_company_id,
        accounts.freshdesk_company_id,
        accounts.owner_user_id,
        accounts.owner_name,
        accounts.owner_email,
        accounts.number_of_employees,

        contracts.current_contract_id,
        contracts.arr,
        contracts.contract_start_date,
        contracts.renewal_date,
        {{ days_between(as_of_date(), 'contracts.renewal_date') }} as days_until_renewal,
        contracts.is_auto_renew,
        contracts.customer_since_date,

        coalesce(users.users_total, 0) as seats_used,
        {{ safe_ratio('coalesce(users.users_total, 0)', 'accounts.seat_limit') }} as seat_utilization,
        seats_28d.min_seat_utilization_28d,
        coalesce(users.active_users_7d, 0) as active_users_7d,
        coalesce(users.active_users_28d, 0) as active_users_28d,
        coalesce(users.active_users_90d, 0) as active_users_90d,
        signals_now.dau_avg_7d,
        signals_now.dau_avg_28d,
        signals_now.events_28d,
        coalesce(key_features.key_features_used_28d, 0) as key_features_used_28d,
        key_features.key_features_unused_28d,
        key_features.key_feature_avg_daily_users_28d,

        coalesce(tickets.open_tickets, 0) as open_tickets,
        coalesce(tickets.open_escalations, 0) as open_escalations,
        coalesce(tickets.tickets_90d, 0) as tickets_90d,
        coalesce(tickets.escalations_90d, 0) as escalations_90d,

        nps.latest_nps_score,
        nps.latest_nps_date,
        coalesce(nps.nps_responses, 0) as nps_responses,

        coalesce(setup.steps_completed, 0) as setup_steps_completed,
        setup.steps_total as setup_steps_total,
        setup.completion_ratio as setup_completion_ratio,
        coalesce(setup.is_setup_incomplete, false) as is_setup_incomplete,
        setup.next_step as next_setup_step,

        coalesce(feature_requests.feature_requests_total, 0) as feature_requests_total,
        coalesce(feature_requests.feature_requests_open, 0) as feature_requests_open,
        feature_requests.latest_feature_request_date,

        coalesce(help_site.help_site_sessions_28d, 0) as help_site_sessions_28d,
        coalesce(help_site.help_site_page_views_28d, 0) as help_site_page_views_28d,

        touches.last_csm_activity_date,
        {{ days_between('touches.last_csm_activity_date', as_of_date()) }} as days_since_last_csm_activity,
        coalesce(touches.csm_touches_30d, 0) as csm_touches_30d,
        accounts.csm_impression,
        accounts.csm_impression_date,
        scores.is_csm_impression_stale,

        scores.score_date,
        scores.usage_health_score,
        scores.usage_health_band,
        scores.usage_health_missing_components,
        usage_trend.change_28d as usage_health_change_28d,
        usage_trend.top_dropping_component as usage_health_top_dropping_component,
        scores.renewal_likelihood_score,
        scores.renewal_likelihood_band,
        scores.renewal_likelihood_missing_components,
        renewal_trend.change_28d as renewal_likelihood_change_28d,
        renewal_trend.top_dropping_component as renewal_likelihood_top_dropping_component
    from accounts
    left join contracts on accounts.account_id = contracts.account_id
    left join signals_now on accounts.account_id = signals_now.account_id
    left join seats_28d on accounts.account_id = seats_28d.account_id
    left join users on accounts.account_id = users.account_id
    left join key_features on accounts.account_id = key_features.account_id
    left join tickets on accounts.account_id = tickets.account_id
    left join nps on accounts.account_id = nps.account_id
    left join setup on accounts.account_id = setup.account_id
    left join feature_requests on accounts.account_id = feature_requests.account_id
    left join help_site on accounts.account_id = help_site.account_id
    left join touches on accounts.account_id = touches.account_id
    left join scores on accounts.account_id = scores.account_id
    left join usage_trend on accounts.account_id = usage_trend.account_id
    left join renewal_trend on accounts.account_id = renewal_trend.account_id
),

-- A sudden drop in active users that has not recovered (int_usage_drops_tracked).
usage_drops as (
    select
        account_id,
        drop_start_date as usage_drop_start_date,
        severity as usage_drop_severity,
        usage_drop_share
    from {{ ref('int_usage_drops_tracked') }}
    where is_unresolved
),

flagged as (
    select
        joined.*,
        usage_drops.account_id is not null as has_unresolved_usage_drop,
        usage_drops.usage_drop_start_date,
        usage_drops.usage_drop_severity,
        usage_drops.usage_drop_share,
        -- Upsell: seats at or above the threshold share of the plan's limit on every
        -- one of the last 28 days.
        coalesce(min_seat_utilization_28d >= {{ var('upsell_seat_utilization') }}, false) as has_upsell_signal,
        coalesce(usage_health_band = 'red', false) as is_usage_health_red,
        coalesce(renewal_likelihood_band = 'red', false) as is_renewal_likelihood_low,
        open_escalations > 0 as has_open_escalation,
        coalesce(days_since_last_csm_activity > {{ var('csm_touch_max_gap_days') }}, true) as has_no_recent_csm_activity
    from joined
    left join usage_drops
        on joined.account_id = usage_drops.account_id
)

select
    flagged.*,
    is_usage_health_red or is_renewal_likelihood_low or has_open_escalation or has_unresolved_usage_drop
    or has_no_recent_csm_activity as has_risk_signal,
    nullif(rtrim(
        case when is_usage_health_red then 'red usage health, ' else '' end
        || case when is_renewal_likelihood_low then 'low renewal likelihood, ' else '' end
        || case when has_open_escalation then 'open escalation, ' else '' end
        || case when has_unresolved_usage_drop
            then 'usage dropped '
                || {{ as_text('cast(round(100 * usage_drop_share, 0) as ' ~ dbt.type_int() ~ ')') }}
                || '% since ' || {{ as_text('usage_drop_start_date') }} || ', '
            else '' end
        || case when has_no_recent_csm_activity
            then 'no CSM activity in {{ var("csm_touch_max_gap_days") }} days, ' else '' end
    , ', '), '') as risk_reasons
from flagged
