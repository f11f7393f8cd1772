{#-
  Tables and views on DuckDB in one statement, as dbt-bigquery already builds them
  in production: `create or replace` inside the run's transaction.

  dbt's own materializations build a `__dbt_tmp` relation, rename the old one to
  `__dbt_backup`, rename the new one into place, commit and drop the backup: five or
  six statements, each a round of dbt's Python (events, connection bookkeeping),
  for the same atomic swap that DuckDB's `create or replace` gives in one. On a
  daily run, where most nodes are small, that bookkeeping was a large share of the
  time (bench/README.md).

  Neither grants, persisted docs nor model contracts exist on the local warehouse;
  a model that asks for them fails here rather than being built without them.
-#}

{% macro _single_statement_materialization(relation_type) %}
  {%- if config.get('grants') or config.get('persist_docs') or config.get('contract').enforced -%}
    {{ exceptions.raise_compiler_error(
        model.unique_id ~ ": grants, persist_docs and contracts are not supported by the project's "
        ~ relation_type ~ " materialization on DuckDB (macros/materializations.sql)") }}
  {%- endif -%}
  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set target_relation = this.incorporate(type=relation_type) -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {#- `create or replace` only replaces a relation of the same kind. -#}
  {%- if existing_relation is not none and existing_relation.type != relation_type -%}
    {{ adapter.drop_relation(existing_relation) }}
  {%- endif -%}

  {% call statement('main') -%}
    create or replace {{ relation_type }} {{ target_relation }} as (
{{ sql }}
    )
  {%- endcall %}

  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {{ adapter.commit() }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}

  {{ return({'relations': [target_relation]}) }}
{% endmacro %}

{% materialization table, adapter='duckdb' %}
  {{ return(_single_statement_materialization('table')) }}
{% endmaterialization %}

{% materialization view, adapter='duckdb' %}
  {{ return(_single_statement_materialization('view')) }}
{% endmaterialization %}
