-- Every component the models compute (macros/scoring.sql) has exactly one row in
-- seeds/health_score_components.csv under the right score, and the seed names no
-- component the models do not know. Returns each mismatch and what is wrong.
{{ config(severity='error') }}

with expected as (
    {%- for c in health_score_components() %}
    select '{{ c.score }}' as score_name, '{{ c.component }}' as component_name
    {%- if not loop.last %} union all{% endif %}
    {%- endfor %}
),

configured as (
    select score_name, component_name from {{ ref('health_score_components') }}
)

select
    coalesce(expected.component_name, configured.component_name) as component_name,
    case
        when configured.component_name is null then 'missing from the seed'
        when expected.component_name is null then 'unknown component'
        else 'belongs to ' || expected.score_name || ', seed says ' || configured.score_name
    end as problem
from expected
full outer join configured
    on expected.component_name = configured.component_name
where expected.component_name is null
   or configured.component_name is null
   or expected.score_name <> configured.score_name
