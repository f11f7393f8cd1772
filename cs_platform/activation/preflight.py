"""Preflight: does the CRM hold what a sync writes? And what must an admin set up?

A sync that maps a column to a field the CRM does not have (a typo, a field never
created, a field the integration user cannot see) fails on its first write, record
by record. This module asks the destination for the object's own schema and checks
the sync against it before anything is sent:

- `fetch_schema(spec, destination)`: the object's fields / properties as `CrmField`s
  (Salesforce sObject Describe, HubSpot CRM v3 properties API);
- `check(spec, schema, column_types)`: one `Problem` per way the sync does not fit:
  a field it sends is missing (with near misses), not writable in the sync's mode,
  of a type the model column cannot go into, or the key cannot address records;
- `preflight(spec, destination, column_types)`: both, with an unknown object
  reported as a Problem rather than raised;
- `required_setup(spec, column_types)`: the CRM-side setup the sync needs (the
  custom fields / properties to create, with their types and key flags), known
  without a connection;
- `create_hubspot_properties(spec, destination, requirements)`: creates the missing
  HubSpot properties. Salesforce custom fields need the Metadata API or Setup, so
  they are only ever listed, never created.

`setup_command` is `python -m cs_platform.activation setup`: it prints the required
setup per sync and, with `--check`, connects and prints each Problem with its fix.

Column types are the warehouse's own type names (`Warehouse.column_types`); None
(the model's table is not built yet) means unknown: type checks are skipped and the
required type is shown as "from the model".
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TextIO

from cs_platform.activation.spec import SyncConfigError, SyncSpec, resolve_table

ERROR = "error"
WARNING = "warning"
SYNCS_FILE = "cs_platform/defs/activation/syncs/defs.yaml"

# --------------------------------------------------------------------------- types

# The model column's warehouse type (DuckDB information_schema / BigQuery schema) -> kind.
_INTEGER = {"TINYINT", "SMALLINT", "INTEGER", "INT", "INT2", "INT4", "INT8", "INT64", "BIGINT", "HUGEINT",
            "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT", "LONG", "SHORT"}
_NUMBER = {"FLOAT", "FLOAT4", "FLOAT8", "FLOAT64", "DOUBLE", "REAL", "DECIMAL", "NUMERIC", "BIGNUMERIC",
           "BIGDECIMAL"}
_BOOLEAN = {"BOOLEAN", "BOOL", "LOGICAL"}
_DATE = {"DATE"}
_TIMESTAMP = {"TIMESTAMP", "TIMESTAMPTZ", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "DATETIME"}
_STRING = {"VARCHAR", "STRING", "TEXT", "CHAR", "BPCHAR", "UUID", "ENUM", "NVARCHAR"}


def column_kind(warehouse_type: str | None) -> str | None:
    """integer | number | boolean | date | timestamp | string | other, or None (unknown)."""
    if not warehouse_type:
        return None
    text = warehouse_type.strip().upper()
    if text.endswith("[]") or text.startswith(("ARRAY", "STRUCT", "RECORD", "MAP", "LIST", "UNION", "JSON")):
        return "other"
    base = re.split(r"[(<\s]", text, maxsplit=1)[0]
    for kind, names in (("integer", _INTEGER), ("number", _NUMBER), ("boolean", _BOOLEAN), ("date", _DATE),
                        ("timestamp", _TIMESTAMP), ("string", _STRING)):
        if base in names:
            return kind
    return "other"


def value_kind(value: Any) -> str | None:
    """The kind of a constant as YAML gives it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, datetime):
        return "timestamp"
    if isinstance(value, date):
        return "date"
    return "string"


# CRM field types -> what they hold. Salesforce: the describe `type` (fieldType enum,
# https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_describesobjects_describesobjectresult.htm).
# HubSpot: the property `type` (https://developers.hubspot.com/docs/api/crm/properties).
_SF_KINDS = {
    "int": "number", "double": "number", "currency": "number", "percent": "number", "long": "number",
    "boolean": "boolean", "date": "date", "datetime": "datetime",
    "string": "text", "textarea": "text", "url": "text", "email": "text", "phone": "text", "combobox": "text",
    "encryptedstring": "text",
    "picklist": "choice", "multipicklist": "choice", "id": "id", "reference": "id",
}
_HS_KINDS = {"number": "number", "bool": "boolean", "boolean": "boolean", "date": "date", "datetime": "datetime",
             "string": "text", "phone_number": "text", "enumeration": "choice"}

