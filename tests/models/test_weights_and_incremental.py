"""CS ops change a weight in the seed and the scores follow; a weight table that
no longer sums to 1 is refused before anything is scored with it; and an
incremental run that adds days gives exactly what a full build gives."""

import csv
import datetime as dt
import io

import duckdb
import pandas as pd
import pytest

from tests.models.support import AS_OF, copy_project, dbt, vars_arg

USAGE = ["active_user_ratio", "key_feature_adoption", "usage_trend", "setup_completion", "support_burden",
         "help_site_engagement"]
INCREMENTAL_MODELS = {
    "intermediate.int_feature_usage_pivoted_to_account_days": "usage_date",
    "intermediate.int_account_signals_computed": "signal_date",
    "marts.health_score_history": "score_date",
    "intermediate.int_usage_anomalies_scored": "signal_date",
}


def weights_in(project) -> dict[str, float]:
    path = project / "seeds" / "health_score_components.csv"
    return {row["component_name"]: float(row["weight"]) for row in csv.DictReader(io.StringIO(path.read_text()))}


def set_weights(project, weights: dict[str, float]) -> None:
    path = project / "seeds" / "health_score_components.csv"
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    for row in rows:
        if row["component_name"] in weights:
            row["weight"] = str(weights[row["component_name"]])
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def latest_scores(built_or_query, path=None) -> pd.DataFrame:
    sql = ("select * from marts.health_score_history "
           "where score_date = (select max(score_date) from marts.health_score_history) order by account_id")
    return built_or_query(sql)


def test_a_weight_change_in_the_seed_changes_the_scores_accordingly(built, tmp_path):
    import duckdb

    project = copy_project(tmp_path / "dbt")
    warehouse = built.copy_to(tmp_path / "warehouse")
    target = tmp_path / "target"

    def query(sql):
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return con.execute(sql).df()

    before = latest_scores(query)
    rebuild = ["build", "--select", "health_score_components", "health_score_history", "--full-refresh",
               *vars_arg()]

    shipped = weights_in(project)
    # A mis-edit (weights summing to 1.1) fails the blocking test; history is not touched.
    set_weights(project, {"active_user_ratio": round(shipped["active_user_ratio"] + 0.1, 4)})
    refused = dbt(rebuild, duckdb_path=warehouse, project_dir=project, target_path=target, check=False,
                  reuse_parse_of=built)
    assert refused.returncode != 0
    assert "assert_health_score_weights_sum_to_one" in refused.stdout
    assert "SKIP relation marts.health_score_history" in refused.stdout
    pd.testing.assert_frame_equal(latest_scores(query), before)

    # Move 0.2 of weight from active users to key-feature adoption.
    moved = min(0.2, shipped["active_user_ratio"])
    weights = {"active_user_ratio": round(shipped["active_user_ratio"] - moved, 4),
               "key_feature_adoption": round(shipped["key_feature_adoption"] + moved, 4)}
    set_weights(project, weights)
    dbt(rebuild, duckdb_path=warehouse, project_dir=project, target_path=target)
    after = latest_scores(query)

    seed = dict(zip(*query("select component_name, weight from seeds.health_score_components").values.T))
    assert {c: seed[c] for c in weights} == weights
    for (_, old), (_, new) in zip(before.iterrows(), after.iterrows()):
        if pd.isna(new["usage_health_score"]) or pd.isna(old["usage_health_score"]):
            # Too little of the (new) weight has data: no score (test_score_rules.py).
            assert new["usage_health_band"] == "insufficient_data" or old["usage_health_band"] == "insufficient_data"
            continue
        present = [c for c in USAGE if pd.notna(new[f"{c}_score"])]
        expected = sum(seed[c] * new[f"{c}_score"] for c in present) / sum(seed[c] for c in present)
        assert abs(new["usage_health_score"] - expected) <= 1, new["account_id"]
        # Direction: the score moves toward key-feature adoption and away from active users.
        if pd.notna(old["key_feature_adoption_score"]) and pd.notna(old["active_user_ratio_score"]):
            pull = old["key_feature_adoption_score"] - old["active_user_ratio_score"]
            if abs(pull) >= 20:
                assert (new["usage_health_score"] - old["usage_health_score"]) * pull > 0, new["account_id"]
    assert (after["usage_health_score"] != before["usage_health_score"]).sum() > len(after) / 2
    # Renewal likelihood has its own weights: unchanged.
    pd.testing.assert_series_equal(after["renewal_likelihood_score"], before["renewal_likelihood_score"])


def late_partition(warehouse, project) -> None:
    """Day as_of-8, older than the reload window, re-loaded after the earlier run with
    more activity: the loader replaces the partition's rows with a new `_loaded_at`."""
    day = AS_OF - dt.timedelta(days=8)
    with duckdb.connect(str(warehouse)) as con:
        changed = con.execute(
            "update raw_product_db.feature_usage_daily set active_users = active_users + 2, "
            "event_count = event_count + 20, _loaded_at = ? where usage_date = ?",
            [dt.datetime.now(dt.timezone.utc).replace(tzinfo=None), day]).fetchone()[0]
    assert changed > 0


def weight_edit(warehouse, project) -> None:
    """Weight moved between components, a band cut-off and the hysteresis margin edited."""
    shipped = weights_in(project)
    set_weights(project, {"active_user_ratio": round(shipped["active_user_ratio"] - 0.1, 4),
                          "usage_trend": round(shipped["usage_trend"] + 0.1, 4)})
    bands = project / "seeds" / "health_score_bands.csv"
    bands.write_text(bands.read_text().replace("usage_health,green,70", "usage_health,green,72"))
    settings = project / "seeds" / "health_score_settings.csv"
    settings.write_text(settings.read_text().replace("usage_health,0.6,3,3", "usage_health,0.6,2,4"))


