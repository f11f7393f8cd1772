"""`SyncComponent`: reverse-ETL syncs declared in YAML, typed and validated by Dagster.

An instance is a `defs.yaml` under `cs_platform/defs/activation/` whose `attributes`
hold a list of syncs (see the shipped `syncs/defs.yaml` for every option). Each
sync becomes the asset `sync/<destination>/<name>` downstream of its dbt model
(`assets.py`), with the activation jobs, fallback schedule and automation sensor.

Where a mistake is found, and how it is reported:
- the shape (unknown field, wrong mode, batch size over the API's limit, a share
  outside 0..1) is in the JSON schema: `dg check yaml` reports it with the file and
  line, before anything loads; loading reports it the same way;
- the rules that need more than one field (a cron Dagster accepts, the
  destination's own rules, a CRM field written twice, a sync name used twice) are
  validators: loading (`dg check defs`, the code server) reports them with the file,
  line and the sync and field named;
- the model and its columns are checked against the dbt manifest when it exists.

The destination owns its rules (`destinations/`): its batch limit bounds
`batch_size` here, and it says which modes need a record id.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import dagster as dg
import yaml
from pydantic import Field, ValidationError, model_validator

from cs_platform.activation.destinations import destination_type
from cs_platform.activation.destinations.hubspot import HubSpotDestination
from cs_platform.activation.destinations.salesforce import SalesforceDestination
from cs_platform.activation.spec import (
    FieldMapping,
    SyncConfigError,
    SyncSpec,
    check_against_manifest,
    read_manifest,
)

NullHandling = Literal["skip", "clear"]
SYNCS_YAML = Path(__file__).parents[1] / "defs" / "activation" / "syncs" / "defs.yaml"


class KeyMapping(dg.Model):
    """How a model row is matched to a CRM record."""

    column: str = Field(description="The model column holding the key.")
    field: str = Field(description="The CRM field matched on: a Salesforce External ID field (or Id), "
                                   "a HubSpot unique property (idProperty).")


class FieldTarget(dg.Model):
    field: str = Field(description="The CRM field or property written.")
    nulls: NullHandling | None = Field(
        default=None, description="What a null does for this field; the sync's `nulls` when unset.")


class Guards(dg.Model):
    """Mass-change guards: a refused run sends nothing and says why; run config
    `override_guards: true` lets one run through."""

    max_change_share: float = Field(
        default=0.5, ge=0, le=1,
        description="Refuse when more than this share of previously synced records would change.")
    change_fields: list[str] | None = Field(
        default=None,
        description="The CRM fields whose change counts toward max_change_share (default: every field "
                    "written). Scores that drift a little on most records every day belong outside it; "
                    "the bands, flags and links that a bug would flip on every record belong in it.")
    max_shrink_share: float = Field(
        default=0.2, ge=0, le=1,
        description="Refuse when the model lost more than this share of its rows since the last sync "
                    "(an empty model must never blank the CRM).")
    max_new_share: float = Field(
        default=0.5, ge=0,
        description="Refuse when the records never synced before outnumber this share of the model's rows "
                    "at the last completed run (a key-format change would otherwise create every record "
                    "again). Not applied until a first run has completed.")


class RecordFailures(dg.Model):
    """What per-record failures (the CRM refused a record, the rest went through) do."""

    warn_share: float = Field(
        default=0.0, ge=0, le=1,
        description="The sync's `record_failures` check warns when the CRM refused more than this share "
                    "of the model's records in a run.")
    error_share: float = Field(
        default=0.1, ge=0, le=1,
        description="Above this share the check fails (severity ERROR), the run fails and the alert names "
                    "the first failed records and the CRM's reasons.")
    dead_letter_after: int = Field(
        default=3, ge=1,
        description="A record refused this many times in a row with the same payload is no longer sent "
                    "(dead letter, shown in metadata) until its payload changes.")


class SalesforceOptions(dg.Model):
    batch_size: int = Field(
        default=SalesforceDestination.max_batch_size, ge=1, le=SalesforceDestination.max_batch_size,
        description="Records per sObject Collections call "
                    f"(the API takes at most {SalesforceDestination.max_batch_size}).")
    bulk_threshold: int = Field(default=2000, ge=1,
                                description="This many records or more go through Bulk API 2.0.")
    bulk_job_size: int = Field(default=10000, ge=1,
                               description="Records per Bulk job (one state checkpoint per job).")
    bulk_poll_seconds: float = Field(
        default=0.2, gt=0,
        description="First wait before polling a Bulk job; later polls double the wait up to 10 s.")
    bulk_timeout_seconds: float = Field(
        default=3600, gt=0,
        description="Give up waiting for a Bulk job after this long (its records are checked on the next run).")
    max_api_usage_share: float = Field(
        default=0.8, gt=0, le=1,
        description="Stop cleanly before the org has used this share of its daily API requests.")


class HubSpotOptions(dg.Model):
    batch_size: int = Field(
        default=HubSpotDestination.max_batch_size, ge=1, le=HubSpotDestination.max_batch_size,
        description=f"Inputs per CRM v3 batch call (the API takes at most {HubSpotDestination.max_batch_size}).")
    max_concurrent_requests: int = Field(default=4, ge=1, le=10,
                                         description="Batch calls in flight at once.")
    max_requests_per_10s: int = Field(
        default=100, ge=1, le=190,
        description="Calls per rolling 10 seconds this sync makes at most (HubSpot's burst limit is 100 "
                    "or 190 per 10 s by tier; leave room for other integrations).")
    max_api_usage_share: float = Field(
        default=0.8, gt=0, le=1,
        description="Stop cleanly before the portal has used this share of its daily API requests.")


class Sync(dg.Model):
    """One reverse-ETL sync: a dbt model written to a CRM object."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$",
                      description="The asset key's last part: lowercase letters, digits and _.")
    description: str = Field(default="", description="What the sync writes and why; shown in the UI.")
    model: str = Field(description="The dbt model whose rows are sent.")
    table: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_]+\.[A-Za-z0-9_]+$",
        description="schema.table of the model; default: its relation in the dbt manifest.")
    destination: Literal["salesforce", "hubspot"] = Field(description="The CRM written to.")
    object: str = Field(description="Salesforce sObject (Account, Task) or HubSpot object (companies).")
    mode: Literal["upsert", "update", "insert", "create_once"] = Field(
        description="upsert: create or update, matched on the key. update: update only, never creates. "
                    "insert: create records for keys never synced, never updates. create_once: like "
                    "insert, written as an upsert on the key so a retry after a crash cannot create a "
                    "second record.")
    key: KeyMapping
    record_id: str | None = Field(
        default=None, description="The model column holding the CRM's own record id, for destinations "
                                  "that address updates by id (Salesforce).")
    fields: dict[str, str | FieldTarget] = Field(
        min_length=1, description="Model column -> CRM field, or {field, nulls}.")
    constants: dict[str, Any] = Field(default_factory=dict,
                                      description="CRM field -> fixed value, sent with every record.")
    nulls: NullHandling = Field(default="skip",
                                description="skip: a null leaves the CRM field as it is. clear: it empties it.")
    automation: bool = Field(default=True,
                             description="Run after the model updates and its blocking checks passed.")
    schedule: str | None = Field(
        default=None, description="Cron fallback (also retries failed records when the model did not change).")
    guards: Guards = Field(default_factory=Guards)
    record_failures: RecordFailures = Field(default_factory=RecordFailures)
    checkpoint_records: int = Field(
        default=1000, ge=1,
        description="Records sent between two checkpoints of the sync state (at least one batch). A killed "
                    "run leaves at most this many records in flight, which the next run checks in the CRM "
                    "before sending them again.")
    salesforce: SalesforceOptions | None = Field(default=None, description="Salesforce options.")
    hubspot: HubSpotOptions | None = Field(default=None, description="HubSpot options.")

    @model_validator(mode="after")
    def _rules(self) -> Sync:
        def fail(field_name: str, message: str):
            raise ValueError(f"sync '{self.name}', field '{field_name}': {message}")

        other = "hubspot" if self.destination == "salesforce" else "salesforce"
        if getattr(self, other) is not None:
            fail(other, f"options for {other}, but the sync's destination is {self.destination}")
        if self.schedule is not None and not _valid_cron(self.schedule):
            fail("schedule", f"not a valid cron string: {self.schedule!r}")
        spec = self.to_spec()
        rules = destination_type(self.destination)
        for field_name, message in rules.declaration_errors(spec):
            fail(field_name, message)
        targets = [m.field for m in spec.fields] + list(spec.constants) + [spec.key_field]
        if spec.record_id_column:
            targets.append(rules.record_id_field)
        dupes = sorted({t for t in targets if targets.count(t) > 1})
        if dupes:
            fail("fields", f"destination field(s) {dupes} are written twice")
        written = {m.field for m in spec.fields} | set(spec.constants)
        for name in self.guards.change_fields or ():
            if name not in written:
                fail("guards.change_fields", f"{name!r} is not a CRM field this sync writes "
                                             f"(written: {sorted(written)})")
        return self

    def to_spec(self) -> SyncSpec:
        options = getattr(self, self.destination) or (
            SalesforceOptions() if self.destination == "salesforce" else HubSpotOptions())
        return SyncSpec(
            name=self.name,
            description=self.description.strip() or f"Reverse-ETL sync {self.name}",
            model=self.model,
            destination=self.destination,
            object=self.object,
            mode=self.mode,
            key_column=self.key.column,
            key_field=self.key.field,
            fields=tuple(
                FieldMapping(column, t, self.nulls) if isinstance(t, str)
                else FieldMapping(column, t.field, t.nulls or self.nulls)
                for column, t in self.fields.items()),
            record_id_column=self.record_id,
            constants=dict(self.constants),
            table=self.table,
            automation=self.automation,
            schedule=self.schedule,
            max_change_share=self.guards.max_change_share,
            change_fields=tuple(self.guards.change_fields) if self.guards.change_fields else None,
            max_shrink_share=self.guards.max_shrink_share,
            max_new_share=self.guards.max_new_share,
            failure_warn_share=self.record_failures.warn_share,
            failure_error_share=self.record_failures.error_share,
            dead_letter_after=self.record_failures.dead_letter_after,
            checkpoint_records=self.checkpoint_records,
            options=options.model_dump(),
        )