# Model column kind -> the CRM field kinds it may be written into.
_FITS = {
    "integer": {"number", "text"},
    "number": {"number", "text"},
    "boolean": {"boolean", "text"},  # + an enumeration with true/false options (HubSpot)
    "date": {"date", "datetime", "text"},
    "timestamp": {"datetime", "date", "text"},
    "string": {"text", "choice", "id"},
    "other": {"text"},
}
_KIND_TEXT = {"integer": "an integer", "number": "a number", "boolean": "a boolean", "date": "a date",
              "timestamp": "a timestamp", "string": "text", "other": "a structured value"}


# --------------------------------------------------------------------------- schema

@dataclass(frozen=True)
class CrmField:
    """One field of the destination object, as the CRM describes it."""

    name: str
    type: str  # number | boolean | date | datetime | text | choice | id | other
    writable_on_create: bool
    writable_on_update: bool
    is_key: bool  # Salesforce: External ID (or Id); HubSpot: unique value (hasUniqueValue, hs_object_id, email)
    raw_type: str  # the CRM's own type: describe `type` / HubSpot `type` (+ `fieldType`)
    unique: bool | None = None  # Salesforce "Unique" (None: not reported)
    standard: bool = False  # not a custom field (Salesforce) / HubSpot-defined property
    options: tuple[str, ...] = ()  # HubSpot enumeration option values
    length: int | None = None


def fetch_schema(spec: SyncSpec, destination, *, timeout: float = 60.0) -> dict[str, CrmField]:
    """The destination object's own schema: field name -> CrmField.

    `destination` is a connected destination (`destinations.connect`): a
    SalesforceDestination (`.sf`) or HubSpotDestination (`.client`). Raises
    `ObjectNotFound` when the CRM does not know the object."""
    if spec.destination == "salesforce":
        return _salesforce_schema(spec, destination.sf, timeout)
    if spec.destination == "hubspot":
        return _hubspot_schema(spec, destination.client)
    raise ValueError(f"unknown destination {spec.destination!r}")


class ObjectNotFound(LookupError):
    """The CRM has no such object (or the integration user cannot see it)."""


def _salesforce_schema(spec: SyncSpec, sf, timeout: float) -> dict[str, CrmField]:
    # sObject Describe, GET /services/data/vXX.X/sobjects/{sObject}/describe: `fields` are
    # DescribeFieldResult (name, type, externalId, idLookup, unique, createable, updateable,
    # nillable, length, custom). Fields the user cannot see are absent.
    # https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_sobject_describe.htm
    from simple_salesforce.exceptions import SalesforceResourceNotFound

    try:
        body = sf.restful(f"sobjects/{spec.object}/describe", timeout=timeout) or {}
    except SalesforceResourceNotFound:
        raise ObjectNotFound(f"Salesforce has no sObject {spec.object!r} visible to the integration user") from None
    schema: dict[str, CrmField] = {}
    for f in body.get("fields") or []:
        raw = str(f.get("type") or "").lower()
        name = f["name"]
        schema[name] = CrmField(
            name=name, type=_SF_KINDS.get(raw, "other"),
            writable_on_create=bool(f.get("createable")), writable_on_update=bool(f.get("updateable")),
            # `externalId` in REST describe; some tools (Tooling/FieldDefinition exports) say externalIdFlag.
            is_key=bool(f.get("externalId") or f.get("externalIdFlag")) or (name == "Id"),
            raw_type=raw, unique=f.get("unique"),
            standard=not (f.get("custom") or name.endswith("__c")),
            options=tuple(str(v.get("value")) for v in f.get("picklistValues") or [] if v.get("active", True)),
            length=f.get("length") or None)
    return schema