def new_days_only(warehouse, project) -> None:
    """Nothing but the days that arrived since."""


def upsert_salesforce_account(warehouse, changed_on: dt.date, where: str, **fields) -> None:
    """What the Salesforce loader writes for a changed Account: the row replaced by
    key, with the record's SystemModstamp and a new `_loaded_at`."""
    assignments = ", ".join(f"{column} = ?" for column in fields)
    with duckdb.connect(str(warehouse)) as con:
        salesforce_id = con.execute(f"select min(Id) from raw_salesforce.account where {where}").fetchone()[0]
        con.execute(f"update raw_salesforce.account set {assignments}, SystemModstamp = ?, _loaded_at = ? "
                    "where Id = ?", [*fields.values(), dt.datetime.combine(changed_on, dt.time(11)),
                                     dt.datetime.now(dt.timezone.utc).replace(tzinfo=None), salesforce_id])


def changed_impression(warehouse, project) -> None:
    """A CSM impression changed 8 days ago (older than the reload window) that the
    loader brings only now."""
    day = AS_OF - dt.timedelta(days=8)
    upsert_salesforce_account(warehouse, day, "CSM_Impression__c = 'Good' and not IsDeleted",
                              CSM_Impression__c="At Risk", CSM_Impression_Date__c=day)


def deleted_account(warehouse, project) -> None:
    """An Account deleted in Salesforce two days ago (queryAll brings it once more, IsDeleted)."""
    upsert_salesforce_account(warehouse, AS_OF - dt.timedelta(days=2), "not IsDeleted", IsDeleted=True)


def downgraded_plan(warehouse, project) -> None:
    """A business account moved to the team plan 8 days ago (older than the reload
    window), loaded only now: its plan fit changes from that day on, not before."""
    day = AS_OF - dt.timedelta(days=8)
    with duckdb.connect(str(warehouse)) as con:
        changed = con.execute(
            "update raw_product_db.accounts set plan_id = 'team', updated_at = ?, _loaded_at = ? "
            "where account_id = (select min(account_id) from raw_product_db.accounts "
            "where plan_id = 'business' and status = 'active')",
            [dt.datetime.combine(day, dt.time(9)), dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)]
        ).fetchone()[0]
    assert changed == 1


SCENARIOS = {
    "new days only": new_days_only,
    "downgraded plan": downgraded_plan,
    "weight edit": weight_edit,
    "late partition": late_partition,
    "changed impression": changed_impression,
    "deleted account": deleted_account,
}


def comparable(con, table) -> pd.DataFrame:
    """A table's rows in order, without the run's bookkeeping columns (_computed_at, ...)."""
    columns = [c for (c,) in con.execute(
        "select column_name from information_schema.columns where table_schema || '.' || table_name = ? "
        "order by ordinal_position", [table]).fetchall() if not c.startswith("_")]
    listed = ", ".join(f'"{c}"' for c in columns)
    return con.execute(f"select {listed} from {table} order by all").df()


def tables_to_compare(con) -> list[str]:
    rows = con.execute("select table_schema || '.' || table_name from information_schema.tables "
                       "where table_schema in ('intermediate', 'marts') order by 1").fetchall()
    return [r[0] for r in rows]


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_a_daily_run_after_an_earlier_one_gives_exactly_what_a_full_build_gives(built, tmp_path, scenario):
    """The warehouse as a daily run three days ago left it; then a change (none, a
    seed edit, a late partition, ...) and today's normal daily run (no full refresh):
    every table, including the incremental histories and the days whose three-day
    drop test now sees the days after them, equals a full rebuild of the same data."""
    warehouse = built.copy_to(tmp_path / "warehouse")
    project = copy_project(tmp_path / "dbt")
    target = tmp_path / "target"
    earlier = (AS_OF - dt.timedelta(days=3)).isoformat()
    dbt(["build", "--full-refresh", *vars_arg(as_of_date=earlier)],
        duckdb_path=warehouse, project_dir=project, target_path=target, reuse_parse_of=built)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for table, day in INCREMENTAL_MODELS.items():
            assert con.execute(f"select max({day}) from {table}").fetchone()[0] < AS_OF - dt.timedelta(days=3)

    SCENARIOS[scenario](warehouse, project)
    daily = dbt(["build", *vars_arg()], duckdb_path=warehouse, project_dir=project, target_path=target)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = tables_to_compare(con)
        after_daily = {table: comparable(con, table) for table in tables}
    assert len(tables) > 20

    dbt(["build", "--full-refresh", *vars_arg()], duckdb_path=warehouse, project_dir=project, target_path=target)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for table in tables:
            pd.testing.assert_frame_equal(after_daily[table], comparable(con, table), check_exact=False,
                                          rtol=1e-9, obj=f"{scenario}: {table}")
    if scenario == "weight edit":
        assert "scoring configuration changed" in daily.stdout
    if scenario == "downgraded plan":
        with duckdb.connect(str(warehouse), read_only=True) as con:
            limits = con.execute(
                "select signal_date >= ? as after, min(seat_limit), max(seat_limit) "
                "from intermediate.int_account_signals_computed where account_id = (select account_id "
                "from raw_product_db.accounts where updated_at = ?) group by 1 order by 1",
                [AS_OF - dt.timedelta(days=8), dt.datetime.combine(AS_OF - dt.timedelta(days=8), dt.time(9))]
            ).fetchall()
        (_, before_min, before_max), (_, after_min, after_max) = limits
        assert before_min == before_max and after_min == after_max and after_max < before_max, limits
    if scenario in ("late partition", "changed impression", "downgraded plan"):
        assert f"input rows of {(AS_OF - dt.timedelta(days=8)).isoformat()} on changed" in daily.stdout
