"""Daily product usage of a chunk of accounts, vectorised over (account, day, feature).

Each day an account's users are active with a probability set by its engagement, the
weekday and its story's usage level; each feature is then used by a share of those
active users. feature_usage_daily, users.last_active_at and the GA4 app-site traffic
all derive from this one draw, so they agree with each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cs_platform.sources.catalog import FEATURE_KEYS, KEY_FEATURES
from devkit.sample_data import renewals, stories
from devkit.sample_data.customers import CustomerBase
from devkit.sample_data.people import Users

FEATURES = tuple(sorted(FEATURE_KEYS))  # primary-key order, for fast inserts
SESSION = FEATURES.index("session")
KEY = [FEATURES.index(f) for f in KEY_FEATURES]
WEEKDAY_FACTOR = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.3, 0.2])  # Monday .. Sunday
ADOPTION = {"dashboards": 0.95, "reports": 0.75, "alerts": 0.6, "integrations": 0.45,
            "automation": 0.35}  # chance an average account uses the feature at all
EVENTS_PER_USER = {"session": 3.0, "dashboards": 6.0, "reports": 2.5, "alerts": 4.0,
                   "integrations": 8.0, "automation": 12.0}


@dataclass(frozen=True)
class Usage:
    level: np.ndarray  # (accounts, days) story multiplier of normal usage
    dau: np.ndarray  # (accounts, days)
    active_users: np.ndarray  # (accounts, days, FEATURES); the session column is dau
    events: np.ndarray  # (accounts, days, FEATURES)


def simulate(base: CustomerBase, lo: int, hi: int, users: Users, rng: np.random.Generator,
             renewal_rng: np.random.Generator | None = None) -> Usage:
    """Usage of accounts [lo, hi); `renewal_rng` thins the usage of churning accounts
    (renewals.py) after every other draw, so the other accounts' usage is unchanged."""
    window = base.window
    accounts, days = hi - lo, window.days
    born_on = np.clip(window.day_index(users.created), 0, days - 1)  # before the window: day 0
    born = np.bincount((users.account - lo) * days + born_on, minlength=accounts * days)
    existing = np.cumsum(born.reshape(accounts, days), axis=1)

    level = stories.usage_level(base.story[lo:hi], base.drop_day[lo:hi], window)
    engagement = base.engagement[lo:hi]
    day_factor = WEEKDAY_FACTOR[window.weekdays()] * rng.lognormal(0, 0.12, size=(accounts, days))
    p_active = np.clip((0.2 + 0.65 * engagement)[:, None] * day_factor * level, 0, 1)
    dau = rng.binomial(existing, p_active)
    stories.cap_after_drop(dau, base.drop_day[lo:hi])

    share = np.zeros((accounts, len(FEATURES)))
    for f, feature in enumerate(FEATURES):
        if feature != "session":
            adopted = rng.random(accounts) < ADOPTION[feature] * (0.6 + 0.6 * engagement)
            share[:, f] = adopted * rng.uniform(0.2, 0.6, size=accounts) * (0.6 + 0.6 * engagement)
    for c in range(accounts):
        story = base.story_of(lo + c)
        if story is not None and story.key_feature_share is not None:
            share[c, KEY] = rng.uniform(*story.key_feature_share, size=len(KEY))
    share = np.clip(share, 0, 0.95)

    # Key-feature habits fade along with the active users when a story lowers usage.
    active = np.empty((accounts, days, len(FEATURES)), dtype=np.int64)
    for f in range(len(FEATURES)):
        if f == SESSION:
            active[:, :, f] = dau
        else:
            p_feature = share[:, f, None] * (level if f in KEY else 1.0)
            active[:, :, f] = rng.binomial(dau, p_feature)
    rates = np.array([EVENTS_PER_USER[f] for f in FEATURES])
    events = active + rng.poisson(active * (rates - 1.0))
    factor = renewals.usage_factor(base.renewals, lo, hi, window)
    if factor is not None:
        renewals.thin_usage(factor, active, events, SESSION, renewal_rng or rng)
        dau = active[:, :, SESSION].copy()
        # Churned customers stop opening mail too; a fading usage leaves mail alone
        # (hubspot.py reads `level`), so a usage_fade run touches no renewal signal.
        level = level * (factor > 0)
    return Usage(level=level, dau=dau, active_users=active, events=events)


def last_active_day(usage: Usage, users: Users, lo: int) -> np.ndarray:
    """Day index of each user's last activity in the window, -1 when none.

    The active users of a day are taken to be its lowest-ranked DAU users, so user r
    was last active on the last day with DAU > r. Counting, per account, the days whose
    suffix maximum of DAU exceeds r gives that day for all users at once.
    """
    suffix_max = np.maximum.accumulate(usage.dau[:, ::-1], axis=1)[:, ::-1]
    accounts, days = suffix_max.shape
    width = int(suffix_max.max(initial=0)) + 2
    per_value = np.bincount((np.arange(accounts)[:, None] * width + suffix_max).ravel(),
                            minlength=accounts * width).reshape(accounts, width)
    days_above = per_value[:, ::-1].cumsum(axis=1)[:, ::-1]  # days_above[c, v] = #days with max >= v
    rank = np.minimum(users.rank + 1, width - 1)
    return days_above[users.account - lo, rank] - 1
