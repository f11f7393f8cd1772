-- Every past renewal decision (int_renewal_decisions) with both health scores, their
-- bands and every component as they were `horizon_days` before the renewal date,
-- one row per decision and horizon (var backtest_horizons_days: 30, 60, 90). A
-- decision appears at a horizon only when the score history reaches back that far.
-- The score lab's one input: score_backtest aggregates it, score_surprises lists
-- its misses. Score and component columns are read from health_score_history by
-- the lists in macros/scoring.sql, so a new component shows up here by itself.
{%- set components = health_score_components() -%}
{%- set scores = components | map(attribute='score') | unique | list %}

with decisions as (
    select * from {{ ref('int_renewal_decisions') }}
),

horizons as (
    {%- for days in var('backtest_horizons_days') %}
    select {{ days }} as horizon_days
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

-- Only the days a decision can look back to (the history's latest days, a
-- constant bound: partitions pruned on BigQuery).
history as (
    {{ latest_days(ref('health_score_history'), 'score_date',
                   var('backtest_lookback_days') + var('backtest_horizons_days') | max) }}
)

select
    decisions.account_id,
    decisions.contract_id,
    decisions.renewal_date,
    decisions.outcome,
    decisions.is_churned,
    horizons.horizon_days,
    history.score_date,
    {%- for score in scores %}
    history.{{ score }}_score,
    history.{{ score }}_band,
    {%- endfor %}
    {%- for c in components %}
    history.{{ c.component }}_score,
    history.{{ c.component }}_value{% if not loop.last %},{% endif %}
    {%- endfor %}
from decisions
cross join horizons
inner join history
    on decisions.account_id = history.account_id
    and history.score_date = {{ add_days('decisions.renewal_date', '-horizons.horizon_days') }}
