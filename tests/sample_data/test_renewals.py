"""The planted past renewal decisions (renewals.py) hold in the generated data: a
base large enough to have every outcome, read back from the written records."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from devkit.sample_data import generate
from tests.sample_data.conftest import AS_OF, SEED, Sample


@pytest.fixture(scope="module")
def renewals_sample(tmp_path_factory) -> Sample:
    return Sample(generate(tmp_path_factory.mktemp("renewals"), accounts=300, seed=SEED, days=120, as_of=AS_OF))


def _decisions(sample: Sample, **match) -> dict[str, dict]:
    return {a: d for a, d in sample.truth["renewal_decisions"].items()
            if all(d[k] == v for k, v in match.items())}


def test_decisions_fall_inside_the_history_with_30_days_of_scores_before(renewals_sample):
    decisions = renewals_sample.truth["renewal_decisions"]
    outcomes = pd.Series([d["outcome"] for d in decisions.values()]).value_counts()
    assert outcomes["renewed"] > outcomes["churned"] >= 5 and outcomes["downgraded"] >= 3
    days = pd.to_datetime([d["renewal_date"] for d in decisions.values()])
    assert (days >= pd.Timestamp(AS_OF - dt.timedelta(days=120 - 30))).all() and (days < pd.Timestamp(AS_OF)).all()
    stories = {a for name in ("healthy", "declining_usage", "sudden_drop", "good_usage_churn_risk",
                              "seat_limit_upsell", "setup_incomplete") for a in renewals_sample.truth[name]}
    assert not stories & set(decisions)  # the stories keep their own ground truth


def test_churned_accounts_lost_their_renewal_and_stopped_using_the_product(renewals_sample):
    sample = renewals_sample
    churned = _decisions(sample, outcome="churned")
    sf = sample.frame("salesforce/account").set_index("Product_Account_Id__c").Id
    contracts, opportunities = sample.frame("salesforce/contract"), sample.frame("salesforce/opportunity")
    accounts = sample.table("accounts").set_index("account_id")
    usage = sample.table("feature_usage_daily")
    for account, decision in churned.items():
        end = decision["renewal_date"]
        mine = contracts[contracts.AccountId == sf[account]]
        assert mine.EndDate.max() == end and (mine.Status == "Expired").all(), account
        lost = opportunities[(opportunities.AccountId == sf[account]) & (opportunities.Type == "Renewal")
                             & (opportunities.StageName == "Closed Lost")]
        assert len(lost) == 1 and lost.CloseDate.iloc[0] <= end, account
        assert not (opportunities.AccountId == sf[account]).where(~opportunities.IsClosed, False).any()
        assert accounts.status[account] == "churned"
        last_use = pd.to_datetime(usage[usage.account_id == account].usage_date).max()
        assert last_use <= pd.Timestamp(end) + pd.Timedelta(days=8), account
    others = accounts.index.difference(list(churned))
    assert (accounts.status[others] == "active").all()


def test_relationship_churners_were_warned_and_the_surprises_were_not(renewals_sample):
    sample = renewals_sample
    nps = sample.frame("karte/nps_responses").assign(score=lambda f: f.score.astype(int))
    impressions = sample.frame("salesforce/account").set_index("Product_Account_Id__c").CSM_Impression__c
    tickets = sample.frame("freshdesk/tickets")
    companies = sample.frame("freshdesk/companies").set_index("custom_fields__cf_product_account_id").id
    for cause, scores, impression in (("relationship", (0, 4), {"At Risk", "Concerned"}),
                                      ("rescued", (0, 4), {"At Risk"}), ("budget_cut", (9, 10), {"Good"})):
        planted = _decisions(sample, cause=cause)
        assert planted, cause
        for account, decision in planted.items():
            end = pd.Timestamp(decision["renewal_date"])
            before = nps[(nps.account_id == account)
                         & pd.to_datetime(nps.responded_at).dt.tz_localize(None).between(
                             end - pd.Timedelta(days=86), end - pd.Timedelta(days=34))]
            assert before.score.between(*scores).sum() >= 3, (cause, account)
            assert impressions[account] in impression, (cause, account)
            escalations = tickets[(tickets.company_id == companies[account])
                                  & tickets.tags.map(lambda tags: "escalation" in tags)]
            if cause != "budget_cut":
                assert len(escalations) > 0, (cause, account)
                assert escalations.status.isin([4, 5]).all()  # resolved: open ones are a story's


def test_the_churn_cause_option_changes_only_what_drives_churn(tmp_path):
    usage = Sample(generate(tmp_path / "usage", accounts=300, seed=SEED, days=120, as_of=AS_OF, churn_cause="usage"))
    assert usage.truth["churn_cause"] == "usage"
    churned = _decisions(usage, outcome="churned")
    assert {d["cause"] for d in churned.values()} == {"usage_fade"}
    assert not usage.truth["churned_while_healthy"] and not usage.truth["renewed_despite_warnings"]
    dau = usage.table("feature_usage_daily").query("feature_key == 'session'")
    for account, decision in churned.items():
        end = pd.Timestamp(decision["renewal_date"])
        days = pd.to_datetime(dau[dau.account_id == account].usage_date)
        users = dau[dau.account_id == account].active_users
        late = users[(days > end - pd.Timedelta(days=20)) & (days <= end)].sum()
        early = users[(days > end - pd.Timedelta(days=100)) & (days <= end - pd.Timedelta(days=80))].sum()
        assert early == 0 or late < 0.6 * early, account  # early is 0 before the history starts
