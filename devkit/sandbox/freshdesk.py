"""Freshdesk emulator: API v2 tickets, companies and satisfaction ratings, page-numbered
with a `link: <...>; rel="next"` header while more pages follow.

As in the real API, listing tickets without `updated_since` returns only tickets
created in the last 30 days: a full load must pass an early `updated_since`.
"""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from .base import Api, ApiError, Request, Response, route
from .store import ResultCache, Table, iso_z, parse_wire_timestamp, read_jsonl

OBJECTS = {"tickets": "tickets", "companies": "companies", "satisfaction_ratings": "surveys/satisfaction_ratings"}
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 30
TICKET_ORDER_FIELDS = ("created_at", "due_by", "updated_at", "status")


class ValidationFailed(ApiError):
    def __init__(self, field: str, message: str, code: str = "invalid_value"):
        super().__init__(400, "Validation failed", "validation_failed",
                         errors=[{"field": field, "message": message, "code": code}])


class FreshdeskApi(Api):
    name = "freshdesk"

    def __init__(self, control, clock, *, api_key: str):
        super().__init__(control, clock)
        self.api_key = api_key
        self.tables: dict[str, Table] = {}
        self.lists = ResultCache(32)

    def load(self, data_dir: Path | None) -> None:
        self.lists.clear()
        for obj in OBJECTS:
            table = Table("id")
            path = data_dir / "freshdesk" / f"{obj}.jsonl" if data_dir else None
            for record in read_jsonl(path) if path else ():
                self.clock.observe(record.get("updated_at"))
                table.insert(record)
            self.tables[obj] = table

    def objects(self) -> list[str]:
        return list(OBJECTS)

    # ------------------------------------------------------------------ wire format
    def error(self, status, message, code=None, retry_after=None, errors=None, **extra) -> Response:
        if errors is not None:
            body: dict[str, Any] = {"description": message, "errors": errors}
        else:
            body = {"code": code or {401: "invalid_credentials", 403: "access_denied", 404: "not_found",
                                     429: "rate_limit_exceeded"}.get(status, "internal_error" if status >= 500
                                                                     else "invalid_value"),
                    "message": message}
        return Response.json(body, status, self.retry_after_header(status, retry_after))

    def authenticate(self, request: Request) -> Response | None:
        header = request.headers.get("Authorization") or ""
        if header.lower().startswith("basic "):
            try:
                user, _, _ = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                user = None
            if user == self.api_key:
                return None
        return self.error(401, "You have to be logged in to perform this action.", "invalid_credentials")

    def decorate(self, request: Request, response: Response) -> None:
        used = self.control.call_counts(self.name)["total"]
        response.headers += [("X-RateLimit-Total", "3000"),
                             ("X-RateLimit-Remaining", str(max(0, 3000 - used))),
                             ("X-RateLimit-Used-CurrentRequest", "1"),
                             ("X-Request-Id", base64.b16encode(used.to_bytes(8, "big")).decode().lower())]

    # ------------------------------------------------------------------ paging
    def _page_args(self, request: Request) -> tuple[int, int]:
        per_page = _positive(request, "per_page", DEFAULT_PER_PAGE)
        if per_page > MAX_PER_PAGE:
            raise ValidationFailed("per_page", f"It should be a Positive Integer less than or equal to {MAX_PER_PAGE}")
        return per_page, _positive(request, "page", 1)

    def _paged(self, request: Request, rows: list[dict], path: str) -> Response:
        per_page, page = self._page_args(request)
        start = (page - 1) * per_page
        chunk = rows[start:start + per_page]
        headers = []
        if start + per_page < len(rows):
            args = {k: v[0] for k, v in request.query.items()}
            args.update(page=str(page + 1), per_page=str(per_page))
            headers.append(("Link", f'<{self.base_url}{path}?{urlencode(args)}>; rel="next"'))
        return Response.json(chunk, headers=headers)

    def _since(self, request: Request, name: str):
        raw = request.arg(name)
        if raw is None:
            return None
        parsed = parse_wire_timestamp(raw)
        if parsed is None or len(raw) < 10:
            raise ValidationFailed(name, "It should be in the 'YYYY-MM-DDTHH:MM:SSZ' format", "invalid_date")
        return parsed

    # ------------------------------------------------------------------ routes
    @route("GET", r"/api/v2/tickets/?", "GET /api/v2/tickets")
    def tickets(self, request: Request) -> Response:
        table = self.tables["tickets"]
        since = self._since(request, "updated_since")
        order_by = request.arg("order_by") or "created_at"
        order_type = request.arg("order_type") or "desc"
        if order_by not in TICKET_ORDER_FIELDS:
            raise ValidationFailed("order_by", f"It should be one of these values: '{','.join(TICKET_ORDER_FIELDS)}'",
                                   "invalid_value")
        if order_type not in ("asc", "desc"):
            raise ValidationFailed("order_type", "It should be one of these values: 'asc,desc'")
        filters = {k: request.arg(k) for k in ("company_id", "requester_id") if request.arg(k)}
        created_floor = None
        if since is None:
            # Freshdesk's default: only tickets created in the past 30 days.
            created_floor = self.clock.now() - timedelta(days=30)
        key = ("tickets", since, created_floor and created_floor.date(), order_by, order_type,
               tuple(sorted(filters.items())), table.version)

        def compute():
            rows = []
            for row in table:
                if row.get("deleted") or row.get("spam"):
                    continue
                if since is not None and _ts(row.get("updated_at")) < since:
                    continue
                if created_floor is not None and _ts(row.get("created_at")) < created_floor:
                    continue
                if any(str(row.get(k)) != v for k, v in filters.items()):
                    continue
                rows.append(row)
            rows.sort(key=lambda r: (_order_value(r.get(order_by)), r["id"]), reverse=order_type == "desc")
            return rows

        return self._paged(request, self.lists.get_or_compute(key, compute), "/api/v2/tickets")

    @route("GET", r"/api/v2/companies/?", "GET /api/v2/companies")
    def companies(self, request: Request) -> Response:
        table = self.tables["companies"]
        rows = self.lists.get_or_compute(("companies", table.version),
                                         lambda: sorted(table, key=lambda r: r["id"]))
        return self._paged(request, rows, "/api/v2/companies")

    @route("GET", r"/api/v2/surveys/satisfaction_ratings/?", "GET /api/v2/surveys/satisfaction_ratings")
    def satisfaction_ratings(self, request: Request) -> Response:
        table = self.tables["satisfaction_ratings"]
        created_since = self._since(request, "created_since")
        updated_since = self._since(request, "updated_since")
        key = ("ratings", created_since, updated_since, table.version)

        def compute():
            rows = [r for r in table
                    if (created_since is None or _ts(r.get("created_at")) >= created_since)
                    and (updated_since is None or _ts(r.get("updated_at")) >= updated_since)]
            rows.sort(key=lambda r: (_order_value(r.get("created_at")), r["id"]))
            return rows

        return self._paged(request, self.lists.get_or_compute(key, compute), "/api/v2/surveys/satisfaction_ratings")

    # ------------------------------------------------------------------ user edits
    def mutate(self, object: str, op: str, records: list[dict]) -> list[dict]:
        if object not in self.tables:
            raise ApiError(400, f"unknown Freshdesk object {object!r}; known: {list(OBJECTS)}")
        table = self.tables[object]
        stamp = iso_z(self.clock.tick())
        out = []
        for record in records:
            if op == "insert":
                row = dict(record)
                row.setdefault("id", max((r["id"] for r in table if isinstance(r["id"], int)), default=0) + 1)
                row.setdefault("created_at", stamp)
                row["updated_at"] = stamp
                table.insert(row)
                out.append(row)
                continue
            key = record.get("id")
            if key not in table:
                raise ApiError(400, f"{object} {key!r} not found")
            if op == "update":
                changes = {**record, "updated_at": stamp}
                out.append(table.update(key, lambda r, changes=changes: r.update(changes)))
            elif op == "delete":
                out.append(table.delete(key))  # gone from the API, as a ticket deleted from trash
            else:
                raise ApiError(400, f"unknown op {op!r}: update | insert | delete")
        return out

    def dump(self, object: str, key: str | None = None) -> list[dict]:
        table = self.tables.get(object)
        if table is None:
            raise ApiError(400, f"unknown Freshdesk object {object!r}")
        if key is not None:
            row = table.get(int(key)) if str(key).isdigit() else table.get(key)
            return [row] if row else []
        return list(table)


def _positive(request: Request, name: str, default: int) -> int:
    raw = request.arg(name)
    if raw in (None, ""):
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValidationFailed(name, "It should be a Positive Integer", "datatype_mismatch")
    return int(raw)


def _ts(value: Any):
    parsed = parse_wire_timestamp(str(value)) if value else None
    if parsed is None:
        from datetime import datetime, timezone

        return datetime.min.replace(tzinfo=timezone.utc)
    return parsed


def _order_value(value: Any):
    if value is None:
        return (0, "")
    if isinstance(value, (int, float)):
        return (1, value)
    parsed = parse_wire_timestamp(str(value))
    return (1, parsed.timestamp()) if parsed else (1, str(value))
