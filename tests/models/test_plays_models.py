"""The dbt side of plays (issue 16): what account_segments gives a play to address
and explain its message, the two new segments, and the models that trace every
firing the play engine records in `plays.play_firings` - the automated rows of
account_activities, play_outcomes and play_effectiveness.

The shared warehouse was built without plays.play_firings (a fresh warehouse: no
play has run), so the models that read it must build empty there. A private copy
then gets a firings table written the way the engine writes it (through the
Warehouse resource) with decisions on past days of the generated history, sent and
not, and is rebuilt; the expected figures are computed here in pandas from
health_score_history, independently of the SQL.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import sqlglot
import yaml

from cs_platform.resources.warehouse import DuckDBWarehouse
from tests.models.support import AS_OF, DBT_DIR, dbt, vars_arg

SOURCE_YAML = DBT_DIR / "models" / "staging" / "_plays_sources.yml"
FIRINGS_READERS = {"account_activities", "int_play_entries_scored", "int_play_comparisons_matched",
                   "play_outcomes", "play_effectiveness"}
NOT_ACTED = ("suppressed_cooldown", "suppressed_open_task", "baseline")
YELLOW, RISK = "usage_health_yellow", "renewal_at_risk"


def firing_columns() -> dict[str, str]:
    source = yaml.safe_load(SOURCE_YAML.read_text())["sources"][0]
    table = next(t for t in source["tables"] if t["name"] == "play_firings")
    return {c["name"]: c["data_type"] for c in table["columns"]}


def days_before(days: int) -> dt.date:
    return AS_OF - dt.timedelta(days=days)


# --------------------------------------------------------------------------- the synthetic firings

def synthetic_firings(accounts: list[str]) -> pd.DataFrame:
    """Decisions of three plays on past days of the history: sent ones with 28 days of
    history after them, with 14 only, with none yet; the not-acted entries around them
    (some of them traps: the firing's own account, another segment, an entry a play
    acted on the same day, one recorded by two plays, one 20 days away); and decisions
    that are no activity at all (failed, pending, in flight)."""
    a = accounts
    rows: list[dict] = []

    def firing(play, level, segment, account, event, status, days, message=None):
        day = days_before(days)
        sent = status == "sent"
        rows.append({
            "firing_id": f"{play}-{account}-{event}-{day.isoformat()}", "play": play, "level": level,
            "segment_key": segment, "account_id": account, "event": event, "status": status, "event_date": day,
            "detected_at": dt.datetime.combine(day, dt.time(6, 0)),
            "sent_at": dt.datetime.combine(day, dt.time(6, 5)) if sent else None,
            "attempts": 1 if status in ("sent", "failed", "in_flight") else 0,
            "recipient": "#cs-alerts" if level == "alert" else "owner:csm@example.com",
            "message": message or (f"*{play}*: {account} entered {segment}\nUsage health 61" if sent else None),
            "destination_ref": (f"task-{play}-{account}" if level == "task" else "1767225600.000100") if sent else None,
            "error": "channel_not_found" if status == "failed" else None, "run_id": f"run-{days}",
        })

    # Acted on: yellow_alert at 70 / 62 / 50 days (28 days of history follow), 20 (14 only), 4 (none).
    for account, days in ((a[0], 70), (a[1], 62), (a[2], 50), (a[3], 20), (a[4], 4)):
        firing("yellow_alert", "alert", YELLOW, account, "entered", "sent", days)
    # Not acted on, in the same segment, around those days.
    for k, days in enumerate((75, 72, 68, 66, 64, 60, 58, 55, 52, 48, 45, 40, 24, 18, 15, 6, 3)):
        firing("yellow_alert", "alert", YELLOW, a[10 + k], "entered", NOT_ACTED[k % 3], days)
    firing("yellow_alert", "alert", YELLOW, a[0], "entered", "suppressed_cooldown", 64)  # a[0]: not its own comparison
    firing("yellow_task", "task", YELLOW, a[10], "entered", "suppressed_open_task", 75)  # a[10] again: counted once
    # a[11] at 72 days: suppressed by one play, acted on by another: not comparable.
    firing("yellow_task", "task", YELLOW, a[11], "entered", "sent", 72, message="Review usage\nDue in 7 days")
    firing("yellow_alert", "alert", YELLOW, a[40], "entered", "baseline", 92)  # 22 days from the nearest firing
    firing("risk_task", "task", RISK, a[41], "entered", "baseline", 70)  # another segment
    firing("risk_task", "task", RISK, a[42], "entered", "sent", 30, message="Renewal at risk: call the champion")
    # Decided but not sent: no activity, no outcome, no comparison.
    firing("yellow_alert", "alert", YELLOW, a[50], "entered", "failed", 66)
    firing("yellow_alert", "alert", YELLOW, a[51], "entered", "pending", 2)
    firing("yellow_alert", "alert", YELLOW, a[52], "entered", "in_flight", 2)
    # An exit reported to Slack: an activity, not an outcome.
    firing("yellow_alert", "alert", YELLOW, a[1], "exited", "sent", 30, message=f"*yellow_alert*: {a[1]} left")
    return pd.DataFrame(rows, columns=list(firing_columns()))


# --------------------------------------------------------------------------- expected figures, in pandas

def expected_outcomes(firings: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    scores = history.set_index(["account_id", "score_date"])
    entered = firings[firings.event == "entered"]

    def score_of(account, day, column):
        key = (account, pd.Timestamp(day))
        return scores.at[key, column] if key in scores.index else None

    def change(account, day, column, days):
        now = score_of(account, day, column)
        later = score_of(account, day + dt.timedelta(days=days), column)
        return None if now is None or later is None or pd.isna(now) or pd.isna(later) else later - now

    acted = entered[entered.status == "sent"]
    acted_days = set(zip(acted.segment_key, acted.account_id, acted.event_date))
    comparable = {(r.segment_key, r.account_id, r.event_date) for r in entered.itertuples()
                  if r.status in NOT_ACTED} - acted_days
    rows = []
    for f in acted.itertuples():
        scored = f.event_date - dt.timedelta(days=1)
        row = {"firing_id": f.firing_id, "play": f.play, "segment_key": f.segment_key, "account_id": f.account_id,
               "has_28d_follow_up": (f.account_id, pd.Timestamp(scored + dt.timedelta(days=28))) in scores.index}
        for score in ("usage_health", "renewal_likelihood"):
            column = f"{score}_score"
            row[f"{score}_score_at_event"] = score_of(f.account_id, scored, column)
            row[f"{score}_score_after_14d"] = score_of(f.account_id, scored + dt.timedelta(days=14), column)
            row[f"{score}_score_after_28d"] = score_of(f.account_id, scored + dt.timedelta(days=28), column)
            row[f"{score}_change_28d"] = change(f.account_id, scored, column, 28)
        matched = sorted((account, day) for segment, account, day in comparable
                         if segment == f.segment_key and account != f.account_id
                         and abs((day - f.event_date).days) <= 14)
        row["comparison"] = matched
        row["comparison_entries"] = len(matched)
        for score in ("usage_health", "renewal_likelihood"):
            changes = [c for account, day in matched
                       if (c := change(account, day - dt.timedelta(days=1), f"{score}_score", 28)) is not None]
            row[f"comparison_{score}_changes"] = changes
            row[f"comparison_median_{score}_change_28d"] = statistics.median(changes) if changes else None
        rows.append(row)
    return pd.DataFrame(rows).set_index("firing_id")


def expected_effectiveness(outcomes: pd.DataFrame, history: pd.DataFrame, firings: pd.DataFrame) -> dict:
    scores = history.set_index(["account_id", "score_date"])

    def change(account, day, column):
        before = (account, pd.Timestamp(day - dt.timedelta(days=1)))
        after = (account, pd.Timestamp(day + dt.timedelta(days=27)))
        if before not in scores.index or after not in scores.index:
            return None
        value = scores.at[after, column] - scores.at[before, column]
        return None if pd.isna(value) else value

    result = {}
    for play in sorted(set(firings[firings.event == "entered"].play)):
        mine = outcomes[outcomes.play == play]
        pooled = sorted({entry for entries in mine["comparison"] for entry in entries})
        usage = mine["usage_health_change_28d"].dropna()
        pooled_usage = [c for account, day in pooled if (c := change(account, day, "usage_health_score")) is not None]
        result[play] = {
            "firings": len(mine),
            "firings_with_28d_follow_up": int(mine["has_28d_follow_up"].sum()),
            "share_improved_28d": (usage > 0).mean() if len(usage) else None,
            "median_usage_health_change_28d": usage.median() if len(usage) else None,
            "comparison_entries": len(pooled),
            "comparison_median_usage_health_change_28d": statistics.median(pooled_usage) if pooled_usage else None,
        }
    return result


# --------------------------------------------------------------------------- fixtures

class Copy:
    def __init__(self, built, folder: Path):
        self.built, self.path, self.target = built, built.copy_to(folder / "warehouse"), folder / "target"

    def query(self, sql: str) -> pd.DataFrame:
        with duckdb.connect(str(self.path), read_only=True) as con:
            return con.execute(sql).df()

    def build(self, *select: str) -> None:
        dbt(["build", "--select", *select, *vars_arg()], duckdb_path=self.path, target_path=self.target,
            reuse_parse_of=self.built)


@pytest.fixture(scope="module")
def played(built, tmp_path_factory):
    """The built warehouse with plays.play_firings written as the engine writes it, rebuilt."""
    wh = Copy(built, tmp_path_factory.mktemp("plays"))
    accounts = sorted(wh.query("select distinct account_id from marts.health_score_history")["account_id"])
    firings = synthetic_firings(accounts)
    DuckDBWarehouse(path=str(wh.path)).write("plays.play_firings", firings, firing_columns(),
                                             key_columns=["firing_id"])
    wh.build("account_activities", "int_play_entries_scored+")
    history = wh.query("select account_id, score_date, usage_health_score, renewal_likelihood_score "
                       "from marts.health_score_history")
    history["score_date"] = pd.to_datetime(history["score_date"])
    return wh, firings, history


def _none(value):
    return None if value is None or pd.isna(value) else value


# --------------------------------------------------------------------------- a fresh warehouse

def test_a_fresh_warehouse_without_firings_builds_the_play_models_empty(built):
    assert built.query("select count(*) as n from information_schema.tables "
                       "where table_schema = 'plays'")["n"].iloc[0] == 0
    for model in ("play_outcomes", "play_effectiveness", "int_play_entries_scored", "int_play_comparisons_matched"):
        schema = "intermediate" if model.startswith("int_") else "marts"
        assert built.query(f"select count(*) as n from {schema}.{model}")["n"].iloc[0] == 0, model
    activities = built.query("select activity_source, count(*) as n from marts.account_activities group by 1")
    assert set(activities["activity_source"]) == {"salesforce_task", "salesforce_event"}
    # The empty relation is typed: the marts have real types, not NULL columns.
    types = built.query("select column_name, data_type from information_schema.columns "
                        "where table_schema = 'intermediate' and table_name = 'int_play_entries_scored'")
    types = dict(zip(types["column_name"], types["data_type"]))
    assert (types["event_date"], types["sent_at"], types["play"]) == ("DATE", "TIMESTAMP", "VARCHAR")


def test_the_firings_contract_is_the_engines(built):
    """The source's columns are those the play engine writes, in its order."""
    engine = pytest.importorskip("cs_platform.activation.plays.engine")
    assert firing_columns() == engine.FIRING_COLUMNS


