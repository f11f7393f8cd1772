"""A chunk of consecutive accounts with everything drawn per user and per day.

Tool writers take one chunk at a time, so memory is bounded by the chunk size
rather than by the number of accounts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from devkit.sample_data import people, usage
from devkit.sample_data.customers import CustomerBase


@dataclass(frozen=True)
class Chunk:
    base: CustomerBase
    index: int
    lo: int  # accounts [lo, hi)
    hi: int
    users: people.Users
    contacts: people.Contacts
    usage: usage.Usage
    last_active_day: np.ndarray  # per user, day index or -1

    @property
    def accounts(self) -> range:
        return range(self.lo, self.hi)

    def rng(self, stream: str) -> np.random.Generator:
        return self.base.rng(stream, self.index)


def build(base: CustomerBase, index: int, lo: int, hi: int) -> Chunk:
    users = people.draw_users(base, lo, hi, base.rng("users", index))
    activity = usage.simulate(base, lo, hi, users, base.rng("usage", index), base.rng("renewal_usage", index))
    return Chunk(base=base, index=index, lo=lo, hi=hi, users=users,
                 contacts=people.draw_contacts(base, users, base.rng("contacts", index)),
                 usage=activity, last_active_day=usage.last_active_day(activity, users, lo))
