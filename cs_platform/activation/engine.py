"""The sync engine: model rows -> plan -> guarded, batched, checkpointed writes.

One run of a sync:

1. **Read** the model's rows (only the mapped columns) and the sync's state.
2. **Reconcile** records left `in_flight` by a run that died between sending a
   batch and recording its answer: the destination is asked (a read, not a write)
   whether the intended values are already there; those are marked synced and
   not sent again, so a crash never makes a record be written twice.
3. **Plan**: each row is mapped to its destination payload, the body exactly as
   the destination will send it (`Destination.payload`: the record's identity
   included), and that body is hashed (a stable hash of the canonical JSON). Rows
   with a null or duplicate key, or without the destination record ID an update
   needs, are *invalid* and never sent. A valid row is sent when its hash differs
   from the last successfully synced one, or when its last attempt failed (failed
   keys are retried on every run until they succeed, changed or not). Everything
   else is *unchanged* and costs no API call.
4. **Guards**: the run refuses, naming the counts, when the plan would change more
   than `max_change_share` of the previously synced records, or when the model has
   shrunk by more than `max_shrink_share` since the last run. `override_guards`
   lets one run through.
5. **Send** in the destination's batches. Before each batch its keys are recorded
   as `in_flight`; as each batch returns, every record's outcome goes to the sync
   log and the state (one transaction each), so a killed process loses at most the
   answer of the batch in flight, which step 2 recovers.

A dry run stops after step 4 and returns the plan: counts and a sample of
field-level before/after changes. It makes no API call and writes nothing.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

import pandas as pd

from cs_platform.activation.destinations import destination_type
from cs_platform.activation.destinations.base import (
    ApiBudgetExhausted,
    Batch,
    Destination,
    PlannedRecord,
    RecordResult,
)
from cs_platform.activation.spec import SyncSpec
from cs_platform.activation.state import FAILED, IN_FLIGHT, SYNCED, SyncStore, canonical_json, utcnow
from cs_platform.resources.warehouse import Warehouse, quote
from cs_platform.values import is_missing

SAMPLE_CHANGES = 5  # records shown with field-level before/after in metadata


class SyncAborted(RuntimeError):
    """A guard refused the run; nothing was sent. The message names the counts."""

    def __init__(self, message: str, outcome: "SyncOutcome"):
        super().__init__(message)
        self.outcome = outcome


class SyncFailed(RuntimeError):
    """A whole call failed after retries; what was sent before it is recorded."""

    def __init__(self, message: str, outcome: "SyncOutcome"):
        super().__init__(message)
        self.outcome = outcome


@dataclass
class InvalidRow:
    key: str | None
    reason: str


@dataclass
class Plan:
    source_rows: int
    records: list[PlannedRecord]  # to send
    unchanged: int
    invalid: list[InvalidRow]
    previously_synced: int
    changed_previously_synced: int
    retrying: int
    state: dict[str, dict]

    @property
    def creates(self) -> int:
        return sum(1 for r in self.records if r.operation == "create")

    @property
    def updates(self) -> int:
        return sum(1 for r in self.records if r.operation == "update")


@dataclass
class SyncOutcome:
    sync: str
    destination: str
    run_id: str
    dry_run: bool = False
    outcome: str = "running"  # completed | aborted | stopped_api_budget | error | dry_run
    source_rows: int = 0
    planned: int = 0
    planned_creates: int = 0
    planned_updates: int = 0
    retrying: int = 0
    sent: int = 0
    succeeded: int = 0
    failed: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    invalid: int = 0
    deferred: int = 0  # planned but not sent (API budget, or a failed call stopped the run)
    reconciled: int = 0
    api_calls: int = 0
    write_calls: int = 0
    api_usage: str | None = None
    batches: dict[str, int] = field(default_factory=dict)  # api -> number of batches
    guard_decision: str = "not evaluated"
    previously_synced: int = 0
    changed_previously_synced: int = 0
    previous_source_rows: int | None = None
    duration_s: float = 0.0
    message: str = ""
    failed_sample: list[dict] = field(default_factory=list)
    invalid_sample: list[dict] = field(default_factory=list)
    changes_sample: list[dict] = field(default_factory=list)

    def run_row(self, started_at: datetime) -> dict:
        return {
            "run_id": self.run_id, "dry_run": self.dry_run, "outcome": self.outcome,
            "started_at": started_at, "finished_at": utcnow(), "source_rows": self.source_rows,
            "planned": self.planned, "sent": self.sent, "succeeded": self.succeeded,
            "failed": self.failed, "unchanged": self.unchanged, "invalid": self.invalid,
            "deferred": self.deferred, "created": self.created, "updated": self.updated,
            "reconciled": self.reconciled, "api_calls": self.api_calls,
            "guard_decision": self.guard_decision, "message": self.message[:2000],
        }


# --------------------------------------------------------------------------- mapping

def normalize(value, as_date: bool = False):
    """A model value as plain JSON: the form payloads are hashed and sent in."""
    if is_missing(value):
        return None
    if hasattr(value, "item") and not isinstance(value, (pd.Timestamp, datetime, date)):
        value = value.item()  # numpy scalar
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, (pd.Timestamp, datetime)):
        ts = pd.Timestamp(value)
        if ts.tzinfo is not None:
            ts = ts.tz_convert("UTC").tz_localize(None)
        if as_date:
            return ts.strftime("%Y-%m-%d")
        return ts.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def key_text(value) -> str | None:
    value = normalize(value)
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def payload_hash(record_id: str | None, payload: Mapping) -> str:
    return hashlib.sha256(canonical_json({"id": record_id, "fields": payload}).encode()).hexdigest()


def _date_columns(df: pd.DataFrame) -> set[str]:
    """Datetime columns whose every value is midnight: dbt `date` columns (DuckDB
    hands DATE back as datetime64). They are sent as YYYY-MM-DD."""
    out = set()
    for col in df.columns:
        if pd.api.types.is_datetime64_any_dtype(df[col]):
            values = df[col].dropna()
            if values.empty or (values.dt.normalize() == values).all():
                out.add(col)
    return out


def build_records(spec: SyncSpec, df: pd.DataFrame) -> tuple[dict[str, PlannedRecord], list[InvalidRow]]:
    """Map model rows to payloads; split off the rows that must not be sent."""
    date_cols = _date_columns(df)
    destination = destination_type(spec.destination)
    by_key: dict[str, PlannedRecord] = {}
    counts: dict[str, int] = {}
    invalid: list[InvalidRow] = []
    for row in df.to_dict("records"):
        key = key_text(row[spec.key_column])
        if key is None:
            invalid.append(InvalidRow(None, f"null key ({spec.key_column})"))
            continue
        counts[key] = counts.get(key, 0) + 1
        record_id = None
        if spec.record_id_column:
            record_id = key_text(row[spec.record_id_column])
            if record_id is None and spec.mode == "update":
                invalid.append(InvalidRow(key, f"null {spec.record_id_column}: no {spec.destination} "
                                               f"record to update (mode update never creates)"))
                counts[key] -= 1
                continue
        fields: dict = {}
        for m in spec.fields:
            value = normalize(row[m.column], as_date=m.column in date_cols)
            if value is None and m.nulls == "skip":
                continue
            fields[m.field] = value
        fields.update(spec.constants)
        payload = destination.payload(spec, key, record_id, fields)
        by_key[key] = PlannedRecord(key=key, record_id=record_id, payload=payload,
                                    hash=payload_hash(record_id, payload), operation="")
    for key, n in counts.items():
        if n > 1:
            by_key.pop(key, None)
            invalid.extend(InvalidRow(key, f"duplicate key: {n} rows share {spec.key_column}={key}")
                           for _ in range(n))
    return by_key, invalid


def make_plan(spec: SyncSpec, df: pd.DataFrame, state: dict[str, dict]) -> Plan:
    records, invalid = build_records(spec, df)
    to_send: list[PlannedRecord] = []
    unchanged = retrying = changed_prev = 0
    for key in sorted(records):
        rec = records[key]
        st = state.get(key)
        ever_synced = bool(st and st.get("synced_hash"))
        status = st.get("status") if st else None
        if spec.mode in ("create_once", "insert"):
            owed = status != SYNCED
            rec.operation = "create"
        else:
            owed = status != SYNCED or st.get("synced_hash") != rec.hash
            rec.operation = "update" if (ever_synced or spec.mode == "update") else "create"
            if owed and ever_synced and st.get("synced_hash") != rec.hash:
                changed_prev += 1
        if not owed:
            unchanged += 1
            continue
        rec.retry = status in (FAILED, IN_FLIGHT)
        retrying += rec.retry
        rec.previous = st.get("synced_payload") if st else None
        to_send.append(rec)
    previously_synced = sum(1 for st in state.values() if st.get("synced_hash"))
    return Plan(source_rows=len(df), records=to_send, unchanged=unchanged, invalid=invalid,
                previously_synced=previously_synced, changed_previously_synced=changed_prev,
                retrying=retrying, state=state)


def change_sample(records: Sequence[PlannedRecord], limit: int = SAMPLE_CHANGES) -> list[dict]:
    """Field-level before (last synced) -> after (to send) for the first records."""
    sample = []
    for rec in records[:limit]:
        before = rec.previous or {}
        fields = {f: {"before": before.get(f), "after": rec.payload.get(f)}
                  for f in sorted(set(before) | set(rec.payload)) if before.get(f) != rec.payload.get(f)}
        sample.append({"key": rec.key, "operation": rec.operation, "retry": rec.retry, "fields": fields})
    return sample


# --------------------------------------------------------------------------- guards

def evaluate_guards(spec: SyncSpec, plan: Plan, previous_rows: int | None) -> str | None:
    """None when the plan is plausible, else why not (with the counts)."""
    reasons = []
    if plan.previously_synced:
        share = plan.changed_previously_synced / plan.previously_synced
        if share > spec.max_change_share:
            reasons.append(
                f"the plan would change {plan.changed_previously_synced} of {plan.previously_synced} "
                f"previously synced records ({share:.0%}, above max_change_share {spec.max_change_share:.0%})")
    if previous_rows:
        shrink = (previous_rows - plan.source_rows) / previous_rows
        if shrink > spec.max_shrink_share:
            reasons.append(
                f"the source model has {plan.source_rows} rows, down from {previous_rows} at the last sync "
                f"({shrink:.0%} fewer, above max_shrink_share {spec.max_shrink_share:.0%})")
    return "; ".join(reasons) or None


# --------------------------------------------------------------------------- run

def read_source(warehouse: Warehouse, table: str, spec: SyncSpec) -> pd.DataFrame:
    cols = ", ".join(quote(c) for c in spec.source_columns)
    try:
        return warehouse.query(f"select {cols} from {warehouse.table_ref(table)}")
    except Exception as exc:
        existing = warehouse.columns(table)
        if existing is None:
            raise RuntimeError(f"sync '{spec.name}': the model's table {table} does not exist in the warehouse "
                               f"(has model {spec.model!r} been materialized?)") from None
        missing = [c for c in spec.source_columns if c not in existing]
        if missing:
            raise RuntimeError(f"sync '{spec.name}': model table {table} has no column(s) {missing}") from None
        raise RuntimeError(f"sync '{spec.name}': could not read {table}: {exc}") from exc


def run_sync(
    spec: SyncSpec,
    warehouse: Warehouse,
    destination_factory: Callable[[], Destination],
    *,
    table: str,
    run_id: str,
    dry_run: bool = False,
    override_guards: bool = False,
    log: logging.Logger | None = None,
) -> SyncOutcome:
    """Run one sync; returns what happened or raises SyncAborted / SyncFailed."""
    log = log or logging.getLogger("cs_platform.activation")
    started, t0 = utcnow(), time.monotonic()
    out = SyncOutcome(sync=spec.name, destination=spec.destination, run_id=run_id, dry_run=dry_run)
    store = SyncStore(warehouse, spec.name)
    df = read_source(warehouse, table, spec)
    state = store.load_state()

    destination: Destination | None = None

    def dest() -> Destination:  # connect (and log in) only when there is something to do
        nonlocal destination
        if destination is None:
            destination = destination_factory()
        return destination

    try:
        in_flight = [k for k, st in state.items() if st.get("status") == IN_FLIGHT]
        if in_flight and not dry_run:
            out.reconciled = _reconcile(spec, store, state, in_flight, dest(), run_id, log)

        plan = make_plan(spec, df, state)
        out.source_rows = plan.source_rows
        out.planned = len(plan.records)
        out.planned_creates, out.planned_updates = plan.creates, plan.updates
        out.retrying = plan.retrying
        out.unchanged = plan.unchanged
        out.invalid = len(plan.invalid)
        out.previously_synced = plan.previously_synced
        out.changed_previously_synced = plan.changed_previously_synced
        out.changes_sample = change_sample(plan.records)
        out.invalid_sample = [{"key": r.key, "reason": r.reason} for r in plan.invalid[:SAMPLE_CHANGES]]
        out.previous_source_rows = store.last_source_rows()

        refusal = evaluate_guards(spec, plan, out.previous_source_rows)
        if refusal and override_guards:
            out.guard_decision = f"overridden (override_guards): {refusal}"
            log.warning("sync '%s': guards overridden for this run: %s", spec.name, refusal)
        elif refusal:
            out.guard_decision = f"aborted: {refusal}"
        else:
            out.guard_decision = "passed"

        if dry_run:
            out.outcome = "dry_run"
            out.message = ("dry run: nothing sent" + (f"; a real run would abort: {refusal}"
                                                      if refusal and not override_guards else ""))
            return out

        if plan.invalid:
            store.write_log({"run_id": run_id, "record_key": r.key, "outcome": "invalid",
                             "error_code": "INVALID_ROW", "error_message": r.reason,
                             "logged_at": utcnow()} for r in plan.invalid)
        if refusal and not override_guards:
            out.outcome = "aborted"
            out.deferred = out.planned
            out.message = (f"sync '{spec.name}' refused to send {out.planned} records: {refusal}. "
                           f"Nothing was sent. If the change is intended, run it once with run config "
                           f"override_guards: true.")
            raise SyncAborted(out.message, out)

        if plan.records:
            _send(spec, store, plan, dest(), out, run_id, log)
        out.outcome = out.outcome if out.outcome != "running" else "completed"
        return out
    except (SyncAborted, SyncFailed):
        raise
    except Exception as exc:
        out.outcome = "error"
        out.message = f"{type(exc).__name__}: {exc}"[:2000]
        raise
    finally:
        if destination is not None:
            out.api_calls = destination.calls
            out.write_calls = destination.write_calls
            out.api_usage = destination.api_usage_text()
            destination.close()
        out.duration_s = round(time.monotonic() - t0, 3)
        if not dry_run:
            try:
                store.write_run(out.run_row(started))
            except Exception:  # never hide the run's own error behind a bookkeeping one
                log.exception("sync '%s': could not record the run row", spec.name)


def _reconcile(spec, store: SyncStore, state, keys: list[str], destination: Destination,
               run_id: str, log) -> int:
    """Records a dead run sent without recording the answer: ask the destination."""
    records = []
    for key in keys:
        st = state[key]
        attempt = st.get("attempt_payload") or {}
        records.append(PlannedRecord(key=key, record_id=attempt.get("record_id"), payload=attempt.get("fields") or {},
                                     hash=st.get("attempt_hash"), operation=st.get("attempt_operation") or ""))
    try:
        found = destination.reconcile(records)
    except Exception as exc:  # noqa: BLE001 - a failed check only means "send again"
        log.warning("sync '%s': could not check %d interrupted records in %s (%s); they will be resent",
                    spec.name, len(records), spec.destination, exc)
        found = {}
    now = utcnow()
    rows, logs = [], []
    for rec in records:
        st = dict(state[rec.key])
        if rec.key in found:
            st.update(status=SYNCED, synced_hash=rec.hash, synced_payload=rec.payload, synced_at=now,
                      destination_id=found[rec.key] or st.get("destination_id"),
                      error_code=None, error_message=None, failures=0)
            logs.append({"run_id": run_id, "record_key": rec.key, "operation": rec.operation,
                         "outcome": "reconciled", "destination_id": st["destination_id"],
                         "payload_hash": rec.hash, "logged_at": now,
                         "error_message": "sent by an interrupted run; found in place, not resent"})
        else:
            st.update(status=FAILED, error_code="INTERRUPTED",
                      error_message="an interrupted run sent this record without recording the answer, "
                                    "and the destination does not hold it: resending")
        st.update(last_run_id=run_id, updated_at=now)
        state[rec.key] = st
        rows.append(st)
    store.write_log(logs)
    store.write_state(rows)
    if found:
        log.info("sync '%s': %d of %d interrupted records were already in %s; not resent",
                 spec.name, len(found), len(records), spec.destination)
    return len(found)


def _intent_rows(batch: Batch, state, run_id: str) -> list[dict]:
    now = utcnow()
    rows = []
    for rec in batch.records:
        st = dict(state.get(rec.key) or {"record_key": rec.key, "failures": 0})
        st.update(status=IN_FLIGHT, attempt_hash=rec.hash,
                  attempt_payload={"record_id": rec.record_id, "fields": rec.payload},
                  attempt_operation=rec.operation, last_run_id=run_id, updated_at=now)
        state[rec.key] = st
        rows.append(st)
    return rows


def _send(spec: SyncSpec, store: SyncStore, plan: Plan, destination: Destination, out: SyncOutcome,
          run_id: str, log) -> None:
    batches = destination.batches(plan.records)
    state = plan.state
    stop = destination.budget_stop(batches[0]) if batches else None
    if stop is not None:
        _stopped_for_budget(spec, out, stop, sum(len(b.records) for b in batches), log)
        return
    if batches:
        store.write_state(_intent_rows(batches[0], state, run_id))  # later intents ride on the previous answers
    for i, batch in enumerate(batches):
        try:
            results = destination.send(batch)
            error = None
        except ApiBudgetExhausted as exc:
            results, error = None, exc
        except Exception as exc:  # a whole call failed after retries
            results, error = None, exc
        out.batches[batch.api] = out.batches.get(batch.api, 0) + 1
        if results is None:
            code = getattr(error, "code", None) or type(error).__name__
            results = {r.key: RecordResult(False, error_code=code, error_message=str(error)[:1000])
                       for r in batch.records}
        now = utcnow()
        logs, rows = [], []
        for rec in batch.records:
            res = results.get(rec.key) or RecordResult(
                False, error_code="NO_RESULT", error_message=f"{spec.destination} returned no result for this record")
            st = state[rec.key]
            if res.success:
                created = res.created if res.created is not None else rec.operation == "create"
                out.succeeded += 1
                out.created += created
                out.updated += not created
                st.update(status=SYNCED, synced_hash=rec.hash, synced_payload=rec.payload, synced_at=now,
                          destination_id=res.destination_id or st.get("destination_id"),
                          error_code=None, error_message=None, failures=0)
            else:
                created = None
                out.failed += 1
                st.update(status=FAILED, error_code=res.error_code, error_message=res.error_message,
                          failures=int(st.get("failures") or 0) + 1)
                if len(out.failed_sample) < SAMPLE_CHANGES:
                    out.failed_sample.append({"key": rec.key, "error_code": res.error_code,
                                              "error_message": (res.error_message or "")[:300]})
            st.update(updated_at=now, last_run_id=run_id)
            logs.append({"run_id": run_id, "batch": i + 1, "api": batch.api, "record_key": rec.key,
                         "operation": rec.operation, "outcome": "success" if res.success else "failed",
                         "created": created, "destination_id": res.destination_id,
                         "error_code": res.error_code, "error_message": res.error_message,
                         "payload_hash": rec.hash, "logged_at": now})
            rows.append(st)
        out.sent += len(batch.records)

        stop = None
        if isinstance(error, ApiBudgetExhausted):
            stop = error
        elif error is None and i + 1 < len(batches):
            stop = destination.budget_stop(batches[i + 1])
        pending_intent = (_intent_rows(batches[i + 1], state, run_id)
                          if error is None and stop is None and i + 1 < len(batches) else [])
        store.write_log(logs)
        store.write_state(rows + pending_intent)  # this batch's answers (+ the next one's intent), one transaction

        if stop is not None:
            deferred = sum(len(b.records) for b in batches[i + 1:])
            if isinstance(error, ApiBudgetExhausted):  # the batch itself was refused: not sent
                out.sent -= len(batch.records)
                out.failed -= len(batch.records)
                deferred += len(batch.records)
            _stopped_for_budget(spec, out, stop, deferred, log)
            return
        if error is not None:
            out.deferred = sum(len(b.records) for b in batches[i + 1:])
            out.outcome = "error"
            out.message = (f"sync '{spec.name}': a {batch.api} call for {len(batch.records)} records failed: "
                           f"{type(error).__name__}: {str(error)[:500]}. Those records are marked failed and "
                           f"{out.deferred} were not sent; the next run retries them.")
            raise SyncFailed(out.message, out)


def _stopped_for_budget(spec: SyncSpec, out: SyncOutcome, reason, deferred: int, log) -> None:
    out.deferred = deferred
    out.outcome = "stopped_api_budget"
    out.message = (f"stopped before exhausting the {spec.destination} API budget: {reason}. "
                   f"{deferred} records were not sent; the next run sends them.")
    log.warning("sync '%s': %s", spec.name, out.message)
