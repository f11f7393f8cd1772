{#
  newline(): a line break inside a text value (Salesforce Task descriptions).
  DuckDB string literals take no escapes; BigQuery's do.
#}
{% macro newline() -%}
    {{ return(adapter.dispatch('newline')()) }}
{%- endmacro %}

{% macro default__newline() -%}
    chr(10)
{%- endmacro %}

{% macro bigquery__newline() -%}
    '\n'
{%- endmacro %}


{# as_text(expr): a value as text, for building human-readable strings. #}
{% macro as_text(expr) -%}
    cast({{ expr }} as {{ dbt.type_string() }})
{%- endmacro %}
