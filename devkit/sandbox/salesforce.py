"""Salesforce emulator: OAuth client credentials, SOQL query/queryAll with paging,
sObject rows, sObject Collections, Bulk API 2.0 ingest, sObject describe. Served
over TLS, because simple-salesforce only builds https:// URLs.

The org's schema is declared, never grown by writes: each object has the source
catalog's columns plus the custom fields an admin created in Setup, read from
crm_setup.yaml (`salesforce: {sObject: {Field__c: {type, length, externalId,
unique}}}`) or added at runtime with `add_field` (Sandbox.add_salesforce_field).
Writes are validated the way the org would (unknown field, read-only field,
required field, bad reference, bad type, upsert key that is not an External ID,
duplicate value of a unique field), applied to the store (SystemModstamp bumped,
Ids generated with the object's key prefix) and recorded. Bulk API 2.0 jobs run on
the wall clock once closed, whether or not anyone polls.
"""

from __future__ import annotations

import base64
import csv
import io
import logging
import math
import random
import re
import secrets
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import yaml

from cs_platform.sources import catalog

from . import soql
from .base import Api, ApiError, BadRequest, FaultOutcome, Request, Response, route
from .store import ResultCache, Table, parse_wire_timestamp, read_jsonl, salesforce_ts

log = logging.getLogger("devkit.sandbox")

# Object key prefixes: the first three characters of every Id of the object.
KEY_PREFIXES = {"User": "005", "Account": "001", "Contact": "003", "Opportunity": "006",
                "Contract": "800", "Task": "00T", "Event": "00U"}
ORG_ID = "00DSB0000000001AAA"
INTEGRATION_USER_ID = "005SB0000000001AAA"  # the API user: default owner of created records

# Standard fields every object has beyond the catalog's columns, and a few the
# platform may write that the raw tables do not load.
_COMMON_FIELDS = {"Id": "id", "CreatedDate": "timestamp", "LastModifiedDate": "timestamp",
                  "SystemModstamp": "timestamp", "IsDeleted": "boolean"}
_EXTRA_FIELDS = {"Task": {"WhoId": "string"}, "Event": {"WhoId": "string"}}
# Long text areas among the catalog's string columns (describe type textarea, 32,000 characters).
_TEXT_AREAS = {"Description"}
# System and derived fields: writing them is an error, as in a real org.
_READ_ONLY = {"Id", "CreatedDate", "LastModifiedDate", "SystemModstamp", "IsDeleted"}
_READ_ONLY_BY_OBJECT = {
    "Task": {"AccountId"},  # derived from WhatId
    "Event": {"AccountId"},
    "Opportunity": {"IsClosed", "IsWon"},  # derived from StageName
    "Contract": {"ContractNumber", "EndDate"},  # auto-number; StartDate + ContractTerm
}
_REQUIRED_ON_CREATE = {"Account": ("Name",), "Contact": ("LastName",),
                       "Opportunity": ("Name", "StageName", "CloseDate"), "Contract": ("AccountId",),
                       "Event": ("StartDateTime", "EndDateTime")}
_DEFAULTS_ON_CREATE = {"Task": {"Status": "Not Started", "Priority": "Normal"},
                       "Contract": {"Status": "Draft"}}
# Lookup fields and the objects they may point at (checked on write).
_REFERENCES = {"AccountId": ("Account",), "OwnerId": ("User",), "ManagerId": ("User",),
               "WhatId": ("Account", "Opportunity", "Contract"), "WhoId": ("Contact",)}
# Catalog logical type -> describe type (DescribeFieldResult.type).
_SF_TYPES = {"id": "id", "string": "string", "integer": "int", "float": "double", "boolean": "boolean",
             "date": "date", "timestamp": "datetime", "json": "textarea", "any": "string"}
# Describe type (as declared in crm_setup.yaml) -> the logical type values are checked against.
_LOGICAL_TYPES = {"string": "string", "textarea": "string", "url": "string", "email": "string",
                  "phone": "string", "picklist": "string", "reference": "string", "id": "id",
                  "double": "float", "currency": "float", "percent": "float", "int": "integer",
                  "boolean": "boolean", "date": "date", "datetime": "timestamp"}
# DescribeFieldResult.length: the maximum size of a text field; 0 for other types.
_DEFAULT_LENGTHS = {"string": 255, "url": 255, "email": 80, "phone": 40, "picklist": 255,
                    "textarea": 32768, "id": 18, "reference": 18}
COLLECTION_LIMIT = 200


@dataclass
class FieldDef:
    name: str
    type: str  # logical type the values are checked against: a catalog type, "id", or "any"
    read_only: bool = False
    sf_type: str = ""  # describe type: string, double, boolean, date, datetime, url, reference, id, ...
    length: int | None = None
    external_id: bool = False
    unique: bool = False
    custom: bool = False
    served_only: bool = False  # a data-file column the org schema lacks: readable, never writable

    @property
    def label(self) -> str:
        if self.name == "Id":
            return "Record ID"
        base = self.name[:-3] if self.name.endswith("__c") else self.name
        return base.replace("_", " ")


def _field_spec(sobject: str, name: str, spec: dict | None) -> dict:
    """A custom field declaration (crm_setup.yaml / add_field), checked."""
    spec = dict(spec or {})
    unknown = set(spec) - {"type", "length", "externalId", "unique"}
    if unknown:
        raise ValueError(f"crm setup: {sobject}.{name}: unknown keys {sorted(unknown)}")
    sf_type = str(spec.get("type") or "string")
    if sf_type not in _LOGICAL_TYPES:
        raise ValueError(f"crm setup: {sobject}.{name}: unknown type {sf_type!r}; known: {sorted(_LOGICAL_TYPES)}")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
        raise ValueError(f"crm setup: {sobject}: invalid field name {name!r}")
    external_id, unique = bool(spec.get("externalId")), bool(spec.get("unique"))
    # Only text, number and email fields can be External IDs (Salesforce Help: "Custom Field Attributes").
    if external_id and sf_type not in ("string", "email", "int", "double"):
        raise ValueError(f"crm setup: {sobject}.{name}: a {sf_type} field cannot be an External ID")
    length = spec.get("length")
    return {"type": sf_type, "length": int(length) if length is not None else None,
            "externalId": external_id, "unique": unique}


class Schema:
    """The fields of one sObject: the catalog's columns, the standard fields every
    object has, and the declared custom fields. Nothing is created on write."""

    def __init__(self, sobject: str, columns: dict[str, str], custom: dict[str, dict] | None = None):
        self.sobject = sobject
        self.fields: dict[str, FieldDef] = {}  # lower-case name -> definition (SOQL is case-insensitive)
        read_only = _READ_ONLY | _READ_ONLY_BY_OBJECT.get(sobject, set())
        for name, kind in {**_COMMON_FIELDS, **columns, **_EXTRA_FIELDS.get(sobject, {})}.items():
            if name == "Id":
                kind = "id"
            sf_type = "reference" if name in _REFERENCES else _SF_TYPES[kind]
            length = _DEFAULT_LENGTHS.get(sf_type)
            if name in _TEXT_AREAS and kind == "string":
                sf_type, length = "textarea", 32000
            self.fields[name.lower()] = FieldDef(name, kind, name in read_only, sf_type=sf_type, length=length,
                                                 custom=name.endswith("__c"))
        for name, spec in (custom or {}).items():
            self.declare(name, spec)

    def declare(self, name: str, spec: dict) -> FieldDef:
        """Add (or redefine) a custom field as an admin does in Setup."""
        spec = _field_spec(self.sobject, name, spec)
        existing = self.fields.get(name.lower())
        if existing is not None and not existing.served_only:
            name = existing.name  # a catalog column declared in crm setup: its flags and type apply
        definition = FieldDef(name, _LOGICAL_TYPES[spec["type"]], sf_type=spec["type"],
                              length=spec["length"] or _DEFAULT_LENGTHS.get(spec["type"]),
                              external_id=spec["externalId"], unique=spec["unique"],
                              custom=name.endswith("__c"))
        self.fields[name.lower()] = definition
        return definition

    def get(self, name: str) -> FieldDef | None:
        """Any field a query may read, including served-only data-file columns."""
        return self.fields.get(name.lower())

    def writable(self, name: str) -> FieldDef | None:
        """A field of the org's schema (read-only ones included); None when the object has no such field."""
        definition = self.fields.get(name.lower())
        return None if definition is None or definition.served_only else definition

    def serve(self, name: str) -> FieldDef:
        """A data-file column: known to reads, unknown to writes."""
        return self.fields.get(name.lower()) or self.fields.setdefault(
            name.lower(), FieldDef(name, "any", sf_type="string", served_only=True))

    def upsert_key(self, name: str) -> FieldDef | None:
        """The field an upsert may match on: Id or an External ID field."""
        definition = self.writable(name)
        if definition is not None and (definition.name == "Id" or definition.external_id):
            return definition
        return None

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields.values()]

    @property
    def unique_fields(self) -> list[str]:
        return [f.name for f in self.fields.values() if f.unique]


