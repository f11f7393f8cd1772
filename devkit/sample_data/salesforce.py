"""Salesforce records as the REST API returns them (without `attributes`).

CSMs are Users who report to CS Leads (User.ManagerId); each account has an owner
CSM, contacts (some of them champions), annual auto-renewing contracts with a won
opportunity each, open renewal and upsell pipeline, and the owner's Tasks and Events
over the history.
"""

from __future__ import annotations

import datetime as dt
from itertools import count

import numpy as np

from cs_platform.sources import catalog
from devkit.sample_data import names, wire
from devkit.sample_data import renewals as renewals_mod
from devkit.sample_data.chunk import Chunk
from devkit.sample_data.customers import PLANS, CustomerBase
from devkit.sample_data.window import DAY, HOUR, add_years, epoch_day, to_date

IMPRESSIONS = ("Good", "Neutral", "Concerned", "At Risk", None)
IMPRESSION_SHARES = (0.45, 0.30, 0.10, 0.03, 0.12)
TOUCH_EVERY_DAYS = (40, 18, 9, 4)  # a CSM touches an account this often, by plan
EVENT_SHARE = 0.3  # touches that are meetings (Events) rather than calls or emails (Tasks)
RENEWAL_PIPELINE_DAYS = 120  # the coming renewal is an open opportunity from then on
OPEN_STAGES = ((30, "Negotiation"), (60, "Proposal"), (90, "Qualification"), (RENEWAL_PIPELINE_DAYS, "Prospecting"))


