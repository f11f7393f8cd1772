"""The project compiles for BigQuery offline and every compiled model is valid
BigQuery SQL: `dbt compile` against the `bigquery-offline` target (OAuth with a
dummy token; no network, no introspective queries), then sqlglot's BigQuery
dialect parses each model and fails on any error. The daily run's SQL must also
let BigQuery prune partitions of the tables that grow by the day."""

import json

import pytest
import sqlglot
from sqlglot import exp

from tests.models.support import DBT_DIR, dbt, vars_arg

# Functions sqlglot does not model but BigQuery has; anything else unknown to
# sqlglot is likely another warehouse's function leaking into the BigQuery build.
BIGQUERY_ONLY_FUNCTIONS = {"GENERATE_DATE_ARRAY"}
DUCKDB_ONLY = ("generate_series", "list_aggr", "string_split(", "::")


# Tables that grow by the day, and their day column. A daily run must read only
# the days it needs from them: on BigQuery that takes a filter on the day column
# that is a constant (macros/dates.sql, latest_day); with a subquery, BigQuery
# reads, and bills, every partition.
DAY_GROWING = {
    "stg_product_db__feature_usage_daily": "usage_date",
    "stg_google_analytics__page_views_daily": "visit_date",
    "stg_hubspot__email_events": "created_at",
    "int_feature_usage_pivoted_to_account_days": "usage_date",
    "int_account_signals_computed": "signal_date",
    "int_usage_anomalies_scored": "signal_date",
    "health_score_history": "score_date",
    "usage_anomalies": "anomaly_date",
}


# Incremental models have a first-build form and a daily form (and the rolling
# measures a window and a join form, macros/rolling.sql): both must compile.
@pytest.fixture(scope="module", params=[True, False], ids=["daily-run", "first-build"])
def compiled(request, tmp_path_factory) -> tuple[bool, dict[str, str], set[str]]:
    incremental = request.param
    tmp_path = tmp_path_factory.mktemp("bigquery_compile")
    with pytest.MonkeyPatch.context() as monkeypatch:
        # Datasets carry the deployment's prefix, as the raw loaders write them.
        monkeypatch.setenv("BIGQUERY_DATASET_PREFIX", "cs_")
        target = tmp_path / "target"
        dbt(["compile", "--target", "bigquery-offline", "--no-introspect", "--no-populate-cache",
             "--select", "resource_type:model", "--indirect-selection", "empty",
             *vars_arg(offline_is_incremental=incremental)],
            duckdb_path=tmp_path / "unused.duckdb", target_path=target)
    manifest = json.loads((target / "manifest.json").read_text())
    views = {n["name"] for n in manifest["nodes"].values() if n["config"].get("materialized") == "view"}
    return incremental, {p.stem: p.read_text() for p in (target / "compiled").rglob("*.sql")}, views


def test_every_model_compiles_and_parses_as_bigquery(compiled):
    incremental, compiled, _ = compiled
    models = sorted(p.stem for p in (DBT_DIR / "models").rglob("*.sql"))
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


@pytest.mark.parametrize("compiled", [True], ids=["daily-run"], indirect=True)
def test_a_daily_run_reads_only_recent_days_of_the_tables_that_grow_by_the_day(compiled):
    _, compiled, views = compiled
    unpruned = []
    for name, sql in compiled.items():
        if name in views:
            continue  # building a view reads nothing; its readers' filters are checked
        for statement in sqlglot.parse(sql, read="bigquery"):
            for table in statement.find_all(exp.Table):
                day_column = DAY_GROWING.get(table.name)
                if day_column is None:
                    continue
                select = table.find_ancestor(exp.Select)
                if not (has_constant_bound(select.args.get("where"), day_column)
                        or reads_only_day_range(select, day_column)):
                    unpruned.append(f"{name} reads {table.name} without a constant bound on {day_column}: "
                                    f"{select.sql('bigquery')[:300]}")
    assert not unpruned, "\n".join(unpruned)


def has_constant_bound(where: exp.Where | None, day_column: str) -> bool:
    """Whether the WHERE clause has a lower bound or equality on `day_column` (or
    a cast of it) against an expression with no column and no subquery in it."""
    if where is None:
        return False
    for comparison in where.find_all(exp.GTE, exp.GT, exp.EQ, exp.Between):
        column, *bounds = ([comparison.this, comparison.args["low"]] if isinstance(comparison, exp.Between)
                           else [comparison.this, comparison.expression])
        on_day = [c.name for c in column.find_all(exp.Column)] == [day_column]
        constant = all(not b.find(exp.Column, exp.Select) for b in bounds)
        if on_day and constant:
            return True
    return False


def reads_only_day_range(select: exp.Select, day_column: str) -> bool:
    """`select min(day), max(day) from ...`: one date column, where history starts
    and ends (the signals' days_of_history); no rows of it."""
    return all(isinstance(e.unalias(), (exp.Min, exp.Max))
               and [c.name for c in e.find_all(exp.Column)] == [day_column] for e in select.expressions)
