{#
  type_double(): the one floating-point type of the project, 64-bit on both
  warehouses (DOUBLE on DuckDB, FLOAT64 on BigQuery). dbt.type_float() is FLOAT,
  which DuckDB reads as a 32-bit REAL: ratios kept in it round to other whole
  scores than BigQuery's (e.g. an exact x.5 that a 32-bit value puts just below
  or above it). Every cast to a float in the models uses this, never `float`.
#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{% macro duckdb__type_double() -%}
    double
{%- endmacro %}

{% macro bigquery__type_double() -%}
    float64
{%- endmacro %}
