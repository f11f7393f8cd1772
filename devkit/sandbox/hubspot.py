"""HubSpot emulator: CRM v3 objects (companies, contacts) with list, search, batch
read and batch writes, and the legacy marketing email events API.

Behaviours the clients must cope with, as in the real API:
- property values are strings on the wire; numbers and booleans written are
  stored and returned as strings, and an empty string clears a property;
- only the requested properties come back (plus the few HubSpot always adds);
- search pages stop at 10,000 results (`after` + `limit` beyond that is a 400):
  an incremental read must move its `hs_lastmodifieddate` cursor forward instead;
- batch results come back in no particular order: match them on id / idProperty;
- a batch write with some inputs failing answers 207 and names them in
  `errors[].context.ids`;
- every object has a property schema (`/crm/v3/properties/{objectType}`): HubSpot's
  default properties plus the custom ones of crm_setup.yaml (or made with POST).
  A write naming a property that does not exist fails as a whole (400
  PROPERTY_DOESNT_EXIST); a read asking for one just leaves it out;
- `idProperty` must name a unique property (hasUniqueValue, or contacts' email), and
  a unique property refuses a second record with the same value;
- contacts' email is stored lower-case and looked up case-insensitively;
- the daily limit (250,000 by default) answers 429 policyName DAILY past it.
"""

from __future__ import annotations

import base64
import bisect
import json
import re
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any

import yaml

from .base import Api, ApiError, BadRequest, Request, Response, route
from .store import ResultCache, Table, epoch_ms, iso_ms_z, parse_wire_timestamp, read_jsonl

OBJECTS = ("companies", "contacts")
BATCH_LIMIT = 100
SEARCH_LIMIT = 200
SEARCH_WINDOW = 10_000
# What HubSpot returns when no properties are asked for, and what it always adds.
DEFAULT_PROPERTIES = {
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    "contacts": ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
}
ALWAYS_PROPERTIES = {
    "companies": ("createdate", "hs_lastmodifieddate", "hs_object_id"),
    "contacts": ("createdate", "lastmodifieddate", "hs_object_id"),
}
READ_ONLY = {"hs_object_id", "createdate", "hs_lastmodifieddate", "lastmodifieddate"}
OBJECT_TYPE_NAME = {"companies": "COMPANY", "contacts": "CONTACT"}
OBJECT_TYPE_ID = {"companies": "0-2", "contacts": "0-1"}
OBJECT_ALIASES = {"0-2": "companies", "company": "companies", "0-1": "contacts", "contact": "contacts"}
PORTAL_ID = 4242  # the sandbox's portal (hub) id, as in the sample email events
DEFAULT_DAILY_LIMIT = 250_000  # Free/Starter private apps (developers.hubspot.com/apisbytier)

# --------------------------------------------------------------------------- property schema
# Valid fieldType values per property type, from "Property type and fieldType values"
# (developers.hubspot.com/docs/api/crm/properties); enforced on v3 since 2021-02-01
# (changelog "crm-object-property-validattion"). The docs spell the type `dateTime`;
# property definitions answer `datetime`: both are taken, `datetime` is stored.
FIELD_TYPES = {
    "bool": ("booleancheckbox", "calculation_equation"),
    "enumeration": ("booleancheckbox", "checkbox", "radio", "select", "calculation_equation"),
    "date": ("date",),
    "datetime": ("date",),
    "string": ("file", "text", "textarea", "calculation_equation", "html", "phonenumber"),
    "number": ("number", "calculation_equation"),
}
DEFAULT_FIELD_TYPE = {"bool": "booleancheckbox", "enumeration": "select", "date": "date", "datetime": "date",
                      "string": "text", "number": "number"}
PROPERTY_GROUPS = {
    "companies": ("companyinformation", "company_activity", "socialmediainformation", "analyticsinformation"),
    "contacts": ("contactinformation", "emailinformation", "contact_activity", "conversioninformation",
                 "socialmediainformation", "analyticsinformation"),
}
# At most 10 unique-value properties per object (changelog "unique-properties-for-contacts").
MAX_UNIQUE_PROPERTIES = 10
# HubSpot's own properties the sandbox serves (a subset of the real defaults): the ones its
# data, the source catalog (cs_platform/sources/catalog.py) and the clients use.
_LIFECYCLE_STAGES = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity",
                     "customer", "evangelist", "other")
HUBSPOT_PROPERTIES: dict[str, dict[str, tuple]] = {
    # name: (label, type, fieldType, groupName)
    "companies": {
        "name": ("Name", "string", "text", "companyinformation"),
        "domain": ("Company Domain Name", "string", "text", "companyinformation"),
        "website": ("Website URL", "string", "text", "companyinformation"),
        "phone": ("Phone Number", "string", "phonenumber", "companyinformation"),
        "industry": ("Industry", "string", "text", "companyinformation"),
        "city": ("City", "string", "text", "companyinformation"),
        "state": ("State/Region", "string", "text", "companyinformation"),
        "country": ("Country/Region", "string", "text", "companyinformation"),
        "numberofemployees": ("Number of Employees", "number", "number", "companyinformation"),
        "annualrevenue": ("Annual Revenue", "number", "number", "companyinformation"),
        "description": ("Description", "string", "textarea", "companyinformation"),
        "lifecyclestage": ("Lifecycle Stage", "enumeration", "radio", "companyinformation"),
        "hubspot_owner_id": ("Company owner", "enumeration", "select", "companyinformation"),
        "createdate": ("Create Date", "datetime", "date", "companyinformation"),
        "hs_lastmodifieddate": ("Last Modified Date", "datetime", "date", "companyinformation"),
        "hs_object_id": ("Record ID", "number", "number", "companyinformation"),
    },
    "contacts": {
        "email": ("Email", "string", "text", "contactinformation"),
        "firstname": ("First Name", "string", "text", "contactinformation"),
        "lastname": ("Last Name", "string", "text", "contactinformation"),
        "jobtitle": ("Job Title", "string", "text", "contactinformation"),
        "phone": ("Phone Number", "string", "phonenumber", "contactinformation"),
        "company": ("Company Name", "string", "text", "contactinformation"),
        "website": ("Website URL", "string", "text", "contactinformation"),
        "associatedcompanyid": ("Primary Associated Company ID", "number", "number", "contactinformation"),
        "lifecyclestage": ("Lifecycle Stage", "enumeration", "radio", "contactinformation"),
        "hubspot_owner_id": ("Contact owner", "enumeration", "select", "contactinformation"),
        "createdate": ("Create Date", "datetime", "date", "contactinformation"),
        "lastmodifieddate": ("Last Modified Date", "datetime", "date", "contactinformation"),
        "hs_lastmodifieddate": ("Object last modified date/time", "datetime", "date", "contactinformation"),
        "hs_object_id": ("Record ID", "number", "number", "contactinformation"),
    },
}
_PROPERTY_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