def _hubspot_schema(spec: SyncSpec, client) -> dict[str, CrmField]:
    # CRM v3 properties, GET /crm/v3/properties/{objectType}: `results` of {name, type,
    # fieldType, hasUniqueValue, calculated, hubspotDefined, options, modificationMetadata:
    # {readOnlyValue, ...}}. https://developers.hubspot.com/docs/api/crm/properties
    from cs_platform.resources.http import SourceError

    schema: dict[str, CrmField] = {}
    params: dict[str, Any] = {}
    while True:
        try:
            body = client.request("GET", f"/crm/v3/properties/{spec.object}", params=params or None) or {}
        except SourceError as exc:
            if getattr(exc, "status", None) in (400, 404):
                raise ObjectNotFound(f"HubSpot has no object type {spec.object!r}: {exc}") from None
            raise
        for p in body.get("results") or []:
            raw = str(p.get("type") or "").lower()
            name = p["name"]
            read_only = bool((p.get("modificationMetadata") or {}).get("readOnlyValue")) or bool(p.get("calculated"))
            options = tuple(str(o.get("value")) for o in p.get("options") or [] if not o.get("hidden"))
            kind = _HS_KINDS.get(raw, "other")
            schema[name] = CrmField(
                name=name, type=kind, writable_on_create=not read_only, writable_on_update=not read_only,
                is_key=bool(p.get("hasUniqueValue")) or name == "hs_object_id"
                or (spec.object == "contacts" and name == "email"),
                raw_type=raw + (f" ({p['fieldType']})" if p.get("fieldType") else ""),
                unique=bool(p.get("hasUniqueValue")), standard=bool(p.get("hubspotDefined")),
                options=options)
        after = ((body.get("paging") or {}).get("next") or {}).get("after")
        if not after:
            return schema
        params = {"after": after}


# --------------------------------------------------------------------------- what a sync sends

@dataclass(frozen=True)
class Sent:
    """One destination field a sync writes (or addresses records by)."""

    field: str
    source: str  # "column <c>" | "constant" | "key column <c>"
    column: str | None  # model column, when from the model
    value: Any = None  # the constant's value
    is_key: bool = False
    written: bool = True  # False: the key of a Salesforce update by Id (declared, not sent)


def sent_fields(spec: SyncSpec) -> list[Sent]:
    """What the sync writes, as each destination's `payload()` builds the body:
    Salesforce update goes by Id and does not send the key field (listed with
    written=False); every other mode, and every HubSpot mode, sends the key."""
    out: list[Sent] = []
    if spec.destination == "salesforce" and spec.mode == "update":
        if spec.key_field != "Id":
            out.append(Sent(spec.key_field, f"key column {spec.key_column}", spec.key_column, is_key=True,
                            written=False))
    else:
        out.append(Sent(spec.key_field, f"key column {spec.key_column}", spec.key_column, is_key=True))
    for m in spec.fields:
        out.append(Sent(m.field, f"column {m.column}", m.column))
    for name, value in spec.constants.items():
        out.append(Sent(name, f"constant {value!r}", None, value=value))
    return out


def _key_addresses_records(spec: SyncSpec) -> bool:
    """Whether the API finds records by the key field (so it must be an External ID / unique)."""
    if spec.destination == "salesforce":
        return spec.mode in ("upsert", "create_once")
    return spec.mode in ("upsert", "create_once", "update")


def _lookup_types(column_types: Mapping[str, str] | None) -> dict[str, str]:
    return {k.lower(): v for k, v in (column_types or {}).items()}


# --------------------------------------------------------------------------- check

@dataclass(frozen=True)
class Problem:
    """One way a sync does not fit the CRM; `fix` tells the admin what to create or change."""

    sync: str
    field: str  # the CRM field / property
    message: str
    fix: str
    severity: str = ERROR  # error (the sync will fail) | warning (it may)

    def __str__(self) -> str:
        return f"sync '{self.sync}', field '{self.field}': {self.message}. Fix: {self.fix}"