def test_nothing_upstream_of_the_segments_reads_the_firings(built):
    """Plays start from account_segments and write the firings: a model upstream of
    the segments reading them would make a cycle."""
    manifest = json.loads((built.target_path / "manifest.json").read_text())
    children = manifest["child_map"]
    source = "source.cs_platform.plays.play_firings"
    readers, todo = set(), [source]
    while todo:
        for child in children.get(todo.pop(), []):
            if child.startswith("model.") and child not in readers:
                readers.add(child)
                todo.append(child)
    assert {r.split(".")[-1] for r in readers} == FIRINGS_READERS
    node = manifest["sources"][source]
    assert node["config"]["meta"]["dagster"]["asset_key"] == ["play", "firings"]


# --------------------------------------------------------------------------- segments

def test_segments_carry_what_a_play_addresses_and_explains_with(built):
    segments = built.query("select * from marts.account_segments")
    accounts = built.query("select * from marts.account_360 where lifecycle_status = 'active'").set_index("account_id")
    assert set(segments["account_id"]) <= set(accounts.index)
    assert (pd.to_datetime(segments["as_of_date"]).dt.date == AS_OF).all()
    for column in ("salesforce_account_id", "owner_email", "usage_health_score", "usage_health_band",
                   "renewal_likelihood_score", "renewal_likelihood_band", "usage_health_change_28d",
                   "usage_health_top_dropping_component", "renewal_date", "days_until_renewal"):
        mine = segments.set_index(["account_id", "segment_key"])[column]
        theirs = accounts.loc[mine.index.get_level_values(0), column].to_numpy()
        assert ((mine.to_numpy() == theirs) | (mine.isna().to_numpy() & pd.isna(theirs))).all(), column
    synced = built.query("select account_id, report_url from marts.activation_salesforce_accounts")
    urls = segments.merge(synced, on="account_id", suffixes=("", "_synced"))
    assert len(urls) > 0 and (urls["report_url"] == urls["report_url_synced"]).all()


