{#
  A key made of several columns is unique. Fails with one row per duplicated key
  (its columns and how often it occurs), so the Dagster check can name the keys.
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
    {%- set columns = combination_of_columns | join(', ') %}
    select
        {{ columns }},
        count(*) as n_records
    from {{ model }}
    group by {{ columns }}
    having count(*) > 1
{% endtest %}
