"""Salesforce: sObject Collections for small plans, Bulk API 2.0 for large ones.

- Below `bulk_threshold` records, batches of up to 200 go to sObject Collections
  (`PATCH composite/sobjects/{Object}/{ExternalIdField}` for upsert and create-once,
  `PATCH composite/sobjects` for update by Id, `POST` for insert), `allOrNone: false`.
  Collections answer one result per record *in request order* (that is the
  documented contract, and the results carry no external ID to match on), so the
  engine pairs them by position, after checking the count and, where the Id is
  known (update), that every result's id is the one sent. An insert is sent once,
  never retried: a retry after a lost answer would create the records twice; its
  records stay in flight and the next run looks them up before sending again.
- From `bulk_threshold` records on, a Bulk API 2.0 ingest job per `bulk_job_size`
  records, driven here over the REST session (create, upload, close, poll from a
  short first interval, then the result files the job's counts say exist). Result
  rows come back in any order and are matched on the key column (the external ID
  field, or Id for updates), never on position; each file is read on its own, so a
  file that cannot be read leaves only its own records undecided (in flight),
  never marks written records failed. Only the documented resources are asked for:
  `successfulResults`, `failedResults`, `unprocessedrecords`
  (https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/get_job_unprocessed_results.htm).
- An empty CSV cell leaves a field unchanged in Bulk, where Collections would clear
  it: a null is always sent as `#N/A` (clear), and a skipped field as an absent
  column or empty cell, so both paths mean the same.
- A call refused for something in its records (400, e.g. `JSON_PARSER_ERROR` for
  `'n/a'` in a number field) is split by the engine to isolate the record.
- Every response's `Sforce-Limit-Info: api-usage=USED/MAX` is read; before each
  checkpoint the run stops cleanly when the next batches would take the org past
  `max_api_usage_share` of its daily API requests (an org out of requests answers
  403 REQUEST_LIMIT_EXCEEDED to every integration, not just this one).
- Every call has the resource's timeout (the session's adapter sets it).

Create-once (Tasks) upserts on the external ID: a retry after a crash updates the
Task the first attempt made instead of creating a second one.
"""

from __future__ import annotations

import csv
import io
import json
import time
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
from cs_platform.resources.http import CallCounter, single_attempt
from cs_platform.values import same_value

if TYPE_CHECKING:  # simple_salesforce takes ~0.7 s to import: only when a sync runs
    from simple_salesforce import Salesforce