def test_the_owners_lead_is_the_owners_salesforce_manager(built):
    users = pd.read_json(built.sample_dir / "salesforce" / "User.jsonl", lines=True).set_index("Id")
    segments = built.query("select owner_user_id, owner_lead_user_id, owner_lead_name, owner_lead_email "
                           "from marts.account_segments")
    assert segments["owner_lead_user_id"].notna().all()  # every CSM has a lead
    manager = users.loc[segments["owner_user_id"], "ManagerId"].to_numpy()
    assert (segments["owner_lead_user_id"].to_numpy() == manager).all()
    leads = users.loc[segments["owner_lead_user_id"]]
    assert (leads["Title"] == "CS Lead").all()
    assert (segments["owner_lead_email"].to_numpy() == leads["Email"].str.lower().to_numpy()).all()
    assert (segments["owner_lead_name"].to_numpy() == leads["Name"].to_numpy()).all()
    staged = built.query("select salesforce_user_id, manager_user_id from staging.stg_salesforce__users")
    assert dict(zip(staged.salesforce_user_id, staged.manager_user_id.where(staged.manager_user_id.notna(), None))) \
        == {k: (v if isinstance(v, str) else None) for k, v in users["ManagerId"].items()}


def test_usage_health_yellow_is_the_confirmed_yellow_band(built):
    segment = built.query(f"select account_id, detail from marts.account_segments where segment_key = '{YELLOW}'")
    yellow = built.query("select account_id, usage_health_score from marts.account_360 "
                         "where lifecycle_status = 'active' and usage_health_band = 'yellow'")
    assert len(yellow) > 0 and set(segment["account_id"]) == set(yellow["account_id"])
    detail = segment.merge(yellow, on="account_id")
    assert all(d.startswith(f"usage health {s} (yellow)") for d, s in zip(detail.detail, detail.usage_health_score))


