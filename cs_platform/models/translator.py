"""How dbt nodes become Dagster assets: keys, groups, owners, kinds, automation.

- A dbt source table is the raw asset its loader writes, `raw/<tool>/<table>`
  (source `raw_<tool>`), so lineage runs unbroken from the tools to the marts.
- A source the platform writes itself (the plays' firings) declares its key in
  `meta.dagster.asset_key` (`play/firings`).
- Models and seeds are keyed by their name (`account_360`, `health_score_history`).
- Groups follow the project's folders: staging, intermediate, marts, and activation
  for the models the reverse-ETL syncs send (models/marts/activation); seeds are
  the `score_config` group, the settings CS ops edit.
- Owners here are the project's (settings.OWNER); the code location replaces them
  per layer, with the tool / layer / pii tags (cs_platform/catalog.py).
- Descriptions are one line: the first sentence of the node's YAML description
  (`cs_platform.catalog.summary`), never the raw SQL dagster-dbt falls back to.
- Each node links to its SQL (or seed CSV) file (code references), and its columns
  carry the `data_type` declared in the YAML (dagster-dbt's column schema).
- dagster-dbt's own bookkeeping (each node's dbt unique_id, the DbtProject object,
  the dbt project id) is kept off the asset's metadata, where the UI would show it
  as `[DbtProject] (unserializable)` and id dumps; the dbt resource puts it back
  on the run's assets definition, where dagster-dbt selects models with it
  (`cs_platform.models.project.DbtCli`). The manifest and the translator stay:
  dagster-dbt finds them there and the UI hides them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

from cs_platform import settings
from cs_platform.catalog import summary

SOURCE_PREFIX = "raw_"
LAYERS = ("staging", "intermediate", "marts")
SEED_GROUP = "score_config"
ACTIVATION_GROUP = "activation"
# dagster-dbt metadata the UI would show raw; restored at run time by DbtCli.
UNIQUE_ID_KEY = "dagster_dbt/unique_id"
PROJECT_KEY = "dagster_dbt/project"
HIDDEN_METADATA = (UNIQUE_ID_KEY, PROJECT_KEY, "dagster_dbt/project_id")
# dbt event metadata that names the dbt run, not the data.
HIDDEN_EVENT_METADATA = ("unique_id", "invocation_id")


class CsPlatformDbtTranslator(DagsterDbtTranslator):
    def __init__(self) -> None:
        super().__init__(DagsterDbtTranslatorSettings(
            # Every dbt test is an asset check; a test with severity `error` (dbt's
            # default) is a blocking check: what runs downstream of a failing one
            # does not run. Tests on sources become checks on the raw assets.
            enable_asset_checks=True,
            enable_source_tests_as_checks=True,
            enable_code_references=True,
        ))

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            source_name: str = dbt_resource_props["source_name"]
            # A table the platform writes itself (plays.play_firings) names its asset in its meta.
            declared = ((dbt_resource_props.get("meta") or {}).get("dagster") or {}).get("asset_key")
            if declared:
                return dg.AssetKey(declared)
            if not source_name.startswith(SOURCE_PREFIX):
                raise ValueError(f"dbt source {source_name!r} must be named {SOURCE_PREFIX}<tool>")
            return dg.AssetKey(["raw", source_name.removeprefix(SOURCE_PREFIX), dbt_resource_props["name"]])
        return dg.AssetKey([dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        resource_type = dbt_resource_props["resource_type"]
        if resource_type == "seed":
            return SEED_GROUP
        if resource_type == "source":
            source_name = dbt_resource_props["source_name"]
            return source_name.removeprefix(SOURCE_PREFIX) if source_name.startswith(SOURCE_PREFIX) else "plays"
        folders = dbt_resource_props.get("fqn", [])[1:-1]
        if ACTIVATION_GROUP in folders:
            return ACTIVATION_GROUP
        return next((f for f in folders if f in LAYERS), None)

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        described = summary(dbt_resource_props.get("description"))
        if described:
            return described
        kind = {"seed": "dbt seed", "snapshot": "dbt snapshot", "source": "raw table"}.get(
            dbt_resource_props["resource_type"], "dbt model")
        group = self.get_group_name(dbt_resource_props)
        return " ".join(filter(None, ["The", group, kind, f"{dbt_resource_props['name']}."]))

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        return [settings.OWNER]

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        metadata = {k: v for k, v in spec.metadata.items() if k not in HIDDEN_METADATA}
        # The warehouse of this environment, whatever target the manifest was parsed with.
        return spec.replace_attributes(kinds={"dbt", settings.warehouse_kind()}, metadata=metadata)
