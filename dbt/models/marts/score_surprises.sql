-- The score lab's misses: past renewal decisions a health score got wrong, one row
-- per decision, score and horizon where the account churned while the score's band
-- was green, or renewed (in full) while it was red, with every component of that
-- score as it was then. What a CS-ops person reads before editing weights: which
-- component was high for the churners, which low for the accounts that stayed.
{%- set components = health_score_components() -%}
{%- set scores = components | map(attribute='score') | unique | list %}

with scored as (
    select
        decisions.*,
        accounts.account_name,
        accounts.owner_name
    from {{ ref('int_renewal_decisions_scored') }} as decisions
    left join {{ ref('int_accounts_mapped') }} as accounts
        on decisions.account_id = accounts.account_id
),

surprises as (
    {%- for score in scores %}
    {%- set parts = components | selectattr('score', 'equalto', score) | list %}
    select
        scored.account_id,
        scored.account_name,
        scored.owner_name,
        scored.contract_id,
        scored.renewal_date,
        scored.outcome,
        scored.horizon_days,
        scored.score_date,
        '{{ score }}' as score_name,
        case when scored.is_churned then 'churned_while_green' else 'renewed_while_red' end as surprise,
        scored.{{ score }}_score as score,
        scored.{{ score }}_band as band,
        -- "component score (value)" for each of this score's components; n/a without data.
        {%- for c in parts %}
        '{{ c.component }} '
        || coalesce(cast(scored.{{ c.component }}_score as {{ dbt.type_string() }}), 'n/a')
        || ' (' || coalesce(cast(round(scored.{{ c.component }}_value, 2) as {{ dbt.type_string() }}), 'n/a') || ')'
        {%- if not loop.last %} || ', '{% endif %}
        {%- endfor %} as components,
        {%- for c in components %}
        {%- if c.score == score %}
        scored.{{ c.component }}_score,
        scored.{{ c.component }}_value{% if not loop.last %},{% endif %}
        {%- else %}
        cast(null as {{ dbt.type_int() }}) as {{ c.component }}_score,
        cast(null as {{ type_double() }}) as {{ c.component }}_value{% if not loop.last %},{% endif %}
        {%- endif %}
        {%- endfor %}
    from scored
    where (scored.is_churned and scored.{{ score }}_band = 'green')
        or (scored.outcome = 'renewed' and scored.{{ score }}_band = 'red')
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
)

select * from surprises