def test_renewal_at_risk_is_exactly_who_gets_a_renewal_risk_task(built):
    segment = built.query("select account_id, salesforce_account_id, owner_user_id, detail "
                          f"from marts.account_segments where segment_key = '{RISK}'")
    tasks = built.query("select salesforce_account_id, owner_id from marts.activation_salesforce_renewal_risk_tasks")
    assert len(tasks) > 0
    assert sorted(zip(segment.salesforce_account_id, segment.owner_user_id)) == \
        sorted(zip(tasks.salesforce_account_id, tasks.owner_id))
    reasons = built.query("select account_id, renewal_date, risk_reasons from marts.renewal_list")
    reasons = reasons.set_index("account_id")
    for row in segment.itertuples():
        renewal = pd.Timestamp(reasons.at[row.account_id, "renewal_date"]).date().isoformat()
        assert row.detail.startswith(f"renews {renewal} (in ") and row.detail.endswith(
            reasons.at[row.account_id, "risk_reasons"]), row.detail
        assert "\n" not in row.detail


# --------------------------------------------------------------------------- activities

def test_sent_firings_are_automated_activities_and_nothing_else_is(played):
    wh, firings, _ = played
    activities = wh.query("select * from marts.account_activities where activity_source = 'play'")
    sent = firings[firings.status == "sent"]
    assert sorted(activities["activity_id"]) == sorted(sent["firing_id"])  # exits too; no failed or suppressed
    rows = activities.set_index("activity_id").loc[sent["firing_id"]]
    assert (rows["activity_type"].to_numpy() == ("play_" + sent["level"]).to_numpy()).all()
    assert (rows["play"].to_numpy() == sent["play"].to_numpy()).all()
    assert (pd.to_datetime(rows["activity_date"]).dt.date.to_numpy()
            == pd.to_datetime(sent["sent_at"]).dt.date.to_numpy()).all()
    assert (rows["subject"].to_numpy() == sent["message"].str.split("\n").str[0].to_numpy()).all()
    assert (rows["description"].to_numpy() == sent["message"].to_numpy()).all()
    assert rows["is_automated"].all() and (rows["origin"] == "automated").all() and not rows["is_touch"].any()
    tasks = rows[rows["activity_type"] == "play_task"]
    assert len(tasks) == 2 and (tasks["cs_external_id"].to_numpy()
                                == sent.set_index("firing_id").loc[tasks.index, "destination_ref"].to_numpy()).all()
    assert rows["account_name"].notna().all()
    # The Salesforce rows are as they were.
    before = wh.built.query("select count(*) as n from marts.account_activities")["n"].iloc[0]
    after = wh.query("select count(*) as n from marts.account_activities where activity_source <> 'play'")["n"].iloc[0]
    assert before == after


