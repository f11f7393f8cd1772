"""How the dbt project appears in Dagster: keys, lineage from the raw assets,
groups, owners, kinds, the warehouse pool, and which checks block."""

import json

import dagster as dg
import pytest

from cs_platform import settings
from cs_platform.sources import catalog

ACTIVATION_KEYS = {
    dg.AssetKey(["activation_salesforce_accounts"]),
    dg.AssetKey(["activation_hubspot_companies"]),
    dg.AssetKey(["activation_salesforce_renewal_risk_tasks"]),
}


@pytest.fixture(scope="module")
def dbt_models():
    from cs_platform.defs.models.dbt import dbt_models

    return dbt_models


@pytest.fixture(scope="module")
def specs(dbt_models):
    return {spec.key: spec for spec in dbt_models.specs}


def test_models_are_keyed_by_name_and_activation_models_exist(specs):
    assert ACTIVATION_KEYS <= set(specs)
    for key in ("account_360", "health_score_history", "renewal_list", "usage_anomalies", "setup_status",
                "health_score_changes", "usage_health", "renewal_likelihood", "account_activities",
                "csm_workload", "account_segments"):
        assert dg.AssetKey([key]) in specs


def test_every_raw_table_feeds_its_staging_model(specs):
    raw_deps = {dep.asset_key for spec in specs.values() for dep in spec.deps
                if dep.asset_key.path[0] == "raw"}
    assert raw_deps == {dg.AssetKey(o.asset_key_path) for o in catalog.SOURCE_OBJECTS.values()}
    assert [d.asset_key for d in specs[dg.AssetKey(["stg_salesforce__accounts"])].deps] == \
        [dg.AssetKey(["raw", "salesforce", "account"])]


def test_lineage_runs_from_raw_to_activation(specs):
    def upstream(key, seen=None):
        seen = set() if seen is None else seen
        for dep in specs[key].deps if key in specs else []:
            if dep.asset_key not in seen:
                seen.add(dep.asset_key)
                upstream(dep.asset_key, seen)
        return seen

    reached = upstream(dg.AssetKey(["activation_salesforce_accounts"]))
    assert dg.AssetKey(["raw", "product_db", "feature_usage_daily"]) in reached
    assert dg.AssetKey(["raw", "salesforce", "account"]) in reached
    assert dg.AssetKey(["health_score_components"]) in reached


def test_groups_owners_and_kinds(specs):
    groups = {key.path[-1]: spec.group_name for key, spec in specs.items()}
    assert groups["stg_product_db__accounts"] == "staging"
    assert groups["int_account_signals_computed"] == "intermediate"
    assert groups["account_360"] == "marts"
    assert groups["health_score_components"] == "score_config"
    assert {groups[k.path[-1]] for k in ACTIVATION_KEYS} == {"activation"}
    assert set(groups.values()) == {"staging", "intermediate", "marts", "activation", "score_config"}
    for spec in specs.values():
        assert spec.owners == [settings.OWNER]
        assert spec.kinds == {"dbt", settings.warehouse_kind()}


def test_dbt_shares_the_warehouse_pool(dbt_models):
    assert dbt_models.op.pool == settings.WAREHOUSE_POOL


def test_key_tests_block_and_other_tests_warn(dbt_models):
    checks = {(c.asset_key.to_user_string(), c.name): c for c in dbt_models.check_specs}
    blocking = {name for name, check in checks.items() if check.blocking}
    assert ("activation_salesforce_accounts", "primary_key_activation_salesforce_accounts_account_id") in blocking
    assert ("activation_salesforce_accounts",
            "unique_activation_salesforce_accounts_salesforce_account_id") in blocking
    assert ("activation_hubspot_companies", "primary_key_activation_hubspot_companies_product_account_id") in blocking
    assert ("account_360", "primary_key_account_360_account_id") in blocking
    assert ("health_score_components", "assert_health_score_weights_sum_to_one") in blocking
    # Tests on the raw tables are checks on the raw assets, and they block too.
    assert ("raw/salesforce/account", "source_primary_key_raw_salesforce_account_Id") in blocking
    assert ("raw/product_db/feature_usage_daily",
            "source_primary_key_raw_product_db_feature_usage_daily_account_id__usage_date__feature_key") in blocking
    warn_only = {name for name, check in checks.items() if not check.blocking}
    assert ("account_360",
            "accepted_values_account_360_usage_health_band__green__yellow__red__insufficient_data") in warn_only


def test_every_table_with_a_primary_key_has_one_key_check_on_it():
    """`meta.primary_key` (which names offending rows) and the `primary_key` test
    (which blocks) must agree, on sources, models and seeds alike."""
    from cs_platform.models.project import dbt_project

    manifest = json.loads(dbt_project.manifest_path.read_text())
    tested: dict[str, list[list[str]]] = {}
    for node in manifest["nodes"].values():
        if (node.get("test_metadata") or {}).get("name") == "primary_key":
            parent = node.get("attached_node") or next(
                uid for uid, s in manifest["sources"].items()
                if [s["source_name"], s["name"]] == node["sources"][0])
            tested.setdefault(parent, []).append(node["test_metadata"]["kwargs"]["columns"])
    declared = {uid: n["config"]["meta"]["primary_key"]
                for uid, n in [*manifest["nodes"].items(), *manifest["sources"].items()]
                if n.get("config", {}).get("meta", {}).get("primary_key")}
    assert len(declared) > 45
    assert tested == {uid: [key] for uid, key in declared.items()}


def test_definitions_load_with_the_platform_resources():
    from cs_platform.defs.models.dbt import defs

    merged = dg.Definitions.merge(defs, dg.Definitions(resources={"warehouse": settings.resources_for()["warehouse"]}))
    job = merged.resolve_job_def("dbt_build")
    assert job is not None
    assert {s.name for s in merged.schedules} == {"dbt_build_daily"}


def test_the_dbt_resource_knows_the_dbt_version_without_running_dbt():
    """dagster-dbt would run `dbt --version` (~3 s) before every command to tell dbt
    Core from Fusion; the resource reads the installed version instead. It must be
    the version the CLI itself reports."""
    import re
    import subprocess

    from packaging.version import Version

    from cs_platform.models.project import dbt_cli

    reported = subprocess.run([settings.dbt_executable(), "--version"], capture_output=True, text=True,
                              check=True).stdout
    installed = re.search(r"installed:\s*(\d+\.\d+\.\d+)", reported).group(1)
    assert dbt_cli()._cli_version == Version(installed)


def test_the_build_job_passes_its_run_config_to_dbt_as_vars():
    from cs_platform.defs.models.dbt import DbtBuildConfig, build_args

    assert build_args(DbtBuildConfig()) == ["build"]
    args = build_args(DbtBuildConfig(as_of_date="2026-03-02", late_data_max_days=400, full_refresh=True))
    assert args[:2] == ["build", "--full-refresh"] and args[2] == "--vars"
    assert json.loads(args[3]) == {"as_of_date": "2026-03-02", "late_data_max_days": 400}
