{#
  source_or_empty(source_name, table_name): a select of a source table's declared
  columns (the yml's `data_type`, logical types as in sources/catalog.py), cast to
  the warehouse's types; or, when the table does not exist yet, a select of the
  same columns typed and empty.

  For tables another stage of the platform writes (the play engine's
  plays.play_firings): a fresh warehouse has none until a play first runs, and the
  models reading them must still build. The select is the same shape either way,
  so the models never see the difference.

  The offline BigQuery compile cannot ask the warehouse: it compiles the production
  form (the table exists) unless the var `offline_sources_exist` is false.
#}
{% macro source_or_empty(source_name, table_name) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- set columns = source_columns(source_name, table_name) -%}
    {%- if not execute -%}
        {%- set exists = true -%}
    {%- elif target.name == 'bigquery-offline' -%}
        {%- set exists = var('offline_sources_exist', true) -%}
    {%- else -%}
        {%- set exists = adapter.get_relation(database=relation.database, schema=relation.schema,
                                              identifier=relation.identifier) is not none -%}
    {%- endif -%}
    select
    {%- for name, logical in columns.items() %}
        cast({{ name if exists else 'null' }} as {{ logical_type(logical) }}) as {{ name }}
        {%- if not loop.last %},{% endif %}
    {%- endfor %}
    {%- if exists %}
    from {{ relation }}
    {%- else %}
    -- {{ relation }} does not exist yet: nothing to read.
    from (select 1 as nothing) as no_rows
    where 1 = 0
    {%- endif %}
{%- endmacro %}


{#
  source_columns(source_name, table_name): {column: logical type} of a source table,
  in the yml's order. Empty while parsing (the graph is not there yet); a declared
  column without data_type is an error, since the empty form could not type it.
#}
{% macro source_columns(source_name, table_name) -%}
    {%- set columns = {} -%}
    {%- if not execute -%}
        {{ return(columns) }}
    {%- endif -%}
    {%- set nodes = graph.sources.values() | selectattr('source_name', 'equalto', source_name)
                    | selectattr('name', 'equalto', table_name) | list -%}
    {%- if nodes | length != 1 -%}
        {{ exceptions.raise_compiler_error("source_or_empty: no source " ~ source_name ~ "." ~ table_name) }}
    {%- endif -%}
    {%- for column in nodes[0].columns.values() -%}
        {%- if not column.data_type -%}
            {{ exceptions.raise_compiler_error("source " ~ source_name ~ "." ~ table_name ~ ": column "
                                               ~ column.name ~ " has no data_type") }}
        {%- endif -%}
        {%- do columns.update({column.name: column.data_type}) -%}
    {%- endfor -%}
    {%- if columns | length == 0 -%}
        {{ exceptions.raise_compiler_error("source " ~ source_name ~ "." ~ table_name ~ " declares no columns") }}
    {%- endif -%}
    {{ return(columns) }}
{%- endmacro %}


{# logical_type(name): a logical column type (sources/catalog.py) as this warehouse's type. #}
{% macro logical_type(name) -%}
    {%- set types = {
        'string': dbt.type_string(),
        'integer': dbt.type_bigint(),
        'float': type_double(),
        'boolean': dbt.type_boolean(),
        'date': 'date',
        'timestamp': dbt.type_timestamp(),
    } -%}
    {%- if name not in types -%}
        {{ exceptions.raise_compiler_error("unknown logical type " ~ name ~ "; known: " ~ types.keys() | join(', ')) }}
    {%- endif -%}
    {{ return(types[name]) }}
{%- endmacro %}


{#
  source_first_day(source_name, table_name, day_column): the earliest day in a
  source table, as a date (date_literal writes it into SQL as a constant: a lower
  bound BigQuery can prune partitions with); none while parsing, or when the table
  does not exist or is empty. The offline BigQuery compile cannot query: it gets
  1900-01-01, which bounds nothing (first_day()).
#}
{% macro source_first_day(source_name, table_name, day_column) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if target.name == 'bigquery-offline' -%}
        {{ return(modules.datetime.date(1900, 1, 1)) }}
    {%- elif not execute or adapter.get_relation(database=relation.database, schema=relation.schema,
                                                 identifier=relation.identifier) is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set earliest = run_query('select min(' ~ day_column ~ ') from ' ~ relation).columns[0].values()[0] -%}
    {{ return(modules.datetime.date.fromisoformat(earliest.isoformat()[:10]) if earliest is not none else none) }}
{%- endmacro %}