def check(spec: SyncSpec, schema: Mapping[str, CrmField],
          column_types: Mapping[str, str] | None) -> list[Problem]:
    """Every way `spec` does not fit the destination object's `schema`.

    Checks each field the sync sends: it exists (Salesforce names are
    case-insensitive, HubSpot's exact), it is writable in the sync's mode, the model
    column's type fits it; and, where the API finds records by the key (upsert,
    create_once; HubSpot update too), that the key is an External ID / unique
    property. `column_types` None = unknown: type checks are skipped."""
    sf = spec.destination == "salesforce"
    by_lower = {name.lower(): f for name, f in schema.items()}
    types = _lookup_types(column_types)
    problems: list[Problem] = []
    obj = spec.object

    def problem(name: str, message: str, fix: str, severity: str = ERROR):
        problems.append(Problem(spec.name, name, message, fix, severity))

    for sent in sent_fields(spec):
        name = sent.field
        crm = schema.get(name) or (by_lower.get(name.lower()) if sf else None)
        if crm is None:
            # The key of a Salesforce update by Id is declared but never sent: a warning.
            problem(name, *_missing(spec, sent, schema, types, by_lower), ERROR if sent.written else WARNING)
            continue
        if not sent.written:  # Salesforce update by Id: the key field is declared, never sent
            continue
        # Writable in this mode
        need = {"insert": ("create",), "create_once": ("create",), "update": ("update",),
                "upsert": ("create", "update")}[spec.mode]
        missing_rights = [r for r in need
                          if not (crm.writable_on_create if r == "create" else crm.writable_on_update)]
        if missing_rights:
            what = " and ".join({"create": "createable", "update": "updateable"}[r] for r in missing_rights)
            if sf:
                problem(crm.name,
                        f"{obj}.{crm.name} ({sent.source}) is not {what} for the integration user, "
                        f"and mode '{spec.mode}' writes it",
                        f"give the integration user's permission set Edit access to {obj}.{crm.name} "
                        f"(field-level security); if it is a formula, roll-up or system field it can never be "
                        f"written: map {sent.source} to a writable field in {SYNCS_FILE}")
            else:
                problem(crm.name,
                        f"HubSpot {obj} property {crm.name} ({sent.source}) is read-only "
                        f"(calculated or readOnlyValue), and mode '{spec.mode}' writes it",
                        f"map {sent.source} to a writable property in {SYNCS_FILE}"
                        + (" (a key must be a writable unique property, e.g. a custom one with "
                           "hasUniqueValue)" if sent.is_key else ""))
        # Type fits
        kind = column_kind(types.get(sent.column.lower())) if sent.column else value_kind(sent.value)
        if kind == "string" and sent.column and crm.type in ("number", "boolean", "date", "datetime"):
            # Text holding numbers or dates is common (seeds, CSV loads); the CRM refuses only the
            # values that do not parse, and the engine isolates those records.
            problem(crm.name,
                    f"{sent.source} is text ({types.get(sent.column.lower())}) written into "
                    f"{_where(spec, crm.name)} of type {crm.raw_type}: a value that does not parse is refused",
                    f"cast the column in the dbt model {spec.model!r} so that bad values fail there", WARNING)
        elif kind is not None and not _fits(kind, crm):
            column_type = types.get(sent.column.lower()) if sent.column else type(sent.value).__name__
            problem(crm.name,
                    f"{sent.source} is {_KIND_TEXT[kind]} ({column_type}), but "
                    f"{_where(spec, crm.name)} is of type {crm.raw_type}",
                    (f"change {_where(spec, crm.name)} to {_type_label(spec, kind, sent)}, map the column "
                     f"to a field of that type in {SYNCS_FILE}, or cast the column in the dbt model "
                     f"{spec.model!r}") if sent.column else
                    f"give the constant {crm.name} a value of type {crm.raw_type} in {SYNCS_FILE}")

    # The key addresses records
    key = schema.get(spec.key_field) or (by_lower.get(spec.key_field.lower()) if sf else None)
    if key is not None and _key_addresses_records(spec):
        if not key.is_key:
            problems.append(_not_a_key(spec, key, ERROR))
        elif sf and key.name != "Id" and key.unique is False:
            problem(key.name,
                    f"{obj}.{key.name} is an External ID but not Unique: when two records hold the same "
                    f"value, {spec.mode} answers 300 MULTIPLE_CHOICES for that key",
                    f"edit {obj}.{key.name} and tick 'Unique' (after removing duplicate values)", WARNING)
    elif key is not None and not sf and spec.mode == "insert" and not key.is_key:
        # An insert is sent once (never retried); when its answer is lost, the next run finds
        # what it created by the key (batch/read), which only a unique property allows.
        problems.append(_not_a_key(spec, key, ERROR))
    return problems


def _fits(kind: str, crm: CrmField) -> bool:
    if crm.type in _FITS[kind]:
        return True
    if kind == "boolean" and crm.type == "choice" and {"true", "false"} <= {o.lower() for o in crm.options}:
        return True
    return False


def _where(spec: SyncSpec, name: str) -> str:
    return f"{spec.object}.{name}" if spec.destination == "salesforce" else f"HubSpot {spec.object} property {name}"


