"""KARTE-style CSV exports: NPS answers and in-product tour views, one file per week.

Files are named by the last day they cover (`nps_responses_20261121.csv`), the way
a scheduled export drops them; the newest week ends the day before as_of.
"""

from __future__ import annotations

import numpy as np

from cs_platform.sources import catalog
from devkit.sample_data import names, wire
from devkit.sample_data import renewals as renewal_decisions
from devkit.sample_data.chunk import Chunk
from devkit.sample_data.customers import CustomerBase
from devkit.sample_data.window import DAY, HOUR

NPS_PER_QUARTER = 2  # answers per account
NPS_FIRST_AFTER_DAYS = 14  # new accounts are surveyed after two weeks
TOUR_VIEWS_BASE, TOUR_VIEWS_PER_USER = 0.5, 0.04  # tour sessions per account over the history


class KarteWriter:
    def __init__(self, outputs: wire.Outputs, base: CustomerBase):
        self._base = base
        window = base.window
        weeks = -(-window.days // 7)
        # Week w covers the days up to week_end[w]; the last week ends the day before as_of.
        self._week_end = window.end_day - 1 - 7 * np.arange(weeks)[::-1]
        files = {}
        for name in ("nps_responses", "tour_views"):
            header = list(catalog.get("karte", name).columns)
            files[name] = [outputs.csv(f"karte/{name}", f"karte/{name}_{day.replace('-', '')}.csv", header)
                           for day in wire.iso_dates(self._week_end)]
        self._files = files

    def write(self, chunk: Chunk) -> None:
        self._nps(chunk)
        self._tour_views(chunk)

    def _week_of(self, ts: np.ndarray) -> np.ndarray:
        return np.searchsorted(self._week_end, ts // DAY)

    def _write_by_week(self, name: str, ts: np.ndarray, rows: list[tuple]) -> None:
        week = self._week_of(ts)
        for w, file in enumerate(self._files[name]):
            file.write([rows[k] for k in np.flatnonzero(week == w).tolist()])

    def _nps(self, chunk: Chunk) -> None:
        base, window, rng = self._base, self._base.window, chunk.rng("karte_nps")
        ids = np.arange(chunk.lo, chunk.hi)
        profiles = [base.story_of(a) for a in ids.tolist()]
        first = np.maximum(window.start, base.created[ids] + NPS_FIRST_AFTER_DAYS * DAY)
        span = np.maximum(window.now - HOUR - first, 0)
        n = rng.poisson(NPS_PER_QUARTER * span / (91 * DAY))
        # A story about NPS needs an answer to tell it.
        n = np.maximum(n, [1 if p is not None and p.nps else 0 for p in profiles])
        local = np.repeat(np.arange(len(ids)), n)
        at = first[local] + (rng.random(len(local)) * span[local]).astype(np.int64)
        engagement = base.engagement[ids][local]
        score = np.clip(np.round(rng.normal(3 + 7 * engagement, 1.8)), 0, 10).astype(np.int64)
        for c, p in enumerate(profiles):
            if p is not None and p.nps:
                mine = local == c
                score[mine] = rng.integers(p.nps[0], p.nps[1] + 1, size=int(mine.sum()))
        user = self._existing_user(chunk, local, at, rng)
        category = np.where(score >= 9, "promoter", np.where(score >= 7, "passive", "detractor"))
        pick = rng.integers(0, 1000, size=len(local))
        comment = [names.NPS_COMMENTS[cat][p % 3] if p < 300 else None
                   for cat, p in zip(category.tolist(), pick.tolist())]
        response_ids = wire.uuids(rng, len(local))
        local, at, score, user, comment, response_ids = self._renewal_answers(
            chunk, local, at, score, user, comment, response_ids)
        at_s = wire.iso_z(at)
        rows = [(response_ids[k], base.account_ids[ids[c]], chunk.users.user_ids[u], int(score[k]),
                 comment[k], at_s[k])
                for k, (c, u) in enumerate(zip(local.tolist(), user.tolist()))]
        self._write_by_week("nps_responses", at, rows)

    def _renewal_answers(self, chunk: Chunk, local, at, score, user, comment, response_ids) -> tuple:
        """NPS answers planted before a renewal decision (renewals.py), added after the
        population's: detractors before a relationship churn or a rescue, promoters before
        a churn nobody saw coming."""
        base, window, rng = self._base, self._base.window, chunk.rng("renewal_nps")
        renewals = base.renewals
        planted = [(c, a) for c, a in enumerate(chunk.accounts) if renewals.warnings(a) or renewals.looks_good(a)]
        if not planted:
            return local, at, score, user, comment, response_ids
        more_local, more_at, more_score = [], [], []
        for c, a in planted:
            first = int(base.created[a] // DAY) + NPS_FIRST_AFTER_DAYS
            days = renewal_decisions.warning_days(rng, int(renewals.decision_day[a]), renewal_decisions.NPS_ANSWERS,
                                                  window, first)
            more_local += [c] * len(days)
            more_at += (days * DAY + rng.integers(9 * HOUR, 18 * HOUR, size=len(days))).tolist()
            scores = renewal_decisions.WARNING_NPS if renewals.warnings(a) else renewal_decisions.GOOD_NPS
            more_score += rng.integers(scores[0], scores[1] + 1, size=len(days)).tolist()
        more_local, more_at = np.array(more_local, dtype=np.int64), np.array(more_at, dtype=np.int64)
        more_user = self._existing_user(chunk, more_local, more_at, rng)
        return (np.concatenate([local, more_local]), np.concatenate([at, more_at]),
                np.concatenate([score, np.array(more_score, dtype=np.int64)]),
                np.concatenate([user, more_user]), comment + [None] * len(more_local),
                response_ids + wire.uuids(rng, len(more_local)))

    def _tour_views(self, chunk: Chunk) -> None:
        """Tour sessions: a user steps through a tour until done or dismissed, one row per step."""
        base, window, rng = self._base, self._base.window, chunk.rng("karte_tours")
        ids = np.arange(chunk.lo, chunk.hi)
        first = np.maximum(window.start, base.created[ids])
        span = np.maximum(window.now - HOUR - first, 0)
        sessions = rng.poisson((TOUR_VIEWS_BASE + TOUR_VIEWS_PER_USER * base.n_users[ids]) * span / (window.days * DAY))
        local = np.repeat(np.arange(len(ids)), sessions)
        start = first[local] + (rng.random(len(local)) * span[local]).astype(np.int64)
        user = self._existing_user(chunk, local, start, rng)
        tour = rng.integers(0, len(names.TOURS), size=len(local))
        steps = np.array([s for _, s in names.TOURS])[tour]
        reached = 1 + rng.binomial(steps - 1, 0.5 + 0.4 * base.engagement[ids][local])
        view = np.repeat(np.arange(len(local)), reached)
        step = np.arange(len(view)) - np.repeat(np.cumsum(reached) - reached, reached) + 1
        # A step is completed when the user moved on from it, or finished the tour.
        completed = (step < reached[view]) | (reached[view] == steps[view])
        at = np.minimum(start[view] + 20 * (step - 1), window.now - 1)
        event_ids = wire.uuids(rng, len(view))
        at_s = wire.iso_z(at)
        rows = [(event_ids[k], base.account_ids[ids[local[v]]], chunk.users.user_ids[user[v]],
                 names.TOURS[tour[v]][0], int(step[k]), "true" if completed[k] else "false", at_s[k])
                for k, v in enumerate(view.tolist())]
        self._write_by_week("tour_views", at, rows)

    @staticmethod
    def _existing_user(chunk: Chunk, local: np.ndarray, at: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A random user of the account who existed at `at` (the admin if none other did)."""
        offsets = chunk.users.offsets
        counts = offsets[local + 1] - offsets[local]
        user = offsets[local] + (rng.random(len(local)) * counts).astype(np.int64)
        return np.where(chunk.users.created[user] < at, user, offsets[local])
