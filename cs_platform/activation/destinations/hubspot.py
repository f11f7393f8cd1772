"""HubSpot CRM v3: batch upsert / update / create, 100 inputs per call.

- upsert and create-once: `POST /crm/v3/objects/{object}/batch/upsert` with
  `{"id": <key>, "idProperty": <unique property>, "properties": {...}}`. A retry
  after a crash updates the record the first attempt made; nothing is created twice.
- update: `batch/update` with the same `idProperty` addressing (or the record's
  hs_object_id when the model has it): HubSpot never creates a record here.
- insert: `batch/create`, with `objectWriteTraceId` = key so errors name the input.

Results are matched by key, never by position (HubSpot does not keep input order):
the key property is sent in every input's properties, so each result carries it.
A 207 Multi-Status names its failed inputs in each error's `context.ids`; exactly
those are marked failed, with the error's category and message, and the rest
succeeded. An input neither answered nor named (should not happen) is marked
failed too, so it is retried. 429 (`RATE_LIMITS`) and 5xx are retried by the
client's session, honouring Retry-After; a create is sent once, never retried (a
retry after a lost answer would create the records twice).

Batches go out `max_concurrent_requests` at a time, never more than
`max_requests_per_10s` per rolling 10 seconds (HubSpot's burst limit is 100 or 190
per 10 s by tier, https://developers.hubspot.com/docs/api/usage-details), and the
run stops cleanly before the portal has used `max_api_usage_share` of its daily
requests (`X-HubSpot-RateLimit-Daily` / `-Daily-Remaining`).

Keys are compared as HubSpot stores them: contacts' `email` is lower-cased.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence

from cs_platform.activation.destinations.base import (
    Batch,
    Destination,
    PlannedRecord,
    RecordResult,
    chunks,
)
from cs_platform.activation.spec import SyncSpec
from cs_platform.resources.http import CallCounter, SourceError
from cs_platform.values import same_value


def wire(value) -> str:
    """HubSpot stores every property as text; an empty string clears a property."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class HubSpotDestination(Destination):
    name = "hubspot"
    max_batch_size = 100  # CRM v3 batch endpoints: at most 100 inputs per call
    record_id_field = "hs_object_id"

    @classmethod
    def payload(cls, spec: SyncSpec, key: str, record_id: str | None, fields: Mapping) -> dict:
        # The key property is always sent, so every result names its input.
        return {spec.key_field: key, **fields}

    @classmethod
    def canonical_key(cls, spec: SyncSpec, key: str) -> str:
        # HubSpot stores e-mail addresses lower-cased (and matches them so):
        # https://knowledge.hubspot.com/records/deduplication-of-records
        return key.strip().lower() if spec.key_field == "email" else key

    def __init__(self, spec: SyncSpec, client):
        """`client`: a `HubSpotClient` (cs_platform.resources.hubspot): `.session`, `.request`."""
        super().__init__(CallCounter())
        self.spec = spec
        self.client = client
        self.counter.attach(client.session)
        opts = spec.options
        self.batch_size = int(opts["batch_size"])
        self.concurrency = int(opts.get("max_concurrent_requests") or 1)
        self.max_usage_share = float(opts.get("max_api_usage_share") or 1.0)
        self.limiter = RateLimiter(int(opts.get("max_requests_per_10s") or 100), 10.0)
        self.base = f"/crm/v3/objects/{spec.object}"

    @property
    def idempotent(self) -> bool:
        return self.spec.mode != "insert"

    def error_code(self, error: Exception) -> str:
        # The error envelope's `category` (VALIDATION_ERROR, RATE_LIMITS, ...).
        try:
            category = json.loads(getattr(error, "body", None) or "").get("category")
        except (ValueError, AttributeError):
            category = None
        return category or super().error_code(error)

    def record_level(self, error: Exception) -> bool:
        # A 400 VALIDATION_ERROR for the whole batch (an option a property does not
        # have, a malformed number) is caused by some input's value.
        return isinstance(error, SourceError) and error.status == 400 and "VALIDATION_ERROR" in (error.body or "")

    def close(self) -> None:
        self.counter.detach(self.client.session)
        self.client.session.close()  # the resource made this session for this run

    def batches(self, records: Sequence[PlannedRecord]) -> list[Batch]:
        return [Batch("batch", chunk, 1) for chunk in chunks(records, self.batch_size)]

    def _properties(self, rec: PlannedRecord) -> dict[str, str]:
        return {k: wire(v) for k, v in rec.payload.items()}

    def send(self, batch: Batch) -> Mapping[str, RecordResult]:
        spec, key_field = self.spec, self.spec.key_field
        records = batch.records
        if spec.mode in ("upsert", "create_once"):
            path = "batch/upsert"
            inputs = [{"id": r.key, "idProperty": key_field, "properties": self._properties(r)} for r in records]
        elif spec.mode == "update":
            path = "batch/update"
            inputs = [({"id": r.record_id} if r.record_id else {"id": r.key, "idProperty": key_field})
                      | {"properties": self._properties(r)} for r in records]
        else:
            path = "batch/create"
            inputs = [{"objectWriteTraceId": r.key, "properties": self._properties(r)} for r in records]
        self.ready()
        self.limiter.acquire()
        body = self.client.request("POST", f"{self.base}/{path}", json={"inputs": inputs},
                                   retry=self.idempotent) or {}

        by_id = {str(r.record_id): r.key for r in records if r.record_id}
        keys = {r.key for r in records}
        out: dict[str, RecordResult] = {}
        for result in body.get("results") or []:
            key = str((result.get("properties") or {}).get(key_field) or "")
            key = key if key in keys else by_id.get(str(result.get("id")))
            if key is None:
                continue
            created = result.get("new")
            out[key] = RecordResult(True, created=(spec.mode == "insert") if created is None else bool(created),
                                    destination_id=str(result.get("id")) if result.get("id") else None)
        for error in body.get("errors") or []:
            message = error.get("message") or "HubSpot reported an error for this input"
            for failed in (error.get("context") or {}).get("ids") or []:
                key = str(failed) if str(failed) in keys else by_id.get(str(failed))
                if key is not None:
                    out[key] = RecordResult(False, error_code=error.get("category") or "ERROR",
                                            error_message=message)
        return out

    def reconcile(self, records: Sequence[PlannedRecord]) -> dict[str, str | None]:
        """Which interrupted records HubSpot already holds as intended (batch/read)."""
        key_field = self.spec.key_field
        found: dict[str, str | None] = {}
        fields = sorted({f for r in records for f in r.payload} - {key_field})
        if self.spec.mode in ("create_once", "insert"):
            fields = []
        for chunk in chunks(list(records), self.batch_size):
            self.limiter.acquire()
            body = self.client.request("POST", f"{self.base}/batch/read", json={
                "idProperty": key_field, "properties": [key_field, *fields],
                "inputs": [{"id": r.key} for r in chunk]}) or {}
            by_key = {r.key: r for r in chunk}
            for result in body.get("results") or []:
                props = result.get("properties") or {}
                rec = by_key.get(str(props.get(key_field)))
                if rec and all(same_value(props.get(f), _clearable(rec.payload.get(f))) for f in fields):
                    found[rec.key] = str(result.get("id"))
        return found


class RateLimiter:
    """At most `limit` calls per rolling `window` seconds, across threads."""

    def __init__(self, limit: int, window: float):
        self.limit, self.window = limit, window
        self.calls: deque[float] = deque()
        self.lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self.lock:
                now = time.monotonic()
                while self.calls and self.calls[0] <= now - self.window:
                    self.calls.popleft()
                if len(self.calls) < self.limit:
                    self.calls.append(now)
                    return
                wait = self.calls[0] + self.window - now
            time.sleep(max(wait, 0.01))


def _clearable(value):
    return None if value == "" else value