def _missing(spec: SyncSpec, sent: Sent, schema: Mapping[str, CrmField], types: Mapping[str, str],
             by_lower: Mapping[str, CrmField]) -> tuple[str, str]:
    sf = spec.destination == "salesforce"
    name, obj = sent.field, spec.object
    location = ("key.field" if sent.is_key else "constants" if sent.column is None else f"fields.{sent.column}")
    if sf:
        near = [by_lower[n].name for n in _near_misses(name.lower(), list(by_lower))]
    else:
        exact_case = [n for n in schema if n.lower() == name.lower()]
        near = exact_case or _near_misses(name, list(schema))
    hint = f" (did you mean {' or '.join(near)}?)" if near else ""
    kind = column_kind(types.get(sent.column.lower())) if sent.column else value_kind(sent.value)
    label = _type_label(spec, kind, sent)
    if sf:
        message = f"{obj} has no field {name!r}{hint}; the sync sends {sent.source} to it ({location})"
        if name.endswith("__c"):
            fix = (f"create {obj}.{name} ({label}) in Setup > Object Manager > {obj} > Fields & Relationships "
                   f"and give the integration user Edit access to it, or fix the mapping in {SYNCS_FILE}"
                   + (f" (e.g. {near[0]})" if near else "")
                   + "; a field that exists but is hidden from the integration user is absent from describe too")
        else:
            fix = (f"fix the mapping in {SYNCS_FILE}" + (f" (e.g. {near[0]})" if near else "")
                   + f"; if {obj}.{name} is a standard field, give the integration user read and edit access "
                     "to it (fields it cannot see are absent from describe)")
    else:
        near_text = f"; did you mean {' or '.join(near)}?" if near else ""
        message = (f"HubSpot {obj} has no property {name!r} (names are exact and lowercase{near_text}); "
                   f"the sync sends {sent.source} to it ({location})")
        fix = (f"create the {obj} property {name} ({label}) in Settings > Properties, or with "
               f"`python -m cs_platform.activation setup {spec.name} --create-hubspot-properties`, "
               f"or fix the mapping in {SYNCS_FILE}" + (f" (e.g. {near[0]})" if near else ""))
    return message, fix


def _near_misses(name: str, names: list[str]) -> list[str]:
    """The closest names (difflib), only those about as close as the best one."""
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.75)
    if not close:
        return []
    best = difflib.SequenceMatcher(None, name, close[0]).ratio()
    return [n for n in close if difflib.SequenceMatcher(None, name, n).ratio() >= best - 0.05]


def _not_a_key(spec: SyncSpec, key: CrmField, severity: str) -> Problem:
    obj = spec.object
    if spec.destination == "salesforce":
        return Problem(
            spec.name, key.name,
            f"mode '{spec.mode}' finds records by {obj}.{key.name} (key.field), which is not an External ID "
            f"field, so Salesforce refuses the {'upsert' if spec.mode == 'upsert' else 'create-once upsert'}",
            (f"edit {obj}.{key.name} and tick 'External ID' and 'Unique'" if key.name.endswith("__c") else
             f"a standard field cannot be an External ID: create a custom field on {obj} marked 'External ID' "
             f"and 'Unique' (Text(255)), fill it from the model's key column {spec.key_column!r}, and set "
             f"key.field to it in {SYNCS_FILE}"), severity)
    why = ("HubSpot finds records by it (idProperty)" if severity == ERROR else
           "after an interrupted run the sync reads back the records it sent by it (batch/read idProperty)")
    return Problem(
        spec.name, key.name,
        f"the key property {key.name} of HubSpot {obj} is not unique (hasUniqueValue false) and {why}",
        f"key the sync on a property with unique values: create one with hasUniqueValue true (`python -m "
        f"cs_platform.activation setup {spec.name} --create-hubspot-properties` creates the key that way) "
        f"and set key.field to it in {SYNCS_FILE}; an existing property cannot be made unique", severity)


# --------------------------------------------------------------------------- required setup

