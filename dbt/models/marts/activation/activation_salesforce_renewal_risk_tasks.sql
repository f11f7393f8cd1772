-- One Salesforce Task per account on the renewal list with a risk signal, for the
-- account's CSM; the sync `renewal_risk_tasks` creates each once (create_once on
-- CS_External_Id__c = task_key). The key is stable for a renewal, so the same
-- renewal never gets a second task, and the next year's renewal gets a new one.
-- The renewal list holds active accounts only: no task for a churned account or
-- on a deleted Salesforce Account.
with at_risk as (
    select
        renewal_list.*,
        accounts.has_open_escalation,
        accounts.is_usage_health_red,
        accounts.is_renewal_likelihood_low,
        accounts.has_no_recent_csm_activity
    from {{ ref('renewal_list') }} as renewal_list
    inner join {{ ref('account_360') }} as accounts
        on renewal_list.account_id = accounts.account_id
    where renewal_list.has_risk_signal
      and renewal_list.salesforce_account_id is not null
      and renewal_list.owner_user_id is not null
)

select
    'renewal-risk-' || account_id || '-' || {{ as_text('renewal_date') }} as task_key,
    salesforce_account_id,
    owner_user_id as owner_id,
    'Renewal at risk: ' || account_name || ' renews ' || {{ as_text('renewal_date') }} as subject,
    -- A week to act, or the renewal date itself when that comes sooner.
    least({{ add_days(as_of_date(), 7) }}, renewal_date) as due_date,
    case
        when days_until_renewal <= 30 or is_usage_health_red or has_open_escalation then 'High'
        else 'Normal'
    end as priority,
    'Renews ' || {{ as_text('renewal_date') }} || ' (in ' || {{ as_text('days_until_renewal') }} || ' days), ARR '
        || coalesce({{ as_text('cast(round(arr, 0) as ' ~ dbt.type_int() ~ ')') }}, 'unknown') || '.'
        || {{ newline() }} || 'Why it is at risk:'
        || case when is_usage_health_red
            then {{ newline() }} || '- Usage health is red (' || {{ as_text('usage_health_score') }} || '/100'
                 || coalesce(', ' || {{ as_text('usage_health_change_28d') }} || ' points in 28 days', '')
                 || coalesce('; ' || usage_health_top_dropping_component || ' fell most', '') || ').'
            else '' end
        || case when is_renewal_likelihood_low
            then {{ newline() }} || '- Renewal likelihood is low (' || {{ as_text('renewal_likelihood_score') }} || '/100).'
            else '' end
        || case when has_open_escalation
            then {{ newline() }} || '- ' || {{ as_text('open_escalations') }} || ' support escalation(s) still open.'
            else '' end
        || case when has_no_recent_csm_activity
            then {{ newline() }} || '- No CSM activity '
                 || coalesce('since ' || {{ as_text('last_csm_activity_date') }}, 'on record') || '.'
            else '' end
        || {{ newline() }} || 'Suggested next step: ' || suggested_next_step || '.'
        as description
from at_risk
