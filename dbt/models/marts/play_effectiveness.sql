-- One row per play that recorded an entry into its segment: how often it acted,
-- how the accounts' scores moved in the 28 days after, and how the comparison
-- group's moved (accounts that entered the same segment within 14 days of a firing
-- and were not acted on; each counted once per play). A play whose accounts improve
-- clearly more than the comparison's is a candidate for the next level of
-- automation; one without a difference may not be worth its messages.
with entries as (
    select * from {{ ref('int_play_entries_scored') }}
),

outcomes as (
    select * from {{ ref('play_outcomes') }}
),

plays as (
    -- A play has one level and segment; after an edit, the latest entry's.
    select play, level, segment_key
    from (
        select
            play,
            level,
            segment_key,
            row_number() over (partition by play order by event_date desc, firing_id desc) as recency
        from entries
    ) as ranked
    where recency = 1
),

acted as (
    select
        play,
        count(*) as firings,
        sum(case when has_28d_follow_up then 1 else 0 end) as firings_with_28d_follow_up,
        count(usage_health_change_28d) as firings_with_usage_health_change_28d,
        sum(case when usage_health_change_28d > 0 then 1 else 0 end) as firings_improved_28d,
        min(event_date) as first_event_date,
        max(event_date) as last_event_date
    from outcomes
    group by 1
),

comparison as (
    -- Every comparable entry once per play, however many of its firings it matches.
    select distinct
        play,
        comparison_account_id,
        comparison_event_date,
        comparison_usage_health_change_28d,
        comparison_renewal_likelihood_change_28d,
        comparison_has_28d_follow_up
    from {{ ref('int_play_comparisons_matched') }}
),

comparison_counts as (
    select
        play,
        count(*) as comparison_entries,
        sum(case when comparison_has_28d_follow_up then 1 else 0 end) as comparison_entries_with_28d_follow_up,
        count(comparison_usage_health_change_28d) as comparison_with_usage_health_change_28d,
        sum(case when comparison_usage_health_change_28d > 0 then 1 else 0 end) as comparison_improved_28d
    from comparison
    group by 1
),

usage_median as (
    {{ median_by('outcomes', ['play'], 'usage_health_change_28d') }}
),

renewal_median as (
    {{ median_by('outcomes', ['play'], 'renewal_likelihood_change_28d') }}
),

comparison_usage_median as (
    {{ median_by('comparison', ['play'], 'comparison_usage_health_change_28d') }}
),

comparison_renewal_median as (
    {{ median_by('comparison', ['play'], 'comparison_renewal_likelihood_change_28d') }}
)

select
    plays.play,
    plays.level,
    plays.segment_key,
    coalesce(acted.firings, 0) as firings,
    coalesce(acted.firings_with_28d_follow_up, 0) as firings_with_28d_follow_up,
    coalesce(acted.firings_improved_28d, 0) as firings_improved_28d,
    {{ safe_ratio('acted.firings_improved_28d', 'acted.firings_with_usage_health_change_28d') }}
        as share_improved_28d,
    usage_median.median_value as median_usage_health_change_28d,
    renewal_median.median_value as median_renewal_likelihood_change_28d,
    coalesce(comparison_counts.comparison_entries, 0) as comparison_entries,
    coalesce(comparison_counts.comparison_entries_with_28d_follow_up, 0) as comparison_entries_with_28d_follow_up,
    {{ safe_ratio('comparison_counts.comparison_improved_28d', 'comparison_counts.comparison_with_usage_health_change_28d') }}
        as comparison_share_improved_28d,
    comparison_usage_median.median_value as comparison_median_usage_health_change_28d,
    comparison_renewal_median.median_value as comparison_median_renewal_likelihood_change_28d,
    usage_median.median_value - comparison_usage_median.median_value as usage_health_change_28d_vs_comparison,
    renewal_median.median_value - comparison_renewal_median.median_value
        as renewal_likelihood_change_28d_vs_comparison,
    acted.first_event_date,
    acted.last_event_date
from plays
left join acted
    on plays.play = acted.play
left join comparison_counts
    on plays.play = comparison_counts.play
left join usage_median
    on plays.play = usage_median.play
left join renewal_median
    on plays.play = renewal_median.play
left join comparison_usage_median
    on plays.play = comparison_usage_median.play
left join comparison_renewal_median
    on plays.play = comparison_renewal_median.play
