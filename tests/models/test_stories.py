"""The planted stories of the generated customer base come out of the models:
issue 4's acceptance, on a warehouse built by dbt from the sample data."""

import datetime as dt

import pandas as pd
import pytest

from tests.models.support import AS_OF

USAGE_COMPONENTS = {"active_user_ratio", "key_feature_adoption", "usage_trend", "setup_completion",
                    "support_burden", "help_site_engagement"}


def in_list(ids) -> str:
    return ", ".join(f"'{i}'" for i in ids)


def accounts(built, story: str) -> pd.DataFrame:
    ids = built.truth[story]
    assert ids, f"the sample has no {story} accounts"
    frame = built.query(f"select * from marts.account_360 where account_id in ({in_list(ids)})")
    assert len(frame) == len(ids)
    return frame.set_index("account_id")


def test_scores_describe_the_last_complete_day(built):
    dates = built.query("select distinct score_date from marts.account_360")["score_date"].tolist()
    assert [pd.Timestamp(d).date() for d in dates] == [AS_OF - dt.timedelta(days=1)]


def test_declining_accounts_turn_yellow_or_red_and_the_changes_name_usage_components(built):
    declining = accounts(built, "declining_usage")
    assert set(declining["usage_health_band"]) <= {"yellow", "red"}, declining["usage_health_band"]
    assert (declining["usage_health_change_28d"] < 0).all()

    changes = built.query(
        "select * from marts.health_score_changes where score_name = 'usage_health' "
        f"and account_id in ({in_list(declining.index)})").set_index("account_id")
    assert set(changes.index) == set(declining.index), "every declining account's band worsened"
    for account_id, row in changes.iterrows():
        assert row["band_now"] in ("yellow", "red")
        assert row["top_dropping_component"] in USAGE_COMPONENTS, account_id
        named = {part.split(" (")[0] for part in row["dropping_components_28d"].split(", ")}
        assert {"active_user_ratio", "usage_trend"} & named, (account_id, row["dropping_components_28d"])
        assert pd.Timestamp(row["worse_since_date"]).date() > dt.date.fromisoformat(
            built.truth["declining_usage_since"]), "worse only after the decline began"


def test_seat_limit_accounts_and_only_they_carry_the_upsell_signal(built):
    upsell = set(built.query("select account_id from marts.account_360 where has_upsell_signal")["account_id"])
    assert upsell == set(built.truth["seat_limit_upsell"])


def test_good_usage_churn_risk_scores_well_on_usage_and_low_on_renewal(built):
    churn = accounts(built, "good_usage_churn_risk")
    assert (churn["usage_health_band"] == "green").all(), churn["usage_health_score"]
    assert (churn["renewal_likelihood_band"] == "red").all(), churn["renewal_likelihood_score"]
    assert (churn["usage_health_score"] - churn["renewal_likelihood_score"] >= 40).all()
    assert churn["has_open_escalation"].all() and churn["has_risk_signal"].all()


def test_sudden_drops_are_flagged_on_the_day_they_start(built):
    drops = built.truth["sudden_drop_dates"]
    anomalies = built.query(
        "select account_id, anomaly_date, is_first_day, severity from marts.usage_anomalies "
        f"where anomaly_type = 'drop' and account_id in ({in_list(drops)})")
    for account_id, day in drops.items():
        mine = anomalies[anomalies["account_id"] == account_id]
        days = {pd.Timestamp(d).date() for d in mine["anomaly_date"]}
        start = dt.date.fromisoformat(day)
        assert start in days, f"{account_id}: no drop on {start}, flagged {sorted(days)}"
        first = mine[mine["anomaly_date"].map(lambda d: pd.Timestamp(d).date()) == start].iloc[0]
        assert first["is_first_day"] and first["severity"] == "high"
        assert not any(start - dt.timedelta(days=7) <= d < start for d in days), "flagged before it started"


def test_healthy_accounts_are_green_on_both_scores(built):
    healthy = accounts(built, "healthy")
    assert (healthy["usage_health_band"] == "green").all()
    assert (healthy["renewal_likelihood_band"] == "green").all()


