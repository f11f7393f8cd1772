"""The people of a chunk of accounts: product users, and the CRM contacts among them.

A user's rank is their creation order within the account (0 = the admin who signed
up). Usage treats lower ranks as the more active users, which gives every user a
`last_active_at` consistent with the account's daily active users (see usage.py).
CRM contacts are the first few users, so a contact's email is also a product login
and a HubSpot contact: the same person in every tool.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from devkit.sample_data import names
from devkit.sample_data.customers import CustomerBase
from devkit.sample_data.window import HOUR

_NAME_COMBOS = len(names.FIRST_NAMES) * len(names.LAST_NAMES)
_NAME_STRIDE = 7919  # coprime with _NAME_COMBOS: an account's users all get distinct names
CONTACTS_BY_PLAN = (2, 3, 4, 6)
ROLES, ROLE_SHARES = ("admin", "member", "viewer"), (0.05, 0.80, 0.15)


@dataclass(frozen=True)
class Users:
    account: np.ndarray  # global account index, ascending
    rank: np.ndarray
    created: np.ndarray  # epoch seconds
    first_names: list[str]
    last_names: list[str]
    emails: list[str]
    user_ids: list[str]
    roles: list[str]
    offsets: np.ndarray  # users of chunk account c are [offsets[c], offsets[c + 1])

    def __len__(self) -> int:
        return len(self.account)


@dataclass(frozen=True)
class Contacts:
    user: np.ndarray  # index into Users
    champion: np.ndarray  # bool: Salesforce Is_Champion__c
    in_hubspot: np.ndarray  # bool: also a HubSpot marketing contact
    titles: list[str]


def draw_users(base: CustomerBase, lo: int, hi: int, rng: np.random.Generator) -> Users:
    counts = base.n_users[lo:hi]
    offsets = np.concatenate([[0], np.cumsum(counts)])
    account = np.repeat(np.arange(lo, hi), counts)
    first = offsets[account - lo]
    is_first = np.arange(len(account)) == first
    # The admin signs up with the account; the others join over its life, most of them early.
    span = np.maximum(base.users_settled[account] - base.created[account] - HOUR, 0)
    delay = np.where(is_first, rng.integers(60, 1800, size=len(account)),
                     HOUR + (rng.beta(0.7, 2.5, size=len(account)) * span).astype(np.int64))
    order = np.lexsort((delay, account))  # account is ascending, so this sorts within accounts
    created = base.created[account] + delay[order]
    rank = np.arange(len(account)) - first

    combo = (rng.integers(0, _NAME_COMBOS, size=hi - lo)[account - lo] + rank * _NAME_STRIDE) % _NAME_COMBOS
    first_names = [names.FIRST_NAMES[k] for k in (combo // len(names.LAST_NAMES)).tolist()]
    last_names = [names.LAST_NAMES[k] for k in (combo % len(names.LAST_NAMES)).tolist()]
    domains = [base.domains[a] for a in account.tolist()]
    emails = [f"{first}.{last}@{d}".lower() for first, last, d in zip(first_names, last_names, domains)]
    user_ids = [f"U{a + 1:06d}{r:03d}" for a, r in zip(account.tolist(), rank.tolist())]
    role = rng.choice(len(ROLES), size=len(account), p=ROLE_SHARES)
    role[is_first] = 0
    return Users(account=account, rank=rank, created=created, first_names=first_names,
                 last_names=last_names, emails=emails, user_ids=user_ids,
                 roles=[ROLES[k] for k in role.tolist()], offsets=offsets)


def draw_contacts(base: CustomerBase, users: Users, rng: np.random.Generator) -> Contacts:
    per_account = np.minimum(np.array(CONTACTS_BY_PLAN)[base.plan[users.account]],
                             base.n_users[users.account])
    user = np.flatnonzero(users.rank < per_account)
    rank = users.rank[user]
    account = users.account[user]
    in_story = base.story[account] >= 0
    # Usually the admin is the champion (always in a story account), sometimes a second one.
    champion = np.where(rank == 0, in_story | (rng.random(len(user)) < 0.9),
                        (rank == 1) & (per_account[user] >= 3) & (rng.random(len(user)) < 0.2))
    in_hubspot = champion | (rng.random(len(user)) < 0.5)
    title_pick = rng.integers(0, 1000, size=len(user))
    titles = [names.CHAMPION_TITLES[t % len(names.CHAMPION_TITLES)] if c
              else names.CONTACT_TITLES[t % len(names.CONTACT_TITLES)]
              for c, t in zip(champion.tolist(), title_pick.tolist())]
    return Contacts(user=user, champion=champion, in_hubspot=in_hubspot, titles=titles)
