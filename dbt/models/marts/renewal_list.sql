-- Contracts renewing in the next `renewal_window_days` (default 120): the list a CS
-- team works from. Both scores and bands, seats against the plan's limit, the
-- upsell and risk signals with their reasons, and a suggested next step. Active
-- accounts only: a churned one, or one deleted in Salesforce, has no renewal to work.
with accounts as (
    select * from {{ ref('account_360') }}
    where lifecycle_status = 'active'
      and {{ renews_within('days_until_renewal') }}
)

select
    account_id,
    account_name,
    salesforce_account_id,
    owner_user_id,
    owner_name,
    plan_name,
    arr,
    renewal_date,
    days_until_renewal,
    is_auto_renew,
    usage_health_score,
    usage_health_band,
    usage_health_change_28d,
    usage_health_top_dropping_component,
    renewal_likelihood_score,
    renewal_likelihood_band,
    seats_used,
    seat_limit,
    seat_utilization,
    dau_avg_28d,
    open_escalations,
    last_csm_activity_date,
    days_since_last_csm_activity,
    has_upsell_signal,
    case when has_upsell_signal
        then 'seats at ' || {{ as_text('cast(round(100 * min_seat_utilization_28d, 0) as ' ~ dbt.type_int() ~ ')') }}
             || '% or more of the plan limit for 28 days'
    end as upsell_reason,
    has_risk_signal,
    risk_reasons,
    -- The most pressing thing first.
    case
        when has_open_escalation
            then 'Resolve the open escalation with support before the renewal conversation'
        when has_unresolved_usage_drop
            then 'Call the champion: usage dropped '
                 || {{ as_text('cast(round(100 * usage_drop_share, 0) as ' ~ dbt.type_int() ~ ')') }}
                 || '% since ' || {{ as_text('usage_drop_start_date') }}
                 || '; find out what changed (an outage, a lost team, a move to another tool)'
        when is_usage_health_red
            then 'Book a usage review: usage health is red'
                 || coalesce(' (' || usage_health_top_dropping_component || ' fell most)', '')
                 || '; agree a re-adoption plan before the renewal'
        when is_renewal_likelihood_low
            then 'Usage looks fine but renewal likelihood is low: meet the champion and the decision maker'
        when has_no_recent_csm_activity
            then 'Reach out: no CSM activity in {{ var("csm_touch_max_gap_days") }} days'
        when has_upsell_signal
            then 'Propose the next plan with the renewal: the team has outgrown its seats'
        else 'Confirm the renewal with the champion'
    end as suggested_next_step
from accounts