class SalesforceWriter:
    def __init__(self, outputs: wire.Outputs, base: CustomerBase):
        self._base = base
        self._files = {obj.name: outputs.jsonl(f"salesforce/{obj.name}", f"salesforce/{obj.api_name}.jsonl")
                       for obj in catalog.objects_of("salesforce")}
        self._serial = {prefix: count(1) for prefix in ("003", "006", "800", "00T", "00U")}
        self._account_ids = wire.salesforce_ids("001", np.arange(1, base.size + 1))
        # The CSMs (owners), their Head of CS (the last of base.csms), then the CS Leads.
        self._n_leads = max(2, round((len(base.csms) - 1) / 5))
        self._user_ids = wire.salesforce_ids("005", np.arange(1, len(base.csms) + self._n_leads + 1))
        self._write_users()

    def write(self, chunk: Chunk) -> None:
        self._accounts(chunk)
        self._contacts(chunk)
        self._deals(chunk)
        self._activities(chunk)

    def _serial_of(self, prefix: str) -> int:
        """The next serial of an object; records carry it as "Id" until _ids_assigned."""
        return next(self._serial[prefix])

    @staticmethod
    def _ids_assigned(prefix: str, records: list[dict]) -> list[dict]:
        """Turn the serials in "Id" into Salesforce ids, in one vectorised call."""
        for record, record_id in zip(records, wire.salesforce_ids(prefix, [r["Id"] for r in records])):
            record["Id"] = record_id
        return records

    def _write_users(self) -> None:
        """The CS team as a Salesforce role hierarchy through User.ManagerId: the CSMs
        who own accounts report to a few CS Leads (teams of about five), the Leads to
        the Head of Customer Success, who has no manager in the org. The Leads own no
        accounts; plays route "my team's accounts" messages to them."""
        base = self._base
        rng = base.rng("salesforce_users")
        head = len(base.csms) - 1
        stamps = wire.salesforce_datetimes(base.window.now - rng.integers(DAY, 200 * DAY, size=len(base.csms)))
        leads = [head + 1 + j for j in range(self._n_leads)]
        # Lead names are drawn after everything else of the stream, so the CSMs stay as they were.
        taken = {names.FIRST_NAMES.index(first) * len(names.LAST_NAMES) + names.LAST_NAMES.index(last)
                 for first, last in base.csms}
        free = np.setdiff1d(np.arange(len(names.FIRST_NAMES) * len(names.LAST_NAMES)), sorted(taken))
        lead_names = [(names.FIRST_NAMES[k // len(names.LAST_NAMES)], names.LAST_NAMES[k % len(names.LAST_NAMES)])
                      for k in rng.choice(free, size=self._n_leads, replace=False).tolist()]
        lead_stamps = wire.salesforce_datetimes(base.window.now - rng.integers(DAY, 200 * DAY, size=self._n_leads))
        people = [(first, last, stamps[k]) for k, (first, last) in enumerate(base.csms)]
        people += [(first, last, lead_stamps[j]) for j, (first, last) in enumerate(lead_names)]
        # CSM k is in team k * leads // CSMs: contiguous teams of nearly equal size.
        manager = {k: leads[k * self._n_leads // head] for k in range(head)}
        manager.update({lead: head for lead in leads})
        self._files["user"].write([
            {"Id": self._user_ids[k], "Name": f"{first} {last}",
             "Email": f"{first}.{last}@example.com".lower(),
             "Title": ("Head of Customer Success" if k == head else "CS Lead" if k in leads
                       else "Senior Customer Success Manager" if k % 3 == 0 else "Customer Success Manager"),
             "ManagerId": self._user_ids[manager[k]] if k in manager else None,
             "IsActive": True, "SystemModstamp": stamp}
            for k, (first, last, stamp) in enumerate(people)])

    def _accounts(self, chunk: Chunk) -> None:
        base, window, rng = self._base, self._base.window, chunk.rng("salesforce_accounts")
        ids = np.arange(chunk.lo, chunk.hi)
        created = base.created[ids] - rng.integers(14 * DAY, 90 * DAY, size=len(ids))  # the sales cycle
        impression = rng.choice(len(IMPRESSIONS), size=len(ids), p=IMPRESSION_SHARES)
        age = 1 + rng.exponential(60, size=len(ids)).astype(np.int64)  # many go stale (> 90 days)
        for c, account in enumerate(ids.tolist()):
            story = base.story_of(account)
            if story is not None and story.impression is not None:
                impression[c] = IMPRESSIONS.index(story.impression)
                age[c] = rng.integers(story.impression_age_days[0], story.impression_age_days[1] + 1)
        self._renewal_impressions(chunk, impression, age)
        age = np.minimum(age, (window.now - created) // DAY)
        impression_day = window.end_day - age
        has_impression = impression != IMPRESSIONS.index(None)
        modstamp = np.maximum.reduce([
            created + HOUR, np.where(has_impression, impression_day * DAY + 10 * HOUR, 0),
            window.now - rng.integers(DAY, 90 * DAY, size=len(ids))])
        dates = wire.nullable(wire.iso_dates(impression_day), has_impression)
        created_s, modstamp_s = wire.salesforce_datetimes(created), wire.salesforce_datetimes(modstamp)
        self._files["account"].write([
            {"Id": self._account_ids[account], "Name": base.names[account],
             "OwnerId": self._user_ids[base.owner[account]],
             "Product_Account_Id__c": base.account_ids[account], "Industry": base.industries[account],
             "NumberOfEmployees": int(base.employees[account]),
             "CSM_Impression__c": IMPRESSIONS[impression[c]], "CSM_Impression_Date__c": dates[c],
             "CreatedDate": created_s[c], "SystemModstamp": modstamp_s[c], "IsDeleted": False}
            for c, account in enumerate(ids.tolist())])

    def _renewal_impressions(self, chunk: Chunk, impression: np.ndarray, age: np.ndarray) -> None:
        """The CSM's word before a planted renewal decision (renewals.py), in place: a warning
        before a relationship churn or a rescue, a "Good" before a churn nobody saw coming."""
        base, window, rng = self._base, self._base.window, chunk.rng("renewal_impressions")
        renewals = base.renewals
        for c, account in enumerate(chunk.accounts):
            if renewals.warnings(account):
                # A rescue is planted as the clearest warning: the CSM saw it coming.
                worst = renewals.cause[account] == "rescued"
                impression[c] = IMPRESSIONS.index("At Risk" if worst else str(rng.choice(["At Risk", "Concerned"])))
            elif renewals.looks_good(account):
                impression[c] = IMPRESSIONS.index("Good")
            else:
                continue
            day = renewals_mod.warning_days(rng, int(renewals.decision_day[account]), 1, window, window.start_day)[0]
            age[c] = window.end_day - day

    def _contacts(self, chunk: Chunk) -> None:
        users, contacts, window = chunk.users, chunk.contacts, self._base.window
        rng = chunk.rng("salesforce_contacts")
        modstamp = np.maximum(users.created[contacts.user],
                              window.now - rng.integers(DAY, 300 * DAY, size=len(contacts.user)))
        modstamp_s = wire.salesforce_datetimes(modstamp)
        self._files["contact"].write(self._ids_assigned("003", [
            {"Id": self._serial_of("003"), "AccountId": self._account_ids[users.account[u]],
             "FirstName": users.first_names[u], "LastName": users.last_names[u], "Email": users.emails[u],
             "Title": contacts.titles[k], "Is_Champion__c": bool(contacts.champion[k]),
             "SystemModstamp": modstamp_s[k], "IsDeleted": False}
            for k, u in enumerate(contacts.user.tolist())]))

    def _deals(self, chunk: Chunk) -> None:
        """One annual contract a year since sign-up, each won as New Business or Renewal,
        plus the open pipeline: the coming renewal in its last months, and some upsells."""
        base, window, rng = self._base, self._base.window, chunk.rng("salesforce_deals")
        n = chunk.hi - chunk.lo
        close_lead = rng.integers(0, 11, size=(n, int(base.tenure[chunk.lo:chunk.hi].max()) + 1))
        auto_renew = rng.random(n) < 0.9
        upsell_roll = rng.random(n)
        worked_ago = rng.integers(HOUR, 14 * DAY, size=n)  # open deals were last edited lately
        upsell_close = rng.integers(20, 91, size=n)
        lost_ago = rng.integers(1, window.days + 1, size=n)
        contracts, opportunities = [], []
        for c, account in enumerate(chunk.accounts):
            account_id, name, arr = self._account_ids[account], base.names[account], float(base.arr[account])
            end = to_date(base.renewal_day[account])
            current_start = add_years(end, -1) + dt.timedelta(days=1)
            tenure = int(base.tenure[account])
            churned = base.renewals.is_churned(account)
            for years_ago in range(tenure, -1, -1):
                contract_arr = arr if years_ago == 0 else base.renewals.arr_before(account, arr)
                start = add_years(current_start, -years_ago)
                stop = add_years(start, 1) - dt.timedelta(days=1)
                activated = epoch_day(start) * DAY + 10 * HOUR
                expired = epoch_day(stop) * DAY + DAY + 9 * HOUR
                kind = "Renewal" if years_ago < tenure else "New Business"
                close = start - dt.timedelta(days=int(close_lead[c, years_ago]))
                if churned and years_ago == 0:
                    # The renewal was lost: no contract follows the one that ended.
                    opportunities.append(self._opportunity(
                        account_id, f"{name} - {kind} {start.year}", kind, "Closed Lost", arr, close,
                        epoch_day(close) * DAY + 17 * HOUR))
                    continue
                serial = self._serial_of("800")
                contracts.append({
                    "Id": serial, "AccountId": account_id,
                    "ContractNumber": f"{serial:08d}", "Status": "Expired" if years_ago else "Activated",
                    "StartDate": start.isoformat(), "EndDate": stop.isoformat(), "ContractTerm": 12,
                    "ARR__c": contract_arr, "Auto_Renew__c": bool(auto_renew[c]),
                    "SystemModstamp": expired if years_ago else activated, "IsDeleted": False})
                opportunities.append(self._opportunity(
                    account_id, f"{name} - {kind} {start.year}", kind, "Closed Won", contract_arr, close,
                    epoch_day(close) * DAY + 17 * HOUR))
            if churned:
                continue  # no pipeline for a former customer
            days_left = int(base.renewal_day[account] - window.end_day)
            if days_left <= RENEWAL_PIPELINE_DAYS:
                stage = next(stage for limit, stage in OPEN_STAGES if days_left <= limit)
                opportunities.append(self._opportunity(
                    account_id, f"{name} - Renewal {(end + dt.timedelta(days=1)).year}", "Renewal", stage,
                    arr, end, window.now - int(worked_ago[c])))
            plan = int(base.plan[account])
            # Story accounts stay free of upsell deals, so that their signals stand alone.
            if base.story[account] < 0 and plan + 1 < len(PLANS):
                amount = 12 * (PLANS[plan + 1].monthly_price - PLANS[plan].monthly_price)
                title = f"{name} - Upgrade to {PLANS[plan + 1].name}"
                if upsell_roll[c] < 0.05:
                    opportunities.append(self._opportunity(
                        account_id, title, "Upsell", "Qualification", amount,
                        window.as_of + dt.timedelta(days=int(upsell_close[c])), window.now - int(worked_ago[c])))
                elif upsell_roll[c] < 0.09 and tenure > 0:
                    lost = window.as_of - dt.timedelta(days=int(lost_ago[c]))
                    opportunities.append(self._opportunity(
                        account_id, title, "Upsell", "Closed Lost", amount, lost, epoch_day(lost) * DAY + 15 * HOUR))
        self._files["contract"].write(self._ids_assigned("800", _format_modstamps(contracts)))
        self._files["opportunity"].write(self._ids_assigned("006", _format_modstamps(opportunities)))

    def _opportunity(self, account_id: str, name: str, kind: str, stage: str, amount: float,
                     close: dt.date, modstamp: int) -> dict:
        return {"Id": self._serial_of("006"), "AccountId": account_id, "Name": name, "Type": kind,
                "StageName": stage, "Amount": amount, "CloseDate": close.isoformat(),
                "IsClosed": stage.startswith("Closed"), "IsWon": stage == "Closed Won",
                "SystemModstamp": modstamp, "IsDeleted": False}

    def _activities(self, chunk: Chunk) -> None:
        """The CSMs' calls, emails (Tasks) and meetings (Events) over the history.

        Touches come at a pace set by the plan, so small accounts see long gaps; a
        story can silence the recent weeks or require a recent touch. A few accounts
        also have an open to-do due in the next two weeks.
        """
        base, window, rng = self._base, self._base.window, chunk.rng("salesforce_activities")
        ids = np.arange(chunk.lo, chunk.hi)
        profiles = [base.story_of(a) for a in ids.tolist()]
        quiet = np.array([p.csm_quiet_days if p else 0 for p in profiles]) * DAY
        recent = np.array([(p.csm_recent_days or 0) if p else 0 for p in profiles]) * DAY
        first = np.maximum(window.start, base.created[ids])
        last = window.now - DAY - quiet
        span = np.maximum(last - first, 0)
        touches = rng.poisson(span / DAY / np.array(TOUCH_EVERY_DAYS)[base.plan[ids]])
        local = np.repeat(np.arange(len(ids)), touches)
        at = first[local] + (rng.random(len(local)) * span[local]).astype(np.int64)
        latest = np.full(len(ids), -1, dtype=np.int64)
        np.maximum.at(latest, local, at)
        owed = np.flatnonzero((recent > 0) & (latest < window.now - recent))
        local = np.concatenate([local, owed])
        at = np.concatenate([at, window.now - DAY - (rng.random(len(owed)) * (recent[owed] - DAY)).astype(np.int64)])
        order = np.lexsort((at, local))
        local, at = local[order], at[order]
        # Business hours on the touch's day; never before the account existed.
        at = np.maximum(at // DAY * DAY + rng.integers(9 * HOUR, 17 * HOUR, size=len(at)) // 1800 * 1800,
                        base.created[ids][local] + HOUR)
        account = ids[local]
        owner = np.where(rng.random(len(at)) < 0.9, base.owner[account],
                         rng.integers(0, len(base.csms) - 1, size=len(at)))
        is_event = rng.random(len(at)) < EVENT_SHARE
        subject = rng.integers(0, 1000, size=len(at))
        description = rng.integers(0, len(names.TASK_DESCRIPTIONS), size=len(at))
        high_priority = rng.random(len(at)) < 0.1
        edited = at + rng.integers(0, 2 * HOUR, size=len(at))

        tasks, events = [], []
        day_s = wire.iso_dates(at // DAY)
        at_s, edited_s = wire.salesforce_datetimes(at), wire.salesforce_datetimes(edited)
        meeting_end = at + rng.choice([30 * 60, HOUR], size=len(at))
        end_s = wire.salesforce_datetimes(meeting_end)
        event_stamp_s = wire.salesforce_datetimes(meeting_end + edited - at)
        for k, a in enumerate(account.tolist()):
            common = {"AccountId": self._account_ids[a], "WhatId": self._account_ids[a],
                      "OwnerId": self._user_ids[owner[k]]}
            if is_event[k]:
                events.append({"Id": self._serial_of("00U"), **common,
                               "Subject": names.EVENT_SUBJECTS[subject[k] % len(names.EVENT_SUBJECTS)],
                               "Type": "Meeting", "StartDateTime": at_s[k], "EndDateTime": end_s[k],
                               "SystemModstamp": event_stamp_s[k], "IsDeleted": False})
            else:
                title, kind = names.TASK_KINDS[subject[k] % len(names.TASK_KINDS)]
                tasks.append(self._task(common, title, kind, "Completed", "High" if high_priority[k] else "Normal",
                                        day_s[k], names.TASK_DESCRIPTIONS[description[k]],
                                        at_s[k], edited_s[k]))
        tasks.extend(self._open_todos(chunk, ids, quiet, rng))
        self._files["task"].write(self._ids_assigned("00T", tasks))
        self._files["event"].write(self._ids_assigned("00U", events))

    def _open_todos(self, chunk: Chunk, ids: np.ndarray, quiet: np.ndarray,
                    rng: np.random.Generator) -> list[dict]:
        base, window = self._base, self._base.window
        has_todo = (rng.random(len(ids)) < 0.15) & (quiet == 0)
        due = window.end_day + rng.integers(0, 15, size=len(ids))
        created = np.maximum(window.now - rng.integers(HOUR, 7 * DAY, size=len(ids)), base.created[ids] + HOUR)
        due_s, created_s = wire.iso_dates(due), wire.salesforce_datetimes(created)
        todos = []
        for c in np.flatnonzero(has_todo).tolist():
            a = int(ids[c])
            common = {"AccountId": self._account_ids[a], "WhatId": self._account_ids[a],
                      "OwnerId": self._user_ids[base.owner[a]]}
            todos.append(self._task(common, "Prepare success plan", "Other", "Not Started", "Normal",
                                    due_s[c], "Draft goals and milestones for the next quarter.",
                                    created_s[c], created_s[c]))
        return todos

    def _task(self, common: dict, subject: str, kind: str, status: str, priority: str, day: str,
              description: str, created: str, modstamp: str) -> dict:
        return {"Id": self._serial_of("00T"), **common, "Subject": subject, "Type": kind, "Status": status,
                "Priority": priority, "ActivityDate": day, "Description": description,
                "CS_External_Id__c": None,  # set only on Tasks the platform's plays create
                "CreatedDate": created, "SystemModstamp": modstamp, "IsDeleted": False}


def _format_modstamps(records: list[dict]) -> list[dict]:
    """Format the epoch-second SystemModstamp of many records in one vectorised call."""
    for record, stamp in zip(records, wire.salesforce_datetimes([r["SystemModstamp"] for r in records])):
        record["SystemModstamp"] = stamp
    return records
