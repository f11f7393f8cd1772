"""Sudden usage drops (issue 15, item 5), on the warehouse dbt built from the sample
data and its planted truth: a drop is dated on the day it started, never on a quiet
weekend day before it; a gradual decline is not a sudden drop; a drop that usage has
not recovered from is a risk signal, named in the risk reasons and the drill-down,
and one it has recovered from is not."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import pandas as pd
import pytest

from tests.models.support import AS_OF, BuiltWarehouse, dbt, vars_arg


def in_list(ids) -> str:
    return ", ".join(f"'{i}'" for i in ids)


def day(value) -> dt.date:
    return pd.Timestamp(value).date()


def drop_days(warehouse, account_ids) -> dict[str, list[tuple[dt.date, bool]]]:
    """Each account's flagged drop days, in order, with is_first_day."""
    rows = warehouse.query(
        "select account_id, anomaly_date, is_first_day from marts.usage_anomalies "
        f"where anomaly_type = 'drop' and account_id in ({in_list(account_ids)}) order by 1, 2")
    found: dict[str, list[tuple[dt.date, bool]]] = {a: [] for a in account_ids}
    for row in rows.itertuples():
        found[row.account_id].append((day(row.anomaly_date), bool(row.is_first_day)))
    return found


def test_every_planted_drop_is_flagged_first_on_the_day_it_started(built):
    starts = {a: dt.date.fromisoformat(d) for a, d in built.truth["sudden_drop_dates"].items()}
    assert starts
    for account_id, flagged in drop_days(built, starts).items():
        start = starts[account_id]
        recent = [(d, first) for d, first in flagged if d >= start - dt.timedelta(days=28)]
        assert recent, f"{account_id}: its drop of {start} is not flagged"
        assert recent[0] == (start, True), f"{account_id}: drop of {start} first flagged on {recent[0]}"


def test_no_declining_account_is_reported_as_a_sudden_drop(built):
    declining = built.truth["declining_usage"]
    flagged = {a: days for a, days in drop_days(built, declining).items() if days}
    assert not flagged, f"gradual decliners reported as sudden drops: {flagged}"
    # Not because their usage never looks low: their low days are typed a decline.
    kinds = built.query(
        "select low_usage_kind, count(distinct account_id) as accounts "
        "from intermediate.int_usage_anomalies_scored "
        f"where is_low_usage and account_id in ({in_list(declining)}) group by 1").set_index("low_usage_kind")
    assert "decline" in kinds.index and "collapse" not in kinds.index, kinds


def test_every_collapsed_account_carries_the_unresolved_drop_risk_signal(built):
    starts = built.truth["sudden_drop_dates"]
    accounts = built.query(
        "select * from marts.account_360 "
        f"where account_id in ({in_list(starts)})").set_index("account_id")
    assert len(accounts) == len(starts)
    # Most still score green on both health scores: the drop is the only warning.
    assert (accounts["usage_health_band"] == "green").any()
    for account_id, row in accounts.iterrows():
        start = dt.date.fromisoformat(starts[account_id])
        assert row["has_unresolved_usage_drop"] and row["has_risk_signal"], account_id
        assert day(row["usage_drop_start_date"]) == start
        assert row["usage_drop_severity"] == "high"
        assert row["usage_drop_share"] >= 0.8, (account_id, row["usage_drop_share"])
        reason = f"usage dropped {round(100 * row['usage_drop_share'])}% since {start.isoformat()}"
        assert reason in row["risk_reasons"], (account_id, row["risk_reasons"])

    # The drill-down shows the drop on the usage_health row, whether the band has moved yet or not.
    changes = built.query(
        "select * from marts.health_score_changes where score_name = 'usage_health' "
        f"and account_id in ({in_list(starts)})").set_index("account_id")
    assert set(changes.index) == set(starts)
    assert changes["has_unresolved_usage_drop"].all()
    assert {a: day(d) for a, d in changes["usage_drop_start_date"].items()} == {
        a: dt.date.fromisoformat(d) for a, d in starts.items()}

    # On the renewal list, the drop is what to act on (after an open escalation).
    renewals = built.query(
        "select renewal.account_id, renewal.has_risk_signal, renewal.suggested_next_step, "
        "account.has_open_escalation from marts.renewal_list as renewal "
        "inner join marts.account_360 as account on renewal.account_id = account.account_id "
        f"where renewal.account_id in ({in_list(starts)})")
    for row in renewals.itertuples():
        assert row.has_risk_signal
        if not row.has_open_escalation:
            assert "usage dropped" in row.suggested_next_step, row


def test_accounts_without_a_collapse_have_no_unresolved_drop(built):
    flagged = set(built.query(
        "select account_id from marts.account_360 where has_unresolved_usage_drop and lifecycle_status = 'active'"
    )["account_id"])
    assert flagged, "the planted drops are flagged"
    assert not flagged & set(built.truth["healthy"])
    assert not flagged & set(built.truth["declining_usage"])
    assert flagged <= set(built.truth["sudden_drop_dates"]), flagged - set(built.truth["sudden_drop_dates"])
    healthy = built.query(
        "select * from marts.account_360 "
        f"where account_id in ({in_list(built.truth['healthy'])})")
    assert not healthy["has_unresolved_usage_drop"].any()
    assert healthy["usage_drop_start_date"].isna().all()
    assert not healthy["risk_reasons"].fillna("").str.contains("usage dropped").any()


# --- Edited usage, rebuilt: a quiet weekend day before a drop, and a drop that recovered.

QUIET_DAY_MAX_EXPECTED = 8  # a handful of users expected: half of them is within the day's noise


