-- Per account, the onboarding steps (seeds/setup_step_definitions.csv) done and
-- when, those still to do in order, and the completion ratio: what a CSM checks
-- before a kickoff or check-in meeting.
with steps as (
    select * from {{ ref('int_setup_steps_joined_to_definitions') }}
),

accounts as (
    select account_id, account_name, owner_name, created_date from {{ ref('int_accounts_mapped') }}
),

summary as (
    select
        account_id,
        count(*) as steps_total,
        sum(case when is_completed then 1 else 0 end) as steps_completed,
        min(completed_at) as first_step_completed_at,
        max(completed_at) as last_step_completed_at,
        {{ dbt.listagg(
            "case when is_completed then step_key || ' (' || " ~ as_text('cast(completed_at as date)') ~ " || ')' end",
            "', '", "order by step_order") }} as completed_steps,
        {{ dbt.listagg("case when not is_completed then step_key end", "', '", "order by step_order") }}
            as pending_steps,
        min(case when not is_completed then step_order end) as next_step_order
    from steps
    group by 1
)

select
    summary.account_id,
    accounts.account_name,
    accounts.owner_name,
    accounts.created_date,
    {{ days_between('accounts.created_date', as_of_date()) }} as account_age_days,
    summary.steps_completed,
    summary.steps_total,
    {{ safe_ratio('summary.steps_completed', 'summary.steps_total') }} as completion_ratio,
    summary.steps_completed = summary.steps_total as is_setup_complete,
    coalesce({{ days_between('accounts.created_date', as_of_date()) }} > {{ var('setup_grace_days') }}
             and {{ safe_ratio('summary.steps_completed', 'summary.steps_total') }}
                 < {{ var('setup_incomplete_below_ratio') }}, false) as is_setup_incomplete,
    next_step.step_key as next_step,
    next_step.step_name as next_step_name,
    summary.completed_steps,
    summary.pending_steps,
    summary.first_step_completed_at,
    summary.last_step_completed_at
from summary
inner join accounts
    on summary.account_id = accounts.account_id
left join {{ ref('setup_step_definitions') }} as next_step
    on summary.next_step_order = next_step.step_order
