{#
  median_by(relation, group_by, column): a select of one row per group of
  `relation` (a CTE or table; group_by a list of its columns) with the exact
  median of `column` as `median_value`, nulls left out. The same on DuckDB and
  BigQuery: BigQuery's only median aggregate, APPROX_QUANTILES, is approximate,
  and its PERCENTILE_CONT is a window function. So: rank the values, keep the
  middle one (odd count) or the two middle ones (even count), average them. A
  group without a value has no row: callers left join.
#}
{% macro median_by(relation, group_by, column) -%}
    {%- set keys = group_by | join(', ') -%}
    select {{ keys }}, avg({{ column }}) as median_value
    from (
        select
            {{ keys }},
            {{ column }},
            row_number() over (partition by {{ keys }} order by {{ column }}) as value_rank,
            count(*) over (partition by {{ keys }}) as value_count
        from {{ relation }}
        where {{ column }} is not null
    ) as ranked
    -- 2 * rank is n + 1 for the middle of an odd count n, n and n + 2 for the two of an even one.
    where 2 * value_rank between value_count and value_count + 2
    group by {{ keys }}
{%- endmacro %}