@dataclass(frozen=True)
class Edited:
    warehouse: BuiltWarehouse
    quiet: tuple[str, dt.date, dt.date]  # account, the quiet weekend day, the drop's start the day after
    recovered: tuple[str, dt.date]  # account, the drop's start


def set_daily_active_users(con, account_id: str, values: dict[dt.date, int]) -> None:
    """Rewrite an account's `session` rows (feature_usage_daily's daily active users)."""
    for usage_date, users in values.items():
        con.execute("delete from raw_product_db.feature_usage_daily "
                    "where account_id = ? and usage_date = ? and feature_key = 'session'", [account_id, usage_date])
        con.execute("insert into raw_product_db.feature_usage_daily "
                    "(account_id, usage_date, feature_key, active_users, event_count, _loaded_at, _load_id) "
                    "values (?, ?, 'session', ?, ?, current_timestamp, 'test_anomalies')",
                    [account_id, usage_date, users, 3 * users])


@pytest.fixture(scope="module")
def edited(built, tmp_path_factory) -> Edited:
    starts = {a: dt.date.fromisoformat(d) for a, d in built.truth["sudden_drop_dates"].items()}
    scored = built.query(
        "select account_id, signal_date, daily_active_users, expected_daily_active_users "
        f"from intermediate.int_usage_anomalies_scored where account_id in ({in_list(starts)})")
    scored["signal_date"] = scored["signal_date"].map(day)
    by_day = scored.set_index(["account_id", "signal_date"])

    # A planted drop whose day before is a weekend day of a small account, not low as generated.
    quiet = None
    for account_id, start in sorted(starts.items()):
        before = start - dt.timedelta(days=1)
        row = by_day.loc[(account_id, before)]
        if (before.weekday() >= 5 and 2 <= row["expected_daily_active_users"] <= QUIET_DAY_MAX_EXPECTED
                and row["daily_active_users"] > row["expected_daily_active_users"] / 2):
            quiet = (account_id, before, start)
            break
    assert quiet, "the sample has a drop after a weekend day of a small account"

    # The earliest planted drop, far enough back that the last 7 days can all be after it.
    recovered_id, recovered_start = min(((a, s) for a, s in starts.items() if a != quiet[0]), key=lambda x: x[1])
    last_day = AS_OF - dt.timedelta(days=1)
    assert (last_day - recovered_start).days >= 9

    root = tmp_path_factory.mktemp("anomalies")
    path = built.copy_to(root / "warehouse")
    warehouse = BuiltWarehouse(root=root, sample_dir=built.sample_dir, warehouse_path=path,
                               target_path=root / "target")
    with duckdb.connect(str(path)) as con:
        account_id, before, _ = quiet
        # Half its weekday's usual users: a quiet weekend day, but no collapse.
        set_daily_active_users(con, account_id, {
            before: int(by_day.loc[(account_id, before)]["expected_daily_active_users"] // 2)})
        # Back to the week before the drop from its fourth day on, each day like the
        # same weekday before it.
        pre_drop = {d: int(v) for d, v in
                    by_day.loc[recovered_id]["daily_active_users"].items() if d < recovered_start}
        days_back = {}
        current = recovered_start + dt.timedelta(days=3)
        while current <= last_day:
            source = current - dt.timedelta(days=7)
            while source >= recovered_start:
                source -= dt.timedelta(days=7)
            days_back[current] = pre_drop[source]
            current += dt.timedelta(days=1)
        set_daily_active_users(con, recovered_id, days_back)
    dbt(["run", "--full-refresh", *vars_arg(), "--select",
         "int_feature_usage_pivoted_to_account_days", "int_account_signals_computed", "int_usage_anomalies_scored",
         "usage_anomalies", "int_usage_drops_tracked", "account_360"],
        duckdb_path=path, target_path=warehouse.target_path, reuse_parse_of=built)
    return Edited(warehouse=warehouse, quiet=quiet, recovered=(recovered_id, recovered_start))


def test_a_quiet_weekend_day_before_a_drop_is_not_its_start(edited):
    account_id, quiet_day, start = edited.quiet
    row = edited.warehouse.query(
        "select * from intermediate.int_usage_anomalies_scored "
        f"where account_id = '{account_id}' and signal_date = '{quiet_day}'").iloc[0]
    # The quiet day with the two drop days after it is far below what they expect:
    # that alone used to date the drop a day early.
    assert row["daily_active_users"] <= row["expected_daily_active_users"] / 2
    assert row["observed_3d"] <= row["expected_3d"] / 2 and row["z_score_3d"] <= -3
    flagged = drop_days(edited.warehouse, [account_id])[account_id]
    recent = [(d, first) for d, first in flagged if d >= start - dt.timedelta(days=28)]
    assert recent and recent[0] == (start, True), f"{account_id}: drop of {start} first flagged on {recent[:1]}"


def test_a_drop_that_usage_recovered_from_is_no_longer_a_risk(edited):
    account_id, start = edited.recovered
    flagged = drop_days(edited.warehouse, [account_id])[account_id]
    assert (start, True) in flagged, "the drop itself is still flagged"
    tracked = edited.warehouse.query(
        f"select * from intermediate.int_usage_drops_tracked where account_id = '{account_id}'").iloc[0]
    assert day(tracked["drop_start_date"]) == start
    assert tracked["recovery_ratio"] >= 0.7 and not tracked["is_unresolved"]
    row = edited.warehouse.query(f"select * from marts.account_360 where account_id = '{account_id}'").iloc[0]
    assert not row["has_unresolved_usage_drop"] and pd.isna(row["usage_drop_start_date"])
    assert "usage dropped" not in (row["risk_reasons"] or "")
