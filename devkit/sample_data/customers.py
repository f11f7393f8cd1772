"""The customer base: who the accounts are, drawn once for the whole run.

Everything here is one small array per account (plan, sign-up, renewal, engagement,
owner CSM, story), cheap even for 100,000 accounts. The bulky per-user and per-day
data is drawn chunk by chunk from these arrays (see chunk.py), so that every tool
sees the same accounts and memory stays bounded.
"""

from __future__ import annotations

import datetime as dt
import math
import zlib
from dataclasses import dataclass

import numpy as np

from devkit.sample_data import names, renewals, stories
from devkit.sample_data.stories import STORIES, Story
from devkit.sample_data.window import DAY, HOUR, Window, add_years, epoch_day, to_date


@dataclass(frozen=True)
class Plan:
    plan_id: str
    name: str
    seat_limit: int
    monthly_price: float


PLANS = (
    Plan("starter", "Starter", 10, 490.0),
    Plan("team", "Team", 25, 1190.0),
    Plan("business", "Business", 100, 3990.0),
    Plan("enterprise", "Enterprise", 500, 14990.0),
)
PLAN_INDEX = {p.plan_id: i for i, p in enumerate(PLANS)}
PLAN_SHARES = (0.40, 0.33, 0.20, 0.07)
EMPLOYEES = ((10, 200), (50, 800), (200, 3000), (1000, 30000))  # by plan, log-uniform
DISCOUNTS, DISCOUNT_SHARES = (0.0, 0.05, 0.10, 0.15), (0.5, 0.2, 0.2, 0.1)
TENURE_SHARES = (0.30, 0.25, 0.20, 0.15, 0.10)  # years of earlier contracts: 0..4
POPULATION_SEAT_RATIO = (0.3, 0.85)  # below the upsell story's 90%


@dataclass(frozen=True)
class CustomerBase:
    seed: int
    window: Window
    account_ids: list[str]  # product account ids: A000001 ..., the cross-tool key
    names: list[str]
    domains: list[str]
    industries: list[str]
    plan: np.ndarray  # index into PLANS
    employees: np.ndarray
    created: np.ndarray  # product sign-up = first contract's start, epoch seconds
    renewal_day: np.ndarray  # current contract's EndDate, epoch day
    tenure: np.ndarray  # number of earlier (expired) annual contracts
    arr: np.ndarray
    engagement: np.ndarray  # 0..1
    n_users: np.ndarray  # product users (seats taken) today
    users_settled: np.ndarray  # no user was created after this, epoch seconds
    owner: np.ndarray  # index into csms
    csms: list[tuple[str, str]]  # (first, last) of the CSMs; the last one is their lead
    story: np.ndarray  # index into STORIES, -1 for none
    drop_day: np.ndarray  # day index of a sudden drop, -1 for none
    renewals: renewals.Renewals  # past renewal decisions inside the history (renewals.py)

    @property
    def size(self) -> int:
        return len(self.account_ids)

    def rng(self, purpose: str, chunk: int = 0) -> np.random.Generator:
        return random_stream(self.seed, purpose, chunk)

    def story_of(self, account: int) -> Story | None:
        s = int(self.story[account])
        return STORIES[s] if s >= 0 else None


def random_stream(seed: int, purpose: str, chunk: int = 0) -> np.random.Generator:
    """An independent, reproducible random stream per (seed, purpose, chunk): adding a
    draw for one purpose never shifts the numbers drawn for another."""
    return np.random.default_rng([seed, zlib.crc32(purpose.encode()), chunk])


