"""The planted stories hold in the generated data, computed back from the outputs."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from cs_platform.sources.catalog import KEY_FEATURES, SETUP_STEPS
from devkit.sample_data.stories import STORY_NAMES
from tests.sample_data.conftest import ACCOUNTS, AS_OF, DAYS

TODAY = pd.Timestamp(AS_OF)


def days_ago(n: int) -> pd.Timestamp:
    return TODAY - pd.Timedelta(days=n)


def daily(sample, feature: str = "session") -> pd.DataFrame:
    """Active users per account (rows) and day of the history (columns), 0 without a row."""
    usage = sample.table("feature_usage_daily")
    rows = usage[usage.feature_key == feature]
    return (rows.pivot(index="account_id", columns="usage_date", values="active_users")
            .reindex(index=sample.table("accounts").account_id,
                     columns=pd.date_range(days_ago(DAYS), days_ago(1)), fill_value=0)
            .fillna(0))


def sf_accounts(sample) -> pd.DataFrame:
    return sample.frame("salesforce/account").set_index("Product_Account_Id__c")


def nps_scores(sample) -> pd.Series:
    nps = sample.frame("karte/nps_responses")
    return nps.assign(score=nps.score.astype(int)).groupby("account_id").score


def open_escalations(sample) -> set[str]:
    tickets = sample.frame("freshdesk/tickets")
    companies = sample.frame("freshdesk/companies").set_index("id").custom_fields__cf_product_account_id
    urgent = tickets[tickets.status.isin([2, 3]) & (tickets.priority == 4)
                     & tickets.tags.map(lambda tags: "escalation" in tags)]
    return set(companies[urgent.company_id])


def csm_activity_days(sample) -> pd.Series:
    """Latest Task or Event day per product account."""
    ids = sample.frame("salesforce/account").set_index("Id").Product_Account_Id__c
    tasks = sample.frame("salesforce/task")
    events = sample.frame("salesforce/event")
    done = tasks[tasks.Status == "Completed"]
    days = pd.concat([pd.Series(pd.to_datetime(done.ActivityDate).values, index=ids[done.AccountId].values),
                      pd.Series(pd.to_datetime(events.StartDateTime.str[:10]).values,
                                index=ids[events.AccountId].values)])
    return days.groupby(level=0).max()


def setup_done(sample) -> pd.Series:
    steps = sample.table("setup_steps")
    return steps.completed_at.notna().groupby(steps.account_id).sum()


def test_stories_are_disjoint_and_have_three_accounts_or_more(sample):
    members = [a for name in STORY_NAMES for a in sample.truth[name]]
    assert all(len(sample.truth[name]) >= 3 for name in STORY_NAMES)
    assert len(members) == len(set(members))
    assert set(members) <= set(sample.table("accounts").account_id)
    assert len(members) < ACCOUNTS / 2


def test_declining_usage(sample):
    accounts = sample.truth["declining_usage"]
    def earlier_and_recent(frame):  # weeks 8-10 ago, and the last two weeks
        return frame.loc[:, days_ago(70):days_ago(57)].sum(axis=1), frame.loc[:, days_ago(14):].sum(axis=1)

    earlier, recent = earlier_and_recent(daily(sample).loc[accounts])
    assert (recent < 0.6 * earlier).all()
    earlier, recent = earlier_and_recent(sum(daily(sample, f).loc[accounts] for f in KEY_FEATURES))
    assert recent.sum() < 0.6 * earlier.sum()
    ga = sample.frame("google_analytics/page_views_daily")
    help_site = ga[(ga.hostName == "help.example.com") & ga.customEvent_account_id.isin(accounts)]
    when = pd.to_datetime(help_site.date, format="%Y%m%d")
    earlier = help_site.activeUsers[(when >= days_ago(70)) & (when < days_ago(42))].sum()
    assert help_site.activeUsers[when >= days_ago(28)].sum() < 0.8 * earlier
    assert not (csm_activity_days(sample).reindex(accounts) >= days_ago(30)).any()  # none in 30+ days
    assert sample.truth["declining_usage_since"] == (AS_OF - dt.timedelta(days=56)).isoformat()


def test_seat_limit_upsell(sample):
    accounts = sample.truth["seat_limit_upsell"]
    users = sample.table("users")
    limits = sample.table("accounts").merge(sample.table("plans"), on="plan_id").set_index("account_id").seat_limit
    seats = users.groupby("account_id").size().reindex(limits.index, fill_value=0)
    six_weeks_ago = users[users.created_at < days_ago(42)].groupby("account_id").size()
    assert (seats[accounts] >= 0.9 * limits[accounts]).all()
    assert (six_weeks_ago[accounts] >= 0.9 * limits[accounts]).all()  # sustained, not a spike
    others = limits.index.difference(accounts)
    assert (seats[others] < 0.9 * limits[others]).all()  # the signal is the story's alone
    dau = daily(sample).loc[accounts].iloc[:, -42:].sum(axis=1)
    for feature in KEY_FEATURES:
        assert (daily(sample, feature).loc[accounts].iloc[:, -42:].sum(axis=1) >= 0.4 * dau).all(), feature


def test_good_usage_churn_risk(sample):
    accounts = sample.truth["good_usage_churn_risk"]
    scores = nps_scores(sample)
    assert all(len(scores.get_group(a)) >= 1 and scores.get_group(a).max() <= 4 for a in accounts)
    assert open_escalations(sample) == set(accounts)  # and no other account has one
    sf = sf_accounts(sample).loc[accounts]
    assert (sf.CSM_Impression__c == "At Risk").all()
    assert (pd.to_datetime(sf.CSM_Impression_Date__c) >= days_ago(14)).all()
    assert (setup_done(sample)[accounts] == len(SETUP_STEPS)).all()
    users = sample.table("users").groupby("account_id").size()
    weekday_dau = daily(sample).loc[accounts].iloc[:, -28:].T
    weekday_dau = weekday_dau[weekday_dau.index.dayofweek < 5]
    assert (weekday_dau.mean() >= 0.4 * users[accounts]).all()  # healthy usage

    contacts = sample.frame("salesforce/contact")
    champions = contacts[contacts.Is_Champion__c & contacts.AccountId.isin(sf.Id)].Email
    events = sample.frame("hubspot/email_events")
    recent = events[(events.created >= days_ago(60).timestamp() * 1000) & events.recipient.isin(champions)]
    assert (recent.type == "SENT").any()  # still mailed ...
    assert not recent.type.isin(["OPEN", "CLICK"]).any()  # ... but never opens


def test_sudden_drop(sample):
    accounts = sample.truth["sudden_drop"]
    drops = sample.truth["sudden_drop_dates"]
    assert set(drops) == set(accounts)
    dau = daily(sample)
    for account, day in drops.items():
        day = pd.Timestamp(day)
        assert days_ago(10) <= day <= days_ago(4)
        prior_week = dau.loc[account, day - pd.Timedelta(days=7):day - pd.Timedelta(days=1)].mean()
        after = dau.loc[account, day:]
        assert prior_week > 0 and (after < 0.3 * prior_week).all(), account


def test_healthy(sample):
    accounts = sample.truth["healthy"]
    scores = nps_scores(sample)
    assert all(scores.get_group(a).min() >= 9 for a in accounts)
    sf = sf_accounts(sample).loc[accounts]
    assert (sf.CSM_Impression__c == "Good").all()
    assert (pd.to_datetime(sf.CSM_Impression_Date__c) >= days_ago(30)).all()
    assert (setup_done(sample)[accounts] == len(SETUP_STEPS)).all()
    assert (csm_activity_days(sample)[accounts] >= days_ago(21)).all()
    assert not open_escalations(sample) & set(accounts)


def test_setup_incomplete(sample):
    accounts = sample.table("accounts").set_index("account_id")
    young = accounts.index[(accounts.created_at >= days_ago(90)) & (accounts.created_at <= days_ago(30))]
    story = sample.truth["setup_incomplete"]
    assert set(story) <= set(young)
    done = setup_done(sample)
    assert (done[story] < len(SETUP_STEPS) / 2).all()
    assert (done[young.difference(story)] >= len(SETUP_STEPS) / 2).all()  # the signal is the story's alone


def test_renewals_fall_in_every_month_of_the_coming_year(sample):
    contracts = sample.frame("salesforce/contract")
    current = contracts[contracts.Status == "Activated"]
    # Every customer has one contract in force, but those that churned (renewals.py).
    assert current.AccountId.is_unique and len(current) == ACCOUNTS - len(sample.truth["churned"])
    ends = pd.to_datetime(current.EndDate)
    assert ((ends >= TODAY) & (ends <= TODAY + pd.Timedelta(days=365))).all()
    assert set(ends.dt.month) == set(range(1, 13))


def test_contracts_are_back_to_back_with_plan_priced_arr(sample):
    contracts = sample.frame("salesforce/contract").sort_values(["AccountId", "StartDate"])
    sf_ids = sf_accounts(sample).Id
    downgraded = {sf_ids[a] for a, d in sample.truth["renewal_decisions"].items() if d["outcome"] == "downgraded"}
    for account, history in contracts.groupby("AccountId"):
        starts, ends = pd.to_datetime(history.StartDate), pd.to_datetime(history.EndDate)
        assert (starts.iloc[1:].values == (ends.iloc[:-1] + pd.Timedelta(days=1)).values).all()
        # A downgrade (renewals.py) lowered the last contract's ARR.
        assert history.ARR__c.iloc[:-1].nunique() <= 1
        assert (history.ARR__c.iloc[-1] < history.ARR__c.iloc[0]) == (account in downgraded)
    plans = sample.table("accounts").merge(sample.table("plans"), on="plan_id").set_index("account_id")
    sf = sf_accounts(sample).reset_index().set_index("Id").Product_Account_Id__c
    current = contracts[contracts.Status == "Activated"]
    list_price = 12 * plans.monthly_price[sf[current.AccountId]].values
    assert set((current.ARR__c.values / list_price).round(2)) <= {1.0, 0.95, 0.9, 0.85}


@pytest.mark.parametrize("story", STORY_NAMES)
def test_story_accounts_existed_long_enough(sample, story):
    created = sample.table("accounts").set_index("account_id").created_at[sample.truth[story]]
    oldest_allowed = days_ago(30) if story == "setup_incomplete" else days_ago(DAYS + 30)
    assert (created <= oldest_allowed).all()
