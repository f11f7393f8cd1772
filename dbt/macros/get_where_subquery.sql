{#
  Test `where` configs may say `__recent_days__`: the as-of date minus
  `recent_key_test_days`. Key tests on the tables that grow by the day (daily
  usage, page views, the daily signals and score history) check only recent days
  on every run, so a daily run costs in proportion to the new data: older days
  were checked when they landed and no later run rewrites them (a backfill that
  does is a full refresh, which checks everything: the placeholder then reaches
  back to the first day).
#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where -%}
        {%- if '__recent_days__' in where -%}
            {%- set since = first_day() if flags.FULL_REFRESH
                else add_days(as_of_date(), -var('recent_key_test_days')) -%}
            {%- set where = where | replace('__recent_days__', since) -%}
        {%- endif -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
