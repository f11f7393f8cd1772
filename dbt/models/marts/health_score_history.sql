{{
    config(
        materialized='incremental',
        unique_key=['account_id', 'score_date'],
        on_schema_change='append_new_columns',
        partition_by=monthly_partitions('score_date'),
        cluster_by=['account_id'],
    )
}}
{#-
  Both health scores for every account and day: each component's raw value and its
  0-100 score, the weighted scores and their bands. The weights and thresholds come
  from seeds/health_score_components.csv, the band cut-offs from
  seeds/health_score_bands.csv. Incremental: a run scores the new days (and re-scores
  the last `usage_reload_days`); after editing the seeds, a full refresh re-scores
  all history with the new settings.
-#}
{%- set components = health_score_components() -%}
{%- set scores = ['usage_health', 'renewal_likelihood'] -%}

with signals as (
    select * from {{ ref('int_account_signals_computed') }}
    {% if is_incremental() %}
    where signal_date >= {{ latest_day_in(this, 'score_date', 1 - var('usage_reload_days')) or first_day() }}
    {% endif %}
),

-- The seeds as one row, one column per component setting.
component_settings as (
    select
        {%- for c in components %}
        max(case when component_name = '{{ c.component }}' then weight end) as {{ c.component }}__weight,
        max(case when component_name = '{{ c.component }}' then raw_value_at_score_0 end) as {{ c.component }}__at_0,
        max(case when component_name = '{{ c.component }}' then raw_value_at_score_100 end) as {{ c.component }}__at_100,
        max(case when component_name = '{{ c.component }}' then stale_after_days end) as {{ c.component }}__stale_after_days
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ ref('health_score_components') }}
),

band_settings as (
    select
        {%- for score in scores %}
        max(case when score_name = '{{ score }}' and band = 'green' then min_score end) as {{ score }}__green_from,
        max(case when score_name = '{{ score }}' and band = 'yellow' then min_score end) as {{ score }}__yellow_from
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ ref('health_score_bands') }}
),

component_scores as (
    select
        signals.account_id,
        signals.signal_date as score_date,
        signals.csm_impression,
        signals.csm_impression_age_days,
        -- A CSM impression older than its stale_after_days counts for nothing.
        coalesce(signals.csm_impression_age_days > component_settings.csm_impression__stale_after_days, false)
            as is_csm_impression_stale,
        {%- for c in components %}
        signals.{{ c.value }} as {{ c.component }}_value,
        {%- endfor %}
        component_settings.*
    from signals
    cross join component_settings
),

normalized as (
    select
        component_scores.*,
        {%- for c in components %}
        {%- if c.component == 'csm_impression' %}
        case when not is_csm_impression_stale then
            {{ score_between('csm_impression_value', 'csm_impression__at_0', 'csm_impression__at_100') }}
        end as csm_impression_score
        {%- else %}
        {{ score_between(c.component ~ '_value', c.component ~ '__at_0', c.component ~ '__at_100') }}
            as {{ c.component }}_score
        {%- endif %}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from component_scores
),

weighted as (
    select
        normalized.*,
        {%- for score in scores %}
        {%- set parts = components | selectattr('score', 'equalto', score) | list %}
        -- Weighted mean over the components that have data: missing ones drop out
        -- and the remaining weights are scaled up to sum to 1.
        (
            {%- for c in parts %}
            coalesce({{ c.component }}__weight * {{ c.component }}_score, 0){% if not loop.last %} +{% endif %}
            {%- endfor %}
        ) / nullif(
            {%- for c in parts %}
            case when {{ c.component }}_score is not null then {{ c.component }}__weight else 0 end{% if not loop.last %} +{% endif %}
            {%- endfor %}
        , 0) as {{ score }}_exact,
        nullif(rtrim(
            {%- for c in parts %}
            {%- if c.component == 'csm_impression' %}
            case when {{ c.component }}_value is null then '{{ c.component }}, ' else '' end
            {%- else %}
            case when {{ c.component }}_score is null then '{{ c.component }}, ' else '' end
            {%- endif %}
            {%- if not loop.last %} ||{% endif %}
            {%- endfor %}
        , ', '), '') as {{ score }}_missing_components
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from normalized
)

select
    weighted.account_id,
    weighted.score_date,
    {%- for score in scores %}
    cast(round({{ score }}_exact, 0) as {{ dbt.type_int() }}) as {{ score }}_score,
    case
        when {{ score }}_exact is null then null
        when round({{ score }}_exact, 0) >= band_settings.{{ score }}__green_from then 'green'
        when round({{ score }}_exact, 0) >= band_settings.{{ score }}__yellow_from then 'yellow'
        else 'red'
    end as {{ score }}_band,
    {{ score }}_missing_components,
    {%- endfor %}
    {%- for c in components %}
    {{ c.component }}_value,
    cast(round({{ c.component }}_score, 0) as {{ dbt.type_int() }}) as {{ c.component }}_score,
    {%- endfor %}
    csm_impression,
    csm_impression_age_days,
    is_csm_impression_stale
from weighted
cross join band_settings
{{ stored_by_day('score_date') }}