BULK_CALLS_ESTIMATE = 6  # create, upload, close, ~2 polls, the successful results
SOQL_IN_CHUNK = 200  # keys per reconciliation query (keeps the URL short)
BULK_TERMINAL = ("JobComplete", "Failed", "Aborted")
BULK_POLL_MAX_SECONDS = 10.0
BULK_FAST_POLL_SECONDS = 2.0  # poll at the short interval this long, then back off


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
        self.bulk_timeout_seconds = float(opts.get("bulk_timeout_seconds") or 3600)
        self.max_usage_share = float(opts["max_api_usage_share"])
        # Which column identifies a record in requests and Bulk result files.
        self.match_field = "Id" if spec.mode == "update" else spec.key_field
        self.heartbeat = lambda: None  # the engine's lease heartbeat, called while a Bulk job runs

    def close(self) -> None:
        self.counter.detach(self.sf.session)
        self.sf.session.close()  # the resource made this session for this run

    @property
    def idempotent(self) -> bool:
        return self.spec.mode != "insert"

    # ------------------------------------------------------------------ batching
    def batches(self, records: Sequence[PlannedRecord]) -> list[Batch]:
        if len(records) >= self.bulk_threshold:
            return [Batch("bulk2", chunk, BULK_CALLS_ESTIMATE) for chunk in chunks(records, self.bulk_job_size)]
        return [Batch("collections", chunk, 1) for chunk in chunks(records, self.batch_size)]

    # ------------------------------------------------------------------ budget
    def budget_stop(self, calls: int) -> str | None:
        if self.counter.api_max is None:
            self._read_limits()
        return super().budget_stop(calls)

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

    def error_code(self, error: Exception) -> str:
        return _error_code(error) or super().error_code(error)  # the error body's `errorCode`

    def record_level(self, error: Exception) -> bool:
        """A 400 for the whole call (JSON_PARSER_ERROR, INVALID_TYPE...) names no
        record: one of them holds a value the org cannot take."""
        from simple_salesforce.exceptions import SalesforceMalformedRequest

        return isinstance(error, SalesforceMalformedRequest) and _error_code(error) not in (
            "INVALID_SESSION_ID", "REQUEST_LIMIT_EXCEEDED", "NOT_FOUND")

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

    def _call(self, method: str, path: str, *, retry: bool = True, **kwargs):
        """A REST call under the API version's base URL; errors raised as
        simple-salesforce raises them (with the error body in `.content`)."""
        from simple_salesforce.util import exception_handler

        session = self.sf.session if retry else single_attempt(self.sf.session)
        headers = {**self.sf.headers, **kwargs.pop("headers", {})}
        response = session.request(method, self.sf.base_url + path, headers=headers, **kwargs)
        if response.status_code >= 300:
            exception_handler(response, path)
        return response

    def _send_collection(self, records: list[PlannedRecord]) -> dict[str, RecordResult]:
        obj, mode = self.spec.object, self.spec.mode
        body = {"allOrNone": False,
                "records": [{"attributes": {"type": obj}, **r.payload} for r in records]}
        if mode in ("upsert", "create_once"):
            path, method = f"composite/sobjects/{obj}/{self.spec.key_field}", "PATCH"
        elif mode == "update":
            path, method = "composite/sobjects", "PATCH"
        else:  # insert: not idempotent, so sent once (a lost answer leaves the records in flight)
            path, method = "composite/sobjects", "POST"
        self.ready()
        results = self._call(method, path, json=body, retry=self.idempotent).json() or []
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

    # ------------------------------------------------------------------ Bulk API 2.0
    def _send_bulk(self, records: list[PlannedRecord]) -> dict[str, RecordResult]:
        """One ingest job: create, upload the CSV, close, poll, read the results."""
        spec = self.spec
        rows = [{k: _csv_value(v) for k, v in r.payload.items()} for r in records]
        columns = sorted({c for row in rows for c in row})
        by_match = {str(row[self.match_field]): rec.key for row, rec in zip(rows, records)}
        operation = {"upsert": "upsert", "create_once": "upsert", "update": "update"}.get(spec.mode, "insert")
        job_spec = {"object": spec.object, "operation": operation, "contentType": "CSV", "lineEnding": "LF",
                    "columnDelimiter": "COMMA"}
        if operation == "upsert":
            job_spec["externalIdFieldName"] = spec.key_field
        # Creating a job writes nothing; a duplicate (retried) empty job is abandoned harmlessly.
        job = self._call("POST", "jobs/ingest", json=job_spec).json()
        job_id = job["id"]
        out = io.StringIO()
        # A column a record lacks (a skipped null) is an empty cell: the field is left as it is.
        writer = csv.DictWriter(out, fieldnames=columns, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        self._call("PUT", f"jobs/ingest/{job_id}/batches", data=out.getvalue().encode("utf-8"),
                   headers={"Content-Type": "text/csv"}, retry=False)
        self.ready()  # closing the job applies it: the intent checkpoint must be written first
        self._call("PATCH", f"jobs/ingest/{job_id}", json={"state": "UploadComplete"})
        job = self._wait_for(job_id)

        results: dict[str, RecordResult] = {}
        processed, failed = int(job.get("numberRecordsProcessed") or 0), int(job.get("numberRecordsFailed") or 0)
        unreadable = []
        files = [("successfulResults", processed > failed), ("failedResults", failed > 0),
                 ("unprocessedrecords", processed < len(records))]
        for resource, present in files:
            if not present or (resource == "unprocessedrecords" and job.get("state") == "Failed"):
                continue
            try:
                text = self._call("GET", f"jobs/ingest/{job_id}/{resource}").text
            except Exception as exc:  # noqa: BLE001 - decide the other files' records; these stay undecided
                unreadable.append(f"{resource}: {type(exc).__name__}: {str(exc)[:200]}")
                continue
            for row in _read_csv(text):
                key = by_match.get(row.get(self.match_field, ""))
                if key is None:
                    continue
                if resource == "successfulResults":
                    results[key] = RecordResult(True, created=str(row.get("sf__Created", "")).lower() == "true",
                                                destination_id=row.get("sf__Id") or None)
                elif resource == "failedResults":
                    code, message = _split_bulk_error(row.get("sf__Error", ""))
                    results[key] = RecordResult(False, destination_id=row.get("sf__Id") or None,
                                                error_code=code, error_message=message)
                elif key not in results:
                    results[key] = RecordResult(False, error_code="UNPROCESSED", transient=True,
                                                error_message=f"Bulk job {job_id} ended {job.get('state')} "
                                                              f"without processing this record")
        if job.get("state") == "Failed":
            # The job failed as a whole (a bad header, an unknown field): what it wrote
            # stays written (Bulk does not roll back), the rest fails with the job.
            raise BulkJobFailed(f"Bulk job {job_id} failed: {job.get('errorMessage') or 'no error message'}",
                                results)
        for rec in records:
            if rec.key not in results:
                results[rec.key] = RecordResult(
                    False, unknown=True, error_code="RESULT_UNREAD",
                    error_message=f"Bulk job {job_id}: the outcome of this record could not be read"
                                  + (f" ({'; '.join(unreadable)})" if unreadable else "")
                                  + "; the next run checks Salesforce before sending it again")
        return results

    def _wait_for(self, job_id: str) -> dict:
        """Poll the job every `bulk_poll_seconds` for its first ~2 seconds (small
        jobs finish in well under a second), then doubling up to BULK_POLL_MAX_SECONDS."""
        started = time.monotonic()
        deadline = started + self.bulk_timeout_seconds
        wait = self.bulk_poll_seconds
        while True:
            time.sleep(wait)
            job = self._call("GET", f"jobs/ingest/{job_id}").json()
            if job.get("state") in BULK_TERMINAL:
                return job
            self.heartbeat()
            if time.monotonic() > deadline:
                raise TimeoutError(f"Bulk job {job_id} still {job.get('state')} after "
                                   f"{self.bulk_timeout_seconds:.0f} s; its records are checked on the next run")
            if time.monotonic() - started > BULK_FAST_POLL_SECONDS:
                wait = min(wait * 2, BULK_POLL_MAX_SECONDS)

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


class BulkJobFailed(RuntimeError):
    """A Bulk job failed as a whole (bad header, unknown field); `results` holds
    the records it had processed before, which stay as they are."""

    code = "BULK_JOB_FAILED"

    def __init__(self, message: str, results: Mapping[str, RecordResult]):
        super().__init__(message)
        self.results = dict(results)


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