def build(seed: int, accounts: int, window: Window, churn_cause: str = "relationship") -> CustomerBase:
    rng = random_stream(seed, "customers")
    story = stories.assign(rng, accounts)
    profiles = [STORIES[s] if s >= 0 else None for s in story.tolist()]

    plan = rng.choice(len(PLANS), size=accounts, p=PLAN_SHARES)
    engagement = rng.beta(5, 3, size=accounts)
    seat_ratio = rng.uniform(*POPULATION_SEAT_RATIO, size=accounts)
    users_settled = np.full(accounts, window.now - HOUR, dtype=np.int64)
    for index, s in enumerate(STORIES):
        members = np.flatnonzero(story == index)
        plan[members] = rng.choice([PLAN_INDEX[p] for p in s.plans], size=len(members))
        engagement[members] = rng.uniform(*s.engagement, size=len(members))
        seat_ratio[members] = rng.uniform(*s.seat_ratio, size=len(members))
        users_settled[members] -= s.users_settled_days * DAY

    seat_limit = np.array([p.seat_limit for p in PLANS])[plan]
    # Round down below 90% and up above it, so a ratio never crosses the upsell threshold.
    n_users = np.where(seat_ratio >= 0.9, np.ceil(seat_ratio * seat_limit),
                       np.floor(seat_ratio * seat_limit))
    n_users = np.clip(n_users, 1, seat_limit).astype(np.int64)

    renewal_offset, tenure = _renewals(rng, profiles, window)
    renewal_day = window.end_day + renewal_offset
    first_start = np.array([
        epoch_day(add_years(add_years(to_date(end), -1) + dt.timedelta(days=1), -int(years)))
        for end, years in zip(renewal_day.tolist(), tenure.tolist())], dtype=np.int64)
    created = first_start * DAY + rng.integers(8 * HOUR, 18 * HOUR, size=accounts)

    low, high = np.array(EMPLOYEES, dtype=float)[plan].T
    employees = np.exp(rng.uniform(np.log(low), np.log(high))).astype(np.int64)
    discount = rng.choice(DISCOUNTS, size=accounts, p=DISCOUNT_SHARES)
    monthly = np.array([p.monthly_price for p in PLANS])[plan]
    arr = np.round(12 * monthly * (1 - discount), 2)

    n_csms = int(np.clip(round(math.sqrt(accounts) / 2), 8, 15))
    person = rng.choice(len(names.FIRST_NAMES) * len(names.LAST_NAMES), size=n_csms + 1, replace=False)
    csms = [_person_name(int(k)) for k in person]
    company_names, domains = _companies(rng, accounts)
    return CustomerBase(
        seed=seed, window=window,
        account_ids=[f"A{i + 1:06d}" for i in range(accounts)],
        names=company_names, domains=domains,
        industries=[names.INDUSTRIES[k] for k in rng.integers(0, len(names.INDUSTRIES), accounts)],
        plan=plan, employees=employees, created=created, renewal_day=renewal_day,
        tenure=tenure, arr=arr, engagement=engagement, n_users=n_users,
        users_settled=users_settled, owner=rng.integers(0, n_csms, size=accounts),
        csms=csms, story=story, drop_day=stories.draw_drop_days(rng, story, window),
        renewals=renewals.draw(random_stream(seed, "renewals"), churn_cause, story, tenure, renewal_day,
                               n_users / seat_limit, window))


def _renewals(rng: np.random.Generator, profiles: list[Story | None],
              window: Window) -> tuple[np.ndarray, np.ndarray]:
    """Days from as_of to each current contract's end, and the years of earlier contracts.

    The offsets are evenly spread over the next 364 days, so renewals fall in every
    month. A first-year account's age follows from its offset, so a story that needs
    young accounts swaps offsets with population accounts of that age rather than
    bunching renewals.
    """
    n = len(profiles)
    offset = (np.arange(n) * 364) // n
    rng.shuffle(offset)
    tenure = rng.choice(len(TENURE_SHARES), size=n, p=TENURE_SHARES)
    population = np.array([p is None for p in profiles])
    for s in STORIES:
        members = np.array([p is s for p in profiles])
        if s.age_days is None:
            # Customers since at least a month before the history starts.
            tenure[members] = np.maximum(tenure[members], 1 + (window.days + 30) // 365)
            continue
        tenure[members] = 0
        # The first contract starts 364-365 days before the end, sign-up is within that
        # day: age = 364-365 days - offset - some hours.
        low, high = 365 - s.age_days[1], 363 - s.age_days[0]
        fits = (offset >= low) & (offset <= high)
        needing = np.flatnonzero(members & ~fits)
        partners = rng.permutation(np.flatnonzero(population & fits))[:len(needing)]
        offset[needing[:len(partners)]], offset[partners] = offset[partners], offset[needing[:len(partners)]]
        offset[needing[len(partners):]] = rng.integers(low, high + 1, size=len(needing) - len(partners))
    return offset, tenure


def _person_name(k: int) -> tuple[str, str]:
    return names.FIRST_NAMES[k // len(names.LAST_NAMES)], names.LAST_NAMES[k % len(names.LAST_NAMES)]


def _companies(rng: np.random.Generator, n: int) -> tuple[list[str], list[str]]:
    """Distinct company names (numbered once the word lists run out) and their domains."""
    first, second, suffix = names.COMPANY_FIRST, names.COMPANY_SECOND, names.COMPANY_SUFFIX
    combos = len(first) * len(second) * len(suffix)
    order = np.concatenate([rng.permutation(combos) for _ in range(-(-n // combos))])[:n]
    company_names, domains = [], []
    for i, k in enumerate(order.tolist()):
        a, rest = divmod(k, len(second) * len(suffix))
        b, c = divmod(rest, len(suffix))
        words = [first[a], second[b], suffix[c]] + ([str(i // combos + 1)] if i >= combos else [])
        company_names.append(" ".join(words))
        domains.append("".join(words).lower().replace(" ", "") + ".example")
    return company_names, domains