def _property_definition(name: str, label: str, type_: str, field_type: str, group: str, *,
                         description: str = "", unique: bool = False, hubspot_defined: bool = False,
                         options: list[dict] | None = None, stamp: str | None = None) -> dict:
    """A property as `GET /crm/v3/properties/{objectType}` answers it."""
    read_only = name in READ_ONLY
    if options is None:
        if type_ == "bool":
            options = [{"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False},
                       {"label": "No", "value": "false", "displayOrder": 1, "hidden": False}]
        elif name == "lifecyclestage":
            options = [{"label": v, "value": v, "displayOrder": i, "hidden": False}
                       for i, v in enumerate(_LIFECYCLE_STAGES)]
        else:
            options = []
    out = {"name": name, "label": label, "type": type_, "fieldType": field_type, "groupName": group,
           "description": description, "hasUniqueValue": unique, "hidden": False, "calculated": False,
           "externalOptions": False, "formField": not read_only, "displayOrder": -1 if hubspot_defined else 0,
           "options": options, "archived": False,
           "modificationMetadata": {"archivable": not hubspot_defined, "readOnlyDefinition": hubspot_defined,
                                    "readOnlyValue": read_only, "readOnlyOptions": hubspot_defined}}
    if hubspot_defined:
        out["hubspotDefined"] = True
    if stamp:
        out["createdAt"] = out["updatedAt"] = stamp
    return out


def _default_schema(obj: str) -> dict[str, dict]:
    return {name: _property_definition(name, *spec, hubspot_defined=True)
            for name, spec in HUBSPOT_PROPERTIES[obj].items()}


def read_crm_setup(path: str | Path | None) -> dict[str, dict[str, dict]]:
    """The `hubspot:` part of crm_setup.yaml: {object: {property: {type, hasUniqueValue}}}."""
    if path is None:
        return {}
    data = yaml.safe_load(Path(path).read_text()) or {}
    section = data.get("hubspot") or {}
    if not isinstance(section, dict):
        raise ValueError(f"{path}: `hubspot` must map objects to properties")
    return {obj: dict(props or {}) for obj, props in section.items()}


def _wire(value: Any) -> str | None:
    """HubSpot stores every property as a string; '' (and null) clear it."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _comparable(value: Any) -> tuple[int, Any] | None:
    """Filter/sort key: epoch ms for timestamps and digit strings, numbers, else text."""
    if value is None:
        return None
    text = str(value)
    if text.lstrip("-").isdigit():
        return (0, int(text))
    if len(text) >= 10 and text[4:5] == "-" and parse_wire_timestamp(text) is not None:
        return (0, epoch_ms(text))
    try:
        return (0, float(text))
    except ValueError:
        return (1, text.lower())


class HubSpotApi(Api):
    name = "hubspot"

    def __init__(self, control, clock, *, access_token: str, rate_limit_max: int = 190,
                 enforce_rate_limit: bool = False, daily_limit: int = DEFAULT_DAILY_LIMIT,
                 crm_setup: str | Path | None = None):
        super().__init__(control, clock)
        self.access_token = access_token
        self.rate_limit_max = rate_limit_max  # calls per 10 s (HubSpot: 100 or 190 by tier)
        self.enforce_rate_limit = enforce_rate_limit
        self.daily_limit = int(daily_limit)  # calls per day; always enforced (429 DAILY)
        self.custom_properties = read_crm_setup(crm_setup)
        unknown = set(self.custom_properties) - set(OBJECTS)
        if unknown:
            raise ValueError(f"crm_setup hubspot: unknown objects {sorted(unknown)}; known: {list(OBJECTS)}")
        self.schemas: dict[str, dict[str, dict]] = {}
        self.tables: dict[str, Table] = {}
        self.events: list[dict] = []
        self.searches = ResultCache(32)
        self._id_lists = ResultCache(4)
        self._next_id: dict[str, int] = {}
        self._recent_calls: deque[float] = deque()

    # ------------------------------------------------------------------ data
    def load(self, data_dir: Path | None) -> None:
        self.searches.clear()
        self._id_lists.clear()
        self._load_schemas()
        for obj in OBJECTS:
            table = Table("id", getter=lambda row, name: row["id"] if name == "hs_object_id"
                          else row["properties"].get(name))
            path = data_dir / "hubspot" / f"{obj}.jsonl" if data_dir else None
            for record in read_jsonl(path) if path else ():
                record["id"] = str(record["id"])
                props = record.setdefault("properties", {})
                props.setdefault("hs_object_id", record["id"])
                if record.get("createdAt"):
                    props.setdefault("createdate", record["createdAt"])
                if record.get("updatedAt"):
                    props.setdefault("hs_lastmodifieddate", record["updatedAt"])
                    if obj == "contacts":
                        props.setdefault("lastmodifieddate", record["updatedAt"])
                record.setdefault("archived", False)
                if obj == "contacts" and isinstance(props.get("email"), str):
                    props["email"] = props["email"].lower()  # as HubSpot stores it (see _normalize)
                self.clock.observe(record.get("updatedAt"))
                table.insert(record)
            self.tables[obj] = table
            self._next_id[obj] = max((int(k) for k in table.rows if k.isdigit()), default=1000) + 1
        events_path = data_dir / "hubspot" / "email_events.jsonl" if data_dir else None
        self.events = list(read_jsonl(events_path)) if events_path else []
        self._sort_events()

    def _load_schemas(self) -> None:
        """HubSpot's default properties plus crm_setup.yaml's; properties made with POST
        /crm/v3/properties last until the next reset, as data edits do."""
        for obj in OBJECTS:
            schema = _default_schema(obj)
            for name, spec in self.custom_properties.get(obj, {}).items():
                spec = dict(spec or {})
                type_ = spec.get("type", "string")
                if type_ not in FIELD_TYPES:
                    raise ValueError(f"crm_setup hubspot.{obj}.{name}: type {type_!r} is not one of "
                                     f"{sorted(FIELD_TYPES)}")
                schema[name] = _property_definition(
                    name, spec.get("label") or name, type_, spec.get("fieldType") or DEFAULT_FIELD_TYPE[type_],
                    PROPERTY_GROUPS[obj][0], description=spec.get("description") or "",
                    unique=bool(spec.get("hasUniqueValue")))
            self.schemas[obj] = schema

    def _unique_properties(self, obj: str) -> set[str]:
        """Properties whose values identify one record: hasUniqueValue ones, and contacts'
        email, which HubSpot allows as idProperty ("idProperty ... can be used for contacts
        exclusively with email", developers.hubspot.com/docs/api/crm/contacts)."""
        names = {name for name, d in self.schemas[obj].items() if d["hasUniqueValue"]}
        if obj == "contacts":
            names.add("email")
        return names

    def _sort_events(self) -> None:
        """Newest first, as the events API pages; the cursor is (created, id) of the
        last one sent. The same keys oldest first let a page start by bisection
        instead of a scan from the newest event (450 pages of 1,000 scanned ~10^8)."""
        self.events.sort(key=_event_key, reverse=True)
        self._keys_oldest_first = [_event_key(e) for e in reversed(self.events)]

    def objects(self) -> list[str]:
        return [*OBJECTS, "email_events"]

    def _table(self, obj: str) -> Table:
        table = self.tables.get(obj)
        if table is None:
            raise ApiError(400, f"Unable to infer object type from: {obj}", "VALIDATION_ERROR")
        return table

    # ------------------------------------------------------------------ wire format
    def error(self, status, message, code=None, retry_after=None, **extra) -> Response:
        category = code or {401: "INVALID_AUTHENTICATION", 403: "MISSING_SCOPES", 404: "OBJECT_NOT_FOUND",
                            429: "RATE_LIMITS"}.get(status, "VALIDATION_ERROR" if status < 500 else "INTERNAL_ERROR")
        body = {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category}
        if status == 429:
            body["policyName"] = "TEN_SECONDLY_ROLLING"
        body.update(extra)
        return Response.json(body, status, self.retry_after_header(status, retry_after))

    def authenticate(self, request: Request) -> Response | None:
        header = request.headers.get("Authorization") or ""
        if header == f"Bearer {self.access_token}":
            return None
        return self.error(401, "Authentication credentials not found. This API supports OAuth 2.0 authentication "
                               "and you can find more details at https://developers.hubspot.com/docs/methods/auth/"
                               "oauth-overview", "INVALID_AUTHENTICATION")

    def before(self, request: Request) -> Response | None:
        # The burst limit: a 10-second rolling window per app. Counted always (for the
        # headers); enforced only when asked, so a benchmark measures the client and not
        # a throttle. Faults give deterministic 429s for tests.
        now = time.monotonic()
        self._recent_calls.append(now)
        while self._recent_calls and self._recent_calls[0] <= now - 10:
            self._recent_calls.popleft()
        if self.enforce_rate_limit and len(self._recent_calls) > self.rate_limit_max:
            return self.error(429, "You have reached your ten_secondly_rolling limit.", "RATE_LIMITS",
                              retry_after=1)
        # The daily limit: every call of the day counts (this one included); past it, 429
        # with policyName DAILY until the day resets (here: Sandbox.reset). Body as in
        # developers.hubspot.com/docs/api/usage-details: "You have reached your daily
        # limit.", errorType RATE_LIMIT, policyName DAILY. No Retry-After: the wait is
        # until midnight in the portal's time zone.
        if self.control.call_counts(self.name)["total"] > self.daily_limit:
            return self.error(429, "You have reached your daily limit.", "RATE_LIMITS",
                              policyName="DAILY", errorType="RATE_LIMIT", requestId=str(uuid.uuid4()))
        return None

    def decorate(self, request: Request, response: Response) -> None:
        used = len(self._recent_calls)
        daily_used = self.control.call_counts(self.name)["total"]
        response.headers += [
            ("X-HubSpot-RateLimit-Daily", str(self.daily_limit)),
            ("X-HubSpot-RateLimit-Daily-Remaining", str(max(0, self.daily_limit - daily_used))),
            ("X-HubSpot-RateLimit-Interval-Milliseconds", "10000"),
            ("X-HubSpot-RateLimit-Max", str(self.rate_limit_max)),
            ("X-HubSpot-RateLimit-Remaining", str(max(0, self.rate_limit_max - used))),
        ]

    # ------------------------------------------------------------------ rendering
    def _render(self, obj: str, row: dict, properties: list[str] | None) -> dict:
        props = row["properties"]
        if properties is None:
            wanted = DEFAULT_PROPERTIES[obj]
            shown = {name: props.get(name) for name in wanted}
        else:
            # Asking for a property that does not exist is no error: "If any of the specified
            # properties are not present on the requested object(s), they will be ignored"
            # (CRM objects API reference, `properties`). An existing one without a value is null.
            known = self.schemas[obj]
            shown = {name: props.get(name) for name in dict.fromkeys([*properties, *ALWAYS_PROPERTIES[obj]])
                     if name in known}
        out = {"id": row["id"], "properties": shown, "createdAt": row.get("createdAt"),
               "updatedAt": row.get("updatedAt"), "archived": bool(row.get("archived"))}
        if row.get("archived"):
            out["archivedAt"] = row.get("archivedAt")
        return out

    @staticmethod
    def _properties_arg(request: Request) -> list[str] | None:
        values = request.query.get("properties")
        if not values:
            return None
        return [p.strip() for v in values for p in v.split(",") if p.strip()]

    # ------------------------------------------------------------------ reads
    @route("GET", r"/crm/v3/objects/(?P<obj>\w+)/?", "GET /crm/v3/objects/{obj}")
    def list_objects(self, request: Request) -> Response:
        obj = request.params["obj"]
        table = self._table(obj)
        limit = _int_arg(request, "limit", 10, 1)
        limit = min(limit, 100)
        archived = (request.arg("archived") or "false").lower() == "true"
        # Paging by id (`after` = the next id), so records added meanwhile do not shift pages.
        ids = self._id_lists.get_or_compute(
            (obj, archived, table.version),
            lambda: sorted((int(k) for k, r in table.rows.items() if bool(r.get("archived")) == archived
                            and k.isdigit())))
        after = request.arg("after")
        start = 0
        if after:
            if not after.isdigit():
                raise BadRequest(f"Invalid input after: {after}")
            start = bisect.bisect_left(ids, int(after))
        page = ids[start:start + limit]
        properties = self._properties_arg(request)
        results = [self._render(obj, table.rows[str(i)], properties) for i in page]
        body: dict[str, Any] = {"results": results}
        if start + limit < len(ids):
            next_after = str(ids[start + limit])
            body["paging"] = {"next": {"after": next_after,
                                       "link": f"{self.base_url}/crm/v3/objects/{obj}?after={next_after}"}}
        return Response.json(body)

    @route("GET", r"/crm/v3/objects/(?P<obj>\w+)/(?P<id>[^/]+)", "GET /crm/v3/objects/{obj}/<id>")
    def get_object(self, request: Request) -> Response:
        obj = request.params["obj"]
        self._table(obj)
        id_property = self._check_id_property(obj, request.arg("idProperty"), "read", by_record_id=True)
        row = self._find(obj, request.params["id"], id_property)
        if row is None or (row.get("archived") and (request.arg("archived") or "false") != "true"):
            raise ApiError(404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND")
        return Response.json(self._render(obj, row, self._properties_arg(request)))

    def _find(self, obj: str, key: str, id_property: str | None) -> dict | None:
        table = self.tables[obj]
        if not id_property or id_property == "hs_object_id":
            return table.get(str(key))
        live = [r for r in table.find(id_property, self._normalize(obj, id_property, str(key)))
                if not r.get("archived")]
        return live[0] if live else None

    def _check_id_property(self, obj: str, id_property: Any, verb: str, by_record_id: bool = False) -> str | None:
        """`idProperty` must name a unique property, else the whole call is a 400.

        The message is HubSpot's for batch update/upsert ("Unable to perform update/upsert
        by non-unique 0-2 property hs_object_id in portal ID ...", quoted in
        segmentio/action-destinations#3957): there hs_object_id is refused too, the
        record id going in `id` with no idProperty. Calls on one record by its id in the
        path (GET, PATCH) and batch/read take hs_object_id, the default (`by_record_id`);
        their wording for other properties is assumed alike.
        """
        if id_property in (None, ""):
            return None
        name = str(id_property)
        if name == "hs_object_id" and by_record_id:
            return name
        if name not in self._unique_properties(obj):
            raise BadRequest(f"Unable to perform {verb} by non-unique {OBJECT_TYPE_ID[obj]} property {name} "
                             f"in portal ID {PORTAL_ID}", context={"idProperty": [name]})
        return name

    @route("POST", r"/crm/v3/objects/(?P<obj>\w+)/batch/read", "POST /crm/v3/objects/{obj}/batch/read")
    def batch_read(self, request: Request) -> Response:
        obj = request.params["obj"]
        self._table(obj)
        body = request.json()
        inputs = self._inputs(body)
        id_property = self._check_id_property(obj, body.get("idProperty"), "read", by_record_id=True)
        properties = body.get("properties") or None
        results, missing = [], []
        for item in inputs:
            row = self._find(obj, str(item.get("id")), id_property)
            if row is None or row.get("archived"):
                missing.append(str(item.get("id")))
            else:
                results.append(self._render(obj, row, properties))
        return self._batch_response(obj, results, [], missing, 200)

    @route("POST", r"/crm/v3/objects/(?P<obj>\w+)/search", "POST /crm/v3/objects/{obj}/search")
    def search(self, request: Request) -> Response:
        obj = request.params["obj"]
        table = self._table(obj)
        body = request.json() or {}
        limit = int(body.get("limit") or 10)
        if limit < 1 or limit > SEARCH_LIMIT:
            raise BadRequest(f"limit must be between 1 and {SEARCH_LIMIT} (got {limit})")
        after = int(body.get("after") or 0)
        if after + limit > SEARCH_WINDOW:
            raise BadRequest(f"The search API returns at most {SEARCH_WINDOW} results per query; page "
                             f"after={after} limit={limit} is beyond it. Narrow the filter (e.g. move the "
                             "hs_lastmodifieddate cursor) and search again.")
        groups = body.get("filterGroups") or []
        if len(groups) > 5 or any(len(g.get("filters") or []) > 6 for g in groups):
            raise BadRequest("At most 5 filterGroups with 6 filters each are allowed")
        signature = repr((obj, groups, body.get("sorts"), body.get("query"), table.version))
        ids = self.searches.get_or_compute(signature, lambda: self._run_search(table, body))
        properties = body.get("properties") or None
        page = ids[after:after + limit]
        out: dict[str, Any] = {"total": len(ids),
                               "results": [self._render(obj, table.rows[i], properties) for i in page]}
        if after + limit < len(ids):
            out["paging"] = {"next": {"after": str(after + limit)}}
        return Response.json(out)

    def _run_search(self, table: Table, body: dict) -> list[str]:
        groups = body.get("filterGroups") or []
        compiled = [[_compile_filter(f) for f in g.get("filters") or []] for g in groups]
        query = (body.get("query") or "").lower()
        rows = []
        for row in table:
            if row.get("archived"):
                continue
            props = row["properties"]
            if compiled and not any(all(test(props) for test in group) for group in compiled):
                continue
            if query and not any(query in str(v).lower() for v in props.values() if v):
                continue
            rows.append(row)
        rows.sort(key=lambda r: int(r["id"]) if r["id"].isdigit() else 0)
        for sort in reversed(body.get("sorts") or []):
            if isinstance(sort, str):
                name, descending = sort.lstrip("-"), sort.startswith("-")
            else:
                name, descending = sort.get("propertyName"), sort.get("direction", "ASCENDING") == "DESCENDING"
            present = [r for r in rows if _comparable(r["properties"].get(name)) is not None]
            absent = [r for r in rows if _comparable(r["properties"].get(name)) is None]
            present.sort(key=lambda r: _comparable(r["properties"].get(name)), reverse=descending)
            rows = present + absent
        return [r["id"] for r in rows]

    # ------------------------------------------------------------------ writes
    def _inputs(self, body: Any) -> list[dict]:
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
            raise BadRequest("Invalid input JSON: expected an object with an `inputs` array")
        inputs = body["inputs"]
        if not inputs:
            raise BadRequest("inputs must not be empty")
        if len(inputs) > BATCH_LIMIT:
            raise BadRequest(f"Batch input size {len(inputs)} exceeds the limit of {BATCH_LIMIT}",
                             context={"inputs": [str(len(inputs))]})
        return inputs

    def _prepare(self, obj: str, inputs: list[Any]) -> list[dict[str, str | None]]:
        """The wire values of each input's properties, or one 400 for the whole call.

        A property that does not exist, or a read-only one, fails the call as a whole
        (nothing is written), in HubSpot's shape: category VALIDATION_ERROR, message
        "Property values were not valid: [{"isValid":false,"message":"Property \\"x\\"
        does not exist","error":"PROPERTY_DOESNT_EXIST","name":"x"}]" (as quoted in
        HubSpot's property-validation changelog and community threads), and one entry per
        property in `errors` with `code` and `context.propertyName`.
        """
        out, problems = [], {}
        for properties in inputs:
            if properties is None:
                properties = {}
            if not isinstance(properties, dict):
                raise BadRequest("Invalid input JSON: `properties` must be an object")
            for name in properties:
                if name not in self.schemas[obj]:
                    problems.setdefault(name, ("PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'))
                elif name in READ_ONLY:
                    problems.setdefault(name, ("READ_ONLY_VALUE",
                                               f'"{name}" is a read only property; its value cannot be set.'))
            out.append({k: self._normalize(obj, k, _wire(v)) for k, v in properties.items()})
        if problems:
            detail = [{"isValid": False, "message": message, "error": code, "name": name}
                      for name, (code, message) in problems.items()]
            raise BadRequest(f"Property values were not valid: {json.dumps(detail, separators=(',', ':'))}",
                             "VALIDATION_ERROR",
                             errors=[{"message": message, "code": code, "context": {"propertyName": [name]}}
                                     for name, (code, message) in problems.items()])
        return out

    @staticmethod
    def _normalize(obj: str, name: str, value: str | None) -> str | None:
        """Contacts' email is kept lower-case, so lookups by email ignore case: HubSpot
        normalizes e-mail addresses on create and lookup (changelog
        "get-and-post-contacts-v1-endpoints", 2021-10-29) and treats email as the
        contact's unique identifier, case-insensitively."""
        if obj == "contacts" and name == "email" and value is not None:
            return value.lower()
        return value

    def _unique_conflict(self, obj: str, props: dict[str, str | None], own_id: str | None,
                         claimed: dict[tuple[str, str], str]) -> dict | None:
        """The error when `props` gives a unique property a value another live record (or
        an earlier input of this call, in `claimed`) holds; else None, and the values are
        claimed for this input. HubSpot: "A contact with email x already exists. Existing
        ID: n" (409, community thread "Updated 409 Conflict responses"); the same rule
        holds for hasUniqueValue properties."""
        unique = self._unique_properties(obj)
        table = self.tables[obj]
        mine = [(name, value) for name, value in props.items() if name in unique and value is not None]
        for name, value in mine:
            holders = [r["id"] for r in table.find(name, value) if not r.get("archived") and r["id"] != own_id]
            holder = holders[0] if holders else claimed.get((name, value))
            if holder is not None and holder != own_id:
                return {"status": "error", "category": "CONFLICT",
                        "message": f"A {OBJECT_TYPE_NAME[obj].lower()} with {name} {value} already exists. "
                                   f"Existing ID: {holder}",
                        "context": {"propertyName": [name]}, "errors": [
                            {"message": f"{name} has a unique value constraint; {value!r} is taken by "
                                        f"{holder}", "code": "DUPLICATE_UNIQUE_VALUE", "in": name}]}
        for name, value in mine:
            claimed[(name, value)] = own_id or f"input:{id(props)}"
        return None

    def _stamp(self, obj: str, row: dict, stamp: str) -> None:
        row["updatedAt"] = stamp
        row["properties"]["hs_lastmodifieddate"] = stamp
        if obj == "contacts":
            row["properties"]["lastmodifieddate"] = stamp

    def _create(self, obj: str, properties: dict[str, str | None], stamp: str) -> dict:
        table = self.tables[obj]
        new_id = str(self._next_id[obj])
        self._next_id[obj] += 1
        props = {k: v for k, v in properties.items() if v is not None}
        props.update(hs_object_id=new_id, createdate=stamp)
        row = {"id": new_id, "properties": props, "createdAt": stamp, "updatedAt": stamp, "archived": False}
        self._stamp(obj, row, stamp)
        table.insert(row)
        return row

    def _update(self, obj: str, row_id: str, properties: dict[str, str | None], stamp: str) -> dict:
        def mutate(row):
            for key, value in properties.items():
                if value is None:
                    row["properties"].pop(key, None)  # '' clears the property
                else:
                    row["properties"][key] = value
            self._stamp(obj, row, stamp)

        return self.tables[obj].update(row_id, mutate)

    def _failed(self, request: Request, key: str | None) -> bool:
        return key is not None and str(key) in request.partial_failures

    def _batch_response(self, obj, results, errors, missing, ok_status, request: Request | None = None):
        """200/201 when all succeeded, else 207 naming the failed inputs."""
        now = iso_ms_z(self.clock.now())
        # HubSpot does not keep input order in batch results.
        self.control.rng.shuffle(results)
        body: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}
        all_errors = list(errors)
        if missing:
            all_errors.append({"status": "error", "category": "OBJECT_NOT_FOUND",
                               "message": f"Could not get some {OBJECT_TYPE_NAME[obj]} objects, they may be "
                                          "deleted or not exist. Check that ids are valid.",
                               "context": {"ids": missing}, "errors": []})
        if all_errors:
            body["numErrors"] = sum(len(e["context"]["ids"]) for e in all_errors)
            body["errors"] = all_errors
            return Response.json(body, 207)
        return Response.json(body, ok_status)

    def _injected_error(self, request: Request, key: str) -> dict:
        faults = request.faults
        return {"status": "error", "category": (faults.partial_failure_code if faults else None) or "VALIDATION_ERROR",
                "message": (faults.partial_failure_message if faults else None)
                or f"Property values were not valid for input {key} (injected by the sandbox)",
                "context": {"ids": [str(key)]}, "errors": []}

    @route("POST", r"/crm/v3/objects/(?P<obj>\w+)/batch/create", "POST /crm/v3/objects/{obj}/batch/create")
    def batch_create(self, request: Request) -> Response:
        obj = request.params["obj"]
        self._table(obj)
        inputs = self._inputs(request.json())
        prepared = self._prepare(obj, [item.get("properties") for item in inputs])
        stamp = iso_ms_z(self.clock.tick())
        results, errors, claimed = [], [], {}
        for item, props in zip(inputs, prepared):
            key = item.get("objectWriteTraceId")
            if self._failed(request, key) or any(self._failed(request, v) for v in props.values()):
                errors.append(self._injected_error(request, key or next(iter(props.values()), "")))
                continue
            conflict = self._unique_conflict(obj, props, None, claimed)
            if conflict:
                errors.append(_naming(conflict, key or next(iter(props.values()), "")))
                continue
            results.append(self._render(obj, self._create(obj, props, stamp), list(props)))
        self.control.record_write(self.name, request, object=obj, operation="create", records=inputs,
                                  results={"created": [r["id"] for r in results], "errors": errors})
        return self._batch_response(obj, results, errors, [], 201)

    @route("POST", r"/crm/v3/objects/(?P<obj>\w+)/?", "POST /crm/v3/objects/{obj}")
    def create_one(self, request: Request) -> Response:
        obj = request.params["obj"]
        self._table(obj)
        body = request.json()
        if not isinstance(body, dict):
            raise BadRequest("Invalid input JSON: expected an object with `properties`")
        [props] = self._prepare(obj, [body.get("properties")])
        conflict = self._unique_conflict(obj, props, None, {})
        if conflict:
            raise ApiError(409, conflict["message"], "CONFLICT", errors=conflict["errors"])
        row = self._create(obj, props, iso_ms_z(self.clock.tick()))
        self.control.record_write(self.name, request, object=obj, operation="create", records=[body],
                                  results={"created": [row["id"]]})
        return Response.json(self._render(obj, row, list(props)), 201)

    @route("POST", r"/crm/v3/objects/(?P<obj>\w+)/batch/update", "POST /crm/v3/objects/{obj}/batch/update")
    def batch_update(self, request: Request) -> Response:
        obj = request.params["obj"]
        self._table(obj)
        body = request.json()
        inputs = self._inputs(body)
        id_properties = [self._check_id_property(obj, item.get("idProperty") or body.get("idProperty"),
                                                 "update/upsert") for item in inputs]
        self._no_duplicates([self._normalize(obj, idp or "", str(item.get("id")))
                             for item, idp in zip(inputs, id_properties)])
        prepared = self._prepare(obj, [item.get("properties") for item in inputs])
        stamp = iso_ms_z(self.clock.tick())
        results, errors, missing, claimed = [], [], [], {}
        for item, props, id_property in zip(inputs, prepared, id_properties):
            key = str(item.get("id"))
            row = self._find(obj, key, id_property)
            if row is None or row.get("archived"):
                missing.append(key)
            elif self._failed(request, key):
                errors.append(self._injected_error(request, key))
            elif conflict := self._unique_conflict(obj, props, row["id"], claimed):
                errors.append(_naming(conflict, key))
            else:
                results.append(self._render(obj, self._update(obj, row["id"], props, stamp), list(props)))
        self.control.record_write(self.name, request, object=obj, operation="update", records=inputs,
                                  results={"updated": [r["id"] for r in results], "missing": missing,
                                           "errors": errors})
        return self._batch_response(obj, results, errors, missing, 200)

    @route("POST", r"/crm/v3/objects/(?P<obj>\w+)/batch/upsert", "POST /crm/v3/objects/{obj}/batch/upsert")
    def batch_upsert(self, request: Request) -> Response:
        obj = request.params["obj"]
        self._table(obj)
        inputs = self._inputs(request.json())
        for item in inputs:
            if not item.get("id"):
                raise BadRequest("Each upsert input needs an `id` (the idProperty value)")
        id_properties = [self._check_id_property(obj, item.get("idProperty"), "update/upsert") or "hs_object_id"
                         for item in inputs]
        self._no_duplicates([self._normalize(obj, idp, str(item["id"])) for item, idp in zip(inputs, id_properties)])
        prepared = self._prepare(obj, [item.get("properties") for item in inputs])
        stamp = iso_ms_z(self.clock.tick())
        results, errors, claimed = [], [], {}
        for item, props, id_property in zip(inputs, prepared, id_properties):
            key = str(item["id"])
            if self._failed(request, key):
                errors.append(self._injected_error(request, key))
                continue
            row = self._find(obj, key, id_property)
            if row is None:
                if id_property == "hs_object_id":
                    errors.append({"status": "error", "category": "OBJECT_NOT_FOUND",
                                   "message": f"No {OBJECT_TYPE_NAME[obj]} with hs_object_id {key}",
                                   "context": {"ids": [key]}, "errors": []})
                    continue
                props = {**props, id_property: self._normalize(obj, id_property, key)}
                if conflict := self._unique_conflict(obj, props, None, claimed):
                    errors.append(_naming(conflict, key))
                    continue
                row, new = self._create(obj, props, stamp), True
            else:
                if conflict := self._unique_conflict(obj, props, row["id"], claimed):
                    errors.append(_naming(conflict, key))
                    continue
                row, new = self._update(obj, row["id"], props, stamp), False
            results.append({**self._render(obj, row, [*props, id_property]), "new": new})
        self.control.record_write(self.name, request, object=obj, operation="upsert", records=inputs,
                                  results={"new": [r["id"] for r in results if r["new"]],
                                           "updated": [r["id"] for r in results if not r["new"]],
                                           "errors": errors})
        return self._batch_response(obj, results, errors, [], 200)

    @route("PATCH", r"/crm/v3/objects/(?P<obj>\w+)/(?P<id>[^/]+)", "PATCH /crm/v3/objects/{obj}/<id>")
    def update_one(self, request: Request) -> Response:
        obj = request.params["obj"]
        self._table(obj)
        body = request.json()
        id_property = self._check_id_property(obj, request.arg("idProperty"), "update", by_record_id=True)
        [props] = self._prepare(obj, [(body or {}).get("properties") if isinstance(body, dict) else body])
        row = self._find(obj, request.params["id"], id_property)
        if row is None or row.get("archived"):
            raise ApiError(404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND")
        conflict = self._unique_conflict(obj, props, row["id"], {})
        if conflict:
            raise ApiError(409, conflict["message"], "CONFLICT", errors=conflict["errors"])
        row = self._update(obj, row["id"], props, iso_ms_z(self.clock.tick()))
        self.control.record_write(self.name, request, object=obj, operation="update", records=[body],
                                  results={"updated": [row["id"]]})
        return Response.json(self._render(obj, row, list(props)))

    def _no_duplicates(self, keys: list[str]) -> None:
        seen, dupes = set(), []
        for key in keys:
            if key in seen:
                dupes.append(key)
            seen.add(key)
        if dupes:
            raise BadRequest(f"Duplicate IDs found in batch input: {sorted(set(dupes))}. IDs must be unique")

    # ------------------------------------------------------------------ properties API
    def _schema_object(self, name: str) -> str:
        obj = OBJECT_ALIASES.get(name, name)
        if obj not in self.schemas:
            raise ApiError(400, f"Unable to infer object type from: {name}", "VALIDATION_ERROR")
        return obj

    @route("GET", r"/crm/v3/properties/(?P<obj>[\w-]+)/?", "GET /crm/v3/properties/{obj}")
    def list_properties(self, request: Request) -> Response:
        obj = self._schema_object(request.params["obj"])
        return Response.json({"results": list(self.schemas[obj].values())})

    @route("GET", r"/crm/v3/properties/(?P<obj>[\w-]+)/(?P<name>[^/]+)", "GET /crm/v3/properties/{obj}/<name>")
    def get_property(self, request: Request) -> Response:
        obj = self._schema_object(request.params["obj"])
        definition = self.schemas[obj].get(request.params["name"])
        if definition is None:
            raise ApiError(404, f"Unable to find property {request.params['name']} for object type "
                                f"{OBJECT_TYPE_ID[obj]}", "OBJECT_NOT_FOUND")
        return Response.json(definition)

    @route("POST", r"/crm/v3/properties/(?P<obj>[\w-]+)/?", "POST /crm/v3/properties/{obj}")
    def create_property(self, request: Request) -> Response:
        """Create a custom property (developers.hubspot.com/docs/api/crm/properties):
        name, label, type, fieldType and groupName are required; fieldType must suit the
        type; 201 with the property; 409 when the name is taken ("Returns a 409 Conflict
        error if there is already a property with the 'name' you used")."""
        obj = self._schema_object(request.params["obj"])
        body = request.json()
        if not isinstance(body, dict):
            raise BadRequest("Invalid input JSON: expected a property definition object")
        errors = []

        def invalid(field: str, message: str, code: str = "INVALID_PROPERTY_DEFINITION") -> None:
            errors.append({"message": message, "code": code, "in": field, "context": {"field": [field]}})

        for field in ("name", "label", "type", "fieldType", "groupName"):
            if not isinstance(body.get(field), str) or not body[field].strip():
                invalid(field, f"{field} is required", "REQUIRED_FIELD")
        name, type_, field_type = body.get("name"), body.get("type"), body.get("fieldType")
        if isinstance(type_, str) and type_ == "dateTime":
            type_ = "datetime"
        if isinstance(name, str) and name:
            if not _PROPERTY_NAME.match(name):
                invalid("name", f"Property name {name!r} must start with a lower-case letter and hold only "
                                "lower-case letters, digits and underscores")
            elif name.startswith("hs_"):
                invalid("name", f"Property name {name!r} uses the reserved prefix hs_")
        if isinstance(type_, str) and type_ and type_ not in FIELD_TYPES:
            invalid("type", f"type {type_!r} is not one of {sorted(FIELD_TYPES)}")
        elif type_ in FIELD_TYPES and isinstance(field_type, str) and field_type \
                and field_type not in FIELD_TYPES[type_]:
            invalid("fieldType", f"fieldType {field_type!r} is not valid for type {type_!r}; valid: "
                                 f"{list(FIELD_TYPES[type_])}")
        group = body.get("groupName")
        if isinstance(group, str) and group and group not in PROPERTY_GROUPS[obj]:
            invalid("groupName", f"Property group {group!r} does not exist for object type {OBJECT_TYPE_ID[obj]}; "
                                 f"known: {list(PROPERTY_GROUPS[obj])}")
        unique = body.get("hasUniqueValue", False)
        if not isinstance(unique, bool):
            invalid("hasUniqueValue", "hasUniqueValue must be a boolean")
        elif unique:
            # Unique values: single-line text and number properties only, at most 10 per object.
            if field_type not in ("text", "number"):
                invalid("hasUniqueValue", "Only single-line text and number properties can require unique values")
            if sum(d["hasUniqueValue"] for d in self.schemas[obj].values()) >= MAX_UNIQUE_PROPERTIES:
                invalid("hasUniqueValue", f"An object can have at most {MAX_UNIQUE_PROPERTIES} unique properties")
        options = body.get("options")
        if options is not None and (not isinstance(options, list) or not all(
                isinstance(o, dict) and isinstance(o.get("label"), str) and isinstance(o.get("value"), str)
                for o in options)):
            invalid("options", "options must be a list of {label, value} objects")
        for field in ("description",):
            if body.get(field) is not None and not isinstance(body[field], str):
                invalid(field, f"{field} must be a string")
        if errors:
            raise BadRequest("Property definition was not valid: " + "; ".join(e["message"] for e in errors),
                             "VALIDATION_ERROR", errors=errors)
        if name in self.schemas[obj]:
            raise ApiError(409, f"A property named '{name}' already exists for object type {OBJECT_TYPE_ID[obj]}.",
                           "CONFLICT")
        definition = _property_definition(
            name, body["label"], type_, field_type, group, description=body.get("description") or "",
            unique=unique, options=[{"displayOrder": i, "hidden": False, "description": "", **o}
                                    for i, o in enumerate(options)] if options else None,
            stamp=iso_ms_z(self.clock.now()))
        for flag in ("hidden", "formField"):
            if isinstance(body.get(flag), bool):
                definition[flag] = body[flag]
        if isinstance(body.get("displayOrder"), int):
            definition["displayOrder"] = body["displayOrder"]
        self.schemas[obj][name] = definition
        self.control.record_write(self.name, request, object=f"properties/{obj}", operation="create",
                                  records=[body], results={"created": [name]})
        return Response.json(definition, 201)

    # ------------------------------------------------------------------ email events (legacy v1)
    @route("GET", r"/email/public/v1/events/?", "GET /email/public/v1/events")
    def email_events(self, request: Request) -> Response:
        limit = min(_int_arg(request, "limit", 100, 1), 1000)
        start = _int_arg(request, "startTimestamp", None, 0)
        end = _int_arg(request, "endTimestamp", None, 0)
        event_type = request.arg("eventType")
        campaign = request.arg("campaignId")
        recipient = request.arg("recipient")
        cursor = None
        if request.arg("offset"):
            try:
                created, _, event_id = base64.urlsafe_b64decode(request.arg("offset").encode()).decode().partition(":")
                cursor = (int(created), event_id)
            except (ValueError, UnicodeDecodeError):
                raise BadRequest(f"Invalid offset: {request.arg('offset')}") from None
        # First position (newest first) older than the cursor and not after `end`.
        first = 0
        total = len(self.events)
        if cursor is not None:
            first = max(first, total - bisect.bisect_left(self._keys_oldest_first, cursor))
        if end is not None:
            first = max(first, total - bisect.bisect_left(self._keys_oldest_first, (end + 1, "")))
        out = []
        has_more = False
        for position in range(first, total):
            event = self.events[position]
            if start is not None and _event_key(event)[0] < start:
                break
            if event_type and event.get("type") != event_type:
                continue
            if campaign and str(event.get("emailCampaignId")) != campaign:
                continue
            if recipient and event.get("recipient") != recipient:
                continue
            if len(out) == limit:
                has_more = True
                break
            out.append(event)
        offset = ""
        if out:
            last = out[-1]
            offset = base64.urlsafe_b64encode(f"{int(last.get('created') or 0)}:{last.get('id')}".encode()).decode()
        return Response.json({"hasMore": has_more, "offset": offset, "events": out})

    # ------------------------------------------------------------------ user edits
    def mutate(self, object: str, op: str, records: list[dict]) -> list[dict]:
        stamp = iso_ms_z(self.clock.tick())
        if object == "email_events":
            if op != "insert":
                raise BadRequest("email_events only take op=insert")
            for record in records:
                record.setdefault("created", int(parse_wire_timestamp(stamp).timestamp() * 1000))
                record.setdefault("id", str(uuid.uuid4()))
                self.events.append(record)
            self._sort_events()
            return records
        table = self._table(object)
        out = []
        for record in records:
            props = {k: self._normalize(object, k, _wire(v)) for k, v in (record.get("properties") or {}).items()}
            if op == "insert":
                if record.get("id"):
                    row = {"id": str(record["id"]), "properties": {k: v for k, v in props.items() if v is not None},
                           "createdAt": stamp, "updatedAt": stamp, "archived": False}
                    row["properties"].update(hs_object_id=row["id"], createdate=stamp)
                    self._stamp(object, row, stamp)
                    table.insert(row)
                else:
                    row = self._create(object, props, stamp)
            else:
                key = str(record.get("id"))
                if key not in table:
                    raise BadRequest(f"{object} {key!r} not found")
                if op == "update":
                    row = self._update(object, key, props, stamp)
                elif op == "delete":
                    row = table.update(key, lambda r: (r.update(archived=True, archivedAt=stamp),
                                                       self._stamp(object, r, stamp)))
                else:
                    raise BadRequest(f"unknown op {op!r}: update | insert | delete")
            out.append(row)
        return out

    def dump(self, object: str, key: str | None = None) -> list[dict]:
        if object == "email_events":
            return list(self.events)
        table = self._table(object)
        if key is not None:
            row = table.get(str(key))
            return [row] if row else []
        return list(table)


def _naming(error: dict, key: Any) -> dict:
    """A per-input batch error naming its input in context.ids."""
    return {**error, "context": {**error.get("context", {}), "ids": [str(key)]}}


def _int_arg(request: Request, name: str, default, minimum: int):
    raw = request.arg(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer (got {raw!r})") from None
    if value < minimum:
        raise BadRequest(f"{name} must be >= {minimum}")
    return value


_FILTER_OPERATORS = {"EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY",
                     "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"}


def _compile_filter(spec: dict):
    name, op = spec.get("propertyName"), spec.get("operator")
    if not name or op not in _FILTER_OPERATORS:
        raise BadRequest(f"Invalid filter {spec}: propertyName and an operator in {sorted(_FILTER_OPERATORS)} "
                         "are required")
    if op == "HAS_PROPERTY":
        return lambda props: props.get(name) not in (None, "")
    if op == "NOT_HAS_PROPERTY":
        return lambda props: props.get(name) in (None, "")
    if op in ("IN", "NOT_IN"):
        wanted = {_comparable(v) for v in spec.get("values") or []}
        if op == "IN":
            return lambda props: _comparable(props.get(name)) in wanted
        return lambda props: _comparable(props.get(name)) not in wanted
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        token = str(spec.get("value", "")).lower().strip("*")
        contains = lambda props: token in str(props.get(name) or "").lower()  # noqa: E731
        return contains if op == "CONTAINS_TOKEN" else (lambda props: not contains(props))
    low = _comparable(spec.get("value"))
    high = _comparable(spec.get("highValue"))
    if low is None:
        raise BadRequest(f"Filter on {name} with operator {op} needs a value")

    def test(props):
        value = _comparable(props.get(name))
        if value is None:
            return op == "NEQ"
        if value[0] != low[0]:  # text vs number: only (in)equality is meaningful
            return op == "NEQ"
        if op == "EQ":
            return value == low
        if op == "NEQ":
            return value != low
        if op == "GT":
            return value > low
        if op == "GTE":
            return value >= low
        if op == "LT":
            return value < low
        if op == "LTE":
            return value <= low
        return high is not None and low <= value <= high  # BETWEEN

    return test


def _event_key(event: dict) -> tuple[int, str]:
    return int(event.get("created") or 0), str(event.get("id"))
