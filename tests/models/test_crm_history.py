"""Slowly changing CRM fields keep their history, and accounts that are gone leave
the marts a CS team works from.

- A CSM impression changed in Salesforce is dated by the record's SystemModstamp
  (dbt snapshot, timestamp strategy): each day is scored with the impression that
  held on it, by the daily run and by a full rebuild alike.
- An account deleted in Salesforce, or churned in the product, carries its
  lifecycle_status in account_360 and leaves the renewal list, the CSM books, the
  segments and every model a sync writes from.
- A renewal exactly `renewal_window_days` ahead is outside the window of the
  renewal list and of the CSM workload alike (one definition: macros/renewals.sql).

Each test changes the raw tables of a private copy the way the loaders write them
(a row upserted by key, with a new `_loaded_at`) and runs `dbt build` as the daily
job does.
"""

import datetime as dt

import duckdb
import pandas as pd

from tests.models.support import AS_OF, dbt, vars_arg

WINDOW = 120  # dbt_project.yml renewal_window_days
SIGNAL_COLUMNS = ["account_id", "signal_date", "csm_impression", "csm_impression_value", "csm_impression_age_days"]


class Copy:
    """A private copy of the built warehouse, changed and rebuilt by a test."""

    def __init__(self, built, tmp_path):
        self.built = built
        self.path = built.copy_to(tmp_path / "warehouse")
        self.target = tmp_path / "target"

    def query(self, sql: str, params=None) -> pd.DataFrame:
        with duckdb.connect(str(self.path), read_only=True) as con:
            return con.execute(sql, params or []).df()

    def execute(self, sql: str, params=None) -> None:
        with duckdb.connect(str(self.path)) as con:
            con.execute(sql, params or [])

    def build(self, *args: str) -> None:
        dbt(["build", *args, *vars_arg()], duckdb_path=self.path, target_path=self.target,
            reuse_parse_of=self.built)


def upsert_salesforce_account(wh: Copy, salesforce_account_id: str, modstamp: dt.datetime, **fields) -> None:
    """What the Salesforce loader writes for a changed Account: the row replaced by key."""
    assignments = ", ".join(f"{column} = ?" for column in fields)
    wh.execute(f"update raw_salesforce.account set {assignments}, SystemModstamp = ?, "
               "_loaded_at = current_timestamp::timestamp, _load_id = 'test' where Id = ?",
               [*fields.values(), modstamp, salesforce_account_id])


def without_bookkeeping(frame: pd.DataFrame) -> pd.DataFrame:
    """The figures, without the run bookkeeping columns (_computed_at, ...)."""
    return frame[[c for c in frame.columns if not c.startswith("_")]]