# Default properties HubSpot creates on its own (a short list: the schema's hubspotDefined
# tells for sure when connected; every hs_* property is HubSpot's too).
HUBSPOT_DEFAULT_PROPERTIES = {
    "companies": {"name", "domain", "description", "industry", "phone", "city", "state", "country", "zip",
                  "address", "website", "numberofemployees", "annualrevenue", "hubspot_owner_id",
                  "lifecyclestage", "type", "createdate", "timezone", "linkedin_company_page"},
    "contacts": {"email", "firstname", "lastname", "phone", "mobilephone", "company", "jobtitle", "website",
                 "city", "state", "country", "zip", "address", "hubspot_owner_id", "lifecyclestage",
                 "createdate", "lastmodifieddate"},
}
HUBSPOT_PROPERTY_GROUPS = {"companies": "companyinformation", "contacts": "contactinformation",
                           "deals": "dealinformation", "tickets": "ticketinformation"}
FROM_THE_MODEL = "from the model"


@dataclass(frozen=True)
class FieldRequirement:
    """A field / property a sync needs in the CRM."""

    sync: str
    destination: str
    object: str
    name: str
    source: str  # what fills it: "column x", "key column x", "constant 'y'"
    crm_type: str | None  # describe type (double, boolean, date, datetime, string, url) / HubSpot type
    # (number, bool, date, datetime, string); None: the model's table is not built yet, or a standard field
    label: str  # what the admin picks: "Number(18,2)", "Text(255)", "Checkbox", ...
    field_type: str | None = None  # HubSpot fieldType (number, booleancheckbox, date, text)
    key: bool = False  # Salesforce External ID + Unique / HubSpot hasUniqueValue
    standard: bool = False  # Salesforce standard field / HubSpot default property: exists, needs edit access
    written: bool = True  # False: the key of a Salesforce update by Id (declared, not sent)
    length: int | None = None  # Salesforce text length

    @property
    def declaration(self) -> dict[str, Any]:
        """As devkit/sandbox/crm_setup.yaml declares a field: {type, externalId, unique} /
        {type, hasUniqueValue} (flags only when true)."""
        out: dict[str, Any] = {"type": self.crm_type}
        if self.key:
            out.update({"externalId": True, "unique": True} if self.destination == "salesforce"
                       else {"hasUniqueValue": True})
        return out


def required_setup(spec: SyncSpec, column_types: Mapping[str, str] | None) -> list[FieldRequirement]:
    """The CRM-side setup `spec` needs: one FieldRequirement per field it sends (and its
    declared key), custom ones with the type derived from the model column."""
    types = _lookup_types(column_types)
    out: list[FieldRequirement] = []
    for sent in sent_fields(spec):
        if spec.destination == "salesforce" and sent.field == "Id":
            continue  # every record has it
        kind = column_kind(types.get(sent.column.lower())) if sent.column else value_kind(sent.value)
        if column_types is None and sent.column:
            kind = None
        out.append(_requirement(spec, sent, kind))
    return out


def _requirement(spec: SyncSpec, sent: Sent, kind: str | None) -> FieldRequirement:
    base = dict(sync=spec.name, destination=spec.destination, object=spec.object, name=sent.field,
                source=sent.source + ("" if sent.written else f" (not written by '{spec.mode}')"),
                key=sent.is_key and (sent.written is False or spec.destination == "hubspot"
                                     or _key_addresses_records(spec)),
                written=sent.written)
    if spec.destination == "salesforce":
        if not sent.field.endswith("__c"):
            return FieldRequirement(**{**base, "key": False}, crm_type=None,
                                    label="standard, needs edit permission", standard=True)
        crm_type, label, length = _salesforce_type(kind, sent)
        if base["key"]:
            label += ", External ID, Unique"
        return FieldRequirement(**base, crm_type=crm_type, label=label, length=length)
    standard = sent.field.startswith("hs_") or sent.field in HUBSPOT_DEFAULT_PROPERTIES.get(spec.object, ())
    crm_type, field_type = _hubspot_type(kind)
    label = FROM_THE_MODEL if crm_type is None else f"{crm_type} ({field_type})"
    if base["key"]:
        label += ", unique (hasUniqueValue)"
    if standard:
        label = "HubSpot default property, needs edit permission"
    return FieldRequirement(**base, crm_type=crm_type, label=label, field_type=field_type, standard=standard)


