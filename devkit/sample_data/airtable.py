"""Airtable "Feature Requests" records, as the API lists them: {id, createdTime, fields}."""

from __future__ import annotations

import numpy as np

from devkit.sample_data import names, wire
from devkit.sample_data.chunk import Chunk
from devkit.sample_data.customers import CustomerBase
from devkit.sample_data.window import DAY, HOUR

PER_MONTH = (0.05, 0.1, 0.2, 0.4)  # requests logged per account, by plan
STATUSES, STATUS_SHARES = ("New", "Under Review", "Planned", "Shipped", "Declined"), (0.3, 0.25, 0.2, 0.1, 0.15)
PRIORITIES, PRIORITY_SHARES = ("Low", "Medium", "High"), (0.35, 0.45, 0.2)


class AirtableWriter:
    def __init__(self, outputs: wire.Outputs, base: CustomerBase):
        self._base = base
        self._file = outputs.jsonl("airtable/feature_requests", "airtable/feature_requests.jsonl")

    def write(self, chunk: Chunk) -> None:
        base, window, rng = self._base, self._base.window, chunk.rng("airtable")
        ids = np.arange(chunk.lo, chunk.hi)
        first = np.maximum(window.start, base.created[ids])
        span = np.maximum(window.now - DAY - first, 0)
        n = rng.poisson(np.array(PER_MONTH)[base.plan[ids]] * span / (30 * DAY))
        local = np.repeat(np.arange(len(ids)), n)
        requested = (first[local] + rng.random(len(local)) * span[local]).astype(np.int64) // DAY
        # Logged by the CSM the same day or the next, in working hours.
        created = ((requested + rng.integers(0, 2, size=len(local))) * DAY
                   + rng.integers(9 * HOUR, 18 * HOUR, size=len(local)))
        created = np.minimum(created, window.now - 60)
        title = rng.integers(0, len(names.FEATURE_REQUEST_TITLES), size=len(local))
        category = rng.integers(0, len(names.FEATURE_REQUEST_CATEGORIES), size=len(local))
        status = rng.choice(len(STATUSES), size=len(local), p=STATUS_SHARES)
        priority = rng.choice(len(PRIORITIES), size=len(local), p=PRIORITY_SHARES)
        votes = 1 + rng.geometric(0.2, size=len(local))
        record_ids = wire.base62_ids(rng, len(local), "rec", 14)
        created_s, requested_s = wire.iso_ms_z(created), wire.iso_dates(requested)
        self._file.write([
            {"id": record_ids[k], "createdTime": created_s[k],
             "fields": {"Title": names.FEATURE_REQUEST_TITLES[title[k]],
                        "AccountId": base.account_ids[ids[c]],
                        "Category": names.FEATURE_REQUEST_CATEGORIES[category[k]],
                        "Status": STATUSES[status[k]], "Priority": PRIORITIES[priority[k]],
                        "Votes": int(votes[k]), "RequestedAt": requested_s[k]}}
            for k, c in enumerate(local.tolist())])
