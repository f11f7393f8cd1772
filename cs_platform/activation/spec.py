"""A sync as the engine runs it (`SyncSpec`), and where its model's rows are.

Syncs are declared in YAML and validated by `SyncComponent`
(`cs_platform/activation/component.py`), which turns each declaration into a
`SyncSpec`. When the dbt manifest exists, the model and every mapped column are
checked against it (against the model's documented columns, when it documents any).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from cs_platform import settings


class SyncConfigError(ValueError):
    """A sync declaration is wrong; the message names the sync and the field."""


@dataclass(frozen=True)
class FieldMapping:
    column: str  # model column
    field: str  # destination field / property
    nulls: str  # skip | clear


@dataclass(frozen=True)
class SyncSpec:
    name: str
    description: str
    model: str
    destination: str
    object: str
    mode: str
    key_column: str
    key_field: str
    fields: tuple[FieldMapping, ...]
    record_id_column: str | None = None
    constants: Mapping[str, Any] = field(default_factory=dict)
    table: str | None = None  # schema.table of the model; None = from the dbt manifest at run time
    automation: bool = True
    schedule: str | None = None
    max_change_share: float = 0.5
    change_fields: tuple[str, ...] | None = None  # fields counted by max_change_share; None = all
    max_shrink_share: float = 0.2
    max_new_share: float = 0.5
    failure_warn_share: float = 0.0
    failure_error_share: float = 0.1
    dead_letter_after: int = 3
    checkpoint_records: int = 1000
    options: Mapping[str, Any] = field(default_factory=dict)  # the destination's block

    @property
    def asset_key(self) -> dg.AssetKey:
        return dg.AssetKey(["sync", self.destination, self.name])

    @property
    def model_key(self) -> dg.AssetKey:
        return dg.AssetKey([self.model])

    @property
    def op_name(self) -> str:
        return "__".join(self.asset_key.path)

    @property
    def source_columns(self) -> list[str]:
        cols = [self.key_column]
        if self.record_id_column:
            cols.append(self.record_id_column)
        cols += [m.column for m in self.fields]
        return list(dict.fromkeys(cols))

    @property
    def batch_size(self) -> int:
        return int(self.options["batch_size"])

    def describe(self) -> str:
        fields = ", ".join(f"{m.column} -> {m.field}" for m in self.fields)
        return (f"{self.description}\n\nSends model `{self.model}` to {self.destination} "
                f"{self.object} ({self.mode}), matched on {self.key_column} -> {self.key_field}. "
                f"Fields: {fields}.")


# --------------------------------------------------------------------------- dbt manifest

def manifest_path() -> Path:
    return settings.DBT_PROJECT_DIR / "target" / "manifest.json"


def read_manifest(path: Path | None = None) -> dict | None:
    """The prepared dbt manifest, or None when dbt has not been parsed yet."""
    path = path or manifest_path()
    if not path.exists():
        return None
    return json.loads(path.read_text())


def model_node(manifest: Mapping, model: str) -> Mapping | None:
    for node in (manifest.get("nodes") or {}).values():
        if node.get("resource_type") == "model" and node.get("name") == model:
            return node
    return None


def relation_of(node: Mapping) -> str:
    """`schema.table` of a dbt model, as the warehouse resource names tables."""
    return f"{node['schema']}.{node.get('alias') or node['name']}"


def check_against_manifest(spec: SyncSpec, manifest: Mapping) -> None:
    node = model_node(manifest, spec.model)
    if node is None:
        models = sorted(n["name"] for n in (manifest.get("nodes") or {}).values()
                        if n.get("resource_type") == "model" and n["name"].startswith("activation_"))
        raise SyncConfigError(
            f"sync '{spec.name}', field 'model': unknown dbt model {spec.model!r}"
            + (f" (activation models: {', '.join(models)})" if models else ""))
    documented = {c.lower() for c in (node.get("columns") or {})}
    if not documented:
        return  # the model documents no columns: nothing to check against
    labels = {spec.key_column: "key.column"}
    if spec.record_id_column:
        labels[spec.record_id_column] = "record_id"
    for m in spec.fields:
        labels.setdefault(m.column, f"fields.{m.column}")
    for column, label in labels.items():
        if column.lower() not in documented:
            raise SyncConfigError(
                f"sync '{spec.name}', field '{label}': column {column!r} is not a documented column "
                f"of model {spec.model!r} (documented: {', '.join(sorted(documented))})")


def resolve_table(spec: SyncSpec, manifest: Mapping | None | str = "auto") -> str:
    """Where the model's rows are: the sync's `table`, else the dbt manifest's relation."""
    if spec.table:
        return spec.table
    if manifest == "auto":
        manifest = read_manifest()
    if manifest is None:
        raise SyncConfigError(
            f"sync '{spec.name}': no `table` given and the dbt manifest ({manifest_path()}) does not "
            f"exist yet, so the relation of model {spec.model!r} is unknown. Run `make manifest`.")
    node = model_node(manifest, spec.model)
    if node is None:
        raise SyncConfigError(f"sync '{spec.name}', field 'model': unknown dbt model {spec.model!r}")
    return relation_of(node)
