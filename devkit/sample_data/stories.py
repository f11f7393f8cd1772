"""Planted stories: accounts whose data tells a known story across the tools.

They give health scores, anomaly detection and plays a ground truth to be tested
against. Each story is a profile of knobs that override the population's defaults;
the module drawing a tool's data reads the knobs it owns (usage reads `usage`,
Freshdesk reads `open_escalation`, ...) and never a story's name, so a new story is
one entry in STORIES.

Signals kept exclusive to their story, so that its ground truth is the full answer:
seats used at 90% or more of the plan's limit (the population stays under 85%), an
open ticket tagged `escalation` (the population's escalations are all resolved), and
fewer than half the setup steps done by an account 30-90 days old (the population's
accounts of that age have done at least half).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from devkit.sample_data.window import Window, to_date


@dataclass(frozen=True)
class Story:
    name: str
    engagement: tuple[float, float]  # drawn uniformly; drives usage, NPS and email opens
    plans: tuple[str, ...] = ("team", "business")  # team and up: enough users for clear signals
    age_days: tuple[int, int] | None = None  # None: a customer for more than a year
    seat_ratio: tuple[float, float] = (0.5, 0.85)  # users / the plan's seat limit
    users_settled_days: int = 0  # every user was created at least this many days ago
    usage: str | None = None  # "decline" or "drop"
    key_feature_share: tuple[float, float] | None = None  # share of DAU using each key feature
    setup: str | None = None  # "complete" or "under_half"
    nps: tuple[int, int] | None = None  # every NPS score in this range (at least one answer)
    impression: str | None = None  # Salesforce CSM_Impression__c
    impression_age_days: tuple[int, int] = (1, 30)
    csm_quiet_days: int = 0  # no CSM Task or Event within this many days of as_of
    csm_recent_days: int | None = None  # at least one CSM activity within this many days
    open_escalation: bool = False  # an open, urgent (priority 4) ticket tagged `escalation`
    champion_email_quiet_days: int = 0  # the champion opens no marketing email in this period


STORIES: tuple[Story, ...] = (
    Story("declining_usage", engagement=(0.6, 0.85), usage="decline", key_feature_share=(0.3, 0.5),
          # The CSM's last word is an old "Good": nobody has looked in months.
          impression="Good", impression_age_days=(100, 200), csm_quiet_days=35),
    Story("seat_limit_upsell", engagement=(0.8, 0.95), seat_ratio=(0.92, 1.0),
          users_settled_days=49, key_feature_share=(0.5, 0.8), setup="complete"),
    Story("good_usage_churn_risk", engagement=(0.75, 0.9), key_feature_share=(0.35, 0.6),
          setup="complete", nps=(0, 4), impression="At Risk", impression_age_days=(2, 14),
          csm_recent_days=14, open_escalation=True, champion_email_quiet_days=60),
    Story("sudden_drop", engagement=(0.65, 0.85), usage="drop", csm_recent_days=21),
    Story("healthy", engagement=(0.8, 0.95), key_feature_share=(0.35, 0.6), setup="complete",
          nps=(9, 10), impression="Good", impression_age_days=(2, 30), csm_recent_days=21),
    Story("setup_incomplete", engagement=(0.3, 0.5), plans=("starter", "team", "business"),
          age_days=(30, 90), seat_ratio=(0.1, 0.3), setup="under_half"),
)
STORY_NAMES = tuple(s.name for s in STORIES)

SHARE = 0.04  # of all accounts, per story
MIN_PER_STORY = 3

DECLINE_DAYS = 56  # usage falls linearly over the last 8 weeks ...
DECLINE_FLOOR = 0.3  # ... to this share of its earlier level
DECLINE_BASELINE_DAYS = 14  # a shorter history keeps two weeks before the decline
DROP_DAYS_AGO = (4, 10)  # the sudden drop starts this many days before as_of
DROP_LEVEL = 0.05  # usage after the drop, as a share of before
DROP_CAP = 0.2  # and never above this share of the week before the drop


def assign(rng: np.random.Generator, accounts: int) -> np.ndarray:
    """Story index of each account (-1: none); the stories' accounts are disjoint."""
    per_story = max(MIN_PER_STORY, round(SHARE * accounts))
    story = np.full(accounts, -1, dtype=np.int8)
    chosen = rng.permutation(accounts)[:per_story * len(STORIES)]
    story[chosen] = np.repeat(np.arange(len(STORIES), dtype=np.int8), per_story)
    return story


def decline_start(window: Window) -> int:
    """Day index at which declining accounts start to fall."""
    return max(window.days - DECLINE_DAYS, DECLINE_BASELINE_DAYS)


def draw_drop_days(rng: np.random.Generator, story: np.ndarray, window: Window) -> np.ndarray:
    """Day index of the sudden drop for `drop` accounts, -1 elsewhere."""
    drops = np.array([s >= 0 and STORIES[s].usage == "drop" for s in story.tolist()], dtype=bool)
    days_ago = rng.integers(DROP_DAYS_AGO[0], DROP_DAYS_AGO[1] + 1, size=len(story))
    return np.where(drops, window.days - days_ago, -1)


def usage_level(story: np.ndarray, drop_day: np.ndarray, window: Window) -> np.ndarray:
    """Multiplier of each account's normal usage on each day, shape (accounts, days)."""
    level = np.ones((len(story), window.days))
    day = np.arange(window.days)
    start = decline_start(window)
    decline = 1 - (1 - DECLINE_FLOOR) * np.clip((day - start + 1) / (window.days - start), 0, 1)
    for i, s in enumerate(story.tolist()):
        kind = STORIES[s].usage if s >= 0 else None
        if kind == "decline":
            level[i] = decline
        elif kind == "drop":
            level[i, drop_day[i]:] = DROP_LEVEL
    return level


def cap_after_drop(dau: np.ndarray, drop_day: np.ndarray) -> None:
    """Keep post-drop DAU under DROP_CAP of the prior week, whatever the sampling noise."""
    for i in np.flatnonzero(drop_day >= 0).tolist():
        day = drop_day[i]
        cap = int(DROP_CAP * dau[i, day - 7:day].mean())
        np.minimum(dau[i, day:], cap, out=dau[i, day:])


def ground_truth(account_ids: list[str], story: np.ndarray, drop_day: np.ndarray,
                 window: Window) -> dict:
    truth: dict = {"as_of": window.as_of.isoformat()}
    for index, s in enumerate(STORIES):
        truth[s.name] = [account_ids[i] for i in np.flatnonzero(story == index).tolist()]
    truth["declining_usage_since"] = to_date(window.start_day + decline_start(window)).isoformat()
    truth["sudden_drop_dates"] = {
        account_ids[i]: to_date(window.start_day + drop_day[i]).isoformat()
        for i in np.flatnonzero(drop_day >= 0).tolist()}
    return truth