def _salesforce_type(kind: str | None, sent: Sent) -> tuple[str | None, str, int | None]:
    if kind is None:
        return None, FROM_THE_MODEL, None
    if kind in ("integer", "number"):
        return "double", "Number(18,0)" if kind == "integer" else "Number(18,2)", None
    if kind == "boolean":
        return "boolean", "Checkbox", None
    if kind == "date":
        return "date", "Date", None
    if kind == "timestamp":
        return "datetime", "Date/Time", None
    if sent.column and sent.column.lower().endswith("_url"):
        return "url", "URL(255)", 255
    return "string", "Text(255)", 255


def _hubspot_type(kind: str | None) -> tuple[str | None, str | None]:
    return {None: (None, None), "integer": ("number", "number"), "number": ("number", "number"),
            "boolean": ("bool", "booleancheckbox"), "date": ("date", "date"),
            "timestamp": ("datetime", "date")}.get(kind, ("string", "text"))


def _type_label(spec: SyncSpec, kind: str | None, sent: Sent) -> str:
    if spec.destination == "salesforce":
        label = _salesforce_type(kind, sent)[1]
        return "the model column's type" if label == FROM_THE_MODEL else label
    crm_type, field_type = _hubspot_type(kind)
    return "the model column's type" if crm_type is None else f"type {crm_type}, fieldType {field_type}"


# --------------------------------------------------------------------------- HubSpot properties

def create_hubspot_properties(spec: SyncSpec, destination, requirements: Sequence[FieldRequirement],
                              schema: Mapping[str, CrmField] | None = None) -> list[str]:
    """Create, in HubSpot, each of `requirements` (custom, type known) that the object's
    schema lacks; returns the names created. POST /crm/v3/properties/{objectType} with
    name, label, type, fieldType, groupName (and hasUniqueValue for the key).
    https://developers.hubspot.com/docs/api/crm/properties

    Never for Salesforce: custom fields need the Metadata API (or Setup); list them instead."""
    if spec.destination != "hubspot":
        raise ValueError(f"sync '{spec.name}': only HubSpot properties can be created here; Salesforce custom "
                         "fields are created in Setup (or with the Metadata API)")
    schema = fetch_schema(spec, destination) if schema is None else schema
    client = destination.client
    group = None
    created: list[str] = []
    for req in requirements:
        if req.standard or req.crm_type is None or req.name in schema or req.name in created:
            continue
        group = group or _property_group(spec, client)
        body: dict[str, Any] = {"name": req.name, "label": _label(req.name), "type": req.crm_type,
                                "fieldType": req.field_type, "groupName": group,
                                "description": f"Written by the cs_platform sync {spec.name} ({req.source})."}
        if req.key:
            body["hasUniqueValue"] = True
        if req.crm_type == "bool":
            body["options"] = [{"label": "Yes", "value": "true", "displayOrder": 0},
                               {"label": "No", "value": "false", "displayOrder": 1}]
        client.request("POST", f"/crm/v3/properties/{spec.object}", json=body)
        created.append(req.name)
    return created


def _property_group(spec: SyncSpec, client) -> str:
    known = HUBSPOT_PROPERTY_GROUPS.get(spec.object)
    if known:
        return known
    groups = (client.request("GET", f"/crm/v3/properties/{spec.object}/groups") or {}).get("results") or []
    if not groups:
        raise RuntimeError(f"HubSpot {spec.object} has no property group to put new properties in")
    return groups[0]["name"]


def _label(name: str) -> str:
    """cs_is_renewal_risk -> "CS is renewal risk"."""
    words = [w.upper() if w in ("cs", "id", "url", "crm") else w for w in name.split("_") if w]
    return " ".join(words[:1] and [words[0][:1].upper() + words[0][1:]] + words[1:]) or name


# --------------------------------------------------------------------------- one call for the engine

def preflight(spec: SyncSpec, destination, column_types: Mapping[str, str] | None) -> list[Problem]:
    """`fetch_schema` + `check`; an object the CRM does not know is a Problem too."""
    try:
        schema = fetch_schema(spec, destination)
    except ObjectNotFound as exc:
        return [Problem(spec.name, spec.object, str(exc),
                        f"fix `object` in {SYNCS_FILE} (Salesforce: the sObject API name, e.g. Account; "
                        "HubSpot: companies, contacts, ...) or give the integration user access to it")]
    return check(spec, schema, column_types)


def model_column_types(spec: SyncSpec, warehouse, manifest: Mapping | None | str = "auto") -> dict[str, str] | None:
    """The model table's column types, or None when its table is unknown or not built yet."""
    try:
        table = resolve_table(spec, manifest)
    except SyncConfigError:
        return None
    return warehouse.column_types(table)


