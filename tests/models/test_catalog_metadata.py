"""What the Dagster UI shows of each asset: a one-line description that is not SQL,
owners, the tool / layer / pii tags, a link to the defining file, typed dbt
columns that match the built warehouse, and on a dbt run of the marts their
figures (row counts, band counts, at-risk and upsell renewals, previews) without
dbt's internal ids. The dbt run is a subset (five marts) on a copy of the
session's built warehouse, which also proves that selecting dbt assets by key
works without dagster-dbt's bookkeeping in the definitions."""

import json
import re

import dagster as dg
import pytest
from dagster._utils.tags import is_valid_strict_tag_value, is_valid_tag_key

from cs_platform.catalog import AUDIENCE
from cs_platform.models import column_types
from cs_platform.models.project import dbt_project
from tests.models.support import AS_OF

LAYERS = set(AUDIENCE)
TOOLS = {"salesforce", "hubspot", "freshdesk", "airtable", "google_analytics", "karte", "product_db", "slack",
         "dbt", "cs_platform"}
HIDDEN_BY_THE_UI = {"dagster_dbt/manifest", "dagster_dbt/dagster_dbt_translator"}
MARTS = ["usage_health", "renewal_likelihood", "renewal_list", "account_360", "usage_anomalies"]
SQL = re.compile(r"\bselect\b.*\bfrom\b|\{\{|\{%|#### Raw SQL|```", re.IGNORECASE | re.DOTALL)


@pytest.fixture(scope="module")
def nodes():
    from cs_platform.definitions import defs

    return {node.key: node for node in defs().resolve_asset_graph().asset_nodes}


def test_every_asset_has_a_one_line_description_owners_tags_and_code(nodes):
    assert len(nodes) > 80
    problems = []
    for key, node in nodes.items():
        name = key.to_user_string()
        description = node.description or ""
        if not description or "\n" in description or SQL.search(description) or len(description) > 400:
            problems.append(f"{name}: description {description[:120]!r}")
        if not node.owners or not all(o.startswith("team:") or "@" in o for o in node.owners):
            problems.append(f"{name}: owners {node.owners}")
        for tag_key, tag_value in node.tags.items():
            if not (is_valid_tag_key(tag_key) and is_valid_strict_tag_value(tag_value)):
                problems.append(f"{name}: tag {tag_key}={tag_value!r}")
        if node.tags.get("layer") not in LAYERS or node.tags.get("tool") not in TOOLS \
                or node.tags.get("pii") not in ("true", "false"):
            problems.append(f"{name}: tags {dict(node.tags)}")
        if "dagster/code_references" not in node.metadata:
            problems.append(f"{name}: no code references")
        internal = {k for k in node.metadata if k.startswith(("dagster_dbt/", "dagster-dbt/project"))} \
            - HIDDEN_BY_THE_UI
        if internal:
            problems.append(f"{name}: dbt-internal metadata {sorted(internal)}")
    assert not problems, "\n".join(problems)


def test_tags_follow_the_data_flow(nodes):
    def tags(key):
        return {k: nodes[dg.AssetKey(key)].tags.get(k) for k in ("tool", "layer")}

    assert tags(["raw", "hubspot", "contacts"]) == {"tool": "hubspot", "layer": "raw"}
    assert tags(["stg_google_analytics__page_views_daily"]) == {"tool": "google_analytics", "layer": "staging"}
    assert tags(["snapshot_salesforce__accounts"]) == {"tool": "salesforce", "layer": "snapshot"}
    assert tags(["int_accounts_mapped"]) == {"tool": "dbt", "layer": "intermediate"}
    assert tags(["account_360"]) == {"tool": "dbt", "layer": "mart"}
    assert tags(["activation_hubspot_companies"]) == {"tool": "hubspot", "layer": "activation"}
    assert tags(["health_score_components"]) == {"tool": "dbt", "layer": "config"}
    assert tags(["sync", "salesforce", "account_health"]) == {"tool": "salesforce", "layer": "sync"}
    assert tags(["play", "usage_anomaly_alert"]) == {"tool": "slack", "layer": "play"}
    # dbt's and the loaders' code: the SQL file of a model, the Python module of a raw table.
    refs = nodes[dg.AssetKey(["renewal_list"])].metadata["dagster/code_references"].code_references
    assert [r.file_path for r in refs] == [str(dbt_project.project_dir / "models/marts/renewal_list.sql")]
    refs = nodes[dg.AssetKey(["raw", "product_db", "users"])].metadata["dagster/code_references"].code_references
    assert all(r.file_path.endswith(".py") for r in refs)