def read_crm_setup(path: str | Path | None) -> dict[str, dict[str, dict]]:
    """The `salesforce:` part of crm_setup.yaml: {sObject: {Field__c: {type, length, externalId, unique}}}."""
    if path is None:
        return {}
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    part = data.get("salesforce") or {}
    if not isinstance(part, dict) or not all(isinstance(v, dict) for v in part.values()):
        raise ValueError(f"{path}: salesforce: expected sObject -> field -> spec mappings")
    return part


def _not_an_external_id(field_name: str, sobject: str) -> str:
    return f"Field name provided, {field_name} is not an External ID or indexed field for {sobject}"


class _UnknownField(Exception):
    """A field the sObject does not have. JSON writes fail the whole request with it
    (Salesforce cannot deserialize the body into the sObject)."""

    def __init__(self, sobject: str, field_name: str):
        super().__init__(f"No such column '{field_name}' on sobject of type {sobject}")
        self.field_name = field_name


class _TypeError(Exception):
    """A value that does not fit its field. JSON writes fail the whole request with it
    (Salesforce cannot deserialize the body); CSV rows fail one by one."""

    def __init__(self, definition: FieldDef, value: Any):
        super().__init__(f"{definition.label}: value not of required type: {value}")
        self.field_name = definition.name
        self.sf_type = definition.sf_type or _SF_TYPES.get(definition.type, "string")
        self.value = value

    def json_message(self) -> str:
        # The wording of the org's JSON deserializer (Jackson token names).
        value = self.value
        token = ("VALUE_STRING" if isinstance(value, str) else "VALUE_TRUE" if value is True
                 else "VALUE_FALSE" if value is False else "START_OBJECT" if isinstance(value, dict)
                 else "START_ARRAY" if isinstance(value, list) else "VALUE_NUMBER_INT" if isinstance(value, int)
                 else "VALUE_NUMBER_FLOAT")
        return (f"Cannot deserialize instance of {self.sf_type} from {token} value {value} or request may be "
                "missing a required field")


def _err(code: str, message: str, fields: list[str] | None = None) -> dict:
    return {"statusCode": code, "message": message, "fields": fields or []}


@dataclass
class _Plan:
    """A validated write, applied only once the whole request has been checked
    (allOrNone needs that)."""

    sobject: str
    create: bool
    id: str | None
    values: dict[str, Any]


@dataclass
class _QueryCursor:
    sobject: str
    fields: list[str]
    rows: list[dict]
    endpoint: str


@dataclass
class _Job:
    id: str
    sobject: str
    operation: str
    external_id_field: str | None
    line_ending: str
    column_delimiter: str
    content_type: str
    api_version: str
    created: str
    state: str = "Open"
    data: str | None = None
    due: float | None = None  # time.monotonic() at which processing ends, once UploadComplete
    close_request: Request | None = None  # the PATCH that closed the job: its write is recorded under it
    partial_failures: set[str] = field(default_factory=set)
    failure_code: str | None = None
    failure_message: str | None = None
    job_failure: str | None = None
    header: list[str] = field(default_factory=list)
    successful: list[list[str]] = field(default_factory=list)
    failed: list[list[str]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)
    error_message: str | None = None
    modstamp: str = ""

    def info(self) -> dict:
        return {
            "id": self.id, "operation": self.operation, "object": self.sobject,
            "createdById": INTEGRATION_USER_ID, "createdDate": self.created,
            "systemModstamp": self.modstamp or self.created, "state": self.state,
            **({"externalIdFieldName": self.external_id_field} if self.external_id_field else {}),
            "concurrencyMode": "Parallel", "contentType": self.content_type,
            "apiVersion": float(self.api_version), "jobType": "V2Ingest",
            "contentUrl": f"services/data/v{self.api_version}/jobs/ingest/{self.id}/batches",
            "lineEnding": self.line_ending, "columnDelimiter": self.column_delimiter,
            "numberRecordsProcessed": len(self.successful) + len(self.failed),
            "numberRecordsFailed": len(self.failed), "retries": 0, "totalProcessingTime": 0,
            "apiActiveProcessingTime": 0, "apexProcessingTime": 0,
            **({"errorMessage": self.error_message} if self.error_message else {}),
        }


_DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
_BULK_OPERATIONS = {"insert", "update", "upsert", "delete", "hardDelete"}
_TERMINAL = {"JobComplete", "Failed", "Aborted"}


def salesforce_id(prefix: str, number: int) -> str:
    """An 18-character Id: 15 characters plus Salesforce's case-safe checksum."""
    base = f"{prefix}SB{number:010d}"
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
    suffix = ""
    for chunk in range(3):
        bits = sum(1 << i for i, ch in enumerate(base[chunk * 5:chunk * 5 + 5]) if "A" <= ch <= "Z")
        suffix += alphabet[bits]
    return base + suffix


