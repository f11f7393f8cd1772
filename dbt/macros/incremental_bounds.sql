{#
  Which days an incremental model that grows by the day (re)writes on this run.

  recompute_plan(day_column, inputs, config_seeds=[], reload_days, affects_days_before=0)
  returns {'from': a date or none (none: all history), 'reason': why, and the three
  bookkeeping columns every row it writes carries (bookkeeping_columns(plan)):
  - _computed_at: when this run started; downstream models watch it (below).
  - _config_version: a hash of the seeds that shape the model's figures (weights,
    thresholds, bands, key features, ...) and of `config_vars`. When it differs from
    the version on the model's latest day, the run rewrites ALL history with the new
    settings, so that trends and band changes never compare scores made with
    different settings (a weight edit is a full re-score, without anyone having to
    ask for a full refresh).
  - _input_watermarks: per input, the latest load/compute time this run saw.

  The days rewritten are the earliest of:
  - the last `reload_days` days the model has (re-loaded partitions, late events);
  - the earliest day of any input row loaded or recomputed after the watermark the
    previous run saw, as far back as `late_data_max_days` (a usage partition
    re-loaded a week late re-scores that week and every day after it). A backfill
    of older days lifts the bound: --vars '{late_data_max_days: 400}';
  - minus `affects_days_before` days: a model whose day looks at the days after it
    (the 3-day drop test) re-scores the days before those too.

  `inputs` are [relation, day expression, stamp column] (raw tables: `_loaded_at`,
  written by the loaders; incremental models: `_computed_at`). The day expression
  is compared with constants only, so BigQuery prunes partitions on those reads too.
  The stamps are the warehouse's own values (no clock is compared with another).
#}
{% macro recompute_plan(day_column, inputs, config_seeds=[], config_vars=[], reload_days=none,
                        affects_days_before=0) %}
    {%- set reload_days = var('usage_reload_days') if reload_days is none else reload_days -%}
    {%- set plan = {'from': none, 'reason': 'first build', 'last_day': none,
                    'version': config_version(config_seeds, config_vars), 'watermarks': '{}'} -%}
    {%- if not execute -%}
        {{ return(plan) }}
    {%- elif target.name == 'bigquery-offline' -%}
        {#- The offline compile cannot query: it gets the daily form (macros/dates.sql). -#}
        {%- set last_day = latest_day(this, day_column) if is_incremental() else none -%}
        {%- do plan.update({'from': date_add_days(last_day, 1 - reload_days), 'last_day': last_day,
                            'reason': 'offline compile'}) -%}
        {{ return(plan) }}
    {%- endif -%}
    {%- if not is_incremental() -%}
        {%- do plan.update({'reason': 'full build'}) -%}
        {%- do plan.update({'watermarks': tojson(input_watermarks(inputs, none))}) -%}
        {{ return(plan) }}
    {%- endif -%}
    {%- set last_day = latest_day(this, day_column) -%}
    {%- do plan.update({'last_day': last_day}) -%}
    {%- if last_day is none -%}
        {%- do plan.update({'reason': 'empty table'}) -%}
        {{ return(plan) }}
    {%- endif -%}
    {%- set bound = last_day - modules.datetime.timedelta(days=var('late_data_max_days')) -%}
    {%- do plan.update({'watermarks': tojson(input_watermarks(inputs, bound))}) -%}

    {%- set stored = stored_bookkeeping(day_column, last_day) -%}
    {%- if stored is none or stored.version != plan.version -%}
        {%- do plan.update({'reason': 'rows without a configuration version (built before they were kept)'
                            if stored is none else
                            'scoring configuration changed (' ~ stored.version ~ ' -> ' ~ plan.version ~ ')'}) -%}
        {%- do log(this.identifier ~ ': writing all history (' ~ plan.reason ~ ')', info=true) -%}
        {{ return(plan) }}
    {%- endif -%}

    {%- set write_from = last_day + modules.datetime.timedelta(days=1 - reload_days) -%}
    {%- set reason = 'the last ' ~ reload_days ~ ' days and the new ones' -%}
    {%- set changed = earliest_changed_day(inputs, fromjson(stored.watermarks or '{}'), bound, write_from) -%}
    {%- if changed is not none -%}
        {%- set write_from = changed -%}
        {%- set reason = 'input rows of ' ~ changed.isoformat() ~ ' on changed since the last run' -%}
    {%- endif -%}
    {%- set write_from = write_from - modules.datetime.timedelta(days=affects_days_before) -%}
    {%- do plan.update({'from': write_from, 'reason': reason}) -%}
    {%- do log(this.identifier ~ ': writing from ' ~ write_from.isoformat() ~ ' (' ~ reason ~ ')', info=true) -%}
    {{ return(plan) }}
{% endmacro %}


{# date_add_days(day, n): a Python date n days later (none stays none). #}
{% macro date_add_days(day, days) -%}
    {{ return(day + modules.datetime.timedelta(days=days) if day is not none else none) }}
{%- endmacro %}


{#
  config_version(seeds, vars): a short hash of the seed tables' contents (as built,
  every row in order) and the named vars' values.
#}
{% macro config_version(seeds, vars) -%}
    {#- Referenced while parsing too, so that dbt knows the model depends on them. -#}
    {%- for seed in seeds %}{% do ref(seed) %}{% endfor -%}
    {%- if not execute or target.name == 'bigquery-offline' or (seeds | length == 0 and vars | length == 0) -%}
        {{ return('none') }}
    {%- endif -%}
    {%- set parts = [] -%}
    {%- for seed in seeds -%}
        {%- set relation = ref(seed) -%}
        {%- set columns = adapter.get_columns_in_relation(relation) -%}
        {%- do parts.append(seed ~ ':' ~ (columns | map(attribute='name') | join(','))) -%}
        {#- No columns: the seed is not built yet (`dbt compile` on an empty warehouse). -#}
        {%- if columns | length > 0 -%}
            {%- set rows = run_query('select * from ' ~ relation ~ ' order by '
                                     ~ range(1, columns | length + 1) | join(', ')) -%}
            {%- for row in rows.rows -%}
                {%- do parts.append(row.values() | map('string') | join('|')) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for name in vars -%}
        {%- do parts.append(name ~ '=' ~ var(name) | string) -%}
    {%- endfor -%}
    {{ return(local_md5(parts | join('\n'))[:12]) }}
{%- endmacro %}


{#
  input_watermarks(inputs, bound): {input name: latest stamp (ISO text)} over the
  input's rows from `bound` on (a date; none: all rows).
#}
{% macro input_watermarks(inputs, bound) -%}
    {%- set marks = {} -%}
    {#- Inputs not built yet (`dbt compile` on an empty warehouse) have no watermark. -#}
    {%- set present = [] -%}
    {%- for item in inputs if load_relation(item[0]) is not none -%}
        {%- do present.append(item) -%}
    {%- endfor -%}
    {%- if present | length == 0 -%}
        {{ return(marks) }}
    {%- endif -%}
    {%- set query -%}
        {%- for relation, day, stamp in present %}
        select '{{ input_name(relation) }}' as input_name, max(cast({{ stamp }} as {{ dbt.type_timestamp() }})) as stamp
        from {{ relation }}
        {%- if bound is not none %}
        where {{ day }} >= {{ date_literal(bound) }}
        {%- endif %}
        {%- if not loop.last %}
        union all
        {%- endif %}
        {%- endfor %}
    {%- endset -%}
    {%- for row in run_query(query).rows -%}
        {%- if row[1] is not none -%}
            {%- do marks.update({row[0]: row[1].isoformat(sep=' ')}) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(marks) }}
{%- endmacro %}


{#
  stored_bookkeeping(day_column, day): the configuration version and watermarks on
  the model's rows of `day`, or none when the table predates those columns.
#}
{% macro stored_bookkeeping(day_column, day) -%}
    {%- set names = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
    {%- if '_config_version' not in names or '_input_watermarks' not in names -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set query -%}
        select max(_config_version), max(_input_watermarks)
        from {{ this }}
        where {{ day_column }} = {{ date_literal(day) }}
    {%- endset -%}
    {%- set row = run_query(query).rows[0] -%}
    {%- if row[0] is none -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return({'version': row[0], 'watermarks': row[1]}) }}
{%- endmacro %}


{#
  earliest_changed_day(inputs, watermarks, bound, before): the earliest day, from
  `bound` and before `before`, of an input row stamped after that input's watermark
  (all its rows from `bound` when it has none yet); none when nothing changed.
#}
{% macro earliest_changed_day(inputs, watermarks, bound, before) -%}
    {%- if inputs | length == 0 or bound >= before -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set query -%}
        select min(changed_day) from (
        {%- for relation, day, stamp in inputs %}
            select min({{ day }}) as changed_day
            from {{ relation }}
            where {{ day }} >= {{ date_literal(bound) }}
              and {{ day }} < {{ date_literal(before) }}
              {%- set mark = watermarks.get(input_name(relation)) %}
              {%- if mark %}
              and cast({{ stamp }} as {{ dbt.type_timestamp() }}) > cast('{{ mark }}' as {{ dbt.type_timestamp() }})
              {%- endif %}
            {%- if not loop.last %}
            union all
            {%- endif %}
        {%- endfor %}
        ) as changes
    {%- endset -%}
    {%- set earliest = run_query(query).columns[0].values()[0] -%}
    {{ return(modules.datetime.date.fromisoformat(earliest.isoformat()[:10]) if earliest is not none else none) }}
{%- endmacro %}


{# input_name(relation): the key of an input's watermark (schema.table). #}
{% macro input_name(relation) -%}
    {{ return(relation.schema ~ '.' ~ relation.identifier) }}
{%- endmacro %}


{#
  bookkeeping_columns(plan): the three columns every row of the run carries (see
  recompute_plan), as select-list items.
#}
{% macro bookkeeping_columns(plan) -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }}) as _computed_at,
    cast('{{ plan.version }}' as {{ dbt.type_string() }}) as _config_version,
    cast('{{ plan.watermarks | replace("'", "''") }}' as {{ dbt.type_string() }}) as _input_watermarks
{%- endmacro %}