def test_a_changed_impression_holds_from_the_day_salesforce_changed_it(built, tmp_path):
    wh = Copy(built, tmp_path)
    last_day = wh.query("select max(signal_date) as d from intermediate.int_account_signals_computed")["d"][0].date()
    # Inside the daily run's reload window, as a change made yesterday is.
    change_day = last_day - dt.timedelta(days=1)
    account = wh.query(
        "select a.account_id, a.salesforce_account_id, a.csm_impression_date from intermediate.int_accounts_mapped a "
        "where a.csm_impression = 'Good' and a.csm_impression_date <= ? order by a.account_id limit 1",
        [change_day - dt.timedelta(days=20)]).iloc[0]
    old_date = account["csm_impression_date"].date()

    upsert_salesforce_account(wh, account["salesforce_account_id"], dt.datetime.combine(change_day, dt.time(10)),
                              CSM_Impression__c="At Risk", CSM_Impression_Date__c=change_day)
    wh.build()  # the daily run: snapshot, then the incremental models add/redo their last days

    def history(table, day):
        return wh.query(f"select {day} as day, csm_impression, csm_impression_age_days from {table} "
                        f"where account_id = ? and {day} >= ? order by 1", [account["account_id"], old_date])

    for table, day in [("intermediate.int_account_signals_computed", "signal_date"),
                       ("marts.health_score_history", "score_date")]:
        rows = history(table, day)
        before = rows[rows["day"].dt.date < change_day]
        after = rows[rows["day"].dt.date >= change_day]
        assert len(before) >= 20 and len(after) == (last_day - change_day).days + 1, table
        assert set(before["csm_impression"]) == {"Good"}, table
        assert set(after["csm_impression"]) == {"At Risk"}, table
        assert [int(a) for a in after["csm_impression_age_days"]] == list(range(len(after))), table
        assert int(before["csm_impression_age_days"].iloc[-1]) == (change_day - old_date).days - 1, table

    # The snapshot dates the change by SystemModstamp.
    versions = wh.query("select csm_impression, dbt_valid_from, dbt_valid_to "
                        "from snapshots.snapshot_salesforce__accounts "
                        "where salesforce_account_id = ? order by dbt_valid_from", [account["salesforce_account_id"]])
    assert list(versions["csm_impression"]) == ["Good", "At Risk"]
    assert versions["dbt_valid_to"][0] == pd.Timestamp(dt.datetime.combine(change_day, dt.time(10)))

    tables = ["intermediate.int_account_signals_computed", "marts.health_score_history"]
    daily = {t: without_bookkeeping(wh.query(f"select * from {t} order by all")) for t in tables}

    # A full rebuild of the models keeps the snapshot and gives the same history.
    wh.build("--full-refresh")
    assert len(wh.query("select * from snapshots.snapshot_salesforce__accounts where salesforce_account_id = ?",
                        [account["salesforce_account_id"]])) == 2
    for table in tables:
        rebuilt = without_bookkeeping(wh.query(f"select * from {table} order by all"))
        pd.testing.assert_frame_equal(rebuilt, daily[table], check_exact=False, rtol=1e-9, obj=table)


ACTIVE_MARTS = {
    "marts.renewal_list": "account_id",
    "marts.account_segments": "account_id",
    "marts.activation_salesforce_accounts": "account_id",
    "marts.activation_hubspot_companies": "product_account_id",
    "marts.activation_salesforce_renewal_risk_tasks": "task_key",
}


