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
  `errors[].context.ids`.
"""

from __future__ import annotations

import base64
import bisect
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any

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
                 enforce_rate_limit: bool = False):
        super().__init__(control, clock)
        self.access_token = access_token
        self.rate_limit_max = rate_limit_max  # calls per 10 s (HubSpot: 100 or 190 by tier)
        self.enforce_rate_limit = enforce_rate_limit
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
                self.clock.observe(record.get("updatedAt"))
                table.insert(record)
            self.tables[obj] = table
            self._next_id[obj] = max((int(k) for k in table.rows if k.isdigit()), default=1000) + 1
        events_path = data_dir / "hubspot" / "email_events.jsonl" if data_dir else None
        self.events = list(read_jsonl(events_path)) if events_path else []
        self._sort_events()

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
        return None

    def decorate(self, request: Request, response: Response) -> None:
        used = len(self._recent_calls)
        daily_used = self.control.call_counts(self.name)["total"]
        response.headers += [
            ("X-HubSpot-RateLimit-Daily", "250000"),
            ("X-HubSpot-RateLimit-Daily-Remaining", str(max(0, 250000 - daily_used))),
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
            shown = {name: props.get(name) for name in dict.fromkeys([*properties, *ALWAYS_PROPERTIES[obj]])}
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
        row = self._find(obj, request.params["id"], request.arg("idProperty"))
        if row is None or (row.get("archived") and (request.arg("archived") or "false") != "true"):
            raise ApiError(404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND")
        return Response.json(self._render(obj, row, self._properties_arg(request)))

    def _find(self, obj: str, key: str, id_property: str | None) -> dict | None:
        table = self.tables[obj]
        if not id_property or id_property == "hs_object_id":
            return table.get(str(key))
        live = [r for r in table.find(id_property, str(key)) if not r.get("archived")]
        return live[0] if live else None

    @route("POST", r"/crm/v3/objects/(?P<obj>\w+)/batch/read", "POST /crm/v3/objects/{obj}/batch/read")
    def batch_read(self, request: Request) -> Response:
        obj = request.params["obj"]
        self._table(obj)
        body = request.json()
        inputs = self._inputs(body)
        id_property = body.get("idProperty")
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

    def _check_properties(self, properties: Any) -> dict[str, str | None]:
        if not isinstance(properties, dict):
            raise BadRequest("properties must be an object")
        read_only = sorted(set(properties) & READ_ONLY)
        if read_only:
            raise BadRequest(f"Property values were not valid: {read_only} are read-only",
                             errors=[{"message": f"{p} is a read only property; its value cannot be set.",
                                      "code": "READ_ONLY_VALUE", "context": {"propertyName": [p]}}
                                     for p in read_only])
        return {k: _wire(v) for k, v in properties.items()}

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
        prepared = [self._check_properties(item.get("properties") or {}) for item in inputs]
        stamp = iso_ms_z(self.clock.tick())
        results, errors = [], []
        for item, props in zip(inputs, prepared):
            key = item.get("objectWriteTraceId")
            if self._failed(request, key) or any(self._failed(request, v) for v in props.values()):
                errors.append(self._injected_error(request, key or next(iter(props.values()), "")))
                continue
            results.append(self._render(obj, self._create(obj, props, stamp), list(props)))
        self.control.record_write(self.name, request, object=obj, operation="create", records=inputs,
                                  results={"created": [r["id"] for r in results], "errors": errors})
        return self._batch_response(obj, results, errors, [], 201)

    @route("POST", r"/crm/v3/objects/(?P<obj>\w+)/batch/update", "POST /crm/v3/objects/{obj}/batch/update")
    def batch_update(self, request: Request) -> Response:
        obj = request.params["obj"]
        self._table(obj)
        body = request.json()
        inputs = self._inputs(body)
        self._no_duplicates([str(item.get("id")) for item in inputs])
        prepared = [self._check_properties(item.get("properties") or {}) for item in inputs]
        stamp = iso_ms_z(self.clock.tick())
        results, errors, missing = [], [], []
        for item, props in zip(inputs, prepared):
            key = str(item.get("id"))
            row = self._find(obj, key, item.get("idProperty") or body.get("idProperty"))
            if row is None or row.get("archived"):
                missing.append(key)
            elif self._failed(request, key):
                errors.append(self._injected_error(request, key))
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
        self._no_duplicates([str(item.get("id")) for item in inputs])
        prepared = [self._check_properties(item.get("properties") or {}) for item in inputs]
        for item in inputs:
            if not item.get("id"):
                raise BadRequest("Each upsert input needs an `id` (the idProperty value)")
        stamp = iso_ms_z(self.clock.tick())
        results, errors = [], []
        for item, props in zip(inputs, prepared):
            key, id_property = str(item["id"]), item.get("idProperty") or "hs_object_id"
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
                row, new = self._create(obj, {**props, id_property: key}, stamp), True
            else:
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
        row = self._find(obj, request.params["id"], request.arg("idProperty"))
        if row is None or row.get("archived"):
            raise ApiError(404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND")
        props = self._check_properties((body or {}).get("properties") or {})
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
            props = {k: _wire(v) for k, v in (record.get("properties") or {}).items()}
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
