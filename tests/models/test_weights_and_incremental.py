"""CS ops change a weight in the seed and the scores follow; a weight table that
no longer sums to 1 is refused before anything is scored with it; and an
incremental run that adds days gives exactly what a full build gives."""

import csv
import datetime as dt
import io

import pandas as pd

from tests.models.support import AS_OF, copy_project, dbt, vars_arg

USAGE = ["active_user_ratio", "key_feature_adoption", "usage_trend", "setup_completion", "support_burden",
         "help_site_engagement"]
INCREMENTAL_MODELS = {
    "intermediate.int_feature_usage_pivoted_to_account_days": "usage_date",
    "intermediate.int_account_signals_computed": "signal_date",
    "marts.health_score_history": "score_date",
    "intermediate.int_usage_anomalies_scored": "signal_date",
}
# Rebuilt in full on every run, from the incremental tables above.
DERIVED_MODELS = ["marts.usage_anomalies"]


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


def test_a_daily_run_after_an_earlier_one_gives_exactly_what_a_full_build_gives(built, tmp_path):
    """The incremental tables as a run three days ago left them (built then, from
    the data visible then), then today's run: every day, including those whose
    three-day drop test now sees the days after them, equals the full build."""
    import duckdb

    warehouse = built.copy_to(tmp_path / "warehouse")
    tables = [*INCREMENTAL_MODELS, *DERIVED_MODELS]
    models = [t.split(".")[1] for t in tables]
    full = {table: built.query(f"select * from {table} order by all") for table in tables}

    earlier = (AS_OF - dt.timedelta(days=3)).isoformat()
    dbt(["run", "--full-refresh", "--select", *models, *vars_arg(as_of_date=earlier)],
        duckdb_path=warehouse, target_path=tmp_path / "target", reuse_parse_of=built)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for table, day in INCREMENTAL_MODELS.items():
            assert con.execute(f"select max({day}) from {table}").fetchone()[0] < AS_OF - dt.timedelta(days=3)
    dbt(["run", "--select", *models, *vars_arg()],
        duckdb_path=warehouse, target_path=tmp_path / "target", reuse_parse_of=built)

    with duckdb.connect(str(warehouse), read_only=True) as con:
        for table in tables:
            rebuilt = con.execute(f"select * from {table} order by all").df()
            pd.testing.assert_frame_equal(rebuilt, full[table], check_exact=False, rtol=1e-9,
                                          obj=table)
