{#-
  One row per account and score (usage_health, renewal_likelihood): the score and
  every component now, 7 and 28 days before, and which components pulled the score
  down the most. A component's pull is its weight times its drop in points, i.e.
  how many points of the score it cost; only components that fell are listed.
-#}
{%- set components = health_score_components() -%}

with history as (
    -- Today, 7 and 28 days before are all this reads.
    {{ latest_days(ref('health_score_history'), 'score_date', 28) }}
),

current_day as (
    select max(score_date) as score_date from history
),

snapshots as (
    select
        history.*,
        case
            when history.score_date = current_day.score_date then 'now'
            when history.score_date = {{ add_days('current_day.score_date', -7) }} then 'd7'
            else 'd28'
        end as snapshot
    from history
    cross join current_day
    where history.score_date in (
        current_day.score_date,
        {{ add_days('current_day.score_date', -7) }},
        {{ add_days('current_day.score_date', -28) }}
    )
),

scores as (
    {%- for score in ['usage_health', 'renewal_likelihood'] %}
    select
        account_id,
        '{{ score }}' as score_name,
        max(case when snapshot = 'now' then score_date end) as score_date,
        max(case when snapshot = 'now' then {{ score }}_score end) as score_now,
        max(case when snapshot = 'now' then {{ score }}_band end) as band_now,
        max(case when snapshot = 'd7' then {{ score }}_score end) as score_7d_ago,
        max(case when snapshot = 'd28' then {{ score }}_score end) as score_28d_ago,
        max(case when snapshot = 'd28' then {{ score }}_band end) as band_28d_ago
    from snapshots
    group by 1, 2
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

weights as (
    select component_name, weight from {{ ref('health_score_components') }}
),

components as (
    {%- for c in components %}
    select
        account_id,
        '{{ c.score }}' as score_name,
        '{{ c.component }}' as component_name,
        max(case when snapshot = 'now' then {{ c.component }}_score end) as component_now,
        max(case when snapshot = 'd7' then {{ c.component }}_score end) as component_7d_ago,
        max(case when snapshot = 'd28' then {{ c.component }}_score end) as component_28d_ago
    from snapshots
    group by 1, 2, 3
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

pulls as (
    select
        components.*,
        weights.weight * (components.component_7d_ago - components.component_now) as points_lost_7d,
        weights.weight * (components.component_28d_ago - components.component_now) as points_lost_28d
    from components
    inner join weights
        on components.component_name = weights.component_name
),

ranked as (
    select
        *,
        row_number() over (
            partition by account_id, score_name
            order by coalesce(points_lost_28d, 0) desc, coalesce(points_lost_7d, 0) desc, component_name
        ) as rank_28d
    from pulls
),

summarized as (
    select
        account_id,
        score_name,
        max(case when rank_28d = 1 and points_lost_28d > 0 then component_name end) as top_dropping_component,
        {{ dbt.listagg(
            "case when points_lost_7d > 0 then component_name || ' (' || cast(component_now - component_7d_ago as " ~ dbt.type_string() ~ ") || ')' end",
            "', '",
            "order by points_lost_7d desc, component_name") }} as dropping_components_7d,
        {{ dbt.listagg(
            "case when points_lost_28d > 0 then component_name || ' (' || cast(component_now - component_28d_ago as " ~ dbt.type_string() ~ ") || ')' end",
            "', '",
            "order by points_lost_28d desc, component_name") }} as dropping_components_28d
    from ranked
    group by 1, 2
)

select
    scores.account_id,
    scores.score_name,
    scores.score_date,
    scores.score_now,
    scores.band_now,
    scores.score_7d_ago,
    scores.score_28d_ago,
    scores.score_now - scores.score_7d_ago as change_7d,
    scores.score_now - scores.score_28d_ago as change_28d,
    scores.band_28d_ago,
    summarized.top_dropping_component,
    summarized.dropping_components_7d,
    summarized.dropping_components_28d
from scores
left join summarized
    on scores.account_id = summarized.account_id and scores.score_name = summarized.score_name
