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


{# first_day(): a day before any data; the lower bound that filters nothing. #}
{% macro first_day() -%}
    cast('1900-01-01' as date)
{%- endmacro %}


{#
  latest_day(relation, day_column, before=none): the latest day in a table that
  grows by the day (before `before`, a SQL date, if given), as a date, or none
  when there is none. A query finds it when the model runs, after the models it
  reads have been built. date_literal(day, offset_days) writes a day, offset_days
  later, into SQL as a constant (`cast('2026-03-01' as date)`; none stays none);
  latest_day_in does both.

  Why a constant rather than `(select max(day) from ...)` in the SQL: BigQuery
  prunes partitions only with filters it can evaluate before the query starts;
  a filter that compares with a subquery reads every partition, so a daily run
  would be billed for all history. DuckDB, likewise, skips row groups by their
  min/max only for constants.

  While dbt parses, or before the table exists, it is none. The offline BigQuery
  compile cannot query: it gets the day before the as-of date, the latest day of a
  table kept current.
#}
{% macro latest_day(relation, day_column, before=none) -%}
    {%- if target.name == 'bigquery-offline' -%}
        {%- set as_of = var('as_of_date', none) -%}
        {%- set today = modules.datetime.date.fromisoformat(as_of) if as_of else modules.datetime.date.today() -%}
        {{ return(today - modules.datetime.timedelta(days=1)) }}
    {%- elif not execute or load_relation(relation) is none -%}
        {#- Parsing; or compiling before the table is first built (e.g. `dbt compile`). -#}
        {{ return(none) }}
    {%- endif -%}
    {%- set query -%}
        select max({{ day_column }}) from {{ relation }}
        {%- if before is not none %} where {{ day_column }} < {{ before }}{% endif %}
    {%- endset -%}
    {%- set latest = run_query(query).columns[0].values()[0] -%}
    {#- A date, or a datetime where the adapter returns one: the day either way. -#}
    {{ return(modules.datetime.date.fromisoformat(latest.isoformat()[:10]) if latest is not none else none) }}
{%- endmacro %}

{% macro date_literal(day, offset_days=0) -%}
    {%- if day is none -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return("cast('" ~ (day + modules.datetime.timedelta(days=offset_days)).isoformat() ~ "' as date)") }}
{%- endmacro %}

{% macro latest_day_in(relation, day_column, offset_days=0) -%}
    {{ return(date_literal(latest_day(relation, day_column), offset_days)) }}
{%- endmacro %}


{#
  latest_days(relation, day_column, days): the rows of a table that grows by the day
  whose day is at most `days` days before its latest day. The current-state marts
  read history through it: only those days are read (partitions on BigQuery, row
  groups on DuckDB, where the table is stored by day), and a CTE used twice is
  materialized with only these rows instead of the whole history.
#}
{% macro latest_days(relation, day_column, days) -%}
    {%- set since = latest_day_in(relation, day_column, -days) %}
    select *
    from {{ relation }}
    {%- if since is not none %}
    where {{ day_column }} >= {{ since }}
    {%- endif %}
{%- endmacro %}