# --------------------------------------------------------------------------- CLI

def _table(rows: list[list[str]], indent: str = "  ") -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(indent + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _initialized(resource):
    """A resource with its EnvVar settings resolved, as a Dagster run would have it."""
    init = getattr(resource, "process_config_and_initialize", None)
    return init() if init else resource


def setup_command(specs: Sequence[SyncSpec], resources: Mapping[str, Any], *, check_crm: bool = False,
                  create_properties: bool = False, manifest: Mapping | None | str = "auto",
                  out: TextIO | None = None) -> int:
    """`python -m cs_platform.activation setup`: per sync, the required setup as a table;
    with `check_crm`, each Problem found in the CRM with its fix; with
    `create_properties`, the missing HubSpot properties are created first. Returns the
    exit code: 1 when a check found an error (or could not connect), else 0."""
    from cs_platform.activation.destinations import connect

    out = out or sys.stdout
    failed = False

    def say(text: str = "") -> None:
        print(text, file=out)

    warehouse = resources.get("warehouse")
    if warehouse is not None:
        warehouse = _initialized(warehouse)
    for spec in specs:
        try:
            table: str | None = resolve_table(spec, manifest)
        except SyncConfigError:
            table = None
        types = None
        types_note = ""
        if table is None:
            types_note = "model relation unknown (no `table` and no dbt manifest): types from the model"
        elif warehouse is None:
            types_note = "no warehouse: types from the model"
        else:
            try:
                types = warehouse.column_types(table)
            except Exception as exc:  # noqa: BLE001 - the warehouse is only asked for types; say why not
                types_note = f"cannot read {table}'s column types ({exc}): types from the model"
            else:
                if types is None:
                    types_note = f"table {table} does not exist yet: types from the model"
        reqs = required_setup(spec, types)
        say(f"{spec.name}: {spec.destination} {spec.object} ({spec.mode}), from model {spec.model}"
            + (f" ({table})" if table else ""))
        if types_note:
            say(f"  note: {types_note}")
        rows = [["FIELD", "TYPE", "FILLED FROM"]]
        rows += [[r.name, r.label, r.source] for r in reqs]
        say(_table(rows))

        if not (check_crm or create_properties):
            say()
            continue
        try:
            resource = _initialized(resources[spec.destination])
            destination = connect(spec, resource)
        except Exception as exc:  # noqa: BLE001 - report and go on with the next sync
            say(f"  cannot connect to {spec.destination}: {exc}")
            failed = True
            say()
            continue
        try:
            schema = None
            if create_properties:
                if spec.destination == "hubspot":
                    schema = fetch_schema(spec, destination)
                    created = create_hubspot_properties(spec, destination, reqs, schema=schema)
                    skipped = [r.name for r in reqs if r.crm_type is None and not r.standard and r.name not in schema]
                    say(f"  created HubSpot {spec.object} properties: {', '.join(created)}" if created
                        else f"  HubSpot {spec.object}: no property to create")
                    if skipped:
                        say(f"  not created (type unknown until the model's table is built): {', '.join(skipped)}")
                    schema = None if created else schema
                else:
                    schema = fetch_schema(spec, destination)
                    missing = [r for r in reqs if not r.standard and r.name.lower() not in
                               {n.lower() for n in schema}]
                    say("  Salesforce custom fields are created in Setup (or the Metadata API), not here; "
                        + (f"create: {', '.join(f'{spec.object}.{r.name} ({r.label})' for r in missing)}"
                           if missing else "none is missing"))
            if check_crm:
                problems = preflight(spec, destination, types) if schema is None else check(spec, schema, types)
                errors = [p for p in problems if p.severity == ERROR]
                failed = failed or bool(errors)
                if not problems:
                    say(f"  check: OK ({spec.destination} {spec.object} has every field the sync writes, "
                        "writable and of a fitting type)")
                for p in problems:
                    say(f"  {p.severity.upper()} {p.field}: {p.message}")
                    say(f"    fix: {p.fix}")
        except Exception as exc:  # noqa: BLE001
            say(f"  {spec.destination} {'check' if check_crm else 'setup'} failed: {exc}")
            failed = True
        finally:
            destination.close()
        say()
    return 1 if failed else 0