# --------------------------------------------------------------------------- outcomes

def test_play_outcomes_has_a_row_per_sent_entry_with_the_scores_of_its_days(played):
    wh, firings, history = played
    outcomes = wh.query("select * from marts.play_outcomes").set_index("firing_id")
    expected = expected_outcomes(firings, history)
    assert sorted(outcomes.index) == sorted(expected.index)
    assert len(outcomes) == 7  # 5 yellow_alert, 1 yellow_task, 1 risk_task: no exits, no failures
    for column in ("usage_health_score_at_event", "usage_health_score_after_14d", "usage_health_score_after_28d",
                   "renewal_likelihood_score_at_event", "renewal_likelihood_score_after_14d",
                   "renewal_likelihood_score_after_28d", "usage_health_change_28d", "renewal_likelihood_change_28d",
                   "has_28d_follow_up", "comparison_entries", "comparison_median_usage_health_change_28d",
                   "comparison_median_renewal_likelihood_change_28d"):
        for firing_id in expected.index:
            assert _none(outcomes.at[firing_id, column]) == pytest.approx(_none(expected.at[firing_id, column])), \
                (firing_id, column)
    # The scores are those the play saw: the day before its as-of day.
    day_before = pd.to_datetime(outcomes["event_date"]) - pd.Timedelta(days=1)
    assert (pd.to_datetime(outcomes["scored_on"]) == day_before).all()


def test_follow_ups_are_null_until_history_reaches_them(played):
    wh, firings, _ = played
    outcomes = wh.query("select * from marts.play_outcomes").set_index("account_id")
    accounts = firings.set_index("firing_id").loc[lambda f: (f.play == "yellow_alert") & (f.status == "sent")
                                                  & (f.event == "entered")]
    old, recent, newest = (accounts.loc[accounts.event_date == days_before(d), "account_id"].iloc[0]
                           for d in (50, 20, 4))
    assert outcomes.at[old, "has_28d_follow_up"] and pd.notna(outcomes.at[old, "usage_health_score_after_28d"])
    assert pd.notna(outcomes.at[recent, "usage_health_score_after_14d"])
    for account, nulls in ((recent, ["usage_health_score_after_28d", "usage_health_change_28d",
                                     "renewal_likelihood_score_after_28d", "usage_health_change_28d_vs_comparison"]),
                           (newest, ["usage_health_score_after_14d", "usage_health_change_14d",
                                     "usage_health_score_after_28d", "renewal_likelihood_change_14d"])):
        assert not outcomes.at[account, "has_28d_follow_up"], account
        assert outcomes.loc[account, nulls].isna().all(), (account, outcomes.loc[account, nulls])
    assert pd.notna(outcomes.at[newest, "usage_health_score_at_event"])


