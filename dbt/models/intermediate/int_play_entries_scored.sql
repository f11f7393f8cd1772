-- Every account's entry into a play's segment that the play recorded with an
-- outcome (plays.play_firings, event entered): acted on (status sent), or not
-- (suppressed by the cooldown or an open task, or the baseline of the play's first
-- run), with both health scores as the play saw them and 14 and 28 days later.
-- A play run on event_date (the data's as-of day) reads account_segments, whose
-- scores are of the latest complete day, the day before: that is the day scored at
-- the event (scored_on), and the later scores are 14 and 28 days after it. They are
-- null while history does not reach those days yet.
-- Read only by the play marts (play_outcomes, play_effectiveness): nothing upstream
-- of account_segments, where plays start, may read the firings.
{%- set first_entry = source_first_day('plays', 'play_firings', 'event_date') %}

with firings as (
    {{ source_or_empty('plays', 'play_firings') }}
),

entries as (
    select
        firing_id,
        play,
        level,
        segment_key,
        account_id,
        status,
        event_date,
        sent_at,
        {{ add_days('event_date', -1) }} as scored_on,
        status = 'sent' as is_acted
    from firings
    where event = 'entered'
      and status in ('sent', 'suppressed_cooldown', 'suppressed_open_task', 'baseline')
),

history as (
    select account_id, score_date, usage_health_score, renewal_likelihood_score
    from {{ ref('health_score_history') }}
    -- A constant: only the days from the first entry's scored day on are read
    -- (partitions on BigQuery); without firings, none.
    where score_date >= {{ date_literal(first_entry, -1) or as_of_date() }}
)

select
    entries.firing_id,
    entries.play,
    entries.level,
    entries.segment_key,
    entries.account_id,
    entries.status,
    entries.is_acted,
    entries.event_date,
    entries.sent_at,
    entries.scored_on,
    on_day.usage_health_score as usage_health_score_at_event,
    after_14d.usage_health_score as usage_health_score_after_14d,
    after_28d.usage_health_score as usage_health_score_after_28d,
    after_14d.usage_health_score - on_day.usage_health_score as usage_health_change_14d,
    after_28d.usage_health_score - on_day.usage_health_score as usage_health_change_28d,
    on_day.renewal_likelihood_score as renewal_likelihood_score_at_event,
    after_14d.renewal_likelihood_score as renewal_likelihood_score_after_14d,
    after_28d.renewal_likelihood_score as renewal_likelihood_score_after_28d,
    after_14d.renewal_likelihood_score - on_day.renewal_likelihood_score as renewal_likelihood_change_14d,
    after_28d.renewal_likelihood_score - on_day.renewal_likelihood_score as renewal_likelihood_change_28d,
    -- History has the account's day 28 days on (its scores may still be null: too little data).
    after_28d.account_id is not null as has_28d_follow_up
from entries
left join history as on_day
    on entries.account_id = on_day.account_id
    and on_day.score_date = entries.scored_on
left join history as after_14d
    on entries.account_id = after_14d.account_id
    and after_14d.score_date = {{ add_days('entries.scored_on', 14) }}
left join history as after_28d
    on entries.account_id = after_28d.account_id
    and after_28d.score_date = {{ add_days('entries.scored_on', 28) }}
