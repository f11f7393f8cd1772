"""One coherent customer base: every reference points at a record that exists."""

import pandas as pd

from tests.sample_data.conftest import AS_OF


def test_salesforce_references(sample):
    users = set(sample.frame("salesforce/user").Id)
    accounts = sample.frame("salesforce/account")
    assert set(accounts.OwnerId) <= users
    for name in ("task", "event"):
        activity = sample.frame(f"salesforce/{name}")
        assert set(activity.OwnerId) <= users, name
        assert (activity.WhatId == activity.AccountId).all(), name
    for name in ("contact", "opportunity", "contract", "task", "event"):
        assert set(sample.frame(f"salesforce/{name}").AccountId) <= set(accounts.Id), name


def test_csms_report_to_cs_leads_who_report_to_the_head_of_cs(sample):
    users = sample.frame("salesforce/user").set_index("Id")
    owners = set(sample.frame("salesforce/account").OwnerId)
    managers = users.ManagerId.where(users.ManagerId.notna(), None)
    assert set(managers.dropna()) <= set(users.index)
    head = users.index[users.Title == "Head of Customer Success"]
    leads = users.index[users.Title == "CS Lead"]
    assert len(head) == 1 and managers[head[0]] is None
    assert len(leads) >= 2 and (managers[leads] == head[0]).all()
    assert not owners & (set(leads) | set(head))  # leads and their head own no accounts
    csms = users.index.difference(leads.union(head))
    assert owners <= set(csms) and managers[csms].isin(leads).all()
    assert managers[csms].nunique() == len(leads)  # every lead has a team
    assert users.Email.is_unique


def test_every_tool_knows_the_same_accounts(sample):
    product = set(sample.table("accounts").account_id)
    assert set(sample.frame("salesforce/account").Product_Account_Id__c) == product
    assert set(sample.frame("hubspot/companies").properties__product_account_id) == product
    assert set(sample.frame("freshdesk/companies").custom_fields__cf_product_account_id) == product
    for key, column in (("karte/nps_responses", "account_id"), ("karte/tour_views", "account_id"),
                        ("airtable/feature_requests", "fields__AccountId"),
                        ("google_analytics/page_views_daily", "customEvent_account_id")):
        assert set(sample.frame(key)[column]) <= product, key
    names = sample.table("accounts").set_index("account_id").name
    sf = sample.frame("salesforce/account").set_index("Product_Account_Id__c").Name
    assert (sf[names.index] == names).all()


def test_freshdesk_references(sample):
    tickets = sample.frame("freshdesk/tickets")
    assert set(tickets.company_id) <= set(sample.frame("freshdesk/companies").id)
    ratings = sample.frame("freshdesk/satisfaction_ratings").merge(
        tickets, left_on="ticket_id", right_on="id", suffixes=("", "_ticket"))
    assert len(ratings) == len(sample.records("freshdesk/satisfaction_ratings"))
    assert ratings.status.isin([4, 5]).all()  # only resolved tickets are rated
    assert (ratings.user_id == ratings.requester_id).all()
    assert set(ratings.ratings__default_question) <= {103, 100, -103}


def test_the_same_people_in_every_tool(sample):
    users = sample.table("users")
    contacts = sample.frame("salesforce/contact")
    account_of = sample.frame("salesforce/account").set_index("Id").Product_Account_Id__c
    product_login = set(zip(users.account_id, users.email))
    assert set(zip(account_of[contacts.AccountId], contacts.Email)) <= product_login
    hubspot = sample.frame("hubspot/contacts")
    assert set(hubspot.properties__associatedcompanyid) <= set(sample.frame("hubspot/companies").id)
    assert set(contacts[contacts.Is_Champion__c].Email) <= set(hubspot.properties__email) <= set(contacts.Email)
    assert set(sample.frame("hubspot/email_events").recipient) <= set(hubspot.properties__email)
    for key in ("karte/nps_responses", "karte/tour_views"):
        frame = sample.frame(key)
        assert set(zip(frame.account_id, frame.user_id)) <= set(zip(users.account_id, users.user_id)), key


def test_usage_is_consistent_with_users_and_sign_up(sample):
    usage = sample.table("feature_usage_daily")
    users = sample.table("users")
    accounts = sample.table("accounts").set_index("account_id")
    assert (usage.usage_date >= accounts.created_at[usage.account_id].dt.normalize().values).all()
    assert (usage.usage_date < pd.Timestamp(AS_OF)).all()
    assert (usage.active_users > 0).all() and (usage.event_count >= usage.active_users).all()
    session = usage[usage.feature_key == "session"].set_index(["account_id", "usage_date"]).active_users
    features = usage[usage.feature_key != "session"]
    assert (features.active_users.values <= session[list(zip(features.account_id, features.usage_date))].values).all()
    # DAU never exceeds the users who existed that day.
    for (account, day), dau in session.sample(300, random_state=0).items():
        mine = users[users.account_id == account]
        assert dau <= (mine.created_at < day + pd.Timedelta(days=1)).sum()


def test_users_and_setup_steps_follow_sign_up(sample):
    users = sample.table("users")
    accounts = sample.table("accounts").set_index("account_id")
    assert (users.created_at >= accounts.created_at[users.account_id].values).all()
    seen = users.dropna(subset=["last_active_at"])
    assert (seen.last_active_at >= seen.created_at).all()
    assert (users.updated_at >= users.created_at).all()
    steps = sample.table("setup_steps")
    done = steps.dropna(subset=["completed_at"])
    assert (done.completed_at >= accounts.created_at[done.account_id].values).all()
    assert (done.updated_at == done.completed_at).all()


def test_last_active_matches_daily_active_users(sample):
    """A user last active on a day was counted that day; none is active after the last day."""
    users = sample.table("users").dropna(subset=["last_active_at"])
    usage = sample.table("feature_usage_daily")
    session = usage[usage.feature_key == "session"].set_index(["account_id", "usage_date"]).active_users
    in_window = users[users.last_active_at >= session.index.get_level_values(1).min()]
    last_day = in_window.last_active_at.dt.normalize()
    assert all((a, d) in session.index for a, d in zip(in_window.account_id, last_day))
    latest = in_window.groupby("account_id").last_active_at.max().dt.normalize()
    last_usage = session.reset_index().groupby("account_id").usage_date.max()
    assert (latest == last_usage[latest.index]).all()
