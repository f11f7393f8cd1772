"""What every asset says about itself in the Dagster UI's Catalog: a one-line
description (what it is and who uses it), its owners, and the tags `tool`, `layer`
and `pii`, set here for the whole code location at once rather than asset by asset.

- `layer` follows the data flow: raw, staging, snapshot, intermediate, mart,
  activation (the rows a sync sends), config (the seeds CS ops edits), sync, play, report.
- `tool` is the outside system the asset comes from or goes to (salesforce,
  hubspot, freshdesk, airtable, google_analytics, karte, product_db, slack), `dbt`
  for models built from several, `cs_platform` for what the platform itself keeps.
- `pii` is `true` where the asset holds personal data: a column of e-mail
  addresses, people's names or message recipients (PERSONAL_COLUMN, matched on the
  asset's column schema), and the report pages, which name each account's CSM.
- Owners per layer (OWNERS): the data layers belong to the data platform team,
  what CS works with to CS ops.
- Descriptions: the first sentence of the asset's own description (for a dbt node,
  its YAML description; never dbt's raw SQL), then who uses it (AUDIENCE).

Code references: every Python-defined asset links to the file defining it
(`dg.with_source_code_references`), every dbt node to its SQL file (the
translator). With `CODE_REFERENCES_GIT_URL` set (and `CODE_REFERENCES_GIT_BRANCH`,
default `main`), the links point into that repository instead of the local file
(`dg.link_code_references_to_git`).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable

import dagster as dg

from cs_platform import settings

TOOLS = ("salesforce", "hubspot", "freshdesk", "airtable", "google_analytics", "karte", "product_db", "slack")
# Kinds that name where an asset is stored or what builds it, not the tool it is about.
_STORAGE_KINDS = {"dbt", "duckdb", "bigquery", "python", "gcs", "html"}

DATA_PLATFORM = "team:data-platform"
OWNERS: dict[str, list[str]] = {
    "raw": [DATA_PLATFORM],
    "staging": [DATA_PLATFORM],
    "snapshot": [DATA_PLATFORM],
    "intermediate": [DATA_PLATFORM],
    "mart": [settings.OWNER, DATA_PLATFORM],
    "activation": [settings.OWNER, DATA_PLATFORM],
    "config": [settings.OWNER],
    "sync": [settings.OWNER],
    "play": [settings.OWNER],
    "report": [settings.OWNER],
}

# Who uses an asset of each layer; `{tool}` is the asset's tool.
AUDIENCE: dict[str, str] = {
    "raw": "Raw {tool} data as loaded, read by its dbt staging model; data engineers check loads here.",
    "staging": "Cleaned {tool} data, read by the intermediate models and marts.",
    "snapshot": "History of {tool} fields, so each past day is scored with the values of that day.",
    "intermediate": "A step towards the marts, for data engineers.",
    "mart": "Read by CS ops and CSMs, and by the plays, syncs and report pages.",
    "activation": "The rows the {tool} sync sends, one per record it writes.",
    "config": "A setting CS ops edits in dbt/seeds; the scores are computed from it.",
    "sync": "Writes to {tool}, where CSMs see it on their records.",
    "play": "Acts for CSMs through {tool}.",
    "report": "Pages CSMs and CS leads open from the CRM or take to customer meetings.",
}

# A column holding personal data: e-mail addresses, people's names, a message's recipient.
PERSONAL_COLUMN = re.compile(
    r"(^|_)(e_?mail|first_?name|last_?name|full_?name|(owner|owner_lead|user|contact)_name|recipient|phone)$",
    re.IGNORECASE)

CODE_REFERENCES = "dagster/code_references"
COLUMN_SCHEMA = "dagster/column_schema"
MAX_SUMMARY = 240
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`(\"'])")
_LABELS = {"incremental."}  # a leading label, not what the asset is


# Assets no rule above describes rightly: (tool, audience, pii).
SPECIAL: dict[dg.AssetKey, tuple[str, str, bool]] = {
    dg.AssetKey(["play", "firings"]): (
        "cs_platform", "Kept by the plays; CS ops reads what was sent, the play models measure it.", True),
}


def layer_of(spec: dg.AssetSpec) -> str:
    top = spec.key.path[0]
    if top in ("raw", "sync", "play", "report"):
        return top
    name = spec.key.path[-1]
    if name.startswith("snapshot_"):
        return "snapshot"
    return {"marts": "mart", "score_config": "config"}.get(spec.group_name or "", spec.group_name or "mart")


def tool_of(spec: dg.AssetSpec, layer: str) -> str:
    path, name = spec.key.path, spec.key.path[-1]
    if layer in ("raw", "sync"):
        return path[1]
    match = re.match(r"(?:stg|snapshot)_(\w+?)__", name) or re.match(rf"activation_({'|'.join(TOOLS)})_", name)
    if match:
        return match.group(1)
    kinds = sorted(set(spec.kinds) - _STORAGE_KINDS)
    if layer in ("play", "report"):
        return "_".join(kinds) if kinds else "cs_platform"
    return "dbt"


def holds_personal_data(spec: dg.AssetSpec, layer: str) -> bool:
    if layer == "report":
        return True
    schema = spec.metadata.get(COLUMN_SCHEMA)
    schema = getattr(schema, "schema", schema)  # a TableSchemaMetadataValue, or the TableSchema itself
    return any(PERSONAL_COLUMN.search(column.name) for column in getattr(schema, "columns", ()))


def summary(description: str | None) -> str:
    """The first sentence of a description's first paragraph, on one line; never dbt's raw SQL."""
    text = (description or "").split("#### Raw SQL", 1)[0].strip()
    paragraph = " ".join(text.split("\n\n", 1)[0].split())
    sentences = [s for s in _SENTENCE_END.split(paragraph) if s]
    while len(sentences) > 1 and sentences[0].lower() in _LABELS:
        sentences.pop(0)
    first = sentences[0] if sentences else ""
    if len(first) > MAX_SUMMARY:
        first = first[:MAX_SUMMARY].rsplit(" ", 1)[0].rstrip(",;:") + " ..."
    return first


def describe(spec: dg.AssetSpec) -> dg.AssetSpec:
    """The spec with its one-line description, owners and tool/layer/pii tags."""
    layer = layer_of(spec)
    tool = tool_of(spec, layer)
    audience = AUDIENCE.get(layer, "").format(tool=tool)
    pii = holds_personal_data(spec, layer)
    if spec.key in SPECIAL:
        tool, audience, pii = SPECIAL[spec.key]
    first = summary(spec.description) or f"The {layer} asset {spec.key.to_user_string()}."
    description = first if first.endswith(audience) else f"{first} {audience}".strip()
    tags = {"tool": tool, "layer": layer, "pii": str(pii).lower()}
    return spec.merge_attributes(tags=tags).replace_attributes(
        description=description, owners=OWNERS.get(layer, [settings.OWNER]))


def git_settings() -> tuple[str, str] | None:
    url = os.environ.get("CODE_REFERENCES_GIT_URL")
    return (url, os.environ.get("CODE_REFERENCES_GIT_BRANCH", "main")) if url else None


def code_references(assets: Iterable) -> dict[dg.AssetKey, dict]:
    """The code-reference metadata of every asset, by key: Python-defined assets link
    to their defining file (dbt nodes already link to their SQL file), into the git
    repository when one is configured."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        # An AssetSpec (an asset another process writes) as an assets definition, so its links convert too.
        assets = [dg.AssetsDefinition(specs=[a]) if isinstance(a, dg.AssetSpec) else a for a in assets]
        linked = [a if _is_dbt(a) or not a.is_executable else dg.with_source_code_references([a])[0]
                  for a in assets if isinstance(a, dg.AssetsDefinition)]
        git = git_settings()
        if git:
            linked = list(dg.link_code_references_to_git(
                linked, git_url=git[0], git_branch=git[1],
                file_path_mapping=dg.AnchorBasedFilePathMapping(
                    local_file_anchor=settings.PROJECT_ROOT / "pyproject.toml",
                    file_anchor_path_in_repository="pyproject.toml")))
    references = {}
    for assets_def in linked:
        for spec in assets_def.specs if isinstance(assets_def, dg.AssetsDefinition) else ():
            if CODE_REFERENCES in spec.metadata:
                references[spec.key] = {CODE_REFERENCES: spec.metadata[CODE_REFERENCES]}
    return references


def _is_dbt(assets_def) -> bool:
    return isinstance(assets_def, dg.AssetsDefinition) and "dbt" in {
        kind for spec in assets_def.specs for kind in spec.kinds}


def apply_catalog(defs: dg.Definitions) -> dg.Definitions:
    """`defs` with every asset described, owned, tagged and linked to its code."""
    references = code_references(defs.assets or [])

    def apply(spec: dg.AssetSpec) -> dg.AssetSpec:
        spec = describe(spec)
        return spec.merge_attributes(metadata=references[spec.key]) if spec.key in references else spec

    return defs.permissive_map_resolved_asset_specs(func=apply, selection=None)