def test_the_comparison_counts_only_comparable_entries_once(played):
    wh, firings, _ = played
    first = firings[(firings.play == "yellow_alert") & (firings.event_date == days_before(70))
                    & (firings.status == "sent")].firing_id.iloc[0]
    pairs = wh.query(f"select * from intermediate.int_play_comparisons_matched where firing_id = '{first}'")
    matched = set(zip(pairs.comparison_account_id, pd.to_datetime(pairs.comparison_event_date).dt.date))
    yellow_not_acted = firings[(firings.segment_key == YELLOW) & firings.status.isin(NOT_ACTED)]
    near = {(r.account_id, r.event_date) for r in yellow_not_acted.itertuples()
            if abs((r.event_date - days_before(70)).days) <= 14}
    owner = firings.set_index("firing_id").at[first, "account_id"]
    acted = firings[(firings.status == "sent") & (firings.event == "entered")]
    acted_same_day = {(r.account_id, r.event_date) for r in acted.itertuples()}
    assert matched == {e for e in near if e[0] != owner} - acted_same_day
    assert (owner, days_before(64)) not in matched  # the firing's own account
    assert len(pairs) == len(matched)  # an entry two plays recorded counts once
    assert not {acc for acc, _ in matched} & set(firings[firings.segment_key == RISK].account_id)
    assert all(abs((day - days_before(70)).days) <= 14 for _, day in matched)


def test_play_effectiveness_matches_the_outcomes_figures(played):
    wh, firings, history = played
    effectiveness = wh.query("select * from marts.play_effectiveness").set_index("play")
    expected = expected_effectiveness(expected_outcomes(firings, history), history, firings)
    assert sorted(effectiveness.index) == sorted(expected)
    for play, figures in expected.items():
        for column, value in figures.items():
            assert _none(effectiveness.at[play, column]) == pytest.approx(_none(value)), (play, column)
    alert = effectiveness.loc["yellow_alert"]
    assert alert["firings"] == 5 and alert["firings_with_28d_follow_up"] == 3 and alert["level"] == "alert"
    assert alert["usage_health_change_28d_vs_comparison"] == pytest.approx(
        alert["median_usage_health_change_28d"] - alert["comparison_median_usage_health_change_28d"])


# --------------------------------------------------------------------------- BigQuery

def test_the_empty_firings_form_compiles_for_bigquery(tmp_path, monkeypatch):
    """The offline BigQuery compile shows the production form (the table exists);
    the empty form, what a fresh BigQuery warehouse runs, must be valid BigQuery too."""
    monkeypatch.setenv("BIGQUERY_DATASET_PREFIX", "cs_")
    target = tmp_path / "target"
    dbt(["compile", "--target", "bigquery-offline", "--no-introspect", "--no-populate-cache",
         "--select", *sorted(FIRINGS_READERS), "--indirect-selection", "empty",
         *vars_arg(offline_sources_exist=False)], duckdb_path=tmp_path / "unused.duckdb", target_path=target)
    compiled = {p.stem: p.read_text() for p in (target / "compiled").rglob("*.sql")}
    assert set(compiled) == FIRINGS_READERS
    for name, sql in compiled.items():
        sqlglot.parse(sql, read="bigquery", error_level=sqlglot.ErrorLevel.RAISE)
        if name in ("account_activities", "int_play_entries_scored"):
            assert "`cs_plays`.`play_firings` does not exist yet" in sql and "where 1 = 0" in sql, name
