"""Bad raw data stops at the checks: a duplicated key or a null key in a raw table
fails the dbt test on that raw asset - a blocking Dagster asset check whose result
names the offending keys - and nothing downstream is rebuilt from it: not the
marts, not the activation models, not a sync waiting on them."""

import dagster as dg
import pytest

from cs_platform.defs.models.dbt import DbtBuildConfig, dbt_models
from cs_platform.models.project import dbt_cli
from cs_platform.resources.warehouse import DuckDBWarehouse
from tests.models.support import AS_OF

DUPLICATED_ACCOUNT = "raw_salesforce.account"
NULL_KEY_TABLE = "raw_freshdesk.tickets"


@dg.asset(deps=[dg.AssetKey(["activation_salesforce_accounts"])])
def downstream_sync() -> None:
    """Stands in for a reverse-ETL sync: it must not run on bad data."""


@pytest.fixture
def bad_warehouse(built, tmp_path, monkeypatch):
    path = built.copy_to(tmp_path / "bad")
    monkeypatch.setenv("DUCKDB_PATH", str(path))
    # dagster-dbt reuses partial parsing from here; this copy's profile differs anyway.
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    warehouse = DuckDBWarehouse(path=str(path))
    duplicated = warehouse.scalar(f"select min(Id) from {DUPLICATED_ACCOUNT}")
    warehouse.execute(f"insert into {DUPLICATED_ACCOUNT} select * from {DUPLICATED_ACCOUNT} where Id = ?",
                      [duplicated])
    subject = "Cannot export reports"
    warehouse.execute(f"update {NULL_KEY_TABLE} set id = null, subject = ? "
                      f"where id = (select min(id) from {NULL_KEY_TABLE})", [subject])
    return warehouse, duplicated, subject


def test_bad_keys_fail_blocking_checks_that_name_them_and_nothing_downstream_runs(bad_warehouse):
    warehouse, duplicated, subject = bad_warehouse
    before = warehouse.query("select * from marts.account_360 order by account_id")

    result = dg.materialize(
        [dbt_models, downstream_sync],
        resources={"dbt": dbt_cli(), "warehouse": warehouse},
        run_config=dg.RunConfig({"dbt_models": DbtBuildConfig(as_of_date=AS_OF.isoformat())}),
        raise_on_error=False,
    )
    assert not result.success

    checks = {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}
    duplicate_key = checks[("raw/salesforce/account", "source_primary_key_raw_salesforce_account_Id")]
    assert not duplicate_key.passed
    assert duplicated in duplicate_key.description
    assert duplicate_key.metadata["offending_keys"].value == [f"Id={duplicated} (2 rows)"]
    assert "| Id | n_records |" in duplicate_key.metadata["failing_rows"].value
    null_key = checks[("raw/freshdesk/tickets", "source_primary_key_raw_freshdesk_tickets_id")]
    assert not null_key.passed
    # The null key is named by the record that lacks it, not only counted.
    assert "id=null" in null_key.description and subject in null_key.description

    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    for model in ("stg_salesforce__accounts", "stg_freshdesk__tickets", "account_360", "health_score_history",
                  "activation_salesforce_accounts", "activation_hubspot_companies",
                  "activation_salesforce_renewal_risk_tasks", "downstream_sync"):
        assert dg.AssetKey([model]) not in materialized, f"{model} was rebuilt from bad data"
    # Models that do not read the bad tables still refresh.
    assert dg.AssetKey(["stg_product_db__accounts"]) in materialized

    after = warehouse.query("select * from marts.account_360 order by account_id")
    assert after.equals(before), "the marts keep their last good state"


def test_a_raw_table_whose_loader_check_failed_earlier_keeps_its_models_out_of_the_next_build(
        built, tmp_path, monkeypatch):
    # The product DB load of `accounts` found a column the models read missing (a blocking
    # ERROR check, in its own run); the daily dbt build later must not rebuild from that table.
    path = built.copy_to(tmp_path / "drift")
    monkeypatch.setenv("DUCKDB_PATH", str(path))
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    warehouse = DuckDBWarehouse(path=str(path))
    instance = dg.DagsterInstance.ephemeral()
    instance.report_runless_asset_event(dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey(["raw", "product_db", "accounts"]), check_name="expected_columns_present",
        passed=False, severity=dg.AssetCheckSeverity.ERROR, description="column industry missing"))

    result = dg.materialize(
        [dbt_models], resources={"dbt": dbt_cli(), "warehouse": warehouse}, instance=instance,
        run_config=dg.RunConfig({"dbt_models": DbtBuildConfig(as_of_date=AS_OF.isoformat())}),
        raise_on_error=False)

    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data.user_failure_data
    assert "raw/product_db/accounts: expected_columns_present" in failure.description
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    for model in ("stg_product_db__accounts", "account_360", "activation_salesforce_accounts"):
        assert dg.AssetKey([model]) not in materialized, f"{model} was rebuilt from a table with schema drift"
    assert dg.AssetKey(["stg_salesforce__accounts"]) in materialized  # the rest still refreshes
