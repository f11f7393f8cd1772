-- The score lab's report card: how well each health score, and each of its
-- components alone, told apart the accounts that churned from those that stayed,
-- at 30/60/90 days before their past renewal dates (int_renewal_decisions_scored).
-- One row per score, horizon and measure (the score itself, or one component):
--   auc: the chance that an account that stayed scored higher than one that churned
--        (Mann-Whitney, ties count half): 0.5 is a coin flip, 1 a perfect warning;
--        a component far above its score, or a heavy weight near 0.5, is what to
--        look at before editing weights (seeds/health_score_components.csv);
--   churn rate per band and the lift of red over green (score rows).
-- What CS ops read before and after a weight edit; cs_platform.models.what_if
-- builds it for a candidate weights file beside this one.
{%- set components = health_score_components() -%}
{%- set scores = components | map(attribute='score') | unique | list -%}
{%- set bands = ['green', 'yellow', 'red', 'insufficient_data'] %}

with scored as (
    select * from {{ ref('int_renewal_decisions_scored') }}
),

-- One row per decision, horizon and measure: the score, or one component's 0-100 score.
measures as (
    {%- for score in scores %}
    select
        account_id, renewal_date, horizon_days, outcome, is_churned,
        '{{ score }}' as score_name,
        '{{ score }}' as measure_name,
        'score' as measure_kind,
        {{ score }}_score as measure_value,
        {{ score }}_band as band
    from scored
    {%- for c in components if c.score == score %}
    union all
    select
        account_id, renewal_date, horizon_days, outcome, is_churned,
        '{{ score }}' as score_name,
        '{{ c.component }}' as measure_name,
        'component' as measure_kind,
        {{ c.component }}_score as measure_value,
        cast(null as {{ dbt.type_string() }}) as band
    from scored
    {%- endfor %}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

-- Mid-ranks of the values that exist (ties share the mean of their positions).
ranked as (
    select
        measures.*,
        (
            rank() over (partition by score_name, horizon_days, measure_name order by measure_value)
            + count(*) over (partition by score_name, horizon_days, measure_name)
            + 1
            - rank() over (partition by score_name, horizon_days, measure_name order by measure_value desc)
        ) / 2.0 as mid_rank
    from measures
    where measure_value is not null
),

rank_sums as (
    select
        score_name,
        horizon_days,
        measure_name,
        count(*) as decisions_with_value,
        sum(case when is_churned then 1 else 0 end) as churned_with_value,
        sum(case when is_churned then 0 else 1 end) as stayed_with_value,
        sum(case when is_churned then 0 else mid_rank end) as stayed_rank_sum
    from ranked
    group by score_name, horizon_days, measure_name
),

totals as (
    select
        score_name,
        horizon_days,
        measure_name,
        max(measure_kind) as measure_kind,
        count(*) as decisions,
        sum(case when is_churned then 1 else 0 end) as churned,
        sum(case when outcome = 'downgraded' then 1 else 0 end) as downgraded,
        {%- for band in bands %}
        sum(case when band = '{{ band }}' then 1 else 0 end) as {{ band }}_decisions,
        sum(case when band = '{{ band }}' and is_churned then 1 else 0 end) as {{ band }}_churned
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from measures
    group by score_name, horizon_days, measure_name
),

figures as (
    select
        totals.score_name,
        totals.horizon_days,
        totals.measure_name,
        totals.measure_kind,
        weights.weight,
        totals.decisions,
        totals.churned,
        totals.downgraded,
        {{ safe_ratio('totals.churned', 'totals.decisions') }} as churn_rate,
        coalesce(rank_sums.decisions_with_value, 0) as decisions_with_value,
        coalesce(rank_sums.churned_with_value, 0) as churned_with_value,
        -- Mann-Whitney U of the accounts that stayed, over all stayed x churned pairs.
        {{ safe_ratio(
            'rank_sums.stayed_rank_sum - rank_sums.stayed_with_value * (rank_sums.stayed_with_value + 1) / 2.0',
            'rank_sums.stayed_with_value * rank_sums.churned_with_value') }} as auc,
        {%- for band in bands %}
        case when totals.measure_kind = 'score' then totals.{{ band }}_decisions end as {{ band }}_decisions,
        case when totals.measure_kind = 'score' then
            {{ safe_ratio('totals.' ~ band ~ '_churned', 'totals.' ~ band ~ '_decisions') }}
        end as {{ band }}_churn_rate,
        {%- endfor %}
        case when totals.measure_kind = 'score' then
            {{ safe_ratio(safe_ratio('totals.red_churned', 'totals.red_decisions'),
                          safe_ratio('totals.green_churned', 'totals.green_decisions')) }}
        end as lift_red_over_green
    from totals
    left join rank_sums
        on totals.score_name = rank_sums.score_name
        and totals.horizon_days = rank_sums.horizon_days
        and totals.measure_name = rank_sums.measure_name
    left join {{ ref('health_score_components') }} as weights
        on totals.score_name = weights.score_name
        and totals.measure_name = weights.component_name
)

select
    figures.*,
    -- 1 = the component that alone tells churn apart best, per score and horizon.
    case when measure_kind = 'component' and auc is not null then
        row_number() over (
            partition by score_name, horizon_days, case when measure_kind = 'component' and auc is not null then 1 end
            order by auc desc, measure_name
        )
    end as component_auc_rank
from figures
