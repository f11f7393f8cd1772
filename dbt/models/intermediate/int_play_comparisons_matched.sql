-- The comparison group of each play firing: accounts that entered the same segment
-- within 14 days of it (before or after) and were not acted on (a play suppressed
-- them by its cooldown or an open task, or recorded them as its first run's
-- baseline). One row per firing and comparable entry. An entry counts once per
-- account, segment and day however many plays recorded it, and not at all when a
-- play acted on that account on that day; the firing's own account is never its
-- own comparison.
with entries as (
    select * from {{ ref('int_play_entries_scored') }}
),

acted as (
    select * from entries
    where is_acted
),

comparable as (
    -- The scores of an account's day are the same whichever play recorded the entry.
    select distinct
        entries.segment_key,
        entries.account_id,
        entries.event_date,
        entries.usage_health_change_28d,
        entries.renewal_likelihood_change_28d,
        entries.has_28d_follow_up
    from entries
    left join acted
        on entries.segment_key = acted.segment_key
        and entries.account_id = acted.account_id
        and entries.event_date = acted.event_date
    where not entries.is_acted
      and acted.firing_id is null
)

select
    acted.firing_id,
    acted.play,
    acted.segment_key,
    acted.event_date,
    comparable.account_id as comparison_account_id,
    comparable.event_date as comparison_event_date,
    comparable.usage_health_change_28d as comparison_usage_health_change_28d,
    comparable.renewal_likelihood_change_28d as comparison_renewal_likelihood_change_28d,
    comparable.has_28d_follow_up as comparison_has_28d_follow_up
from acted
inner join comparable
    on acted.segment_key = comparable.segment_key
    and acted.account_id <> comparable.account_id
    and comparable.event_date between {{ add_days('acted.event_date', -14) }} and {{ add_days('acted.event_date', 14) }}