class SalesforceApi(Api):
    name = "salesforce"
    scheme = "https"
    prefix = re.compile(r"/services/data/v(?P<version>\d+\.\d+)")

    def __init__(self, control, clock, *, client_id: str, client_secret: str, page_size: int = 2000,
                 api_limit: int = 100_000, bulk_processing_seconds: float = 0.2,
                 crm_setup: str | Path | None = None):
        super().__init__(control, clock)
        self.client_id = client_id
        self.client_secret = client_secret
        self._issued_secret = client_secret  # what reset() restores after rotate_secret()
        self.page_size = page_size
        self.api_limit = api_limit
        # A closed Bulk job runs for bulk_processing_seconds plus a small per-record cost
        # (1 + rows / 10,000 times it), on the wall clock: 0 completes it at once.
        self.bulk_processing_seconds = float(bulk_processing_seconds)
        custom_fields = read_crm_setup(crm_setup)
        unknown = set(custom_fields) - {s.api_name for s in catalog.objects_of("salesforce")}
        if unknown:
            raise ValueError(f"crm setup declares fields on sObjects the sandbox does not serve: {sorted(unknown)}")
        # The custom fields an admin created in Setup (crm_setup.yaml), checked now.
        self.custom_fields = {sobject: {name: _field_spec(sobject, name, spec) for name, spec in (fields or {}).items()}
                              for sobject, fields in (custom_fields or {}).items()}
        self.tokens: set[str] = set()
        self._sessions_expire_in: int | None = None  # authenticated calls left before expire_sessions() hits
        self._revoke_on_expiry = False
        self.api_used = 0
        self.schemas: dict[str, Schema] = {}
        self.tables: dict[str, Table] = {}
        self.cursors = ResultCache(64)
        self.jobs: dict[str, _Job] = {}
        self._next_id: dict[str, int] = {}
        self._contract_number = 0
        self._job_seq = 0

    # ------------------------------------------------------------------ data
    def load(self, data_dir: Path | None) -> None:
        self.schemas.clear()
        self.tables.clear()
        self.cursors.clear()
        self.jobs.clear()
        self.api_used = 0
        self.client_secret = self._issued_secret
        self._sessions_expire_in, self._revoke_on_expiry = None, False
        self._next_id = {prefix: 1 for prefix in KEY_PREFIXES.values()}
        self._contract_number = 0
        for source in catalog.objects_of("salesforce"):
            sobject = source.api_name
            schema = Schema(sobject, source.columns, self.custom_fields.get(sobject))
            table = Table("Id")
            path = data_dir / "salesforce" / f"{sobject}.jsonl" if data_dir else None
            for record in read_jsonl(path) if path else ():
                record.pop("attributes", None)
                row = {name: None for name in schema.names}
                for key, value in record.items():
                    row[schema.serve(key).name] = value  # a file column the schema lacks: served, not writable
                row["IsDeleted"] = bool(row.get("IsDeleted"))
                row["LastModifiedDate"] = row.get("LastModifiedDate") or row.get("SystemModstamp")
                row["CreatedDate"] = row.get("CreatedDate") or row.get("SystemModstamp")
                self.clock.observe(row.get("SystemModstamp"))
                if sobject == "Contract" and str(row.get("ContractNumber") or "").isdigit():
                    self._contract_number = max(self._contract_number, int(row["ContractNumber"]))
                table.insert(row)
            self.schemas[sobject] = schema
            self.tables[sobject] = table

    def objects(self) -> list[str]:
        return list(self.tables)

    def add_field(self, sobject: str, name: str, type: str = "string", externalId: bool = False,  # noqa: A002
                  unique: bool = False, length: int | None = None) -> dict:
        """Declare a custom field at runtime, as an admin does in Setup (until the next
        reset, which reloads the schema from the catalog and crm_setup.yaml)."""
        sobject = self._sobject(sobject)
        spec = {"type": type, "externalId": externalId, "unique": unique, "length": length}
        with self.lock:
            definition = self.schemas[sobject].declare(name, spec)
            return self._describe_field(sobject, definition)

    def expire_sessions(self, after_calls: int = 0, revoke: bool = False) -> None:
        """Expire every access token issued so far once `after_calls` more authenticated
        calls have passed (0: now), as a session timeout does mid-run: the next call
        answers 401 INVALID_SESSION_ID and only a new login gets a working token.
        `revoke`: the connected app's secret is rotated at the same moment (until
        reset()), so that new login fails too."""
        with self.lock:
            self._revoke_on_expiry = revoke
            if after_calls <= 0:
                self._expire_now()
            else:
                self._sessions_expire_in = int(after_calls)

    def _expire_now(self) -> None:
        self.tokens.clear()
        self._sessions_expire_in = None
        if self._revoke_on_expiry:
            self.rotate_secret()
            self._revoke_on_expiry = False

    def rotate_secret(self, new_secret: str | None = None) -> str:
        """Give the connected app a new consumer secret (until reset()): logins with the
        old one answer 400 invalid_client. Issued tokens stay valid until they expire."""
        with self.lock:
            self.client_secret = new_secret or f"rotated-{secrets.token_urlsafe(12)}"
            return self.client_secret

    def handle(self, request: Request) -> Response:
        self.run_due_jobs()  # Bulk jobs whose processing time is over complete before anything reads
        return super().handle(request)

    def _sobject(self, name: str) -> str:
        for sobject in self.tables:
            if sobject.lower() == name.lower():
                return sobject
        raise ApiError(404, f"The requested resource does not exist (sObject type '{name}' is not "
                            "supported by the sandbox)", "NOT_FOUND")

    def _new_id(self, sobject: str) -> str:
        prefix = KEY_PREFIXES[sobject]
        while True:
            number = self._next_id[prefix]
            self._next_id[prefix] = number + 1
            candidate = salesforce_id(prefix, number)
            if candidate not in self.tables[sobject]:
                return candidate

    def _record(self, sobject: str, row: dict, fields: list[str], version: str) -> dict:
        out = {"attributes": {"type": sobject, "url": f"/services/data/v{version}/sobjects/{sobject}/{row['Id']}"}}
        for name in fields:
            out[name] = row.get(name)
        return out

    # ------------------------------------------------------------------ wire format
    def error(self, status, message, code=None, retry_after=None, fields=None, **extra) -> Response:
        code = code or {401: "INVALID_SESSION_ID", 403: "REQUEST_LIMIT_EXCEEDED", 404: "NOT_FOUND",
                        429: "REQUEST_LIMIT_EXCEEDED", 500: "UNKNOWN_EXCEPTION",
                        503: "SERVER_UNAVAILABLE"}.get(status, "BAD_REQUEST" if status < 500 else "UNKNOWN_EXCEPTION")
        body = [{"message": message, "errorCode": code, **({"fields": fields} if fields is not None else {})}]
        return Response.json(body, status, self.retry_after_header(status, retry_after))

    def authenticate(self, request: Request) -> Response | None:
        with self.lock:
            if self._sessions_expire_in is not None:
                if self._sessions_expire_in <= 0:
                    self._expire_now()
                else:
                    self._sessions_expire_in -= 1
        header = request.headers.get("Authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() in ("bearer", "oauth") and token.strip() in self.tokens:
            return None
        return self.error(401, "Session expired or invalid", "INVALID_SESSION_ID")

    def before(self, request: Request) -> Response | None:
        # The org-wide daily request limit: every authenticated REST call counts.
        if self.api_used >= self.api_limit:
            return self.error(403, "TotalRequests Limit exceeded.", "REQUEST_LIMIT_EXCEEDED")
        self.api_used += 1
        return None

    def decorate(self, request: Request, response: Response) -> None:
        response.headers.append(("Sforce-Limit-Info", f"api-usage={self.api_used}/{self.api_limit}"))

    # ------------------------------------------------------------------ OAuth
    @route("POST", r"/services/oauth2/token", "POST /services/oauth2/token", auth=False, absolute=True)
    def token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "client_credentials":
            return Response.json({"error": "unsupported_grant_type",
                                  "error_description": "grant type not supported"}, 400)
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        auth = request.headers.get("Authorization") or ""
        if auth.lower().startswith("basic "):
            decoded = base64.b64decode(auth[6:]).decode("utf-8", "replace")
            client_id, _, client_secret = decoded.partition(":")
        if client_id != self.client_id or client_secret != self.client_secret:
            return Response.json({"error": "invalid_client", "error_description": "invalid client credentials"}, 400)
        token = f"{ORG_ID[:15]}!{secrets.token_urlsafe(40)}"
        self.tokens.add(token)
        return Response.json({
            "access_token": token, "signature": secrets.token_urlsafe(32), "scope": "api",
            "instance_url": self.base_url, "id": f"{self.base_url}/id/{ORG_ID}/{INTEGRATION_USER_ID}",
            "token_type": "Bearer", "issued_at": str(int(self.clock.now().timestamp() * 1000)),
        })

    # ------------------------------------------------------------------ metadata
    def _describe_field(self, sobject: str, f: FieldDef) -> dict:
        # DescribeFieldResult (SOAP API Developer Guide, "describeSObjects()" > "Field").
        reference = _REFERENCES.get(f.name, ())
        sf_type = f.sf_type or _SF_TYPES.get(f.type, "string")
        return {
            "name": f.name, "label": f.label, "type": sf_type,
            "length": f.length if f.length is not None else _DEFAULT_LENGTHS.get(sf_type, 0),
            "externalId": f.external_id, "idLookup": f.name == "Id" or f.external_id, "unique": f.unique,
            "createable": not f.read_only, "updateable": not f.read_only,
            "nillable": not (f.name == "Id" or sf_type == "boolean" or f.read_only and f.name in _COMMON_FIELDS
                             or f.name in _REQUIRED_ON_CREATE.get(sobject, ())),
            "custom": f.custom, "referenceTo": list(reference),
            "relationshipName": f.name[:-2] if reference and f.name.endswith("Id") else None,
            "soapType": {"id": "tns:ID", "reference": "tns:ID", "double": "xsd:double", "int": "xsd:int",
                         "boolean": "xsd:boolean", "date": "xsd:date",
                         "datetime": "xsd:dateTime"}.get(sf_type, "xsd:string"),
            "filterable": True, "sortable": sf_type != "textarea",
        }

    def _describe(self, sobject: str) -> Response:
        schema = self.schemas[sobject]
        # Served-only data-file columns are not part of the org's schema: describe leaves them out.
        fields = [self._describe_field(sobject, f) for f in schema.fields.values() if not f.served_only]
        return Response.json({"name": sobject, "label": sobject, "keyPrefix": KEY_PREFIXES[sobject],
                              "custom": False, "queryable": True, "createable": True, "updateable": True,
                              "deletable": True, "fields": fields})

    @route("GET", r"/sobjects/(?P<sobject>\w+)/describe/?", "GET /sobjects/{sobject}/describe")
    def describe(self, request: Request) -> Response:
        return self._describe(self._sobject(request.params["sobject"]))

    @route("GET", r"/limits/?", "GET /limits")
    def limits(self, request: Request) -> Response:
        return Response.json({"DailyApiRequests": {"Max": self.api_limit, "Remaining": self.api_limit - self.api_used}})

    # ------------------------------------------------------------------ SOQL
    @route("GET", r"/(?P<endpoint>query|queryAll)/?", "GET /{endpoint}")
    def query(self, request: Request) -> Response:
        text = request.arg("q")
        if text is None:
            raise BadRequest("A query string (q) is required", "MALFORMED_QUERY")
        include_deleted = request.params["endpoint"] == "queryAll"
        try:
            parsed = soql.parse(text)
        except soql.SoqlError as exc:
            raise BadRequest(soql.error_marker(text, exc.position) + exc.message, "MALFORMED_QUERY") from None
        sobject, fields, rows = self._execute(text, parsed, include_deleted)
        if parsed.count_only:
            return Response.json({"totalSize": len(rows), "done": True, "records": []})
        locator = "01g" + secrets.token_hex(8)[:15].upper()
        self.cursors.put(locator, _QueryCursor(sobject, fields, rows, request.params["endpoint"]))
        return self._page(request, locator, 0)

    @route("GET", r"/(?P<endpoint>query|queryAll)/(?P<cursor>[^/]+)", "GET /{endpoint}/<locator>")
    def query_more(self, request: Request) -> Response:
        locator, _, offset = request.params["cursor"].rpartition("-")
        if not locator or not offset.isdigit() or self.cursors.get(locator) is None:
            raise BadRequest("invalid query locator", "INVALID_QUERY_LOCATOR")
        return self._page(request, locator, int(offset))

    def _page(self, request: Request, locator: str, offset: int) -> Response:
        cursor: _QueryCursor = self.cursors.get(locator)
        size = self.page_size
        options = request.headers.get("Sforce-Query-Options") or ""
        m = re.search(r"batchSize=(\d+)", options)
        if m:  # the client may ask for smaller pages (200..2000), never larger ones
            size = min(size, max(200, min(2000, int(m.group(1)))))
        version = request.params["version"]
        chunk = cursor.rows[offset:offset + size]
        body: dict[str, Any] = {"totalSize": len(cursor.rows), "done": offset + size >= len(cursor.rows)}
        if not body["done"]:
            body["nextRecordsUrl"] = f"/services/data/v{version}/{cursor.endpoint}/{locator}-{offset + size}"
        body["records"] = [self._record(cursor.sobject, row, cursor.fields, version) for row in chunk]
        return Response.json(body)

    def _execute(self, text: str, parsed: soql.Query, include_deleted: bool) -> tuple[str, list[str], list[dict]]:
        sobject = next((s for s in self.tables if s.lower() == parsed.sobject.lower()), None)
        if sobject is None:
            raise BadRequest(
                soql.error_marker(text, parsed.sobject_position)
                + f"sObject type '{parsed.sobject}' is not supported. If you are attempting to use a custom "
                  "object, be sure to append the '__c' after the entity name. Please reference your WSDL or "
                  "the describe call for the appropriate names.", "INVALID_TYPE")
        schema = self.schemas[sobject]

        def resolve(name: str, position: int) -> FieldDef:
            definition = schema.get(name)
            if definition is None:
                raise BadRequest(
                    soql.error_marker(text, position)
                    + f"No such column '{name}' on entity '{sobject}'. If you are attempting to use a custom "
                      "field, be sure to append the '__c' after the custom field name. Please reference your "
                      "WSDL or the describe call for the appropriate names.", "INVALID_FIELD")
            return definition

        fields: list[str] = []
        for name, position in parsed.fields:
            definition = resolve(name, position)
            if definition.name in fields:
                raise BadRequest(soql.error_marker(text, position) + f"duplicate field selected: {name}",
                                 "INVALID_FIELD")
            fields.append(definition.name)
        predicate = self._compile(text, parsed.where, resolve) if parsed.where is not None else None
        table = self.tables[sobject]
        rows = [row for row in table if (include_deleted or not row["IsDeleted"])
                and (predicate is None or predicate(row))]
        for item in reversed(parsed.order_by):  # stable sorts, last key first
            definition = resolve(item.field, item.position)
            rows.sort(key=_sort_key(definition, item), reverse=item.descending)
        if parsed.offset:
            rows = rows[parsed.offset:]
        if parsed.limit is not None:
            rows = rows[:parsed.limit]
        return sobject, fields, rows

    def _compile(self, text: str, node, resolve):
        if isinstance(node, soql.BoolOp):
            parts = [self._compile(text, item, resolve) for item in node.items]
            if node.op == "AND":
                return lambda row: all(p(row) for p in parts)
            return lambda row: any(p(row) for p in parts)
        if isinstance(node, soql.Not):
            inner = self._compile(text, node.item, resolve)
            return lambda row: not inner(row)
        definition = resolve(node.field, node.position)
        convert = _converter(definition.type)
        literals = node.value.value if node.value.kind == "list" else [node.value]
        targets = []
        for literal in literals:
            if literal.kind == "null":
                if node.op not in ("=", "!=", "IN", "NOT IN"):
                    raise BadRequest(soql.error_marker(text, node.position)
                                     + "null can only be compared with = or !=", "INVALID_QUERY_FILTER_OPERATOR")
                targets.append(None)
                continue
            targets.append(_literal_value(text, node, definition, literal))
        name, op = definition.name, node.op
        if op == "LIKE":
            regex = soql.like_to_regex(node.value.value)
            return lambda row: row.get(name) is not None and bool(regex.fullmatch(str(row.get(name))))
        if op in ("IN", "NOT IN"):
            wanted = set(targets)
            if op == "IN":
                return lambda row: convert(row.get(name)) in wanted
            return lambda row: convert(row.get(name)) not in wanted
        target = targets[0]
        if target is None:
            return (lambda row: row.get(name) is None) if op == "=" else (lambda row: row.get(name) is not None)
        compare = _OPERATORS[op]

        def predicate(row):
            value = convert(row.get(name))
            if value is None:
                return op == "!="  # null != 'x' is true in SOQL; null < x is false
            return compare(value, target)

        return predicate

    # ------------------------------------------------------------------ single records
    @route("GET", r"/sobjects/(?P<sobject>\w+)/(?P<id>(?!describe/?\Z)[^/]+)", "GET /sobjects/{sobject}/<id>")
    def get_record(self, request: Request) -> Response:
        sobject = self._sobject(request.params["sobject"])
        row = self.tables[sobject].get(request.params["id"])
        if row is None or row["IsDeleted"]:
            raise ApiError(404, "The requested resource does not exist", "NOT_FOUND")
        return Response.json(self._record(sobject, row, self._fields_param(request, sobject),
                                          request.params["version"]))

    def _fields_param(self, request: Request, sobject: str) -> list[str]:
        schema = self.schemas[sobject]
        wanted = request.arg("fields")
        if not wanted:
            return schema.names
        out = []
        for name in wanted.split(","):
            definition = schema.get(name.strip())
            if definition is None:
                raise BadRequest(f"No such column '{name.strip()}' on entity '{sobject}'.", "INVALID_FIELD")
            out.append(definition.name)
        return out

    @route("GET", r"/sobjects/(?P<sobject>\w+)/(?P<field>\w+)/(?P<value>.+)", "GET /sobjects/{sobject}/{field}/<value>")
    def get_by_external_id(self, request: Request) -> Response:
        sobject = self._sobject(request.params["sobject"])
        definition = self._upsert_key(sobject, request.params["field"])
        rows = self._live_matches(sobject, definition.name, request.params["value"])
        if not rows:
            raise ApiError(404, "The requested resource does not exist", "NOT_FOUND")
        if len(rows) > 1:
            return self._multiple_choices(request, sobject, rows)
        return Response.json(self._record(sobject, rows[0], self._fields_param(request, sobject),
                                          request.params["version"]))

    def _upsert_key(self, sobject: str, field_name: str) -> FieldDef:
        """The field of an sObject Rows by External ID call: it must exist (else 404) and be
        an External ID or Id (else 400 INVALID_FIELD), as the REST API answers."""
        schema = self.schemas[sobject]
        if schema.writable(field_name) is None:
            raise ApiError(404, f"Provided external ID field does not exist or is not accessible: {field_name}",
                           "NOT_FOUND")
        definition = schema.upsert_key(field_name)
        if definition is None:
            raise BadRequest(_not_an_external_id(field_name, sobject), "INVALID_FIELD")
        return definition

    def _multiple_choices(self, request: Request, sobject: str, rows: list[dict]) -> Response:
        version = request.params["version"]
        return Response.json([f"/services/data/v{version}/sobjects/{sobject}/{r['Id']}" for r in rows], 300)

    @route("POST", r"/sobjects/(?P<sobject>\w+)/?", "POST /sobjects/{sobject}")
    def create_record(self, request: Request) -> Response:
        sobject = self._sobject(request.params["sobject"])
        body = request.json()
        if not isinstance(body, dict):
            raise BadRequest("Expected a JSON object for the record", "JSON_PARSER_ERROR")
        plan = self._prepare_json(sobject, "insert", body, request)
        if isinstance(plan, list):
            return self._errors_response(plan)
        record_id, _ = self._apply(plan, salesforce_ts(self.clock.tick()))
        result = {"id": record_id, "success": True, "errors": []}
        self.control.record_write(self.name, request, object=sobject, operation="insert", records=[body],
                                  results=[result])
        return Response.json(result, 201)

    @route("PATCH", r"/sobjects/(?P<sobject>\w+)/(?P<id>[^/]+)", "PATCH /sobjects/{sobject}/<id>")
    def update_record(self, request: Request) -> Response:
        sobject = self._sobject(request.params["sobject"])
        body = request.json()
        record = {**body, "Id": request.params["id"]}
        plan = self._prepare_json(sobject, "update", record, request)
        if isinstance(plan, list):
            return self._errors_response(plan)
        self._apply(plan, salesforce_ts(self.clock.tick()))
        self.control.record_write(self.name, request, object=sobject, operation="update", records=[record],
                                  results=[{"id": plan.id, "success": True, "errors": []}])
        return Response.empty(204)

    @route("PATCH", r"/sobjects/(?P<sobject>\w+)/(?P<field>\w+)/(?P<value>.+)",
           "PATCH /sobjects/{sobject}/{field}/<value>")
    def upsert_record(self, request: Request) -> Response:
        sobject = self._sobject(request.params["sobject"])
        body = request.json()
        update_only = (request.arg("updateOnly") or "").lower() == "true"
        ext_field, value = request.params["field"], request.params["value"]
        if ext_field.lower() == "id":
            # Upsert by Id: an update when found; the API cannot create a record with a given Id.
            record = {**body, "Id": value}
            plan = self._prepare_json(sobject, "update", record, request)
        else:
            definition = self._upsert_key(sobject, ext_field)
            matches = self._live_matches(sobject, definition.name, value)
            if len(matches) > 1:
                return self._multiple_choices(request, sobject, matches)
            if not matches and update_only:
                raise ApiError(404, "The requested resource does not exist", "NOT_FOUND")
            record = {**body, definition.name: value}
            plan = self._prepare_json(sobject, "upsert", record, request, ext_field=definition.name)
        if isinstance(plan, list):
            return self._errors_response(plan)
        record_id, created = self._apply(plan, salesforce_ts(self.clock.tick()))
        result = {"id": record_id, "success": True, "errors": [], "created": created}
        self.control.record_write(self.name, request, object=sobject, operation="upsert",
                                  records=[record], results=[result], external_id_field=ext_field)
        if created:
            return Response.json(result, 201)
        # Since API 46.0 an update answers 200 with the result; earlier versions 204.
        if float(request.params["version"]) >= 46.0:
            return Response.json(result, 200)
        return Response.empty(204)

    def _errors_response(self, errors: list[dict], status: int = 400) -> Response:
        return Response.json([{"message": e["message"], "errorCode": e["statusCode"], "fields": e["fields"]}
                              for e in errors], status)

    # ------------------------------------------------------------------ sObject Collections
    @route("PATCH", r"/composite/sobjects/(?P<sobject>\w+)/(?P<field>\w+)",
           "PATCH /composite/sobjects/{sobject}/{field}")
    def collection_upsert(self, request: Request) -> Response:
        sobject = self._sobject(request.params["sobject"])
        body = request.json()
        records, all_or_none = self._collection_body(body)
        definition = self.schemas[sobject].upsert_key(request.params["field"])
        if definition is None:
            # The whole call is refused (REST API: "Upsert Records Using sObject Collections").
            raise BadRequest(_not_an_external_id(request.params["field"], sobject), "INVALID_FIELD")
        ext = definition.name
        values = [_field_value(r, ext) for r in records]
        seen: dict[Any, int] = {}
        for v in values:
            if v not in (None, ""):
                seen[v] = seen.get(v, 0) + 1
        outcomes: list[_Plan | list[dict]] = []
        claimed: dict[tuple[str, Any], int] = {}
        for record, value in zip(records, values):
            rtype = self._record_type(record)
            if rtype.lower() != sobject.lower():
                outcomes.append([_err("INVALID_TYPE", f"Record type {rtype} does not match {sobject}")])
            elif value not in (None, "") and seen[value] > 1:
                outcomes.append([_err("DUPLICATE_VALUE", f"Duplicate external id specified: {value}", [ext])])
            else:
                outcomes.append(self._claim(self._prepare_json(sobject, "upsert", record, request, ext_field=ext),
                                            claimed))
        results = self._finish_collection(outcomes, all_or_none, with_created=True)
        self.control.record_write(self.name, request, object=sobject, operation="upsert", records=records,
                                  results=results, external_id_field=ext, all_or_none=all_or_none)
        return Response.json(results)

    @route("POST", r"/composite/sobjects/?", "POST /composite/sobjects")
    def collection_insert(self, request: Request) -> Response:
        return self._collection_by_type(request, "insert")

    @route("PATCH", r"/composite/sobjects/?", "PATCH /composite/sobjects")
    def collection_update(self, request: Request) -> Response:
        return self._collection_by_type(request, "update")

    def _collection_by_type(self, request: Request, operation: str) -> Response:
        records, all_or_none = self._collection_body(request.json())
        outcomes: list[_Plan | list[dict]] = []
        types = []
        claimed: dict[tuple[str, Any], int] = {}
        for record in records:
            rtype = self._record_type(record)
            sobject = next((s for s in self.tables if s.lower() == rtype.lower()), None)
            if sobject is None:
                outcomes.append([_err("INVALID_TYPE", f"sObject type '{rtype}' is not supported.")])
                continue
            types.append(sobject)
            outcomes.append(self._claim(self._prepare_json(sobject, operation, record, request), claimed))
        results = self._finish_collection(outcomes, all_or_none, with_created=False)
        self.control.record_write(self.name, request, object=",".join(dict.fromkeys(types)) or None,
                                  operation=operation, records=records, results=results, all_or_none=all_or_none)
        return Response.json(results)

    @staticmethod
    def _record_type(record: dict) -> str:
        # "Each object must contain an attributes map. The map must contain a value for type."
        # (REST API: "Create Records Using sObject Collections"); without it the body cannot be
        # deserialized into sObjects and the whole call fails with 400.
        attributes = record.get("attributes")
        rtype = attributes.get("type") if isinstance(attributes, dict) else None
        if not isinstance(rtype, str) or not rtype:
            raise BadRequest("Missing entity type information. sObject requires a separate 'type' field be sent.",
                             "JSON_PARSER_ERROR")
        return rtype

    def _claim(self, outcome: "_Plan | list[dict]", claimed: dict[tuple[str, Any], int]) -> "_Plan | list[dict]":
        """Unique field values inside one call: a second record taking a value an earlier
        record of the same call takes fails with DUPLICATE_VALUE."""
        if not isinstance(outcome, _Plan):
            return outcome
        schema = self.schemas[outcome.sobject]
        for name in schema.unique_fields:
            value = outcome.values.get(name)
            if value in (None, ""):
                continue
            key = (f"{outcome.sobject}.{name}", value)
            if key in claimed:
                return [_err("DUPLICATE_VALUE", f"duplicate value found: {name} duplicates value on record "
                                                f"with id: {outcome.id or ''}", [name])]
            claimed[key] = 1
        return outcome

    def _collection_body(self, body: Any) -> tuple[list[dict], bool]:
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise BadRequest("Expected a JSON object with a records array", "JSON_PARSER_ERROR")
        records = body["records"]
        if len(records) > COLLECTION_LIMIT:
            raise BadRequest("record limit reached. cannot submit more than 200 records into this call",
                             "EXCEEDED_ID_LIMIT")
        if not all(isinstance(r, dict) for r in records):
            raise BadRequest("Each record must be a JSON object", "JSON_PARSER_ERROR")
        return records, bool(body.get("allOrNone", False))

    def _finish_collection(self, outcomes: list, all_or_none: bool, with_created: bool) -> list[dict]:
        """Per-record results in request order; apply the good ones (none when allOrNone
        and any failed)."""
        failed = any(isinstance(o, list) for o in outcomes)
        results = []
        stamp = salesforce_ts(self.clock.tick()) if not (all_or_none and failed) else None
        for outcome in outcomes:
            created = False
            if isinstance(outcome, list):
                result = {"success": False, "errors": outcome}
            elif all_or_none and failed:
                result = {"success": False, "errors": [_err(
                    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                    "Record rolled back because not all records were valid and the request was using "
                    "AllOrNone header")]}
                if outcome.id:
                    result = {"id": outcome.id, **result}
            else:
                record_id, created = self._apply(outcome, stamp)
                result = {"id": record_id, "success": True, "errors": []}
            if with_created:
                result["created"] = created
            results.append(result)
        return results

    # ------------------------------------------------------------------ validation + apply
    def _prepare_json(self, sobject, operation, record, request, ext_field=None):
        try:
            return self._prepare(sobject, operation, record, ext_field=ext_field, from_csv=False,
                                 partial=request.partial_failures, faults=request.faults)
        except _TypeError as exc:
            # Salesforce fails the whole request when a JSON value cannot be deserialized
            # into the field's type: 400 JSON_PARSER_ERROR, nothing written.
            raise BadRequest(exc.json_message(), "JSON_PARSER_ERROR") from None
        except _UnknownField as exc:
            # A field the sObject lacks fails the JSON body as a whole: 400 INVALID_FIELD.
            raise BadRequest(str(exc), "INVALID_FIELD") from None

    def _prepare(self, sobject: str, operation: str, record: dict, *, ext_field: str | None, from_csv: bool,
                 partial: set[str], faults=None) -> _Plan | list[dict]:
        schema = self.schemas[sobject]
        table = self.tables[sobject]
        errors: list[dict] = []
        values: dict[str, Any] = {}
        record_id = record.get("Id") or record.get("id") or None
        for key, raw in record.items():
            if key == "attributes" or key.lower() == "id":
                continue
            if from_csv and raw == "":
                continue  # an empty CSV cell leaves the field unchanged
            value = None if from_csv and raw == "#N/A" else raw  # "#N/A" in a Bulk CSV sets null
            definition = schema.writable(key)
            if definition is None:
                raise _UnknownField(sobject, key)
            if definition.read_only:
                errors.append(_err("INVALID_FIELD_FOR_INSERT_UPDATE",
                                   f"Unable to create/update fields: {definition.name}. Please check the security "
                                   "settings of this field and verify that it is read/write for your profile or "
                                   "permission set.", [definition.name]))
                continue
            values[definition.name] = coerced = _coerce(definition, value, from_csv)
            if isinstance(coerced, str) and definition.length and len(coerced) > definition.length \
                    and definition.type == "string":
                errors.append(_err("STRING_TOO_LONG", f"{definition.label}: data value too large: {coerced} "
                                                      f"(max length={definition.length})", [definition.name]))
        if errors:
            return errors

        create = False
        ext_value = values.get(ext_field) if ext_field else None
        if operation == "insert":
            if record_id:
                return [_err("INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call", ["Id"])]
            create = True
        elif operation in ("update", "delete") or (operation == "upsert" and ext_field == "Id"):
            if not record_id:
                if operation == "upsert":
                    create = True
                else:
                    return [_err("MISSING_ARGUMENT", f"Id not specified in an {operation} call", ["Id"])]
            else:
                row = table.get(record_id)
                if row is None:
                    return [_err("INVALID_CROSS_REFERENCE_KEY" if record_id[:3] == KEY_PREFIXES[sobject]
                                 else "MALFORMED_ID", f"invalid cross reference id: {record_id}", ["Id"])]
                if row["IsDeleted"]:
                    return [_err("ENTITY_IS_DELETED", "entity is deleted", [])]
        elif operation == "upsert":
            if ext_value in (None, ""):
                return [_err("MISSING_ARGUMENT", f"{ext_field} not specified", [ext_field])]
            matches = self._live_matches(sobject, ext_field, ext_value)
            if len(matches) > 1:
                return [_err("DUPLICATE_EXTERNAL_ID",
                             f"{ext_field}: more than one record found for external id field: "
                             f"{[m['Id'] for m in matches]}", [ext_field])]
            if matches:
                record_id = matches[0]["Id"]
            else:
                create = True
        else:
            return [_err("INVALID_OPERATION", f"unsupported operation {operation}")]

        keys = {str(k) for k in (record_id, ext_value) if k not in (None, "")}
        if partial and keys & partial:
            code = (faults.partial_failure_code if faults else None) or "UNABLE_TO_LOCK_ROW"
            message = (faults.partial_failure_message if faults else None) or \
                "unable to obtain exclusive access to this record or 1 records: " + (record_id or ext_value or "")
            return [_err(code, message)]

        if operation == "delete":
            return _Plan(sobject, False, record_id, {"IsDeleted": True})
        required = _REQUIRED_ON_CREATE.get(sobject, ())
        missing = [f for f in required if (values.get(f) if create else values.get(f, "-")) in (None, "")]
        if missing:  # on update: a required field set to null
            return [_err("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)]
        for name in schema.unique_fields:
            # A Unique field refuses a second record with the same value, on insert and update.
            value = values.get(name)
            if value in (None, ""):
                continue
            other = next((r["Id"] for r in self._live_matches(sobject, name, value) if r["Id"] != record_id), None)
            if other is not None:
                return [_err("DUPLICATE_VALUE", f"duplicate value found: {name} duplicates value on record with "
                                                f"id: {other}", [name])]
        for name, value in values.items():
            targets = _REFERENCES.get(name)
            if targets and value not in (None, "") and not any(value in self.tables[t] for t in targets):
                return [_err("INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {name} = {value}", [name])]
        return _Plan(sobject, create, record_id, values)

    def _live_matches(self, sobject: str, field_name: str, value: Any) -> list[dict]:
        return [row for row in self.tables[sobject].find(field_name, value) if not row["IsDeleted"]]

    def _apply(self, plan: _Plan, stamp: str) -> tuple[str, bool]:
        table = self.tables[plan.sobject]
        stamps = {"SystemModstamp": stamp, "LastModifiedDate": stamp}
        if plan.create:
            row = {name: None for name in self.schemas[plan.sobject].names}
            row.update(_DEFAULTS_ON_CREATE.get(plan.sobject, {}))
            row.update({"OwnerId": INTEGRATION_USER_ID} if "OwnerId" in row else {})
            row.update(plan.values)
            row.update(stamps, Id=self._new_id(plan.sobject), CreatedDate=stamp, IsDeleted=False)
            if plan.sobject == "Contract":
                self._contract_number += 1
                row["ContractNumber"] = f"{self._contract_number:08d}"
            self._derive(plan.sobject, row, plan.values, create=True)
            table.insert(row)
            return row["Id"], True

        def mutate(row: dict) -> None:
            row.update(plan.values)
            row.update(stamps)
            self._derive(plan.sobject, row, plan.values, create=False)

        table.update(plan.id, mutate)
        return plan.id, False

    def _derive(self, sobject: str, row: dict, changed: dict, create: bool) -> None:
        """Fields the org computes: Task/Event AccountId from WhatId, Opportunity
        IsClosed/IsWon from StageName, Contract EndDate from StartDate + ContractTerm."""
        if sobject in ("Task", "Event") and (create or "WhatId" in changed):
            what = row.get("WhatId")
            account = None
            if what in self.tables["Account"]:
                account = what
            else:
                for parent in ("Opportunity", "Contract"):
                    found = self.tables[parent].get(what) if what else None
                    if found:
                        account = found.get("AccountId")
            row["AccountId"] = account
        if sobject == "Opportunity" and "StageName" in changed:
            stage = row.get("StageName") or ""
            row["IsClosed"] = stage.startswith("Closed")
            row["IsWon"] = stage == "Closed Won"
        if sobject == "Contract" and ("StartDate" in changed or "ContractTerm" in changed):
            start, term = row.get("StartDate"), row.get("ContractTerm")
            if start and term:
                begin = date.fromisoformat(str(start)[:10])
                months = begin.month - 1 + int(term)
                year, month = begin.year + months // 12, months % 12 + 1
                day = min(begin.day, [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28,
                                      31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1])
                row["EndDate"] = date.fromordinal(date(year, month, day).toordinal() - 1).isoformat()

    def _delete(self, sobject: str, record_id: str, stamp: str) -> list[dict]:
        row = self.tables[sobject].get(record_id)
        if row is None:
            return [_err("NOT_FOUND" if record_id[:3] == KEY_PREFIXES[sobject] else "MALFORMED_ID",
                         "The requested resource does not exist")]
        if row["IsDeleted"]:
            return [_err("ENTITY_IS_DELETED", "entity is deleted")]
        self.tables[sobject].update(record_id, lambda r: r.update(
            IsDeleted=True, SystemModstamp=stamp, LastModifiedDate=stamp))
        return []

    # ------------------------------------------------------------------ Bulk API 2.0 ingest
    @route("POST", r"/jobs/ingest/?", "POST /jobs/ingest")
    def create_job(self, request: Request) -> Response:
        body = request.json()
        sobject_name = str(body.get("object") or "")
        sobject = next((s for s in self.tables if s.lower() == sobject_name.lower()), None)
        if sobject is None:
            raise BadRequest(f"InvalidJob : Invalid object: {sobject_name}", "INVALIDJOB")
        operation = body.get("operation")
        if operation not in _BULK_OPERATIONS:
            raise BadRequest(f"InvalidJob : Invalid operation: {operation}", "INVALIDJOB")
        ext = body.get("externalIdFieldName")
        if operation == "upsert":
            if not ext:
                raise BadRequest("InvalidJob : External ID was blank for upsert", "INVALIDJOB")
            definition = self.schemas[sobject].upsert_key(str(ext))
            if definition is None:
                # Job creation is refused with 400 InvalidJob (Bulk API 2.0: the upsert field
                # must be an External ID; this is the org's wording for any other field).
                raise BadRequest(f"InvalidJob : Field name provided, {ext} does not match an External ID, "
                                 f"Salesforce Id, or indexed field for {sobject}", "INVALIDJOB")
            ext = definition.name
        line_ending = body.get("lineEnding") or "LF"
        delimiter = body.get("columnDelimiter") or "COMMA"
        if line_ending not in ("LF", "CRLF") or delimiter not in _DELIMITERS:
            raise BadRequest("InvalidJob : invalid lineEnding or columnDelimiter", "INVALIDJOB")
        if (body.get("contentType") or "CSV") != "CSV":
            raise BadRequest("InvalidJob : contentType must be CSV", "INVALIDJOB")
        self._job_seq += 1
        job_id = salesforce_id("750", self._job_seq)
        now = salesforce_ts(self.clock.now())
        job = _Job(job_id, sobject, operation, ext if operation == "upsert" else None, line_ending, delimiter,
                   "CSV", request.params["version"], now)
        self.jobs[job_id] = job
        return Response.json(job.info())

    def _job(self, request: Request) -> _Job:
        job = self.jobs.get(request.params["job"])
        if job is None:
            raise ApiError(404, "The requested resource does not exist", "NOT_FOUND")
        return job

    @route("PUT", r"/jobs/ingest/(?P<job>\w+)/batches/?", "PUT /jobs/ingest/<id>/batches")
    def upload_job_data(self, request: Request) -> Response:
        job = self._job(request)
        if job.state != "Open":
            raise ApiError(409, f"Job {job.id} is not Open (state {job.state})", "INVALIDJOBSTATE")
        if job.data is not None:
            raise BadRequest(f"Found multiple contents for job: <{job.id}>, please 'Close' / 'Abort' / 'Delete' "
                             "the current Job then create a new Job and make sure you only do 'PUT' once on a "
                             "given Job.", "INVALIDJOB")
        if len(request.body) > 150 * 1024 * 1024:
            raise BadRequest("InvalidBatch : upload exceeds 150 MB", "INVALIDBATCH")
        job.data = request.body.decode("utf-8-sig")
        self._collect_job_faults(job, request)
        return Response.empty(201)

    def _collect_job_faults(self, job: _Job, request: Request) -> None:
        faults = request.faults
        if not faults:
            return
        job.partial_failures |= faults.partial_failures
        job.failure_code = job.failure_code or faults.partial_failure_code
        job.failure_message = job.failure_message or faults.partial_failure_message
        job.job_failure = job.job_failure or faults.bulk_job_failure

    @route("PATCH", r"/jobs/ingest/(?P<job>\w+)/?", "PATCH /jobs/ingest/<id>")
    def set_job_state(self, request: Request) -> Response:
        job = self._job(request)
        state = (request.json() or {}).get("state")
        if state == "UploadComplete":
            if job.state != "Open":
                raise ApiError(409, f"Job {job.id} is not Open (state {job.state})", "INVALIDJOBSTATE")
            self._collect_job_faults(job, request)
            job.state = "UploadComplete"  # nothing runs before this
            # Processing takes time on the wall clock, whether or not the client polls.
            rows = (job.data or "").count("\n")
            job.due = time.monotonic() + self.bulk_processing_seconds * (1 + rows / 10_000)
            job.close_request = request
            self._schedule(job)
        elif state == "Aborted":
            if job.state in _TERMINAL:
                raise ApiError(409, f"Job {job.id} is already {job.state}", "INVALIDJOBSTATE")
            job.state = "Aborted"
            job.unprocessed = self._job_rows(job)[1] if job.data else []
        else:
            raise BadRequest(f"InvalidJob : invalid state {state!r}", "INVALIDJOB")
        job.modstamp = salesforce_ts(self.clock.now())
        return Response.json(job.info())

    @route("GET", r"/jobs/ingest/(?P<job>\w+)/?", "GET /jobs/ingest/<id>")
    def get_job(self, request: Request) -> Response:
        job = self._job(request)
        if job.state == "UploadComplete":
            job.state = "InProgress"  # picked up; run_due_jobs completes it once its time is over
            job.modstamp = salesforce_ts(self.clock.now())
        return Response.json(job.info())

    def _schedule(self, job: _Job) -> None:
        """A timer completes the job at its due time even if no request comes."""

        def fire() -> None:
            self.run_due_jobs()
            if job.state in ("UploadComplete", "InProgress") and self.jobs.get(job.id) is job:
                self._schedule(job)  # woke a hair early: wait out the rest

        timer = threading.Timer(max(0.0, (job.due or 0) - time.monotonic()) + 0.001, fire)
        timer.daemon = True
        timer.start()

    def run_due_jobs(self) -> None:
        """Complete the closed Bulk jobs whose processing time is over (called by each
        job's timer and before every request, so reads never see a due job unapplied)."""
        now = time.monotonic()
        if not any(j.due is not None and j.due <= now and j.state in ("UploadComplete", "InProgress")
                   for j in list(self.jobs.values())):
            return
        with self.lock:
            for job in list(self.jobs.values()):
                if job.due is not None and job.due <= now and job.state in ("UploadComplete", "InProgress"):
                    try:
                        self._process_job(job, job.close_request)
                    except Exception:  # a sandbox bug: the job fails, the log says why
                        log.error("salesforce bulk job %s failed:\n%s", job.id, traceback.format_exc())
                        job.state, job.error_message = "Failed", "UNKNOWN_EXCEPTION : sandbox internal error"
                    job.modstamp = salesforce_ts(self.clock.now())

    # Only these three result resources exist (Bulk API 2.0: "Get Job Successful Record
    # Results", "Get Job Failed Record Results", "Get Job Unprocessed Record Results",
    # the last spelled .../unprocessedrecords); any other spelling is 404 NOT_FOUND.
    @route("GET", r"/jobs/ingest/(?P<job>\w+)/"
                  r"(?P<kind>successfulResults|failedResults|unprocessedrecords)/?",
           "GET /jobs/ingest/<id>/{kind}")
    def job_results(self, request: Request) -> Response:
        job = self._job(request)
        if job.state not in _TERMINAL:
            raise ApiError(409, f"Job {job.id} is still {job.state}; results are available once it is complete",
                           "INVALIDJOBSTATE")
        kind = request.params["kind"].lower()
        delimiter = _DELIMITERS[job.column_delimiter]
        terminator = "\r\n" if job.line_ending == "CRLF" else "\n"
        out = io.StringIO()
        writer = csv.writer(out, delimiter=delimiter, lineterminator=terminator, quoting=csv.QUOTE_ALL)
        if kind == "successfulresults":
            writer.writerow(["sf__Id", "sf__Created", *job.header])
            rows = job.successful
        elif kind == "failedresults":
            writer.writerow(["sf__Id", "sf__Error", *job.header])
            rows = job.failed
        else:
            writer.writerow(job.header)
            rows = job.unprocessed
        if job.header or rows:
            writer.writerows(rows)
        text = out.getvalue() if (job.header or rows) else ""
        return Response.text(text, content_type="text/csv")

    def _job_rows(self, job: _Job) -> tuple[list[str], list[list[str]]]:
        reader = csv.reader(io.StringIO(job.data or "", newline=""), delimiter=_DELIMITERS[job.column_delimiter])
        rows = [row for row in reader if row]
        header = rows[0] if rows else []
        job.header = header
        return header, rows[1:]

    def _process_job(self, job: _Job, request: Request) -> None:
        header, rows = self._job_rows(job)
        schema = self.schemas[job.sobject]
        if job.job_failure:
            job.state, job.error_message, job.unprocessed = "Failed", job.job_failure, rows
            return
        if not header:
            job.state = "JobComplete"
            return
        for column in header:
            if column.lower() == "id":
                continue
            if "." in column or schema.writable(column) is None:
                job.state = "Failed"
                job.error_message = f"InvalidBatch : Field name not found : {column}"
                job.unprocessed = rows
                return
        if job.operation == "upsert" and job.external_id_field.lower() not in {c.lower() for c in header}:
            job.state = "Failed"
            job.error_message = f"InvalidBatch : The '{job.external_id_field}' field is missing from the header"
            job.unprocessed = rows
            return
        if job.operation in ("delete", "hardDelete") and [c.lower() for c in header] != ["id"]:
            job.state = "Failed"
            job.error_message = "InvalidBatch : A delete job takes a single Id column"
            job.unprocessed = rows
            return

        operation = "delete" if job.operation == "hardDelete" else job.operation
        ext = job.external_id_field
        ext_index = next((i for i, c in enumerate(header) if ext and c.lower() == ext.lower()), None)
        counts: dict[str, int] = {}
        if ext_index is not None:
            for row in rows:
                if len(row) > ext_index and row[ext_index]:
                    counts[row[ext_index]] = counts.get(row[ext_index], 0) + 1
        stamp = salesforce_ts(self.clock.tick())
        faults = FaultOutcome(partial_failure_code=job.failure_code, partial_failure_message=job.failure_message)
        written = []
        for row in rows:
            if len(row) != len(header):
                job.failed.append(["", "INVALID_FIELD:the row has a different number of columns than the "
                                       "header:--", *row])
                continue
            record = dict(zip(header, row))
            if ext_index is not None and counts.get(row[ext_index], 0) > 1:
                job.failed.append(["", f"DUPLICATE_VALUE:Duplicate external id specified: {row[ext_index]}:"
                                       f"{ext} --", *row])
                continue
            try:
                plan = self._prepare(job.sobject, operation, record, ext_field=ext, from_csv=True,
                                     partial=job.partial_failures, faults=faults)
            except _TypeError as exc:
                plan = [_err("INVALID_TYPE_ON_FIELD_IN_RECORD", str(exc), [exc.field_name])]
            if isinstance(plan, list):
                error = plan[0]
                job.failed.append([record.get("Id") or "",
                                   f"{error['statusCode']}:{error['message']}:{','.join(error['fields'])} --", *row])
                continue
            if operation == "delete":
                self._delete(job.sobject, plan.id, stamp)
                record_id, created = plan.id, False
            else:
                record_id, created = self._apply(plan, stamp)
            job.successful.append([record_id, "true" if created else "false", *row])
            written.append(record)
        # Row order in the result files is not guaranteed: clients must match on keys.
        shuffler = random.Random(f"{self.control.seed}:{job.id}")
        shuffler.shuffle(job.successful)
        shuffler.shuffle(job.failed)
        job.state = "JobComplete"
        self.control.record_write(
            self.name, request, object=job.sobject, operation=f"bulk2.{job.operation}",
            records=[dict(zip(header, r)) for r in rows], external_id_field=ext, job_id=job.id,
            results={"processed": len(job.successful) + len(job.failed), "failed": len(job.failed),
                     "failed_rows": [{"error": f[1], "row": dict(zip(header, f[2:]))} for f in job.failed]})

    # ------------------------------------------------------------------ user edits (/__sandbox/records)
    def mutate(self, object: str, op: str, records: list[dict]) -> list[dict]:
        sobject = self._sobject(object)
        schema, table = self.schemas[sobject], self.tables[sobject]
        stamp = salesforce_ts(self.clock.tick())
        out = []
        for record in records:
            record = {k: v for k, v in record.items() if k != "attributes"}
            if op == "insert":
                row = {name: None for name in schema.names}
                row.update(_DEFAULTS_ON_CREATE.get(sobject, {}))
                for key, value in record.items():
                    row[schema.serve(key).name] = value  # a user edit: unknown columns are served, not declared
                row.update(Id=record.get("Id") or self._new_id(sobject), IsDeleted=False, CreatedDate=stamp,
                           SystemModstamp=stamp, LastModifiedDate=stamp)
                self._derive(sobject, row, row, create=True)
                table.insert(row)
                out.append(dict(row))
                continue
            record_id = record.get("Id")
            if record_id not in table:
                raise BadRequest(f"{sobject} {record_id!r} not found", "NOT_FOUND")
            if op == "delete":
                table.update(record_id, lambda r: r.update(IsDeleted=True, SystemModstamp=stamp,
                                                           LastModifiedDate=stamp))
            elif op == "update":
                changes = {}
                for key, value in record.items():
                    if key == "Id":
                        continue
                    changes[schema.serve(key).name] = value

                def mutate(row, changes=changes):
                    row.update(changes)
                    row.update(SystemModstamp=stamp, LastModifiedDate=stamp)
                    self._derive(sobject, row, changes, create=False)

                table.update(record_id, mutate)
            else:
                raise BadRequest(f"unknown op {op!r}: update | insert | delete")
            out.append(dict(table.get(record_id)))
        return out

    def dump(self, object: str, key: str | None = None) -> list[dict]:
        sobject = self._sobject(object)
        table = self.tables[sobject]
        if key is not None:
            row = table.get(key)
            return [dict(row)] if row else []
        return [dict(row) for row in table]


# --------------------------------------------------------------------------- value handling

def _field_value(record: dict, field_name: str) -> Any:
    if field_name in record:
        return record[field_name]
    lower = field_name.lower()
    return next((v for k, v in record.items() if k.lower() == lower), None)


_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


def _coerce(definition: FieldDef, value: Any, from_csv: bool) -> Any:
    """Type checks: what the org would accept, in the JSON type it returns. A JSON
    boolean is true/false (or the strings "true"/"false"); a Bulk CSV cell may also be
    1/0 or yes/no."""
    kind = definition.type
    if value is None:
        return False if kind == "boolean" else None
    if isinstance(value, (dict, list)):
        raise _TypeError(definition, value)
    if kind in ("string", "json", "id"):
        return value if isinstance(value, str) else ("true" if value is True else "false" if value is False
                                                     else str(value))
    if kind == "any":
        return value
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        accepted = _TRUE | _FALSE if from_csv else {"true", "false"}
        if isinstance(value, str) and value.strip().lower() in accepted:
            return value.strip().lower() in _TRUE
        raise _TypeError(definition, value)
    if kind in ("integer", "float"):
        if isinstance(value, bool):
            raise _TypeError(definition, value)
        try:
            number = float(value) if isinstance(value, str) else value
        except ValueError:
            raise _TypeError(definition, value) from None
        if not math.isfinite(number):  # "NaN", "Infinity": not numbers to the org
            raise _TypeError(definition, value)
        if kind == "integer":
            if float(number) != int(number):
                raise _TypeError(definition, value)
            return int(number)
        return float(number)
    if kind == "date":
        text = str(value)
        try:
            if re.match(r"\d{4}-\d{2}-\d{2}", text):
                return date.fromisoformat(text[:10]).isoformat()
        except ValueError:
            pass
        raise _TypeError(definition, value)
    if kind == "timestamp":
        parsed = parse_wire_timestamp(str(value))
        if parsed is None or not re.match(r"\d{4}-\d{2}-\d{2}", str(value)):
            raise _TypeError(definition, value)
        return salesforce_ts(parsed)
    return value


def _converter(kind: str):
    """Row value -> comparable value for WHERE and ORDER BY."""
    if kind == "timestamp":
        return lambda v: parse_wire_timestamp(v) if isinstance(v, str) else None
    if kind in ("integer", "float"):
        return lambda v: None if v is None or isinstance(v, bool) else float(v)
    if kind == "boolean":
        return lambda v: None if v is None else bool(v)
    if kind == "date":
        return lambda v: None if v is None else str(v)[:10]
    return lambda v: None if v is None else str(v).lower()  # SOQL compares text case-insensitively


_KIND_NAMES = {"timestamp": "dateTime", "date": "date", "integer": "int", "float": "double",
               "boolean": "boolean"}


def _literal_value(text: str, node: soql.Comparison, definition: FieldDef, literal: soql.Literal) -> Any:
    kind = definition.type
    expected = {"timestamp": "datetime", "date": "date", "integer": "number", "float": "number",
                "boolean": "boolean"}.get(kind, "string")
    if kind == "any":
        expected = literal.kind
    if literal.kind != expected:
        quoted = " and should not be enclosed in quotes" if kind in ("timestamp", "date", "integer", "float",
                                                                     "boolean") else ""
        raise BadRequest(soql.error_marker(text, node.position)
                         + f"value of filter criterion for field '{definition.name}' must be of type "
                           f"{_KIND_NAMES.get(kind, 'string')}{quoted}", "INVALID_QUERY_FILTER_OPERATOR")
    value = literal.value
    if kind in ("integer", "float"):
        return float(value)
    if isinstance(value, str) and kind not in ("date",):
        return value.lower()
    return value


_OPERATORS = {"=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
              "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def _sort_key(definition: FieldDef, item: soql.OrderItem):
    convert = _converter(definition.type)
    name = definition.name
    # Where nulls go: the rank is chosen so that after an optional reverse they land
    # first (NULLS FIRST) or last (NULLS LAST).
    null_rank = 0 if (not item.nulls_last) != item.descending else 2

    def key(row):
        value = convert(row.get(name))
        return (null_rank, 0) if value is None else (1, value)

    return key
