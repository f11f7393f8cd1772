"""Freshdesk companies, tickets and satisfaction ratings, as API v2 returns them.

Ticket volume grows with the account's size; older tickets are resolved or closed,
recent ones may still be open. Escalations (tag `escalation`) in the population are
all resolved: an open one belongs to a story.
"""

from __future__ import annotations

import numpy as np

from devkit.sample_data import names, wire
from devkit.sample_data import renewals as renewal_decisions
from devkit.sample_data.chunk import Chunk
from devkit.sample_data.customers import CustomerBase
from devkit.sample_data.window import DAY, HOUR

COMPANY_ID_BASE = 103_000_000_000
REQUESTER_ID_BASE = 104_000_000_000  # Freshdesk contacts: one per product user who writes in
RATING_ID_BASE = 105_000_000_000
SURVEY_ID = 103_000_000_001
TYPES, TYPE_SHARES = ("Question", "Incident", "Problem", "Feature Request"), (0.5, 0.2, 0.15, 0.15)
PRIORITY_SHARES = (0.30, 0.45, 0.20, 0.05)  # 1 Low, 2 Medium, 3 High, 4 Urgent
RESOLVE_HOURS = np.array([120, 72, 36, 12])  # mean time to resolve, by priority
DUE_HOURS = np.array([72, 24, 8, 4])  # resolution SLA, by priority
FIRST_RESPONSE_HOURS = np.array([24, 8, 4, 1])
OPEN, PENDING, RESOLVED, CLOSED = 2, 3, 4, 5
CLOSE_AFTER = 2 * DAY  # resolved tickets close automatically
RATED_SHARE = 0.4
HAPPY, NEUTRAL, UNHAPPY = 103, 100, -103
FEEDBACK = {HAPPY: "Quick and helpful, thanks!", NEUTRAL: "Solved, but it took a while.",
            UNHAPPY: "Had to follow up several times."}


