{#
  score_between(value, value_at_0, value_at_100): a raw measure mapped linearly onto
  0-100 between two thresholds and clamped, so each component of a health score is
  on the same scale. Works both ways: when value_at_0 > value_at_100 (tickets,
  escalations) more is worse. Null in, null out: a component without data stays
  null and is left out of the weighted score.
#}
{% macro score_between(value, value_at_0, value_at_100) -%}
    case
        when {{ value }} is null then null
        when {{ value_at_100 }} = {{ value_at_0 }} then
            case when {{ value }} >= {{ value_at_100 }} then 100.0 else 0.0 end
        else least(100.0, greatest(0.0,
            100.0 * ({{ value }} - {{ value_at_0 }}) / ({{ value_at_100 }} - {{ value_at_0 }})))
    end
{%- endmacro %}


{# safe_ratio(a, b): a / b as a 64-bit float (type_double), null when b is 0 or null. #}
{% macro safe_ratio(numerator, denominator) -%}
    (cast({{ numerator }} as {{ type_double() }}) / nullif(cast({{ denominator }} as {{ type_double() }}), 0))
{%- endmacro %}


{#
  The components of the two health scores. The SQL that measures each one lives in
  int_account_signals_computed (its `value` column); its weight and the thresholds
  that map it onto 0-100 live in seeds/health_score_components.csv, which CS ops edit.
  A test (assert_health_score_components_match_seed) keeps the two lists equal.
#}
{% macro health_score_components() -%}
    {{ return([
        {'score': 'usage_health', 'component': 'active_user_ratio', 'value': 'active_user_ratio'},
        {'score': 'usage_health', 'component': 'key_feature_adoption', 'value': 'key_feature_adoption'},
        {'score': 'usage_health', 'component': 'usage_trend', 'value': 'usage_trend_ratio'},
        {'score': 'usage_health', 'component': 'setup_completion', 'value': 'setup_completion_ratio'},
        {'score': 'usage_health', 'component': 'support_burden', 'value': 'support_load_28d'},
        {'score': 'usage_health', 'component': 'help_site_engagement', 'value': 'help_site_sessions_per_user_28d'},
        {'score': 'renewal_likelihood', 'component': 'nps', 'value': 'nps_average'},
        {'score': 'renewal_likelihood', 'component': 'escalations', 'value': 'escalations_90d'},
        {'score': 'renewal_likelihood', 'component': 'champion_engagement', 'value': 'champion_engagements_56d'},
        {'score': 'renewal_likelihood', 'component': 'contract_tenure', 'value': 'customer_tenure_days'},
        {'score': 'renewal_likelihood', 'component': 'plan_fit', 'value': 'seat_utilization'},
        {'score': 'renewal_likelihood', 'component': 'csm_impression', 'value': 'csm_impression_value'},
    ]) }}
{%- endmacro %}


{#
  The seeds that shape the figures of the incremental scoring models; an edit of
  any of them re-scores all history (recompute_plan in macros/incremental_bounds.sql).
  signal_seeds(): what int_account_signals_computed measures with; scoring_seeds():
  those and what health_score_history scores with.
#}
{% macro signal_seeds() -%}
    {{ return(['health_score_components', 'product_features', 'setup_step_definitions', 'csm_impression_values']) }}
{%- endmacro %}

{% macro scoring_seeds() -%}
    {{ return(signal_seeds() + ['health_score_bands', 'health_score_settings']) }}
{%- endmacro %}


{#
  seed_max(seed, column, default, where=none): the largest value of a seed's column
  (in the rows matching `where`, a SQL condition), read when the model runs, for SQL
  that needs it as a constant (a window frame, the days before the first written day
  a model must read). `default` while parsing and in the offline compile.
#}
{% macro seed_max(seed, column, default, where=none) -%}
    {%- set relation = ref(seed) -%}
    {%- if not execute or target.name == 'bigquery-offline' or load_relation(relation) is none -%}
        {{ return(default) }}
    {%- endif -%}
    {%- set query = 'select max(' ~ column ~ ') from ' ~ relation ~ (' where ' ~ where if where else '') -%}
    {%- set value = run_query(query).columns[0].values()[0] -%}
    {{ return(value | int if value is not none else default) }}
{%- endmacro %}
