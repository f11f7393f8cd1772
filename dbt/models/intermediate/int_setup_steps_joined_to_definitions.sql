-- One row per account and defined setup step (seeds/setup_step_definitions.csv),
-- whether the product recorded it or not: a step never started is a pending step.
with accounts as (
    select account_id from {{ ref('stg_product_db__accounts') }}
),

definitions as (
    select * from {{ ref('setup_step_definitions') }}
),

steps as (
    select * from {{ ref('stg_product_db__setup_steps') }}
)

select
    accounts.account_id,
    definitions.step_key,
    definitions.step_order,
    definitions.step_name,
    coalesce(steps.is_completed and cast(steps.completed_at as date) < {{ as_of_date() }}, false) as is_completed,
    case when cast(steps.completed_at as date) < {{ as_of_date() }} then steps.completed_at end as completed_at
from accounts
cross join definitions
left join steps
    on accounts.account_id = steps.account_id and definitions.step_key = steps.step_key
