"""The project compiles for BigQuery offline and every compiled model is valid
BigQuery SQL: `dbt compile` against the `bigquery-offline` target (OAuth with a
dummy token; no network, no introspective queries), then sqlglot's BigQuery
dialect parses each model and fails on any error."""

import pytest
import sqlglot
from sqlglot import exp

from tests.models.support import DBT_DIR, dbt, vars_arg

# Functions sqlglot does not model but BigQuery has; anything else unknown to
# sqlglot is likely another warehouse's function leaking into the BigQuery build.
BIGQUERY_ONLY_FUNCTIONS = {"GENERATE_DATE_ARRAY"}
DUCKDB_ONLY = ("generate_series", "list_aggr", "string_split(", "::")


# Incremental models have a first-build form and a daily form (and the rolling
# measures a window and a join form, macros/rolling.sql): both must compile.
@pytest.mark.parametrize("incremental", [True, False], ids=["daily-run", "first-build"])
def test_every_model_compiles_and_parses_as_bigquery(tmp_path, monkeypatch, incremental):
    # Datasets carry the deployment's prefix, as the raw loaders write them.
    monkeypatch.setenv("BIGQUERY_DATASET_PREFIX", "cs_")
    target = tmp_path / "target"
    dbt(["compile", "--target", "bigquery-offline", "--no-introspect", "--no-populate-cache",
         "--select", "resource_type:model", "--indirect-selection", "empty",
         *vars_arg(offline_is_incremental=incremental)],
        duckdb_path=tmp_path / "unused.duckdb", target_path=target)

    models = sorted(p.stem for p in (DBT_DIR / "models").rglob("*.sql"))
    compiled = {p.stem: p.read_text() for p in (target / "compiled").rglob("*.sql")}
    assert sorted(compiled) == models
    assert "`offline-project`.`cs_raw_salesforce`.`account`" in compiled["stg_salesforce__accounts"]
    assert "`offline-project`.`cs_marts`.`account_360`" in compiled["renewal_list"]
    rolling_form = "reached.signal_date" if incremental else "over (partition by account_id"
    assert rolling_form in compiled["int_account_signals_computed"]

    errors = []
    for name, sql in compiled.items():
        try:
            statements = sqlglot.parse(sql, read="bigquery", error_level=sqlglot.ErrorLevel.RAISE)
        except sqlglot.errors.ParseError as error:
            errors.append(f"{name}: {error}")
            continue
        unknown = {f.name.upper() for s in statements if s for f in s.find_all(exp.Anonymous)}
        if unknown - BIGQUERY_ONLY_FUNCTIONS:
            errors.append(f"{name}: functions BigQuery may not have: {sorted(unknown - BIGQUERY_ONLY_FUNCTIONS)}")
        errors += [f"{name}: DuckDB syntax {token!r}" for token in DUCKDB_ONLY if token in sql.lower()]
    assert not errors, "\n".join(errors)
