"""The score lab (issue 15): past renewal decisions planted by the generator with
known causes, and the backtest, surprises and what-if dry run that must find them.

Two customer bases of 400 accounts x 150 days, so that ~90 decisions (16 churns)
fall inside the scores' history: the default one, where churn follows the
relationship signals renewal likelihood weighs (NPS, escalations, CSM impression),
and the `usage` variant, where churn follows fading usage, which renewal
likelihood ignores."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from cs_platform.models import what_if
from cs_platform.resources.warehouse import DuckDBWarehouse
from devkit.sample_data import generate
from devkit.sample_warehouse import load_sample_data
from tests.models.support import AS_OF, DBT_DIR, SEED, WAREHOUSE_FILE, dbt, vars_arg

ACCOUNTS, DAYS = 400, 150
RELATIONSHIP_CAUSES = {"nps", "escalations", "csm_impression"}


class Lab:
    def __init__(self, root: Path):
        self.root, self.warehouse = root, root / WAREHOUSE_FILE
        self.truth = json.loads((root / "sample" / "ground_truth.json").read_text())

    def query(self, sql: str) -> pd.DataFrame:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.execute(sql).df()

    def figures(self, score: str, horizon: int = 30) -> pd.DataFrame:
        return self.query(f"select * from marts.score_backtest where score_name = '{score}' "
                          f"and horizon_days = {horizon}").set_index("measure_name")


def build_lab(root: Path, churn_cause: str) -> Lab:
    generate(root / "sample", accounts=ACCOUNTS, seed=SEED, days=DAYS, as_of=AS_OF, churn_cause=churn_cause)
    load_sample_data(root / "sample", DuckDBWarehouse(path=str(root / WAREHOUSE_FILE)))
    dbt(["build", *vars_arg(), "--select", "+score_backtest", "+score_surprises", "--resource-type", "seed",
         "--resource-type", "snapshot", "--resource-type", "model"],
        duckdb_path=root / WAREHOUSE_FILE, target_path=root / "target")
    return Lab(root)


@pytest.fixture(scope="module")
def relationship(tmp_path_factory) -> Lab:
    return build_lab(tmp_path_factory.mktemp("lab_relationship"), "relationship")


@pytest.fixture(scope="module")
def usage_driven(tmp_path_factory) -> Lab:
    return build_lab(tmp_path_factory.mktemp("lab_usage"), "usage")


def test_the_planted_decisions_are_read_back_from_the_crm(relationship):
    decisions = relationship.query("select account_id, renewal_date, outcome from intermediate.int_renewal_decisions")
    found = {(r.account_id, pd.Timestamp(r.renewal_date).date().isoformat()): r.outcome
             for r in decisions.itertuples()}
    planted = relationship.truth["renewal_decisions"]
    assert {o["outcome"] for o in planted.values()} == {"renewed", "churned", "downgraded"}
    for account, decision in planted.items():
        assert found.get((account, decision["renewal_date"])) == decision["outcome"], account
    # Nothing but the planted accounts churned or downgraded.
    lost = {a for (a, _), outcome in found.items() if outcome != "renewed"}
    assert lost == {a for a, d in planted.items() if d["outcome"] != "renewed"}


def test_backtest_finds_the_relationship_causes(relationship):
    figures = relationship.figures("renewal_likelihood")
    score = figures.loc["renewal_likelihood"]
    assert score["churned"] >= 10 and score["decisions"] >= 60
    assert score["auc"] > 0.7, score["auc"]
    assert score["lift_red_over_green"] > 2
    assert score["red_churn_rate"] > score["green_churn_rate"]
    components = figures[figures["measure_kind"] == "component"].sort_values("component_auc_rank")
    assert set(components.index[:3]) == RELATIONSHIP_CAUSES, components[["auc", "component_auc_rank"]]
    assert (components.loc[list(RELATIONSHIP_CAUSES), "auc"] > 0.7).all()


def test_backtest_shows_a_churn_the_score_ignores(relationship, usage_driven):
    missed = usage_driven.figures("renewal_likelihood").loc["renewal_likelihood", "auc"]
    seen = relationship.figures("renewal_likelihood").loc["renewal_likelihood", "auc"]
    assert abs(missed - 0.5) < 0.12 and seen - missed > 0.2, (missed, seen)
    # ... while the usage score, which measures the cause, sees it coming.
    usage = usage_driven.figures("usage_health")
    assert usage.loc["usage_health", "auc"] > 0.85
    top = usage[usage["component_auc_rank"] == 1].index[0]
    assert top in {"usage_trend", "active_user_ratio"}, usage[["auc", "component_auc_rank"]]


def test_surprises_list_the_planted_misses(relationship):
    surprises = relationship.query(
        "select * from marts.score_surprises where score_name = 'renewal_likelihood' and horizon_days = 30")
    green_churn = set(surprises.loc[surprises["surprise"] == "churned_while_green", "account_id"])
    red_renewal = set(surprises.loc[surprises["surprise"] == "renewed_while_red", "account_id"])
    assert relationship.truth["churned_while_healthy"] and relationship.truth["renewed_despite_warnings"]
    assert set(relationship.truth["churned_while_healthy"]) <= green_churn
    assert set(relationship.truth["renewed_despite_warnings"]) <= red_renewal
    churned = set(relationship.truth["churned"])
    assert green_churn <= churned and not red_renewal & churned
    row = surprises.iloc[0]
    assert row["components"].startswith("nps ") and pd.notna(row["account_name"])
    assert pd.isna(row["active_user_ratio_score"])  # a usage component: not this score's


def _candidate(path: Path, zero: set[str]) -> Path:
    rows = list(csv.DictReader(open(DBT_DIR / "seeds" / "health_score_components.csv", newline="")))
    for row in rows:
        if row["component_name"] in zero:
            row["weight"] = "0"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_what_if_scores_candidate_weights_beside_production_without_touching_it(relationship, tmp_path):
    before = hashlib.sha256(relationship.warehouse.read_bytes()).hexdigest()
    candidate = _candidate(tmp_path / "candidate.csv", RELATIONSHIP_CAUSES)
    figures = what_if.run_what_if(candidate, {"as_of_date": AS_OF.isoformat()}, str(relationship.warehouse))
    assert hashlib.sha256(relationship.warehouse.read_bytes()).hexdigest() == before
    assert "marts_whatif" not in set(relationship.query("select schema_name from information_schema.schemata")
                                     ["schema_name"])
    rows = figures.set_index(["score_name", "horizon_days", "measure_name"])
    score = rows.loc[("renewal_likelihood", 30, "renewal_likelihood")]
    production = relationship.figures("renewal_likelihood").loc["renewal_likelihood", "auc"]
    assert score["auc_current"] == pytest.approx(production)
    assert score["auc_candidate"] < score["auc_current"] - 0.2  # without its causes the score is blind
    assert rows.loc[("renewal_likelihood", 30, "nps"), ["weight_current", "weight_candidate"]].tolist() == [0.25, 0]
    usage = rows.loc[("usage_health", 30, "usage_health")]
    assert usage["auc_candidate"] == pytest.approx(usage["auc_current"])  # its weights did not change


def test_what_if_refuses_a_candidate_that_is_not_a_copy_of_the_seed(tmp_path):
    candidate = _candidate(tmp_path / "candidate.csv", set())
    text = candidate.read_text().replace("renewal_likelihood,nps,", "renewal_likelihood,net_promoter,")
    candidate.write_text(text)
    with pytest.raises(what_if.CandidateError, match="net_promoter"):
        what_if.run_what_if(candidate)
    candidate.write_text(text.replace("net_promoter", "nps").replace(",0.25,4,9,", ",-1,4,9,"))
    with pytest.raises(what_if.CandidateError, match="line 8 .nps.: weight must not be negative"):
        what_if.run_what_if(candidate)


def test_generator_refuses_an_unknown_churn_cause(tmp_path):
    with pytest.raises(ValueError, match="churn_cause"):
        generate(tmp_path, accounts=50, days=42, as_of=dt.date(2026, 3, 2), churn_cause="weather")
