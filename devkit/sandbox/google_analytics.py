"""Google Analytics 4 Data API emulator: `runReport` over the daily page-view rows.

The served rows are aggregated over the requested dimensions (metrics summed), as
GA4 does when a report asks for fewer dimensions than the data has. As in the real
API, metric values are strings, and `rows` and `rowCount` are absent when nothing
matches (proto3 JSON leaves empty fields out): clients must default them.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from .base import Api, ApiError, BadRequest, Request, Response, route
from .store import ResultCache, read_jsonl

DIMENSIONS = {"date": "date", "customEvent:account_id": "customEvent_account_id", "hostName": "hostName"}
METRICS = ("screenPageViews", "sessions", "activeUsers")
KEY = ("date", "customEvent_account_id", "hostName")
MAX_LIMIT = 250_000
DEFAULT_LIMIT = 10_000


class GoogleAnalyticsApi(Api):
    name = "google_analytics"

    def __init__(self, control, clock, *, property_id: str, access_token: str):
        super().__init__(control, clock)
        self.property_id = property_id
        self.access_token = access_token
        self.rows: dict[tuple, dict] = {}
        self.version = 0
        self.reports = ResultCache(16)

    def load(self, data_dir: Path | None) -> None:
        self.reports.clear()
        self.rows = {}
        path = data_dir / "google_analytics" / "page_views_daily.jsonl" if data_dir else None
        for row in read_jsonl(path) if path else ():
            self.rows[tuple(str(row.get(k)) for k in KEY)] = row
        self.version += 1

    def objects(self) -> list[str]:
        return ["page_views_daily"]

    # ------------------------------------------------------------------ wire format
    def error(self, status, message, code=None, retry_after=None, **extra) -> Response:
        status_name = code or {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                               404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
                               503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}.get(status, "UNKNOWN")
        return Response.json({"error": {"code": status, "message": message, "status": status_name}}, status,
                             self.retry_after_header(status, retry_after))

    def authenticate(self, request: Request) -> Response | None:
        if (request.headers.get("Authorization") or "") == f"Bearer {self.access_token}":
            return None
        return self.error(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                               "login cookie or other valid authentication credential.", "UNAUTHENTICATED")

    # ------------------------------------------------------------------ runReport
    @route("POST", r"/v1beta/properties/(?P<property>[^/:]+):runReport", "POST /v1beta/properties/<id>:runReport")
    def run_report(self, request: Request) -> Response:
        if request.params["property"] != self.property_id:
            raise ApiError(403, "User does not have sufficient permissions for this property. To learn more about "
                                "Property ID, see https://developers.google.com/analytics/devguides/reporting/"
                                "data/v1/property-id.", "PERMISSION_DENIED")
        body = request.json()
        if not isinstance(body, dict):
            raise BadRequest("Invalid JSON payload received.", "INVALID_ARGUMENT")
        dimensions = [d.get("name") for d in body.get("dimensions") or []]
        metrics = [m.get("name") for m in body.get("metrics") or []]
        for name in dimensions:
            if name not in DIMENSIONS:
                raise BadRequest(f"Field {name} is not a valid dimension. For a list of valid dimensions and "
                                 "metrics, see https://developers.google.com/analytics/devguides/reporting/data/v1/"
                                 "api-schema", "INVALID_ARGUMENT")
        for name in metrics:
            if name not in METRICS:
                raise BadRequest(f"Field {name} is not a valid metric. For a list of valid dimensions and "
                                 "metrics, see https://developers.google.com/analytics/devguides/reporting/data/v1/"
                                 "api-schema", "INVALID_ARGUMENT")
        if not metrics and not dimensions:
            raise BadRequest("A report needs at least one dimension or metric.", "INVALID_ARGUMENT")
        if body.get("metricFilter"):
            raise BadRequest("metricFilter is not supported by the sandbox", "INVALID_ARGUMENT")
        ranges = body.get("dateRanges") or []
        if not ranges:
            raise BadRequest("dateRanges must be specified.", "INVALID_ARGUMENT")
        if len(ranges) > 4:
            raise BadRequest("Requests are limited to 4 dateRanges.", "INVALID_ARGUMENT")
        parsed_ranges = [(self._date(r.get("startDate"), "startDate"), self._date(r.get("endDate"), "endDate"))
                         for r in ranges]
        for start, end in parsed_ranges:
            if start > end:
                raise BadRequest("The startDate must be on or before the endDate.", "INVALID_ARGUMENT")
        limit = int(body.get("limit") or DEFAULT_LIMIT)
        offset = int(body.get("offset") or 0)
        if limit < 0 or offset < 0:
            raise BadRequest("limit and offset must be non-negative.", "INVALID_ARGUMENT")
        limit = min(limit, MAX_LIMIT)
        with_range = len(parsed_ranges) > 1
        key = json.dumps([dimensions, metrics, parsed_ranges, body.get("dimensionFilter"),
                          body.get("orderBys"), self.version], default=str)
        rows = self.reports.get_or_compute(
            key, lambda: self._aggregate(dimensions, metrics, parsed_ranges, body.get("dimensionFilter"),
                                         body.get("orderBys") or []))
        headers = [*dimensions, *(["dateRange"] if with_range else [])]
        out: dict[str, Any] = {
            "dimensionHeaders": [{"name": n} for n in headers],
            "metricHeaders": [{"name": n, "type": "TYPE_INTEGER"} for n in metrics],
        }
        page = rows[offset:offset + limit]
        if page:
            out["rows"] = [{"dimensionValues": [{"value": v} for v in dims[:len(headers)]],
                            "metricValues": [{"value": str(v)} for v in values]} for dims, values in page]
        if rows:
            out["rowCount"] = len(rows)
        out["metadata"] = {"currencyCode": "USD", "timeZone": "Etc/UTC"}
        out["kind"] = "analyticsData#runReport"
        return Response.json(out)

    def _date(self, value: Any, name: str) -> str:
        """YYYY-MM-DD, today, yesterday or NdaysAgo -> YYYYMMDD (the row format)."""
        today = self.clock.today()
        text = str(value or "")
        if text == "today":
            return today.strftime("%Y%m%d")
        if text == "yesterday":
            return (today - timedelta(days=1)).strftime("%Y%m%d")
        m = re.fullmatch(r"(\d+)daysAgo", text)
        if m:
            return (today - timedelta(days=int(m.group(1)))).strftime("%Y%m%d")
        try:
            return date.fromisoformat(text).strftime("%Y%m%d")
        except ValueError:
            raise BadRequest(f"Invalid {name} {text!r}: expected YYYY-MM-DD, today, yesterday or NdaysAgo.",
                             "INVALID_ARGUMENT") from None

    def _aggregate(self, dimensions, metrics, ranges, dimension_filter, order_bys) -> list[tuple[list, list]]:
        test = _compile_filter(dimension_filter) if dimension_filter else None
        groups: dict[tuple, list[int]] = {}
        for row in self.rows.values():
            day = str(row.get("date"))
            values = {name: str(row.get(column)) for name, column in DIMENSIONS.items()}
            if test is not None and not test(values):
                continue
            for index, (start, end) in enumerate(ranges):
                if start <= day <= end:
                    key = tuple(values[d] for d in dimensions) + ((f"date_range_{index}",) if len(ranges) > 1 else ())
                    sums = groups.setdefault(key, [0] * len(metrics))
                    for i, metric in enumerate(metrics):
                        sums[i] += int(row.get(metric) or 0)
        rows = [(list(k), v) for k, v in groups.items()]
        rows.sort(key=lambda r: r[0])  # stable order for offset paging
        for order in reversed(order_bys):
            descending = bool(order.get("desc"))
            if "dimension" in order:
                name = order["dimension"].get("dimensionName")
                if name not in dimensions:
                    raise BadRequest(f"orderBys dimension {name} is not in the request's dimensions.",
                                     "INVALID_ARGUMENT")
                i = dimensions.index(name)
                rows.sort(key=lambda r: r[0][i], reverse=descending)
            elif "metric" in order:
                name = order["metric"].get("metricName")
                if name not in metrics:
                    raise BadRequest(f"orderBys metric {name} is not in the request's metrics.", "INVALID_ARGUMENT")
                i = metrics.index(name)
                rows.sort(key=lambda r: r[1][i], reverse=descending)
        return rows

    # ------------------------------------------------------------------ user edits
    def mutate(self, object: str, op: str, records: list[dict]) -> list[dict]:
        if object != "page_views_daily":
            raise ApiError(400, f"unknown GA4 object {object!r}; known: page_views_daily")
        out = []
        for record in records:
            key = tuple(str(record.get(k)) for k in KEY)
            if op in ("insert", "update"):
                if op == "update" and key not in self.rows:
                    raise ApiError(400, f"no page_views_daily row {key}")
                row = {**self.rows.get(key, {}), **record}
                self.rows[key] = row
                out.append(row)
            elif op == "delete":
                out.append(self.rows.pop(key, None))
            else:
                raise ApiError(400, f"unknown op {op!r}: update | insert | delete")
        self.version += 1
        return out

    def dump(self, object: str, key: str | None = None) -> list[dict]:
        return list(self.rows.values())


def _compile_filter(expr: dict):
    """FilterExpression: andGroup / orGroup / notExpression / filter (string, inList)."""
    if "andGroup" in expr:
        parts = [_compile_filter(e) for e in expr["andGroup"].get("expressions", [])]
        return lambda v: all(p(v) for p in parts)
    if "orGroup" in expr:
        parts = [_compile_filter(e) for e in expr["orGroup"].get("expressions", [])]
        return lambda v: any(p(v) for p in parts)
    if "notExpression" in expr:
        inner = _compile_filter(expr["notExpression"])
        return lambda v: not inner(v)
    spec = expr.get("filter") or {}
    name = spec.get("fieldName")
    if name not in DIMENSIONS:
        raise BadRequest(f"Filter field {name} is not a dimension the sandbox serves.", "INVALID_ARGUMENT")
    if "inListFilter" in spec:
        f = spec["inListFilter"]
        sensitive = f.get("caseSensitive", False)
        wanted = {x if sensitive else x.lower() for x in f.get("values", [])}
        return lambda v: (v[name] if sensitive else v[name].lower()) in wanted
    if "stringFilter" in spec:
        f = spec["stringFilter"]
        sensitive = f.get("caseSensitive", False)
        target = f.get("value", "")
        match = f.get("matchType", "EXACT")

        def test(v):
            value, wanted = (v[name], target) if sensitive else (v[name].lower(), target.lower())
            if match == "EXACT":
                return value == wanted
            if match == "BEGINS_WITH":
                return value.startswith(wanted)
            if match == "ENDS_WITH":
                return value.endswith(wanted)
            if match == "CONTAINS":
                return wanted in value
            if match == "FULL_REGEXP":
                return re.fullmatch(target, v[name], 0 if sensitive else re.IGNORECASE) is not None
            if match == "PARTIAL_REGEXP":
                return re.search(target, v[name], 0 if sensitive else re.IGNORECASE) is not None
            return False

        return test
    raise BadRequest("Only stringFilter and inListFilter dimension filters are supported by the sandbox.",
                     "INVALID_ARGUMENT")