class FreshdeskWriter:
    def __init__(self, outputs: wire.Outputs, base: CustomerBase):
        self._base = base
        self._companies = outputs.jsonl("freshdesk/companies", "freshdesk/companies.jsonl")
        self._tickets = outputs.jsonl("freshdesk/tickets", "freshdesk/tickets.jsonl")
        self._ratings = outputs.jsonl("freshdesk/satisfaction_ratings", "freshdesk/satisfaction_ratings.jsonl")
        self._next_ticket_id = 1  # Freshdesk numbers tickets 1, 2, ... per helpdesk
        self._next_rating_id = RATING_ID_BASE + 1

    def write(self, chunk: Chunk) -> None:
        base, window, rng = self._base, self._base.window, chunk.rng("freshdesk")
        ids = np.arange(chunk.lo, chunk.hi)
        created = base.created[ids] + rng.integers(HOUR, 7 * DAY, size=len(ids))
        created = np.minimum(created, window.now - 60)
        updated = np.maximum(created, window.now - rng.integers(HOUR, 120 * DAY, size=len(ids)))
        created_s, updated_s = wire.iso_z(created), wire.iso_z(updated)
        self._companies.write([
            {"id": COMPANY_ID_BASE + a + 1, "name": base.names[a],
             "custom_fields": {"cf_product_account_id": base.account_ids[a]},
             "created_at": created_s[c], "updated_at": updated_s[c]}
            for c, a in enumerate(ids.tolist())])
        tickets = self._draw_tickets(chunk, rng)
        self._write_tickets(chunk, tickets)
        self._write_ratings(tickets, rng)
        self._write_tickets(chunk, self._renewal_escalations(chunk))

    def _draw_tickets(self, chunk: Chunk, rng: np.random.Generator) -> dict[str, np.ndarray]:
        base, window = self._base, self._base.window
        ids = np.arange(chunk.lo, chunk.hi)
        first = np.maximum(window.start, base.created[ids] + DAY)
        span = np.maximum(window.now - HOUR - first, 0)
        per_month = 0.3 + 0.04 * base.n_users[ids] ** 0.8
        n = rng.poisson(per_month * span / (30 * DAY))
        local = np.repeat(np.arange(len(ids)), n)
        created = first[local] + (rng.random(len(local)) * span[local]).astype(np.int64)
        kind = rng.choice(len(TYPES), size=len(local), p=TYPE_SHARES)
        priority = 1 + rng.choice(4, size=len(local), p=PRIORITY_SHARES)
        resolved_at = created + rng.exponential(RESOLVE_HOURS[priority - 1] * HOUR).astype(np.int64) + 600
        resolved = resolved_at < window.now
        escalated = resolved & (priority >= 3) & (rng.random(len(local)) < 0.15)

        # Story escalations: one urgent problem, opened in the last ten days, still open.
        urgent = np.array([i for i, a in enumerate(ids.tolist())
                           if (s := base.story_of(a)) is not None and s.open_escalation], dtype=np.int64)
        local = np.concatenate([local, urgent])
        created = np.concatenate([created, window.now - rng.integers(2 * DAY, 10 * DAY, size=len(urgent))])
        kind = np.concatenate([kind, np.full(len(urgent), TYPES.index("Problem"))])
        priority = np.concatenate([priority, np.full(len(urgent), 4)])
        resolved_at = np.concatenate([resolved_at, np.full(len(urgent), window.now + DAY)])
        resolved = np.concatenate([resolved, np.zeros(len(urgent), dtype=bool)])
        escalated = np.concatenate([escalated, np.ones(len(urgent), dtype=bool)])

        closed = resolved & (resolved_at + CLOSE_AFTER < window.now)
        status = np.where(closed, CLOSED, np.where(resolved, RESOLVED,
                          np.where(rng.random(len(local)) < 0.5, OPEN, PENDING)))
        touched = created + (rng.random(len(local)) * (window.now - created)).astype(np.int64)
        updated = np.where(closed, resolved_at + CLOSE_AFTER, np.where(resolved, resolved_at, touched))
        # The requester is one of the account's users who existed then, else the admin.
        account = ids[local]
        rank = (rng.random(len(local)) * base.n_users[account]).astype(np.int64)
        user_created = chunk.users.created[chunk.users.offsets[local] + rank]
        rank = np.where(user_created < created, rank, 0)
        order = np.lexsort((created, local))
        first_id, self._next_ticket_id = self._next_ticket_id, self._next_ticket_id + len(order)
        return {"id": np.arange(first_id, self._next_ticket_id), "account": account[order], "rank": rank[order],
                "created": created[order],
                "kind": kind[order], "priority": priority[order], "status": status[order],
                "updated": updated[order], "resolved_at": resolved_at[order], "resolved": resolved[order],
                "escalated": escalated[order], "subject": rng.integers(0, 1000, size=len(local)),
                "tag": rng.integers(0, 5 * len(names.TICKET_TAGS), size=len(local)),  # one in five tagged
                "urgent": np.arange(len(local))[order] >= len(local) - len(urgent)}

    def _renewal_escalations(self, chunk: Chunk) -> dict[str, np.ndarray]:
        """Escalations in the weeks before a relationship churn or a rescue (renewals.py):
        urgent or high problems, resolved within days (an open escalation belongs to a
        story). Drawn from their own stream and numbered after the chunk's other tickets."""
        base, window, rng = self._base, self._base.window, chunk.rng("renewal_escalations")
        renewals = base.renewals
        accounts = [a for a in chunk.accounts if renewals.warnings(a)]
        n = rng.integers(renewal_decisions.ESCALATIONS[0], renewal_decisions.ESCALATIONS[1] + 1, size=len(accounts))
        account = np.repeat(np.array(accounts, dtype=np.int64), n)
        created = np.concatenate([
            renewal_decisions.warning_days(rng, int(renewals.decision_day[a]), int(k), window,
                                           int(base.created[a] // DAY) + 1)
            for a, k in zip(accounts, n.tolist())] or [np.zeros(0, dtype=np.int64)]) * DAY
        created = created + rng.integers(8 * HOUR, 18 * HOUR, size=len(account))
        priority = rng.integers(3, 5, size=len(account))
        resolved_at = np.minimum(created + rng.integers(6 * HOUR, 3 * DAY, size=len(account)), window.now - HOUR)
        closed = resolved_at + CLOSE_AFTER < window.now
        first_id, self._next_ticket_id = self._next_ticket_id, self._next_ticket_id + len(account)
        return {"id": np.arange(first_id, self._next_ticket_id), "account": account,
                "rank": np.zeros(len(account), dtype=np.int64), "created": created,
                "kind": np.full(len(account), TYPES.index("Problem")), "priority": priority,
                "status": np.where(closed, CLOSED, RESOLVED),
                "updated": np.where(closed, resolved_at + CLOSE_AFTER, resolved_at), "resolved_at": resolved_at,
                "resolved": np.ones(len(account), dtype=bool), "escalated": np.ones(len(account), dtype=bool),
                "subject": rng.integers(0, 1000, size=len(account)),
                "tag": np.full(len(account), 5 * len(names.TICKET_TAGS)),  # no other tag
                "urgent": np.ones(len(account), dtype=bool)}

    def _write_tickets(self, chunk: Chunk, t: dict[str, np.ndarray]) -> None:
        due = t["created"] + DUE_HOURS[t["priority"] - 1] * HOUR
        first_response = t["created"] + FIRST_RESPONSE_HOURS[t["priority"] - 1] * HOUR
        created_s, updated_s = wire.iso_z(t["created"]), wire.iso_z(t["updated"])
        due_s, first_s = wire.iso_z(due), wire.iso_z(first_response)
        records = []
        for k, (a, pick, tag) in enumerate(zip(t["account"].tolist(), t["subject"].tolist(), t["tag"].tolist())):
            kind = TYPES[t["kind"][k]]
            if t["urgent"][k]:
                subject = names.ESCALATION_SUBJECTS[pick % len(names.ESCALATION_SUBJECTS)]
            else:
                subject = names.TICKET_SUBJECTS[kind][pick % len(names.TICKET_SUBJECTS[kind])]
            tags = [names.TICKET_TAGS[tag]] if tag < len(names.TICKET_TAGS) else []
            if t["escalated"][k]:
                tags.append("escalation")
            records.append({
                "id": int(t["id"][k]), "company_id": COMPANY_ID_BASE + a + 1,
                "requester_id": _requester_id(a, int(t["rank"][k])), "subject": subject, "type": kind,
                "status": int(t["status"][k]), "priority": int(t["priority"][k]), "tags": tags,
                "created_at": created_s[k], "updated_at": updated_s[k], "due_by": due_s[k],
                "fr_due_by": first_s[k]})
        self._tickets.write(records)

    def _write_ratings(self, t: dict[str, np.ndarray], rng: np.random.Generator) -> None:
        """CSAT answers on some resolved tickets, happier from engaged accounts."""
        window = self._base.window
        at = t["resolved_at"] + rng.integers(HOUR, 48 * HOUR, size=len(t["account"]))
        rated = np.flatnonzero(t["resolved"] & (rng.random(len(at)) < RATED_SHARE) & (at < window.now))
        engagement = self._base.engagement[t["account"][rated]]
        roll = rng.random(len(rated))
        rating = np.where(roll < 0.35 + 0.55 * engagement, HAPPY,
                          np.where(roll > 1 - 0.25 * (1 - engagement), UNHAPPY, NEUTRAL))
        with_feedback = rng.random(len(rated)) < 0.3
        at_s = wire.iso_z(at[rated])
        first_id, self._next_rating_id = self._next_rating_id, self._next_rating_id + len(rated)
        self._ratings.write([
            {"id": first_id + j, "survey_id": SURVEY_ID, "ticket_id": int(t["id"][k]),
             "user_id": _requester_id(int(t["account"][k]), int(t["rank"][k])),
             "ratings": {"default_question": int(r)},
             "feedback": FEEDBACK[int(r)] if with_feedback[j] else None,
             "created_at": at_s[j], "updated_at": at_s[j]}
            for j, (k, r) in enumerate(zip(rated.tolist(), rating.tolist()))])


def _requester_id(account: int, rank: int) -> int:
    return REQUESTER_ID_BASE + (account + 1) * 1000 + rank
