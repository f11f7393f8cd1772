-- Accounts in each segment of seeds/segment_definitions.csv, one row per account
-- and segment, with what put it there (`detail`) and the action the seed suggests.
-- An account can be in several segments; plays and Slack alerts start from here,
-- so each row also carries what a play needs to address and explain its message:
-- the owner and the owner's lead, both scores, the renewal, the report page.
-- Active accounts only: nothing is played on a churned or CRM-deleted account.
with accounts as (
    select * from {{ ref('account_360') }}
    where lifecycle_status = 'active'
),

users as (
    select salesforce_user_id, user_name, email, manager_user_id from {{ ref('stg_salesforce__users') }}
),

renewals_at_risk as (
    -- The accounts activation_salesforce_renewal_risk_tasks makes a Task for: on the
    -- renewal list with a risk signal, the Salesforce Account and its owner known.
    select * from {{ ref('renewal_list') }}
    where has_risk_signal
      and salesforce_account_id is not null
      and owner_user_id is not null
),

features as (
    select * from {{ ref('int_feature_usage_summarized_28d') }}
),

anomalies as (
    select * from {{ ref('usage_anomalies') }}
    where anomaly_date >= {{ latest_day_in(ref('health_score_history'), 'score_date', -2) or 'cast(null as date)' }}
),

members as (
    -- A key feature nobody used in 28 days (accounts with some usage at all).
    select
        features.account_id,
        'not_using_key_feature' as segment_key,
        'unused: ' || {{ dbt.listagg('features.feature_key', "', '", 'order by features.feature_key') }} as detail
    from features
    inner join accounts
        on features.account_id = accounts.account_id
    where features.is_key_feature and features.days_used_28d = 0 and accounts.dau_avg_28d > 0
    group by 1, 2

    union all
    -- Heavy use of a feature whose recommended next feature is unused.
    select
        heavy.account_id,
        'heavy_feature_user',
        {{ dbt.listagg(
            "heavy.feature_key || ' (' || " ~ as_text('cast(round(100 * heavy.share_of_active_users_28d, 0) as ' ~ dbt.type_int() ~ ')')
            ~ " || '% of active users): recommend ' || heavy.recommended_next_feature",
            "', '", 'order by heavy.feature_key') }}
    from features as heavy
    inner join features as next_feature
        on heavy.account_id = next_feature.account_id
        and heavy.recommended_next_feature = next_feature.feature_key
    where heavy.share_of_active_users_28d >= heavy.heavy_use_share
      and next_feature.days_used_28d = 0
    group by 1, 2

    union all
    select
        account_id,
        'no_csm_action_30d',
        case when last_csm_activity_date is null then 'no CSM activity on record'
             else 'last CSM activity ' || {{ as_text('last_csm_activity_date') }}
        end
    from accounts
    where has_no_recent_csm_activity

    union all
    select
        account_id,
        'renewal_90d_red_health',
        'renews ' || {{ as_text('renewal_date') }} || ', usage health ' || {{ as_text('usage_health_score') }}
    from accounts
    where {{ renews_within('days_until_renewal', 90) }} and usage_health_band = 'red'

    union all
    select
        account_id,
        'setup_incomplete_after_30d',
        {{ as_text('setup_steps_completed') }} || ' of ' || {{ as_text('setup_steps_total') }}
            || ' steps done after ' || {{ as_text('account_age_days') }} || ' days; next: ' || coalesce(next_setup_step, '-')
    from accounts
    where is_setup_incomplete

    union all
    -- The confirmed band (after hysteresis), so that a score wobbling around a
    -- cut-off does not move the account in and out.
    select
        account_id,
        'usage_health_yellow',
        'usage health ' || {{ as_text('usage_health_score') }} || ' (yellow)'
            || coalesce(', ' || case when usage_health_change_28d > 0 then '+' else '' end
                || {{ as_text('usage_health_change_28d') }} || ' in 28 days', '')
    from accounts
    where usage_health_band = 'yellow'

    union all
    select
        account_id,
        'renewal_at_risk',
        'renews ' || {{ as_text('renewal_date') }} || ' (in ' || {{ as_text('days_until_renewal') }} || ' days): '
            || coalesce(risk_reasons, 'risk signal')
    from renewals_at_risk

    union all
    select
        account_id,
        'usage_anomaly_last_3d',
        {{ dbt.listagg(
            "anomaly_type || ' on ' || " ~ as_text('anomaly_date') ~ " || ' (' || severity || ')'",
            "', '", 'order by anomaly_date') }}
    from anomalies
    group by 1, 2
)

select
    members.account_id,
    accounts.account_name,
    accounts.owner_user_id,
    accounts.owner_name,
    members.segment_key,
    definitions.segment_name,
    members.detail,
    definitions.recommended_action,
    accounts.salesforce_account_id,
    accounts.owner_email,
    -- The owner's manager in Salesforce (a CSM's CS Lead): "my team's accounts".
    leads.salesforce_user_id as owner_lead_user_id,
    leads.user_name as owner_lead_name,
    leads.email as owner_lead_email,
    accounts.usage_health_score,
    accounts.usage_health_band,
    accounts.usage_health_change_28d,
    accounts.usage_health_top_dropping_component,
    accounts.renewal_likelihood_score,
    accounts.renewal_likelihood_band,
    accounts.renewal_date,
    accounts.days_until_renewal,
    {{ report_url('accounts.account_id') }} as report_url,
    {{ as_of_date() }} as as_of_date
from members
inner join {{ ref('segment_definitions') }} as definitions
    on members.segment_key = definitions.segment_key
inner join accounts
    on members.account_id = accounts.account_id
left join users as owners
    on accounts.owner_user_id = owners.salesforce_user_id
left join users as leads
    on owners.manager_user_id = leads.salesforce_user_id
