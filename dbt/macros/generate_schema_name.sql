{#
  Models land in one schema per layer (staging, intermediate, marts, seeds)
  named exactly so, instead of dbt's default <target schema>_<layer>.
  In BigQuery every dataset carries BIGQUERY_DATASET_PREFIX, the same prefix the raw
  loaders use (cs_platform/resources/warehouse.py), so deployments can share a project.
  The var `schema_suffix` (default empty) is appended to every layer's name: a what-if
  build (cs_platform/models/what_if.py) lands in marts_whatif, seeds_whatif, ... and
  never in a production schema.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set name = ((custom_schema_name or target.schema) | trim) ~ var('schema_suffix', '') -%}
    {%- if target.type == 'bigquery' -%}
        {{ env_var('BIGQUERY_DATASET_PREFIX', '') }}{{ name }}
    {%- else -%}
        {{ name }}
    {%- endif -%}
{%- endmacro %}
