"""Airtable emulator: list records of the "Feature Requests" table of one base.

Paging is by an opaque `offset` token that points into a snapshot taken by the
first call, as Airtable's iterators do; an unknown or expired token answers 422
LIST_RECORDS_ITERATOR_NOT_AVAILABLE, and the client must start over.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from .base import Api, ApiError, Request, Response, route
from .store import ResultCache, Table, iso_ms_z, read_jsonl

TABLES = {"Feature Requests": "feature_requests"}  # table name at the source -> file / object name
TABLE_IDS = {"tblFeatureRequest": "Feature Requests"}  # tables may also be addressed by id
MAX_PAGE_SIZE = 100


class AirtableApi(Api):
    name = "airtable"

    def __init__(self, control, clock, *, token: str, base_id: str):
        super().__init__(control, clock)
        self.token = token
        self.base_id = base_id
        self.tables: dict[str, Table] = {}
        self.iterators = ResultCache(64)

    def load(self, data_dir: Path | None) -> None:
        self.iterators.clear()
        for table_name, obj in TABLES.items():
            table = Table("id")
            path = data_dir / "airtable" / f"{obj}.jsonl" if data_dir else None
            for record in read_jsonl(path) if path else ():
                table.insert(record)
            self.tables[table_name] = table

    def objects(self) -> list[str]:
        return [*TABLES.values(), *TABLES]

    def _table_name(self, object: str) -> str:
        for table_name, obj in TABLES.items():
            if object in (table_name, obj):
                return table_name
        raise ApiError(400, f"unknown Airtable table {object!r}; known: {list(TABLES)}")

    # ------------------------------------------------------------------ wire format
    def error(self, status, message, code=None, retry_after=None, **extra) -> Response:
        kind = code or {401: "AUTHENTICATION_REQUIRED", 403: "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
                        404: "NOT_FOUND", 422: "INVALID_REQUEST_UNKNOWN", 429: "RATE_LIMIT_REACHED"}.get(
            status, "SERVER_ERROR" if status >= 500 else "INVALID_REQUEST_UNKNOWN")
        return Response.json({"error": {"type": kind, "message": message}}, status,
                             self.retry_after_header(status, retry_after))

    def authenticate(self, request: Request) -> Response | None:
        if (request.headers.get("Authorization") or "") == f"Bearer {self.token}":
            return None
        return self.error(401, "Authentication required", "AUTHENTICATION_REQUIRED")

    # ------------------------------------------------------------------ routes
    @route("GET", r"/v0/(?P<base>[^/]+)/(?P<table>[^/]+)", "GET /v0/<base>/{table}")
    def list_records(self, request: Request) -> Response:
        table_name = TABLE_IDS.get(request.params["table"], request.params["table"])
        if request.params["base"] != self.base_id or table_name not in self.tables:
            raise ApiError(403, "Invalid permissions, or the requested model was not found. Check that both your "
                                "user and your token have the required permissions, and that the model names "
                                "and/or ids are correct.", "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND")
        page_size = request.arg("pageSize") or str(MAX_PAGE_SIZE)
        if not page_size.isdigit() or not 1 <= int(page_size) <= MAX_PAGE_SIZE:
            raise ApiError(422, f"The pageSize must be an integer from 1 to {MAX_PAGE_SIZE}", "INVALID_PAGE_SIZE")
        size = int(page_size)
        offset = request.arg("offset")
        if offset:
            iterator, _, position = offset.partition("/")
            snapshot = self.iterators.get(iterator)
            if snapshot is None or not position.startswith("rec") or not position[3:].isdigit():
                raise ApiError(422, "The iterator is not available. Start over from the beginning.",
                               "LIST_RECORDS_ITERATOR_NOT_AVAILABLE")
            start = int(position[3:])
        else:
            iterator = "itr" + secrets.token_hex(7)
            rows = list(self.tables[table_name])
            max_records = request.arg("maxRecords")
            if max_records and max_records.isdigit():
                rows = rows[:int(max_records)]
            snapshot = rows
            self.iterators.put(iterator, snapshot)
            start = 0
        fields = request.query.get("fields[]") or request.query.get("fields")
        records = [_render(row, fields) for row in snapshot[start:start + size]]
        body: dict = {"records": records}
        if start + size < len(snapshot):
            body["offset"] = f"{iterator}/rec{start + size}"
        return Response.json(body)

    # ------------------------------------------------------------------ user edits
    def mutate(self, object: str, op: str, records: list[dict]) -> list[dict]:
        table = self.tables[self._table_name(object)]
        out = []
        for record in records:
            if op == "insert":
                row = {"id": record.get("id") or "rec" + secrets.token_hex(7)[:14],
                       "createdTime": record.get("createdTime") or iso_ms_z(self.clock.tick()),
                       "fields": dict(record.get("fields") or {})}
                table.insert(row)
                out.append(row)
                continue
            key = record.get("id")
            if key not in table:
                raise ApiError(400, f"{object} {key!r} not found")
            if op == "update":
                fields = record.get("fields") or {}
                out.append(table.update(key, lambda r, fields=fields: r["fields"].update(fields)))
            elif op == "delete":
                out.append(table.delete(key))
            else:
                raise ApiError(400, f"unknown op {op!r}: update | insert | delete")
        return out

    def dump(self, object: str, key: str | None = None) -> list[dict]:
        table = self.tables[self._table_name(object)]
        if key is not None:
            row = table.get(key)
            return [row] if row else []
        return list(table)


def _render(row: dict, fields: list[str] | None) -> dict:
    # Airtable leaves empty fields out of `fields` entirely.
    values = {k: v for k, v in (row.get("fields") or {}).items()
              if v not in (None, "", []) and (not fields or k in fields)}
    return {"id": row["id"], "createdTime": row.get("createdTime"), "fields": values}
