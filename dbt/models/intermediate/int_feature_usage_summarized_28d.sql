-- One row per account and product feature over the last 28 complete days: how many
-- users used it on an average day, and that as a share of the account's daily
-- active users. Feeds the feature segments (unused key features, heavy users).
with usage as (
    select * from {{ ref('stg_product_db__feature_usage_daily') }}
    where usage_date < {{ as_of_date() }}
      and usage_date >= {{ add_days(as_of_date(), -28) }}
),

features as (
    select * from {{ ref('product_features') }}
    where feature_key <> 'session'
),

accounts as (
    select account_id from {{ ref('stg_product_db__accounts') }}
),

daily_active as (
    select account_id, sum(active_users) as dau_days
    from usage
    where feature_key = 'session'
    group by 1
),

by_feature as (
    select account_id, feature_key, sum(active_users) as user_days, count(*) as days_used
    from usage
    where active_users > 0
    group by 1, 2
)

select
    accounts.account_id,
    features.feature_key,
    features.feature_name,
    features.is_key_feature,
    features.recommended_next_feature,
    features.heavy_use_share,
    coalesce(by_feature.days_used, 0) as days_used_28d,
    coalesce(by_feature.user_days, 0) / 28.0 as avg_daily_users_28d,
    {{ safe_ratio('coalesce(by_feature.user_days, 0)', 'daily_active.dau_days') }} as share_of_active_users_28d
from accounts
cross join features
left join by_feature
    on accounts.account_id = by_feature.account_id and features.feature_key = by_feature.feature_key
left join daily_active
    on accounts.account_id = daily_active.account_id
