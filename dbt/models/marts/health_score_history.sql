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
  seeds/health_score_bands.csv, when a score is shown and when its band changes from
  seeds/health_score_settings.csv.
  Incremental (macros/incremental_bounds.sql): a run scores the new days, re-scores
  the last `usage_reload_days` and any older day whose signals were recomputed
  (late data), and re-scores ALL history when any of those seeds changed, so that
  trends and band changes always compare scores made with the same settings.
  Bands have hysteresis: a band changes only after the score has been clearly (by
  band_margin_points) inside the new band for band_confirm_days days in a row. The
  state that carries (the last confirmed band) is a column, so that a run starting
  mid-history continues exactly where the last one stopped.
-#}
{%- set components = health_score_components() -%}
{%- set scores = ['usage_health', 'renewal_likelihood'] -%}

{%- set plan = recompute_plan(
    'score_date',
    inputs=[[ref('int_account_signals_computed'), 'signal_date', '_computed_at']],
    config_seeds=scoring_seeds()) -%}
{#- Each score's band-confirmation days, a window frame (a constant); a day's
    confirmation needs the days before it, so a run reads that many more. -#}
{%- set confirm_days = {} -%}
{%- for score in scores -%}
    {%- do confirm_days.update({score: [seed_max('health_score_settings', 'band_confirm_days', 1,
                                                 where="score_name = '" ~ score ~ "'"), 1] | max}) -%}
{%- endfor -%}
{%- set read_from = date_literal(plan['from'], 1 - confirm_days.values() | max) -%}

with signals as (
    select * from {{ ref('int_account_signals_computed') }}
    {%- if read_from %}
    where signal_date >= {{ read_from }}
    {%- endif %}
),

settings as (
    select * from {{ ref('health_score_settings') }}
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
        max(case when bands.score_name = '{{ score }}' and bands.band = 'green' then bands.min_score end)
            as {{ score }}__green_from,
        max(case when bands.score_name = '{{ score }}' and bands.band = 'yellow' then bands.min_score end)
            as {{ score }}__yellow_from,
        max(case when settings.score_name = '{{ score }}' then settings.min_weight_share end)
            as {{ score }}__min_weight_share,
        max(case when settings.score_name = '{{ score }}' then settings.band_margin_points end)
            as {{ score }}__band_margin
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ ref('health_score_bands') }} as bands
    cross join settings
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
        , 0) as {{ score }}_weighted,
        (
            {%- for c in parts %}
            case when {{ c.component }}_score is not null then {{ c.component }}__weight else 0 end{% if not loop.last %} +{% endif %}
            {%- endfor %}
        ) / nullif(
            {%- for c in parts %}
            {{ c.component }}__weight{% if not loop.last %} +{% endif %}
            {%- endfor %}
        , 0) as {{ score }}_weight_share,
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
),

-- A score shown only with enough of its weight behind it; its band without
-- hysteresis, and whether the day is clearly inside that band (margin).
banded as (
    select
        weighted.*,
        band_settings.*,
        {%- for score in scores %}
        case when {{ score }}_weight_share >= band_settings.{{ score }}__min_weight_share
            then cast(round({{ score }}_weighted, 0) as {{ dbt.type_int() }})
        end as {{ score }}_score
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from weighted
    cross join band_settings
),

-- The band logic runs on these few columns only: its window functions sort all of
-- history on a full build, and sorting the ~60 wide columns of `banded` cost
-- several times more.
clear_days as (
    select
        account_id,
        score_date,
        {%- for score in scores %}
        {%- set green, yellow, margin = score ~ '__green_from', score ~ '__yellow_from', score ~ '__band_margin' %}
        {{ score }}_score,
        case
            when {{ score }}_score is null then null
            when {{ score }}_score >= {{ green }} then 'green'
            when {{ score }}_score >= {{ yellow }} then 'yellow'
            else 'red'
        end as {{ score }}_raw_band,
        -- Clearly inside its band: at least the margin away from every cut-off.
        case
            when {{ score }}_score is null then null
            when {{ score }}_score >= {{ green }} + {{ margin }} then 'green'
            when {{ score }}_score >= {{ yellow }} + {{ margin }} and {{ score }}_score < {{ green }} - {{ margin }}
                then 'yellow'
            when {{ score }}_score < {{ yellow }} - {{ margin }} then 'red'
        end as {{ score }}_clear_band
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from banded
),

-- A band is confirmed on a day when the score was clearly inside it on that day
-- and the days before it, band_confirm_days in all (one row per day: the spine of
-- an account has no gaps).
confirmed as (
    select
        clear_days.*,
        {%- for score in scores %}
        {%- set rank = "case " ~ score ~ "_clear_band when 'green' then 1 when 'yellow' then 2 when 'red' then 3 end" %}
        {%- set frame = "over (partition by account_id order by score_date rows between "
                        ~ (confirm_days[score] - 1) ~ " preceding and current row)" %}
        case
            when count({{ rank }}) {{ frame }} = {{ confirm_days[score] }}
                and min({{ rank }}) {{ frame }} = max({{ rank }}) {{ frame }}
                then {{ score }}_clear_band
        end as {{ score }}_confirmation
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from clear_days
),

{%- if plan['from'] %}
-- Where the previous run left each account: its last confirmed bands.
carried as (
    select
        account_id,
        {%- for score in scores %}
        {{ score }}_confirmed_band as {{ score }}_carried_band
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ this }}
    where score_date = {{ date_literal(plan['from'], -1) }}
),
{%- endif %}

stateful as (
    select
        confirmed.*,
        {%- for score in scores %}
        coalesce(
            last_value({{ score }}_confirmation ignore nulls) over (
                partition by confirmed.account_id order by score_date rows between unbounded preceding and current row),
            {{ 'carried.' ~ score ~ '_carried_band,' if plan['from'] }}
            -- Until a first band is confirmed, the account's first band holds.
            first_value({{ score }}_raw_band ignore nulls) over (
                partition by confirmed.account_id order by score_date rows between unbounded preceding and current row)
        ) as {{ score }}_confirmed_band
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from confirmed
    {%- if plan['from'] %}
    left join carried
        on confirmed.account_id = carried.account_id
    {%- endif %}
)

select
    banded.account_id,
    banded.score_date,
    {%- for score in scores %}
    banded.{{ score }}_score,
    -- The band shown: the last confirmed one, or insufficient_data without enough weight.
    case when banded.{{ score }}_score is null then 'insufficient_data' else stateful.{{ score }}_confirmed_band end
        as {{ score }}_band,
    stateful.{{ score }}_raw_band,
    stateful.{{ score }}_confirmed_band,
    banded.{{ score }}_weight_share,
    banded.{{ score }}_missing_components,
    {%- endfor %}
    {%- for c in components %}
    banded.{{ c.component }}_value,
    cast(round(banded.{{ c.component }}_score, 0) as {{ dbt.type_int() }}) as {{ c.component }}_score,
    {%- endfor %}
    banded.csm_impression,
    banded.csm_impression_age_days,
    banded.is_csm_impression_stale,
    {{ bookkeeping_columns(plan) }}
from banded
inner join stateful
    on banded.account_id = stateful.account_id and banded.score_date = stateful.score_date
{%- if plan['from'] %}
where banded.score_date >= {{ date_literal(plan['from']) }}
{%- endif %}
{{ stored_by_day('banded.score_date') }}