class SyncsAttributes(dg.Model):
    """The `attributes` of a SyncComponent instance."""

    syncs: list[Sync] = Field(min_length=1,
                              description="The syncs; each becomes the asset sync/<destination>/<name>.")

    @model_validator(mode="after")
    def _unique_names(self) -> SyncsAttributes:
        names = [s.name for s in self.syncs]
        for name in sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"sync '{name}', field 'name': declared twice")
        return self


class SyncComponent(dg.Component):
    """Reverse-ETL syncs from dbt models to Salesforce and HubSpot: one asset per
    sync (`sync/<destination>/<name>`), diff-based, guarded, checkpointed per batch.

    The attributes are a plain pydantic model (`SyncsAttributes`) rather than a
    `dg.Resolvable` one: Resolvable admits a template string in place of every
    value, which would let `mode: upsrt` or `batch_size: "500"` through the JSON
    schema that `dg check yaml` applies, and blur the error's line. Syncs use no
    templating, so the schema can say exactly what is allowed.
    """

    def __init__(self, syncs: list[Sync]):
        self.syncs = list(syncs)

    @classmethod
    def get_model_cls(cls) -> type[SyncsAttributes]:
        return SyncsAttributes

    @classmethod
    def load(cls, attributes: SyncsAttributes | None, context: dg.ComponentLoadContext) -> SyncComponent:
        if attributes is None:
            raise SyncConfigError(f"{context.path}: a SyncComponent needs `attributes.syncs`")
        return cls(attributes.syncs)

    def specs(self, manifest: Mapping | None | str = "auto") -> list[SyncSpec]:
        """The syncs as the engine runs them, checked against the dbt manifest
        (`"auto"`: the prepared one, when it exists; None: no model checks)."""
        if manifest == "auto":
            manifest = read_manifest()
        specs = [s.to_spec() for s in self.syncs]
        if manifest is not None:
            for spec in specs:
                check_against_manifest(spec, manifest)
        return specs

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        from cs_platform.activation.assets import build_definitions

        return build_definitions(self.specs())


def _valid_cron(text: str) -> bool:
    try:  # Dagster's own check, through its public API
        dg.ScheduleDefinition(name="cron_check", cron_schedule=text, job_name="cron_check")
    except Exception:  # noqa: BLE001 - any refusal means "not a cron string Dagster accepts"
        return False
    return True


def parse_syncs(attributes: Mapping, manifest: Mapping | None = None, origin: str = "syncs") -> list[SyncSpec]:
    """Specs from a component's `attributes` (`{"syncs": [...]}`), for the CLI, bench and tests."""
    try:
        validated = SyncsAttributes.model_validate(attributes)
    except ValidationError as exc:
        raise SyncConfigError(f"{origin}: {exc}") from None
    return SyncComponent(validated.syncs).specs(manifest)


def load_syncs(path: str | Path = SYNCS_YAML, manifest: Mapping | None | str = "auto") -> list[SyncSpec]:
    """The syncs of a SyncComponent `defs.yaml` (default: the shipped one)."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SyncConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(doc, Mapping) or "attributes" not in doc:
        raise SyncConfigError(f"{path}: expected a component file with `type` and `attributes`")
    if manifest == "auto":
        manifest = read_manifest()
    return parse_syncs(doc["attributes"], manifest=manifest, origin=str(path))
