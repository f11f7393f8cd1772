"""HubSpot companies, contacts (CRM v3 objects) and marketing email events.

Every account is a HubSpot company. Its champions, and some other contacts, are
marketing contacts with the same email as in Salesforce and the product; they get
a newsletter every two weeks, and open it less as their account disengages.
"""

from __future__ import annotations

import numpy as np

from devkit.sample_data import wire
from devkit.sample_data.chunk import Chunk
from devkit.sample_data.customers import CustomerBase
from devkit.sample_data.window import DAY, HOUR

PORTAL_ID = 4_815_162
COMPANY_ID_BASE = 18_000_000_000
CONTACT_ID_BASE = 30_000_000_000
CAMPAIGN_EVERY_DAYS = 14
BOUNCE, CLICK_AFTER_OPEN, UNSUBSCRIBE_AFTER_OPEN = 0.01, 0.3, 0.004


class HubspotWriter:
    def __init__(self, outputs: wire.Outputs, base: CustomerBase):
        self._base = base
        self._companies = outputs.jsonl("hubspot/companies", "hubspot/companies.jsonl")
        self._contacts = outputs.jsonl("hubspot/contacts", "hubspot/contacts.jsonl")
        self._events = outputs.jsonl("hubspot/email_events", "hubspot/email_events.jsonl")
        window = base.window
        # Tuesdays 09:00 UTC, every two weeks, back from the last one in the history.
        last_tuesday = window.end_day - 1 - (window.end_day - 1 - 5) % 7  # epoch day 5 was a Tuesday
        days = np.arange(last_tuesday, window.start_day - 1, -CAMPAIGN_EVERY_DAYS)[::-1]
        self._campaign_days = days
        self._campaign_ids = 70_000_000 + days  # stable per send date, whatever the window

    def write(self, chunk: Chunk) -> None:
        company_created = self._write_companies(chunk)
        self._write_contacts_and_events(chunk, company_created)

    def _write_companies(self, chunk: Chunk) -> np.ndarray:
        base, window, rng = self._base, self._base.window, chunk.rng("hubspot_companies")
        ids = np.arange(chunk.lo, chunk.hi)
        # Marketing knew the company before it signed.
        created = base.created[ids] - rng.integers(30 * DAY, 200 * DAY, size=len(ids))
        updated = np.maximum(created, window.now - rng.integers(HOUR, 30 * DAY, size=len(ids)))
        created_s, updated_s = wire.iso_ms_z(created), wire.iso_ms_z(updated)
        self._companies.write([
            {"id": str(COMPANY_ID_BASE + a + 1),
             "properties": {"name": base.names[a], "domain": base.domains[a],
                            "product_account_id": base.account_ids[a], "lifecyclestage": "customer",
                            "hs_lastmodifieddate": updated_s[c]},
             "createdAt": created_s[c], "updatedAt": updated_s[c], "archived": False}
            for c, a in enumerate(ids.tolist())])
        return created

    def _write_contacts_and_events(self, chunk: Chunk, company_created: np.ndarray) -> None:
        window, users = self._base.window, chunk.users
        rng = chunk.rng("hubspot_contacts")
        keep = chunk.contacts.in_hubspot
        user = chunk.contacts.user[keep]
        champion = chunk.contacts.champion[keep]
        account = users.account[user]
        created = np.minimum(users.created[user] + rng.integers(HOUR, 3 * DAY, size=len(user)), window.now - 60)
        updated = np.maximum(created, window.now - rng.integers(HOUR, 60 * DAY, size=len(user)))
        contact_ids = [str(CONTACT_ID_BASE + (a + 1) * 1000 + r)
                       for a, r in zip(account.tolist(), users.rank[user].tolist())]
        created_s, updated_s = wire.iso_ms_z(created), wire.iso_ms_z(updated)
        self._contacts.write([
            {"id": contact_ids[k],
             "properties": {"email": users.emails[u], "firstname": users.first_names[u],
                            "lastname": users.last_names[u], "jobtitle": title,
                            "associatedcompanyid": str(COMPANY_ID_BASE + a + 1),
                            "hs_lastmodifieddate": updated_s[k]},
             "createdAt": created_s[k], "updatedAt": updated_s[k], "archived": False}
            for k, (u, a, title) in enumerate(zip(user.tolist(), account.tolist(),
                                                   np.array(chunk.contacts.titles, dtype=object)[keep].tolist()))])
        self._write_email_events(chunk, user, account, champion, created)

    def _write_email_events(self, chunk: Chunk, user: np.ndarray, account: np.ndarray,
                            champion: np.ndarray, contact_created: np.ndarray) -> None:
        base, window = self._base, self._base.window
        rng = chunk.rng("hubspot_email_events")
        n_campaigns = len(self._campaign_days)
        contact, campaign = np.divmod(np.arange(len(user) * n_campaigns), n_campaigns)
        sent = self._campaign_days[campaign] * DAY + 9 * HOUR + rng.integers(0, 600, size=len(contact))
        subscribed = sent > contact_created[contact]
        # Opens follow the account's engagement and its usage level on send day.
        day = self._campaign_days[campaign] - window.start_day
        level = chunk.usage.level[account[contact] - chunk.lo, day]
        p_open = (0.15 + 0.45 * base.engagement[account[contact]]) * level
        quiet_days = np.array([_champion_quiet_days(base, a) for a in account.tolist()])

        bounced = rng.random(len(contact)) < BOUNCE
        delivered = sent + rng.integers(2, 30, size=len(contact))
        opened_at = delivered + rng.exponential(8 * HOUR, size=len(contact)).astype(np.int64)
        quiet = champion[contact] & (opened_at >= window.now - quiet_days[contact] * DAY)
        opened = (subscribed & ~bounced & ~quiet & (rng.random(len(contact)) < p_open)
                  & (opened_at < window.now))
        clicked_at = opened_at + rng.integers(10, 1800, size=len(contact))
        clicked = opened & (rng.random(len(contact)) < CLICK_AFTER_OPEN) & (clicked_at < window.now)
        unsubscribed = opened & (rng.random(len(contact)) < UNSUBSCRIBE_AFTER_OPEN) & (clicked_at < window.now)
        # No more mail after an unsubscribe: drop a contact's later campaigns.
        unsub_so_far = np.cumsum(unsubscribed.reshape(-1, n_campaigns), axis=1).ravel()
        still_subscribed = (unsub_so_far - unsubscribed) == 0
        subscribed, opened, clicked, unsubscribed = (
            mask & still_subscribed for mask in (subscribed, opened, clicked, unsubscribed))

        steps = (("SENT", subscribed, sent), ("BOUNCE", subscribed & bounced, delivered),
                 ("DELIVERED", subscribed & ~bounced, delivered), ("OPEN", opened, opened_at),
                 ("CLICK", clicked, clicked_at), ("UNSUBSCRIBED", unsubscribed, clicked_at + 60))
        row = np.concatenate([np.flatnonzero(happened) for _, happened, _ in steps])
        kind = np.concatenate([np.full(happened.sum(), j) for j, (_, happened, _) in enumerate(steps)])
        at = np.concatenate([ts[happened] for _, happened, ts in steps])
        order = np.lexsort((kind, row))  # each send's events together, in their natural order
        row, kind = row[order], kind[order]
        created = at[order] * 1000 + rng.integers(0, 1000, size=len(row))
        emails, types = chunk.users.emails, [name for name, _, _ in steps]
        ids = wire.uuids(rng, len(row))
        self._events.write([
            {"id": i, "type": types[k], "created": ts, "recipient": emails[u],
             "emailCampaignId": campaign_id, "portalId": PORTAL_ID}
            for i, k, ts, u, campaign_id in zip(
                ids, kind.tolist(), created.tolist(), user[contact[row]].tolist(),
                self._campaign_ids[campaign[row]].tolist())])


def _champion_quiet_days(base: CustomerBase, account: int) -> int:
    story = base.story_of(account)
    return story.champion_email_quiet_days if story is not None else 0
