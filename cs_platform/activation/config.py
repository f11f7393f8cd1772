"""Sync declarations: the YAML CS ops reads and edits, validated when the code loads.

A sync says which dbt model to send, to which destination object, how a model row
is matched to a CRM record (the key), which model column fills which CRM field,
what a null does (leave the field as it is, or clear it), when the sync runs and
how much change it may make before it refuses. See `syncs.yaml` for the shipped
syncs and every option with its default.

Everything that can be wrong in a declaration is found here, at load time, and
named: `sync 'account_scores', field 'mode': unknown mode 'upsrt' (...)`. When
the dbt manifest exists, the model and every mapped column are checked against
it (against the model's documented columns, when it documents any).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from cs_platform import settings

SYNCS_FILE = Path(__file__).with_name("syncs.yaml")

DESTINATIONS = ("salesforce", "hubspot")
MODES = ("upsert", "update", "insert", "create_once")
NULL_HANDLING = ("skip", "clear")

# Built-in defaults; the YAML's `defaults:` block overrides them, a sync's own keys override that.
DEFAULTS: dict[str, Any] = {
    "nulls": "skip",
    "automation": True,  # run after the model updates (and its blocking checks passed)
    "schedule": None,  # cron fallback: also retries failed records when the model did not change
    "guards": {
        "max_change_share": 0.5,  # of previously synced records; above it the run refuses
        "max_shrink_share": 0.2,  # of the source's rows at the last run; above it the run refuses
    },
    "salesforce": {
        "batch_size": 200,  # sObject Collections: at most 200 records per call
        "bulk_threshold": 2000,  # this many records or more go through Bulk API 2.0
        "bulk_job_size": 10000,  # records per Bulk job (one state checkpoint per job)
        "bulk_poll_seconds": 2.0,  # first wait, then polling interval, for a Bulk job
        "max_api_usage_share": 0.8,  # stop cleanly before the org has used this share of its daily API requests
    },
    "hubspot": {
        "batch_size": 100,  # CRM v3 batch endpoints: at most 100 inputs per call
    },
}
SYNC_KEYS = {"name", "description", "model", "table", "destination", "object", "mode", "key",
             "record_id", "fields", "constants", "nulls", "automation", "schedule", "guards",
             "salesforce", "hubspot"}
GUARD_KEYS = set(DEFAULTS["guards"])
DESTINATION_OPTION_KEYS = {d: set(DEFAULTS[d]) for d in DESTINATIONS}
BATCH_LIMITS = {"salesforce": 200, "hubspot": 100}
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


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
    max_shrink_share: float = 0.2
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


def _merge(base: Mapping, override: Mapping | None) -> dict:
    out = dict(base)
    for k, v in (override or {}).items():
        out[k] = _merge(out[k], v) if isinstance(out.get(k), Mapping) and isinstance(v, Mapping) else v
    return out


def load_syncs(path: str | Path = SYNCS_FILE, manifest: Mapping | None | str = "auto") -> list[SyncSpec]:
    """Read and validate a syncs file. `manifest="auto"` reads the dbt project's
    manifest when it has been prepared; pass None to skip the model checks."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SyncConfigError(f"{path}: not valid YAML: {exc}") from None
    if manifest == "auto":
        manifest = read_manifest()
    return parse_syncs(doc, manifest=manifest, origin=str(path))


def parse_syncs(doc: Mapping, manifest: Mapping | None = None, origin: str = "syncs") -> list[SyncSpec]:
    if not isinstance(doc, Mapping):
        raise SyncConfigError(f"{origin}: expected a mapping with `defaults` and `syncs`")
    unknown = set(doc) - {"defaults", "syncs"}
    if unknown:
        raise SyncConfigError(f"{origin}: unknown top-level keys {sorted(unknown)} (known: defaults, syncs)")
    defaults = _merge(DEFAULTS, doc.get("defaults"))
    _check_options(defaults, where=f"{origin}: defaults")
    entries = doc.get("syncs") or []
    if not isinstance(entries, list):
        raise SyncConfigError(f"{origin}: `syncs` must be a list")
    specs: list[SyncSpec] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        spec = _parse_one(entry, defaults, manifest, label=f"{origin}: syncs[{i}]")
        if spec.name in seen:
            raise SyncConfigError(f"sync '{spec.name}', field 'name': declared twice")
        seen.add(spec.name)
        specs.append(spec)
    return specs


def _check_options(block: Mapping, where: str) -> None:
    guards = block.get("guards") or {}
    extra = set(guards) - GUARD_KEYS
    if extra:
        raise SyncConfigError(f"{where}, field 'guards': unknown keys {sorted(extra)} (known: {sorted(GUARD_KEYS)})")
    for name, value in guards.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
            raise SyncConfigError(f"{where}, field 'guards.{name}': must be a share between 0 and 1, got {value!r}")
    for dest in DESTINATIONS:
        extra = set(block.get(dest) or {}) - DESTINATION_OPTION_KEYS[dest]
        if extra:
            raise SyncConfigError(f"{where}, field '{dest}': unknown keys {sorted(extra)} "
                                  f"(known: {sorted(DESTINATION_OPTION_KEYS[dest])})")
        size = (block.get(dest) or {}).get("batch_size")
        if size is not None and not (isinstance(size, int) and 1 <= size <= BATCH_LIMITS[dest]):
            raise SyncConfigError(f"{where}, field '{dest}.batch_size': must be 1..{BATCH_LIMITS[dest]}, got {size!r}")