def test_code_references_open_the_git_repository_when_one_is_set(monkeypatch):
    from cs_platform.definitions import defs

    monkeypatch.setenv("CODE_REFERENCES_GIT_URL", "https://github.com/acme/cs_platform")
    monkeypatch.setenv("CODE_REFERENCES_GIT_BRANCH", "release")
    graph = defs().resolve_asset_graph()
    base = "https://github.com/acme/cs_platform/tree/release/"
    urls = {"/".join(key): [r.url for r in graph.get(dg.AssetKey(key)).metadata[
        "dagster/code_references"].code_references]
        for key in (["renewal_list"], ["raw", "product_db", "users"], ["play", "firings"])}
    assert urls["renewal_list"] == [base + "dbt/models/marts/renewal_list.sql"]
    assert urls["raw/product_db/users"][0].startswith(base + "cs_platform/defs/sources/product_db.py#L")
    assert urls["play/firings"][0].startswith(base + "cs_platform/defs/activation/plays/defs.yaml#L")


def test_assets_with_emails_or_names_of_people_are_pii(nodes):
    pii = {key.to_user_string() for key, node in nodes.items() if node.tags.get("pii") == "true"}
    holding_people = {"raw/salesforce/contact", "raw/salesforce/user", "raw/hubspot/contacts",
                      "raw/hubspot/email_events", "raw/product_db/users", "stg_salesforce__contacts",
                      "stg_salesforce__users", "stg_hubspot__contacts", "stg_product_db__users",
                      "account_360", "csm_workload", "renewal_list", "account_segments", "play/firings"}
    assert holding_people <= pii
    assert not pii & {"usage_health", "renewal_likelihood", "raw/product_db/plans", "health_score_bands",
                      "stg_hubspot__companies", "usage_anomalies", "sync/salesforce/account_health"}


def test_every_dbt_column_declares_the_type_it_has_in_the_built_warehouse(built):
    manifest = json.loads(dbt_project.manifest_path.read_text())
    built_manifest = json.loads((built.target_path / "manifest.json").read_text())
    actual = column_types.built_types(built.warehouse_path, built_manifest)
    problems = []
    checked = 0
    for node in manifest["nodes"].values():
        if node["resource_type"] not in ("model", "seed", "snapshot"):
            continue
        name, columns = node["name"], node["columns"]
        built_columns = actual.get(name)
        if built_columns is None:
            problems.append(f"{name}: not in the built warehouse")
            continue
        for column, props in columns.items():
            checked += 1
            if not props.get("data_type"):
                problems.append(f"{name}.{column}: no data_type")
            elif column not in built_columns:
                problems.append(f"{name}.{column}: in the YAML, not in the built relation")
            elif props["data_type"] != built_columns[column]:
                problems.append(f"{name}.{column}: declared {props['data_type']}, built {built_columns[column]}")
        problems += [f"{name}.{column}: built, not in the YAML" for column in built_columns if column not in columns]
    assert checked > 900
    assert not problems, "\n".join(problems)


def test_the_type_check_notices_a_changed_type(built, tmp_path):
    """The comparison above is on the warehouse's real types: a column whose type
    changes no longer matches its declaration."""
    copy = built.copy_to(tmp_path)
    import duckdb

    with duckdb.connect(str(copy)) as con:
        con.execute("create or replace table marts.csm_workload as "
                    "select * replace (cast(arr_owned as varchar) as arr_owned) from marts.csm_workload")
    built_manifest = json.loads((built.target_path / "manifest.json").read_text())
    assert column_types.built_types(copy, built_manifest)["csm_workload"]["arr_owned"] == "string"
    assert column_types.declared_types()["csm_workload"]["arr_owned"] == "float"