def test_deleted_and_churned_accounts_leave_the_active_marts_and_carry_their_status(built, tmp_path):
    wh = Copy(built, tmp_path)
    # Two accounts on the renewal list with a CRM record in both CRMs, in a segment if any is.
    picked = wh.query(
        "select r.account_id, r.salesforce_account_id, r.owner_user_id from marts.renewal_list r "
        "join marts.account_360 a using (account_id) "
        "where a.hubspot_company_id is not null and r.owner_user_id is not null and a.account_status = 'active' "
        "order by (select count(*) from marts.account_segments s where s.account_id = r.account_id) = 0, "
        "not r.has_risk_signal, r.account_id limit 2")
    deleted, churned = picked.iloc[0], picked.iloc[1]
    gone = [deleted["account_id"], churned["account_id"]]
    present = {table: set(wh.query(f"select account_id from {table}")["account_id"])
               for table in ["marts.renewal_list", "marts.account_segments", "marts.activation_salesforce_accounts"]}
    assert all(a in present["marts.renewal_list"] and a in present["marts.activation_salesforce_accounts"]
               for a in gone)
    assert any(a in present["marts.account_segments"] for a in gone)
    books_before = wh.query("select owner_user_id, accounts_owned from marts.csm_workload").set_index(
        "owner_user_id")["accounts_owned"]
    impression_before = wh.query("select signal_date, csm_impression from intermediate.int_account_signals_computed "
                                 "where account_id = ? order by 1", [deleted["account_id"]])

    deleted_at = dt.datetime.combine(AS_OF - dt.timedelta(days=1), dt.time(9))
    upsert_salesforce_account(wh, deleted["salesforce_account_id"], deleted_at, IsDeleted=True)
    wh.execute("update raw_product_db.accounts set status = 'churned', updated_at = ?, "
               "_loaded_at = current_timestamp::timestamp, _load_id = 'test' where account_id = ?",
               [deleted_at, churned["account_id"]])
    wh.build()

    for table, key in ACTIVE_MARTS.items():
        rows = wh.query(f"select {key} as key from {table}")["key"]
        assert not any(any(a in str(k) for a in gone) for k in rows), table

    # Each leaves its CSM's book; every book holds exactly its owner's active accounts.
    books = wh.query("select owner_user_id, accounts_owned from marts.csm_workload").set_index(
        "owner_user_id")["accounts_owned"]
    expected = books_before.copy()
    for account in (deleted, churned):
        expected[account["owner_user_id"]] -= 1
    pd.testing.assert_series_equal(books.sort_index(), expected.sort_index())
    active = wh.query("select owner_user_id, count(*) as n from marts.account_360 "
                      "where lifecycle_status = 'active' and owner_user_id is not null group by 1").set_index(
        "owner_user_id")["n"]
    pd.testing.assert_series_equal(books[books > 0].sort_index(), active.sort_index(), check_names=False,
                                   check_dtype=False)

    # Both stay in account_360, each with its status.
    status = wh.query("select account_id, lifecycle_status, salesforce_account_id from marts.account_360 "
                      "where account_id in (?, ?)", gone).set_index("account_id")
    assert status.loc[deleted["account_id"], "lifecycle_status"] == "deleted_in_crm"
    # It keeps the id of its deleted record (its contracts and history still join to it).
    assert status.loc[deleted["account_id"], "salesforce_account_id"] == deleted["salesforce_account_id"]
    assert status.loc[churned["account_id"], "lifecycle_status"] == "churned"
    # The snapshots keep what held before: the deletion and the churn are versions.
    assert list(wh.query("select is_deleted from snapshots.snapshot_salesforce__accounts "
                         "where salesforce_account_id = ? order by dbt_valid_from",
                         [deleted["salesforce_account_id"]])["is_deleted"]) == [False, True]
    assert list(wh.query("select account_status from snapshots.snapshot_product_db__accounts "
                         "where account_id = ? order by dbt_valid_from",
                         [churned["account_id"]])["account_status"]) == ["active", "churned"]
    # The deleted account's impression history stays; from the deletion day on it has none.
    impression_after = wh.query("select signal_date, csm_impression from intermediate.int_account_signals_computed "
                                "where account_id = ? order by 1", [deleted["account_id"]])
    cut = impression_after["signal_date"].dt.date < deleted_at.date()
    pd.testing.assert_frame_equal(impression_after[cut], impression_before[impression_before["signal_date"].dt.date
                                                                         < deleted_at.date()])
    assert impression_after[~cut]["csm_impression"].isna().all()


def test_a_renewal_exactly_the_window_ahead_is_counted_alike_by_the_list_and_the_workload(built, tmp_path):
    wh = Copy(built, tmp_path)
    at_risk = wh.query(
        "select account_id, salesforce_account_id, current_contract_id, owner_user_id from marts.account_360 "
        "where has_risk_signal and owner_user_id is not null and current_contract_id is not null "
        "and account_status = 'active' order by account_id limit 3")
    edges = {WINDOW: at_risk.iloc[0], WINDOW - 1: at_risk.iloc[1], 0: at_risk.iloc[2]}
    for days, account in edges.items():
        wh.execute("update raw_salesforce.contract set EndDate = ?, SystemModstamp = ?, "
                   "_loaded_at = current_timestamp::timestamp, _load_id = 'test' where Id = ?",
                   [AS_OF + dt.timedelta(days=days), dt.datetime.combine(AS_OF - dt.timedelta(days=1), dt.time(8)),
                    account["current_contract_id"]])
    wh.build()

    listed = wh.query("select account_id, days_until_renewal from marts.renewal_list").set_index(
        "account_id")["days_until_renewal"]
    assert edges[WINDOW]["account_id"] not in listed.index
    assert listed[edges[WINDOW - 1]["account_id"]] == WINDOW - 1
    assert listed[edges[0]["account_id"]] == 0
    # Every CSM's renewals at risk are exactly their at-risk accounts on the renewal list.
    counted = wh.query("select owner_user_id, renewals_at_risk from marts.csm_workload").set_index(
        "owner_user_id")["renewals_at_risk"]
    on_list = wh.query("select owner_user_id, count(*) as n from marts.renewal_list where has_risk_signal "
                       "group by 1").set_index("owner_user_id")["n"]
    pd.testing.assert_series_equal(counted[counted > 0].sort_index(), on_list.sort_index(), check_names=False,
                                   check_dtype=False)