def _parse_one(entry: Any, defaults: Mapping, manifest: Mapping | None, label: str) -> SyncSpec:
    if not isinstance(entry, Mapping):
        raise SyncConfigError(f"{label}: each sync must be a mapping")
    name = entry.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise SyncConfigError(f"{label}, field 'name': required, lowercase letters, digits and _ (got {name!r})")

    def fail(field_name: str, message: str):
        raise SyncConfigError(f"sync '{name}', field '{field_name}': {message}")

    unknown = set(entry) - SYNC_KEYS
    if unknown:
        fail(sorted(unknown)[0], f"unknown field (known: {', '.join(sorted(SYNC_KEYS))})")
    merged = _merge(defaults, {k: v for k, v in entry.items() if k in ("guards", "salesforce", "hubspot")})
    _check_options({k: entry.get(k) for k in ("guards", "salesforce", "hubspot") if entry.get(k)},
                   where=f"sync '{name}'")

    for required in ("model", "destination", "object", "mode", "key", "fields"):
        if not entry.get(required):
            fail(required, "required")
    destination = entry["destination"]
    if destination not in DESTINATIONS:
        fail("destination", f"unknown destination {destination!r} (one of {', '.join(DESTINATIONS)})")
    mode = entry["mode"]
    if mode not in MODES:
        fail("mode", f"unknown mode {mode!r} (one of {', '.join(MODES)})")
    nulls = entry.get("nulls", defaults["nulls"])
    if nulls not in NULL_HANDLING:
        fail("nulls", f"unknown null handling {nulls!r} (one of {', '.join(NULL_HANDLING)})")

    key = entry["key"]
    if not isinstance(key, Mapping) or set(key) != {"column", "field"}:
        fail("key", "must be {column: <model column>, field: <external ID field / idProperty>}")
    record_id = entry.get("record_id")
    if record_id is not None and not isinstance(record_id, str):
        fail("record_id", "must be the name of the model column holding the destination record ID")
    if destination == "salesforce" and mode == "update" and not record_id and key["field"] != "Id":
        fail("record_id", "mode 'update' on Salesforce needs the model column holding the record Id "
                          "(sObject Collections and Bulk updates address records by Id)")

    raw_fields = entry["fields"]
    if not isinstance(raw_fields, Mapping):
        fail("fields", "must map model columns to destination fields")
    fields: list[FieldMapping] = []
    for column, target in raw_fields.items():
        if isinstance(target, str):
            fields.append(FieldMapping(column, target, nulls))
        elif isinstance(target, Mapping) and "field" in target and set(target) <= {"field", "nulls"}:
            field_nulls = target.get("nulls", nulls)
            if field_nulls not in NULL_HANDLING:
                fail(f"fields.{column}.nulls", f"unknown null handling {field_nulls!r} (one of {', '.join(NULL_HANDLING)})")
            fields.append(FieldMapping(column, target["field"], field_nulls))
        else:
            fail(f"fields.{column}", "must be a field name or {field: <name>, nulls: skip|clear}")
    constants = entry.get("constants") or {}
    if not isinstance(constants, Mapping):
        fail("constants", "must map destination fields to fixed values")
    targets = [m.field for m in fields] + list(constants) + [key["field"]]
    if record_id:
        targets.append("Id" if destination == "salesforce" else "hs_object_id")
    dupes = sorted({t for t in targets if targets.count(t) > 1})
    if dupes:
        fail("fields", f"destination field(s) {dupes} are written twice")

    schedule = entry.get("schedule", defaults["schedule"])
    if schedule is not None and not (isinstance(schedule, str) and _valid_cron(schedule)):
        fail("schedule", f"not a valid cron string: {schedule!r}")
    automation = entry.get("automation", defaults["automation"])
    if not isinstance(automation, bool):
        fail("automation", "must be true or false")

    table = entry.get("table")
    if table is not None and (not isinstance(table, str) or table.count(".") != 1):
        fail("table", f"must be <schema>.<table>, got {table!r}")

    spec = SyncSpec(
        name=name,
        description=str(entry.get("description") or f"Reverse-ETL sync {name}").strip(),
        model=entry["model"],
        destination=destination,
        object=entry["object"],
        mode=mode,
        key_column=key["column"],
        key_field=key["field"],
        fields=tuple(fields),
        record_id_column=record_id,
        constants=dict(constants),
        table=table,
        automation=automation,
        schedule=schedule,
        max_change_share=float(merged["guards"]["max_change_share"]),
        max_shrink_share=float(merged["guards"]["max_shrink_share"]),
        options=dict(merged[destination]),
    )
    if manifest is not None:
        _check_against_manifest(spec, manifest)
    return spec


def _valid_cron(text: str) -> bool:
    try:  # Dagster's own check, through its public API
        dg.ScheduleDefinition(name="cron_check", cron_schedule=text, job_name="cron_check")
    except Exception:  # noqa: BLE001 - any refusal means "not a cron string Dagster accepts"
        return False
    return True


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


def _check_against_manifest(spec: SyncSpec, manifest: Mapping) -> None:
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
