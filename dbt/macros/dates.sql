{#
  "Today" and day arithmetic, the same on DuckDB and BigQuery.

  as_of_date(): the date every model treats as today. The dbt var `as_of_date`
  (YYYY-MM-DD) pins it, so tests and backfills are reproducible; unset, it is the
  warehouse's current date. Data sets are complete up to the day before it: the
  latest full day of usage is as_of_date - 1.
#}
{% macro as_of_date() -%}
    {%- set pinned = var('as_of_date', none) -%}
    {%- if pinned -%}
        cast('{{ pinned }}' as date)
    {%- else -%}
        current_date
    {%- endif -%}
{%- endmacro %}


{#
  add_days(expr, n): a date n days after expr, typed DATE on both warehouses.
  dbt.dateadd returns a TIMESTAMP on DuckDB and a DATETIME on BigQuery, which then
  compare awkwardly with DATE columns; this keeps dates dates.
#}
{% macro add_days(date_expr, days) -%}
    {{ return(adapter.dispatch('add_days')(date_expr, days)) }}
{%- endmacro %}

{% macro default__add_days(date_expr, days) -%}
    cast({{ dbt.dateadd('day', days, date_expr) }} as date)
{%- endmacro %}

{% macro duckdb__add_days(date_expr, days) -%}
    (cast({{ date_expr }} as date) + cast({{ days }} as integer))
{%- endmacro %}

{% macro bigquery__add_days(date_expr, days) -%}
    date_add(cast({{ date_expr }} as date), interval cast({{ days }} as int64) day)
{%- endmacro %}


{# days_between(start, end): whole days from start to end (end - start), as an integer. #}
{% macro days_between(start_expr, end_expr) -%}
    {{ dbt.datediff('cast(' ~ start_expr ~ ' as date)', 'cast(' ~ end_expr ~ ' as date)', 'day') }}
{%- endmacro %}


{#
  spine_days(relation, start_col, end_col, day_col): every row of `relation` (a CTE
  name) repeated once per day from its start_col to its end_col inclusive, with the
  day as `day_col`. Written per warehouse: DuckDB's generate_series vs BigQuery's
  GENERATE_DATE_ARRAY. (dbt.date_spine runs an introspective query, which the
  offline BigQuery compile cannot.)
#}
{% macro spine_days(relation, start_col, end_col, day_col) -%}
    {{ return(adapter.dispatch('spine_days')(relation, start_col, end_col, day_col)) }}
{%- endmacro %}

{% macro default__spine_days(relation, start_col, end_col, day_col) -%}
    select spined.*, {{ day_col }}
    from {{ relation }} as spined
    cross join unnest(generate_date_array(spined.{{ start_col }}, spined.{{ end_col }})) as {{ day_col }}
{%- endmacro %}

{% macro duckdb__spine_days(relation, start_col, end_col, day_col) -%}
    select
        spined.*,
        cast(unnest(generate_series(spined.{{ start_col }}, spined.{{ end_col }}, interval 1 day)) as date) as {{ day_col }}
    from {{ relation }} as spined
{%- endmacro %}


{#
  monthly_partitions(field): BigQuery partitioning for a table that grows by the
  day, so an incremental run reads and rewrites only the partitions it touches.
  None elsewhere: dbt-duckdb reads partition_by as a file layout for external tables.
#}
{% macro monthly_partitions(field) -%}
    {%- if target.type == 'bigquery' -%}
        {{ return({'field': field, 'data_type': 'date', 'granularity': 'month'}) }}
    {%- else -%}
        {{ return(none) }}
    {%- endif -%}
{%- endmacro %}


{#
  stored_by_day(field): the closing ORDER BY of a model that grows by the day, on
  DuckDB. DuckDB keeps rows in insertion order and skips row groups by their min/max
  per column, so a table written in day order lets a daily run read only the recent
  days (its look-back) instead of every row group of the history: 3-4x less work on
  those reads at 365 days, more as history grows. On BigQuery monthly_partitions does
  that job, and an ORDER BY without LIMIT would only make the engine sort in one
  worker.
#}
{% macro stored_by_day(field) -%}
    {{ return(adapter.dispatch('stored_by_day')(field)) }}
{%- endmacro %}

{% macro default__stored_by_day(field) -%}
{%- endmacro %}

{% macro duckdb__stored_by_day(field) -%}
    order by {{ field }}
{%- endmacro %}


{#
  latest_days(relation, day_column, days): the rows of a table that grows by the day
  whose day is at most `days` days before its latest day. The current-state marts
  read history through it: on DuckDB the table is stored by day, so older row
  groups are skipped, and a CTE used twice is materialized with only these rows
  instead of the whole history (health_score_trends: 0.4 s -> ~0.05 s of reading at
  10,000 accounts x 365 days).
#}
{% macro latest_days(relation, day_column, days) -%}
    select *
    from {{ relation }}
    where {{ day_column }} >= (select {{ add_days('max(' ~ day_column ~ ')', -days) }} from {{ relation }})
{%- endmacro %}