def test_writing_the_types_keeps_the_yaml_and_sets_every_column(tmp_path):
    source = dbt_project.project_dir / "models" / "marts" / "_marts.yml"
    copy = tmp_path / "_marts.yml"
    copy.write_text(source.read_text())
    declared = column_types.declared_types()
    types = {node: {c: "string" for c in cols} for node, cols in declared.items()}
    typed = column_types.write_types(copy, types)
    import yaml

    rewritten = yaml.safe_load(copy.read_text())
    original = yaml.safe_load(source.read_text())
    assert typed == sum(len(m["columns"]) for m in original["models"])
    for before, after in zip(original["models"], rewritten["models"]):
        assert [c["data_type"] for c in after["columns"]] == ["string"] * len(before["columns"])
        assert [{k: v for k, v in c.items() if k != "data_type"} for c in after["columns"]] == \
            [{k: v for k, v in c.items() if k != "data_type"} for c in before["columns"]]
    assert copy.read_text().count("#") == source.read_text().count("#")


@pytest.fixture
def mart_run(built, tmp_path, monkeypatch):
    from cs_platform.defs.models.dbt import DbtBuildConfig, dbt_models
    from cs_platform.models.project import dbt_cli
    from cs_platform.resources.warehouse import DuckDBWarehouse

    path = built.copy_to(tmp_path / "warehouse")
    monkeypatch.setenv("DUCKDB_PATH", str(path))
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    warehouse = DuckDBWarehouse(path=str(path))
    result = dg.materialize(
        [dbt_models], selection=[dg.AssetKey(m) for m in MARTS],
        resources={"dbt": dbt_cli(), "warehouse": warehouse},
        run_config=dg.RunConfig({"dbt_models": DbtBuildConfig(as_of_date=AS_OF.isoformat())}))
    assert result.success
    return result, warehouse


def test_a_dbt_run_of_the_marts_shows_their_figures_and_no_dbt_ids(mart_run):
    result, warehouse = mart_run
    materialized = {e.asset_key.path[-1]: e.materialization.metadata
                    for e in result.get_asset_materialization_events()}
    assert sorted(materialized) == sorted(MARTS)  # the subset, and only it

    for name, metadata in materialized.items():
        assert metadata["dagster/row_count"].value == warehouse.scalar(f"select count(*) from marts.{name}")
        assert not {"unique_id", "invocation_id"} & set(metadata), name
        assert not [k for k in metadata if k.startswith("dagster_dbt/")], name

    bands = warehouse.query("select usage_health_band as band, count(*) as n from marts.usage_health group by 1")
    health = materialized["usage_health"]
    for band, n in bands.itertuples(index=False):
        assert health[f"accounts_{band}"].value == n
    assert health["accounts_green"].value > 0 and "accounts_red" in health
    likelihood = materialized["renewal_likelihood"]
    assert sum(likelihood[f"accounts_{b}"].value for b in ("green", "yellow", "red", "insufficient_data")) == \
        likelihood["dagster/row_count"].value

    renewals = materialized["renewal_list"]
    assert renewals["at_risk_accounts"].value == warehouse.scalar(
        "select count(*) from marts.renewal_list where has_risk_signal")
    assert renewals["upsell_accounts"].value == warehouse.scalar(
        "select count(*) from marts.renewal_list where has_upsell_signal")
    first = warehouse.query("select account_name from marts.renewal_list order by renewal_date, arr desc, account_id "
                            "limit 1")["account_name"][0]
    preview = renewals["next_renewals"].value
    assert preview.startswith("| renewal_date | account_name |") and first in preview

    red = warehouse.query("select account_name from marts.account_360 "
                          "where usage_health_band = 'red' and lifecycle_status = 'active'")["account_name"]
    assert len(red) > 0
    red_preview = materialized["account_360"]["top_red_accounts"].value
    assert all(name in red_preview for name in red[:10])
    assert materialized["account_360"]["red_accounts"].value == len(red)
    assert "| account_id | usage_health_score |" in materialized["usage_health"]["top_red_accounts"].value

    anomalies = materialized["usage_anomalies"]
    assert anomalies["anomalies_drop"].value + anomalies["anomalies_spike"].value == \
        anomalies["dagster/row_count"].value

    checks = result.get_asset_check_evaluations()
    assert checks and all(not {"unique_id", "invocation_id"} & set(c.metadata) for c in checks)