def test_setup_incomplete_accounts_and_only_they_are_flagged(built):
    flagged = built.query("select account_id from marts.setup_status where is_setup_incomplete")
    assert set(flagged["account_id"]) == set(built.truth["setup_incomplete"])
    segment = built.query(
        "select account_id from marts.account_segments where segment_key = 'setup_incomplete_after_30d'")
    assert set(segment["account_id"]) == set(built.truth["setup_incomplete"])


def test_stale_csm_impressions_weigh_nothing_and_are_flagged(built):
    declining = built.query(
        "select * from marts.renewal_likelihood "
        f"where account_id in ({in_list(built.truth['declining_usage'])})")
    # Their CSM's last word is a "Good" 100-200 days old: past the 90-day limit.
    assert declining["is_csm_impression_stale"].all()
    assert declining["csm_impression_score"].isna().all()
    assert not declining["missing_components"].fillna("").str.contains("csm_impression").any()


def test_missing_components_are_listed_and_the_rest_reweighted(built):
    history = built.query(
        "select * from marts.health_score_history where usage_trend_value is null "
        "and usage_health_score is not null limit 50")
    assert not history.empty, "early days of history have no 56-day trend"
    assert history["usage_health_missing_components"].str.contains("usage_trend").all()
    weights = built.query("select component_name, weight from seeds.health_score_components") \
        .set_index("component_name")["weight"]
    for _, row in history.iterrows():
        present = [c for c in USAGE_COMPONENTS if pd.notna(row[f"{c}_score"])]
        expected = sum(weights[c] * row[f"{c}_score"] for c in present) / sum(weights[c] for c in present)
        assert abs(expected - row["usage_health_score"]) <= 1, row["account_id"]


@pytest.mark.parametrize("score", ["usage_health", "renewal_likelihood"])
def test_history_has_one_row_per_account_per_day(built, score):
    gaps = built.query("""
        select account_id, count(*) as days,
               datediff('day', min(score_date), max(score_date)) + 1 as span
        from marts.health_score_history group by 1 having count(*) <> span""")
    assert gaps.empty, gaps
    assert built.query(f"select count(*) as n from marts.health_score_history where {score}_band is null")["n"][0] == 0


def test_activation_models_keep_the_sync_contract(built):
    contract = {
        "activation_salesforce_accounts": [
            "account_id", "salesforce_account_id", "usage_health_score", "usage_health_band",
            "renewal_likelihood_score", "renewal_likelihood_band", "usage_health_change_28d",
            "top_dropping_component", "is_renewal_risk", "has_upsell_signal", "report_url"],
        "activation_hubspot_companies": [
            "product_account_id", "usage_health_band", "renewal_likelihood_band", "is_renewal_risk",
            "has_upsell_signal", "is_setup_incomplete", "renews_within_90_days"],
        "activation_salesforce_renewal_risk_tasks": [
            "task_key", "salesforce_account_id", "owner_id", "subject", "due_date", "priority", "description"],
    }
    for model, columns in contract.items():
        assert list(built.query(f"select * from marts.{model} limit 0").columns) == columns, model

    accounts_ = built.query("select * from marts.activation_salesforce_accounts")
    # The generator's past churners (ground truth "churned") have left the active marts.
    assert len(accounts_) == 200 - len(built.truth["churned"]) and accounts_["account_id"].is_unique
    assert accounts_["report_url"].str.fullmatch(r"https?://.+/A\d{6}\.html").all()
    assert accounts_["usage_health_score"].between(0, 100).all()

    tasks = built.query("select * from marts.activation_salesforce_renewal_risk_tasks")
    renewal_risk = built.query("select * from marts.renewal_list where has_risk_signal")
    assert len(tasks) == len(renewal_risk) > 0
    assert tasks["task_key"].str.fullmatch(r"renewal-risk-A\d{6}-\d{4}-\d{2}-\d{2}").all()
    assert tasks["description"].str.contains("Why it is at risk:").all()
