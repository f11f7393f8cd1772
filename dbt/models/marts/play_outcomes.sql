-- One row per play firing that acted on an account entering its segment (event
-- entered, status sent): both health scores as the play saw them and 14 and 28 days
-- later, and the same 28-day change for comparable accounts that entered the same
-- segment within 14 days and were not acted on (int_play_comparisons_matched): the
-- evidence for whether a play deserves a higher level of automation. Rows appear
-- with the firing; the later scores fill in as history reaches their days.
with outcomes as (
    select * from {{ ref('int_play_entries_scored') }}
    where is_acted
),

pairs as (
    select * from {{ ref('int_play_comparisons_matched') }}
),

comparison_counts as (
    select
        firing_id,
        count(*) as comparison_entries,
        sum(case when comparison_has_28d_follow_up then 1 else 0 end) as comparison_entries_with_28d_follow_up
    from pairs
    group by 1
),

comparison_usage as (
    {{ median_by('pairs', ['firing_id'], 'comparison_usage_health_change_28d') }}
),

comparison_renewal as (
    {{ median_by('pairs', ['firing_id'], 'comparison_renewal_likelihood_change_28d') }}
)

select
    outcomes.firing_id,
    outcomes.play,
    outcomes.level,
    outcomes.segment_key,
    outcomes.account_id,
    outcomes.event_date,
    outcomes.sent_at,
    outcomes.scored_on,
    outcomes.usage_health_score_at_event,
    outcomes.usage_health_score_after_14d,
    outcomes.usage_health_score_after_28d,
    outcomes.usage_health_change_14d,
    outcomes.usage_health_change_28d,
    outcomes.renewal_likelihood_score_at_event,
    outcomes.renewal_likelihood_score_after_14d,
    outcomes.renewal_likelihood_score_after_28d,
    outcomes.renewal_likelihood_change_14d,
    outcomes.renewal_likelihood_change_28d,
    outcomes.has_28d_follow_up,
    coalesce(comparison_counts.comparison_entries, 0) as comparison_entries,
    coalesce(comparison_counts.comparison_entries_with_28d_follow_up, 0) as comparison_entries_with_28d_follow_up,
    comparison_usage.median_value as comparison_median_usage_health_change_28d,
    comparison_renewal.median_value as comparison_median_renewal_likelihood_change_28d,
    outcomes.usage_health_change_28d - comparison_usage.median_value as usage_health_change_28d_vs_comparison,
    outcomes.renewal_likelihood_change_28d - comparison_renewal.median_value
        as renewal_likelihood_change_28d_vs_comparison
from outcomes
left join comparison_counts
    on outcomes.firing_id = comparison_counts.firing_id
left join comparison_usage
    on outcomes.firing_id = comparison_usage.firing_id
left join comparison_renewal
    on outcomes.firing_id = comparison_renewal.firing_id
