{#
  A table's key: every key column is set and each key value is on one row.
  One test per table instead of unique + not_null per key column: on a daily run
  dbt's cost per test node far exceeds the query's, and a single check per table
  is also what an ops engineer reads in Dagster ("primary key of account_360").

  Fails with one row per offending key: its columns and how many rows carry it
  (a key with a null part counts all such rows together), so the Dagster check
  can name the keys. Only the key columns are read, which keeps the test cheap on
  BigQuery, where a query is billed by the columns it reads.
#}
{% test primary_key(model, columns) %}
    {%- set key = columns | join(', ') %}
    select
        {{ key }},
        count(*) as n_records
    from {{ model }}
    group by {{ key }}
    having count(*) > 1
    {%- for column in columns %}
        or {{ column }} is null
    {%- endfor %}
{% endtest %}
