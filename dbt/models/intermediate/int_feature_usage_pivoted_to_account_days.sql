{{
    config(
        materialized='incremental',
        unique_key=['account_id', 'usage_date'],
        on_schema_change='append_new_columns',
        partition_by=monthly_partitions('usage_date'),
        cluster_by=['account_id'],
    )
}}
{#-
  One row per account and day with product usage: daily active users, events, and
  key-feature use. Incremental (macros/incremental_bounds.sql): a run rewrites the
  last `usage_reload_days` days it has and the new ones, and any older day whose
  raw usage rows were (re-)loaded since the last run, e.g. a partition backfilled
  a week late; a change to the key features in the seed re-pivots all history.
-#}
{%- set plan = recompute_plan(
    'usage_date',
    inputs=[[source('raw_product_db', 'feature_usage_daily'), 'usage_date', '_loaded_at']],
    config_seeds=['product_features']) -%}

with usage as (
    select * from {{ ref('stg_product_db__feature_usage_daily') }}
    where usage_date < {{ as_of_date() }}
    {%- if plan['from'] %}
      and usage_date >= {{ date_literal(plan['from']) }}
    {%- endif %}
),

features as (
    select * from {{ ref('product_features') }}
)

select
    usage.account_id,
    usage.usage_date,
    -- `session` is logged once per active user per day: its active_users is the DAU.
    sum(case when usage.feature_key = 'session' then usage.active_users else 0 end) as daily_active_users,
    sum(usage.event_count) as event_count,
    -- User-days on key features; divided by DAU it is the key-feature adoption.
    sum(case when features.is_key_feature then usage.active_users else 0 end) as key_feature_user_days,
    count(distinct case when features.is_key_feature and usage.active_users > 0 then usage.feature_key end)
        as key_features_used,
    count(distinct case when usage.feature_key <> 'session' and usage.active_users > 0 then usage.feature_key end)
        as features_used,
    {{ bookkeeping_columns(plan) }}
from usage
left join features
    on usage.feature_key = features.feature_key
group by 1, 2
{{ stored_by_day('usage_date') }}
