"""Salesforce: sObject Collections for small plans, Bulk API 2.0 for large ones.

- Below `bulk_threshold` records, batches of up to 200 go to sObject Collections
  (`PATCH composite/sobjects/{Object}/{ExternalIdField}` for upsert and create-once,
  `PATCH composite/sobjects` for update by Id, `POST` for insert), `allOrNone: false`.
  Collections answer one result per record *in request order* (that is the
  documented contract, and the results carry no external ID to match on), so the
  engine pairs them by position, after checking the count and, where the Id is
  known (update), that every result's id is the one sent.
- From `bulk_threshold` records on, a Bulk API 2.0 ingest job (`sf.bulk2`) per
  `bulk_job_size` records; its result files come back in any order and are matched
  on the key column (the external ID field, or Id for updates), never on position.
- Every response's `Sforce-Limit-Info: api-usage=USED/MAX` is read; before each
  batch, the run stops cleanly when the next one would take the org past
  `max_api_usage_share` of its daily API requests (an org out of requests answers
  403 REQUEST_LIMIT_EXCEEDED to every integration, not just this one).

Create-once (Tasks) upserts on the external ID: a retry after a crash updates the
Task the first attempt made instead of creating a second one.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from cs_platform.activation.destinations.base import (
    ApiBudgetExhausted,
    Batch,
    Destination,
    PlannedRecord,
    RecordResult,
    chunks,
)
from cs_platform.activation.spec import SyncSpec
from cs_platform.resources.http import CallCounter
from cs_platform.values import same_value

if TYPE_CHECKING:  # simple_salesforce takes ~0.7 s to import: only when a sync runs
    from simple_salesforce import Salesforce

BULK_CALLS_ESTIMATE = 8  # create, upload, close, ~2 polls, 3 result files
SOQL_IN_CHUNK = 200  # keys per reconciliation query (keeps the URL short)


class SalesforceDestination(Destination):
    name = "salesforce"
    max_batch_size = 200  # sObject Collections: at most 200 records per call
    record_id_field = "Id"

    @classmethod
    def declaration_errors(cls, spec: SyncSpec) -> list[tuple[str, str]]:
        if spec.mode == "update" and not spec.record_id_column and spec.key_field != "Id":
            return [("record_id", "mode 'update' on Salesforce needs the model column holding the record Id "
                                  "(sObject Collections and Bulk updates address records by Id)")]
        return []

    @classmethod
    def payload(cls, spec: SyncSpec, key: str, record_id: str | None, fields: Mapping) -> dict:
        # Updates address records by Id (the key field is not sent); upserts and inserts carry the key.
        identity = {"Id": record_id or key} if spec.mode == "update" else {spec.key_field: key}
        return {**identity, **fields}

    def __init__(self, spec: SyncSpec, sf: Salesforce):
        super().__init__(CallCounter())
        self.spec = spec
        self.sf = sf
        self.counter.attach(sf.session)
        opts = spec.options
        self.batch_size = int(opts["batch_size"])
        self.bulk_threshold = int(opts["bulk_threshold"])
        self.bulk_job_size = int(opts["bulk_job_size"])
        self.bulk_poll_seconds = float(opts["bulk_poll_seconds"])
        self.max_usage_share = float(opts["max_api_usage_share"])
        # Which column identifies a record in requests and Bulk result files.
        self.match_field = "Id" if spec.mode == "update" else spec.key_field

    def close(self) -> None:
        self.counter.detach(self.sf.session)
        self.sf.session.close()  # the resource made this session for this run

    # ------------------------------------------------------------------ batching
    def batches(self, records: Sequence[PlannedRecord]) -> list[Batch]:
        if len(records) >= self.bulk_threshold:
            return [Batch("bulk2", chunk, BULK_CALLS_ESTIMATE) for chunk in chunks(records, self.bulk_job_size)]
        return [Batch("collections", chunk, 1) for chunk in chunks(records, self.batch_size)]

    # ------------------------------------------------------------------ budget
    def budget_stop(self, next_batch: Batch) -> str | None:
        if self.counter.api_max is None:
            self._read_limits()
        if not self.counter.api_max:
            return None
        ceiling = math.floor(self.max_usage_share * self.counter.api_max)
        if self.counter.api_used + next_batch.calls_estimate > ceiling:
            return (f"api-usage {self.counter.api_used}/{self.counter.api_max}; the next batch needs about "
                    f"{next_batch.calls_estimate} call(s) and the sync may use the org's requests only up to "
                    f"{self.max_usage_share:.0%} ({ceiling})")
        return None

    def _read_limits(self) -> None:
        """One GET /limits when no response has told us the usage yet."""
        from simple_salesforce.exceptions import SalesforceError

        try:
            limits = self.sf.restful("limits/") or {}
        except SalesforceError:
            return
        daily = limits.get("DailyApiRequests") or {}
        if self.counter.api_max is None and daily.get("Max"):
            self.counter.api_max = int(daily["Max"])
            self.counter.api_used = int(daily["Max"]) - int(daily.get("Remaining", daily["Max"]))

    # ------------------------------------------------------------------ send
    def send(self, batch: Batch) -> Mapping[str, RecordResult]:
        from simple_salesforce.exceptions import SalesforceError

        try:
            if batch.api == "bulk2":
                return self._send_bulk(batch.records)
            return self._send_collection(batch.records)
        except SalesforceError as exc:
            if _error_code(exc) == "REQUEST_LIMIT_EXCEEDED":
                raise ApiBudgetExhausted(f"Salesforce answered REQUEST_LIMIT_EXCEEDED: {_error_text(exc)}") from None
            raise

    def _send_collection(self, records: list[PlannedRecord]) -> dict[str, RecordResult]:
        obj, mode = self.spec.object, self.spec.mode
        body = {"allOrNone": False,
                "records": [{"attributes": {"type": obj}, **r.payload} for r in records]}
        if mode in ("upsert", "create_once"):
            results = self.sf.restful(f"composite/sobjects/{obj}/{self.spec.key_field}", method="PATCH",
                                      json=body)
        elif mode == "update":
            results = self.sf.restful("composite/sobjects", method="PATCH", json=body)
        else:  # insert
            results = self.sf.restful("composite/sobjects", method="POST", json=body)
        results = results or []
        if len(results) != len(records):
            raise RuntimeError(f"Salesforce answered {len(results)} results for {len(records)} records")
        out: dict[str, RecordResult] = {}
        for rec, res in zip(records, results):  # request order is the documented contract
            if mode == "update" and res.get("id") and res["id"] != rec.payload["Id"]:
                raise RuntimeError(f"Salesforce result for {rec.key} names record {res['id']}, "
                                   f"not the {rec.payload['Id']} sent: results out of order")
            if res.get("success"):
                created = res.get("created")
                if created is None:
                    created = mode == "insert"
                out[rec.key] = RecordResult(True, created=bool(created), destination_id=res.get("id"))
            else:
                errors = res.get("errors") or [{}]
                out[rec.key] = RecordResult(
                    False, destination_id=res.get("id"),
                    error_code=errors[0].get("statusCode") or "UNKNOWN",
                    error_message="; ".join(
                        f"{e.get('message')}" + (f" (fields: {', '.join(e['fields'])})" if e.get("fields") else "")
                        for e in errors))
        return out

    def _send_bulk(self, records: list[PlannedRecord]) -> dict[str, RecordResult]:
        spec = self.spec
        rows = [{k: _csv_value(v) for k, v in r.payload.items()} for r in records]
        columns = sorted({c for row in rows for c in row})
        for row in rows:  # a column a record lacks (a skipped null): empty cell = field unchanged
            for c in columns:
                row.setdefault(c, "")
        by_match = {str(row[self.match_field]): rec.key for row, rec in zip(rows, records)}
        handler = getattr(self.sf.bulk2, spec.object)
        if spec.mode in ("upsert", "create_once"):
            jobs = handler.upsert(records=rows, external_id_field=spec.key_field, wait=self.bulk_poll_seconds)
        elif spec.mode == "update":
            jobs = handler.update(records=rows, wait=self.bulk_poll_seconds)
        else:
            jobs = handler.insert(records=rows, wait=self.bulk_poll_seconds)
        out: dict[str, RecordResult] = {}
        for job in jobs:
            job_id = job["job_id"]
            for row in _read_csv(handler.get_successful_records(job_id)):
                key = by_match.get(row.get(self.match_field, ""))
                if key is not None:
                    created = str(row.get("sf__Created", "")).lower() == "true"
                    out[key] = RecordResult(True, created=created, destination_id=row.get("sf__Id") or None)
            for row in _read_csv(handler.get_failed_records(job_id)):
                key = by_match.get(row.get(self.match_field, ""))
                if key is not None:
                    code, message = _split_bulk_error(row.get("sf__Error", ""))
                    out[key] = RecordResult(False, destination_id=row.get("sf__Id") or None,
                                            error_code=code, error_message=message)
            for row in _read_csv(handler.get_unprocessed_records(job_id)):
                key = by_match.get(row.get(self.match_field, ""))
                if key is not None and key not in out:
                    out[key] = RecordResult(False, error_code="UNPROCESSED",
                                            error_message=f"Bulk job {job_id} did not process this record")
        return out

    # ------------------------------------------------------------------ reconcile
    def reconcile(self, records: Sequence[PlannedRecord]) -> dict[str, str | None]:
        """Which interrupted records are already in Salesforce as intended (SOQL, reads only)."""
        spec = self.spec
        if not records:
            return {}
        fields = sorted({f for r in records for f in r.payload} - {"Id", self.match_field})
        if spec.mode in ("create_once", "insert"):
            fields = []  # existence is the whole question
        select = ", ".join(["Id", *([self.match_field] if self.match_field != "Id" else []), *fields])
        by_match = {str(r.payload[self.match_field]): r for r in records}
        found: dict[str, str | None] = {}
        values = list(by_match)
        for chunk in chunks(values, SOQL_IN_CHUNK):
            in_list = ", ".join(_soql_quote(v) for v in chunk)
            soql = f"SELECT {select} FROM {spec.object} WHERE {self.match_field} IN ({in_list})"
            for row in self.sf.query_all(soql).get("records", []):
                rec = by_match.get(str(row.get(self.match_field)))
                if rec is None:
                    continue
                intended = rec.payload
                if all(same_value(row.get(f), intended.get(f)) for f in fields):
                    found[rec.key] = row.get("Id")
        return found


# --------------------------------------------------------------------------- helpers

def _csv_value(value) -> str:
    """A payload value as a Bulk CSV cell; null clears the field (`#N/A`)."""
    if value is None:
        return "#N/A"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _read_csv(text: str) -> list[dict]:
    if not text or not text.strip():
        return []
    return list(csv.DictReader(io.StringIO(text)))


def _split_bulk_error(text: str) -> tuple[str, str]:
    """`UNABLE_TO_LOCK_ROW:message:fields --` -> (code, message)."""
    code, _, rest = (text or "").partition(":")
    return (code.strip() or "UNKNOWN"), rest.rstrip(" -").rstrip(":").strip() or text


def _soql_quote(value: str) -> str:
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _error_code(exc) -> str | None:
    content = getattr(exc, "content", None)
    if isinstance(content, (bytes, str)):
        try:
            content = json.loads(content)
        except ValueError:
            return None
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return content[0].get("errorCode")
    return None


def _error_text(exc) -> str:
    content = getattr(exc, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("message"))
    return str(exc)[:300]
