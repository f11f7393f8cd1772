{#
  The one definition of "renews within N days", for every model that counts or
  lists upcoming renewals (renewal_list, csm_workload, segments, activation): due
  today or on one of the N - 1 days after it, so a window of 120 days is days
  0..119 and a renewal exactly N days ahead is outside it everywhere.
  `days_until_renewal` is an expression in days from the as-of date; a null (no
  contract) is outside every window.
#}
{% macro renews_within(days_until_renewal, days=none) -%}
    {%- set days = var('renewal_window_days') if days is none else days -%}
    coalesce({{ days_until_renewal }} >= 0 and {{ days_until_renewal }} < {{ days }}, false)
{%- endmacro %}
