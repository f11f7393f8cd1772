"""The sync engine: model rows -> plan -> guarded, batched, checkpointed writes.

One run of a sync:

1. **Lease**: runs of one sync never overlap (`state.SyncLease`); a second run
   waits for the first, then plans against what the first wrote.
2. **Read** the model's rows (only the mapped columns) and the sync's state.
3. **Reconcile** records left `in_flight` by a run that died between sending a
   batch and recording its answer (or whose answer was lost): the destination is
   asked (a read, not a write) whether the intended values are already there;
   those are marked synced and not sent again, so a crash never makes a record be
   written twice.
4. **Plan**: each row is mapped to its destination payload, the body exactly as
   the destination will send it (`Destination.payload`: the record's identity
   included), and that body is hashed (a stable hash of the canonical JSON).
   Empty and blank strings are nulls: one meaning on every path (Collections,
   Bulk CSV, HubSpot), decided by the field's `nulls` (skip or clear). Keys are
   compared as the destination stores them (`Destination.canonical_key`). Rows
   with a null key, or without the destination record ID an update needs, are
   *invalid* and never sent; a key shared by several rows refuses the whole run
   (the model is wrong), naming the keys. A valid row is sent when its hash differs
   from the last successfully synced one, or when its last attempt failed, unless
   it failed `dead_letter_after` times in a row with this very payload (a *dead
   letter*, shown in metadata, sent again once its payload changes). Everything
   else is *unchanged* and costs no API call.
5. **Created once means once in the CRM**: for create-only modes, records never
   synced are first looked up in the CRM by key (a renamed sync or a lost state
   table must not create them again); those found are adopted, not sent.
6. **Guards**: the run refuses, naming the counts, when the plan would change more
   than `max_change_share` of the previously synced records (counting changes to
   `change_fields` only, when the sync names them), when the records
   never synced before outnumber `max_new_share` of the model rows at the last
   completed run (not on a first sync), or when the model has
   shrunk by more than `max_shrink_share` since the last run. `override_guards`
   lets one run through.
7. **Preflight**: before the first write (and on every dry run), the mapping is
   checked against the destination's own schema (`preflight.py`); a problem sends
   nothing and names the sync, the field and the fix.
8. **Send** in the destination's batches, `checkpoint_records` at a time: before a
   group of batches goes, its keys are recorded as `in_flight`; once it returns,
   every record's outcome goes to the sync log and the state together with the next
   group's intent (one transaction per table), so a killed process loses at most
   one group's answers, which step 3 recovers. Batches of a group go concurrently
   where the destination allows it (HubSpot). A call the API refuses for one of
   its records (a 400 naming no record) is split to isolate that record; the rest
   are sent. A whole call that fails after retries stops the run.

A dry run stops after step 7 and returns the plan: counts and a sample of
field-level before/after changes. It writes nothing and makes only the
preflight's schema reads.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
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
from cs_platform.activation.state import (
    FAILED,
    IN_FLIGHT,
    SYNCED,
    SyncLease,
    SyncStore,
    canonical_json,
    utcnow,
)
from cs_platform.resources.warehouse import Warehouse, quote
from cs_platform.values import is_missing

SAMPLE_CHANGES = 5  # records shown with field-level before/after in metadata
SAMPLE_FAILURES = 20  # failed / dead-letter records named in metadata and alerts
SAMPLE_KEYS = 20  # duplicate keys named in the refusal


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
    duplicate_keys: dict[str, int] = field(default_factory=dict)  # key -> rows sharing it
    never_synced: int = 0  # planned records with no successful write yet
    dead_letter: list[dict] = field(default_factory=list)  # not sent: failed repeatedly with this payload

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
    adopted: int = 0  # create-only records found already in the CRM: not created again
    dead_letter: int = 0
    never_synced: int = 0
    duplicate_keys: list[str] = field(default_factory=list)
    split_calls: int = 0  # calls made to isolate records a whole call was refused for
    preflight: list[str] | None = None  # None = not run; [] = passed; else the problems
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
    dead_letter_sample: list[dict] = field(default_factory=list)

    @property
    def failure_share(self) -> float:
        """Records the CRM refused this run, as a share of the model's rows (a record
        retried alone is not 100% of anything)."""
        return self.failed / self.source_rows if self.source_rows else 0.0

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
    kind = type(value)  # the common cases first: this runs once per field per row
    if kind is str:
        # An empty or blank string is a null: Collections and HubSpot would clear the
        # field while a Bulk CSV's empty cell leaves it unchanged, so it gets one meaning.
        return value if value.strip() else None
    if kind is bool or kind is int:
        return value
    if kind is float:
        return None if value != value else round(value, 9)  # NaN
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
    value = str(value)
    return value if value.strip() else None


def key_text(value) -> str | None:
    value = normalize(value)
    if value is None:
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


def build_records(spec: SyncSpec, df: pd.DataFrame
                  ) -> tuple[dict[str, PlannedRecord], list[InvalidRow], dict[str, int]]:
    """Map model rows to payloads; split off the rows that must not be sent, and
    the keys several rows share."""
    date_cols = _date_columns(df)
    destination = destination_type(spec.destination)
    by_key: dict[str, PlannedRecord] = {}
    counts: dict[str, int] = {}
    invalid: list[InvalidRow] = []
    # Column-wise: `tolist()` hands back plain Python values, which `normalize` takes fast.
    keys = df[spec.key_column].tolist()
    record_ids = df[spec.record_id_column].tolist() if spec.record_id_column else [None] * len(df)
    columns = {m.column: [normalize(v, as_date=m.column in date_cols) for v in df[m.column].tolist()]
               for m in spec.fields}
    for i, raw_key in enumerate(keys):
        key = key_text(raw_key)
        if key is None:
            invalid.append(InvalidRow(None, f"null key ({spec.key_column})"))
            continue
        key = destination.canonical_key(spec, key)
        counts[key] = counts.get(key, 0) + 1
        record_id = None
        if spec.record_id_column:
            record_id = key_text(record_ids[i])
            if record_id is None and spec.mode == "update":
                invalid.append(InvalidRow(key, f"null {spec.record_id_column}: no {spec.destination} "
                                               f"record to update (mode update never creates)"))
                continue
        fields: dict = {}
        for m in spec.fields:
            value = columns[m.column][i]
            if value is None and m.nulls == "skip":
                continue
            fields[m.field] = value
        fields.update(spec.constants)
        payload = destination.payload(spec, key, record_id, fields)
        by_key[key] = PlannedRecord(key=key, record_id=record_id, payload=payload,
                                    hash=payload_hash(record_id, payload), operation="")
    duplicates = {key: n for key, n in counts.items() if n > 1}
    for key in duplicates:
        by_key.pop(key, None)
    return by_key, invalid, duplicates


def make_plan(spec: SyncSpec, df: pd.DataFrame, state: dict[str, dict]) -> Plan:
    records, invalid, duplicates = build_records(spec, df)
    to_send: list[PlannedRecord] = []
    dead: list[dict] = []
    unchanged = retrying = changed_prev = never = 0
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
            if owed and ever_synced and st.get("synced_hash") != rec.hash \
                    and guarded_change(spec, st.get("synced_payload"), rec.payload):
                changed_prev += 1
        if not owed:
            unchanged += 1
            continue
        if (status == FAILED and st.get("attempt_hash") == rec.hash
                and int(st.get("failures") or 0) >= spec.dead_letter_after):
            dead.append({"key": key, "failures": int(st["failures"]), "error_code": st.get("error_code"),
                         "error_message": (st.get("error_message") or "")[:300]})
            continue
        rec.retry = status in (FAILED, IN_FLIGHT)
        retrying += rec.retry
        never += not ever_synced
        rec.previous = st.get("synced_payload") if st else None
        to_send.append(rec)
    previously_synced = sum(1 for st in state.values() if st.get("synced_hash"))
    return Plan(source_rows=len(df), records=to_send, unchanged=unchanged, invalid=invalid,
                previously_synced=previously_synced, changed_previously_synced=changed_prev,
                retrying=retrying, state=state, duplicate_keys=duplicates, never_synced=never,
                dead_letter=dead)


def guarded_change(spec: SyncSpec, before: Mapping | None, after: Mapping) -> bool:
    """Whether a change to a synced record counts toward max_change_share:
    any change, unless the sync names the fields that count (`change_fields`)."""
    if spec.change_fields is None or before is None:
        return True
    return any(canonical_json(before.get(f)) != canonical_json(after.get(f)) for f in spec.change_fields)


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
        new_share = plan.never_synced / previous_rows
        if new_share > spec.max_new_share:
            reasons.append(
                f"the plan would write {plan.never_synced} records never synced before, against "
                f"{previous_rows} model rows at the last sync ({new_share:.0%}, above max_new_share "
                f"{spec.max_new_share:.0%}; did the key format change?)")
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
    lease: SyncLease | None = None,
) -> SyncOutcome:
    """Run one sync; returns what happened or raises SyncAborted / SyncFailed.
    `lease`: how runs of the sync exclude each other (default: a `SyncLease` with
    its default timeouts; dry runs write nothing and take none)."""
    log = log or logging.getLogger("cs_platform.activation")
    started, t0 = utcnow(), time.monotonic()
    out = SyncOutcome(sync=spec.name, destination=spec.destination, run_id=run_id, dry_run=dry_run)
    store = SyncStore(warehouse, spec.name)
    if not dry_run:
        lease = lease or SyncLease(store, run_id)
        lease.acquire()
        if lease.waited_for:
            log.info("sync '%s': waited for run %s of the same sync to finish", spec.name, lease.waited_for)
    destination: Destination | None = None

    def dest() -> Destination:  # connect (and log in) only when there is something to do
        nonlocal destination
        if destination is None:
            destination = destination_factory()
            if lease is not None:
                destination.heartbeat = lease.heartbeat
        return destination

    try:
        df = read_source(warehouse, table, spec)
        state = store.load_state()
        in_flight = [k for k, st in state.items() if st.get("status") == IN_FLIGHT]
        if in_flight and not dry_run:
            out.reconciled = _reconcile(spec, store, state, in_flight, dest(), run_id, log)

        plan = make_plan(spec, df, state)
        _describe_plan(out, plan)
        out.previous_source_rows = store.last_source_rows()
        if plan.duplicate_keys:
            keys = sorted(plan.duplicate_keys)
            out.duplicate_keys = keys
            out.outcome = "aborted"
            out.guard_decision = "aborted: duplicate keys"
            out.message = (f"sync '{spec.name}' refused to send: {len(keys)} key(s) of {spec.key_column} are "
                           f"shared by several model rows, so which row the CRM should hold is unknown: "
                           + ", ".join(f"{k} ({plan.duplicate_keys[k]} rows)" for k in keys[:SAMPLE_KEYS])
                           + (f" and {len(keys) - SAMPLE_KEYS} more" if len(keys) > SAMPLE_KEYS else "")
                           + f". Nothing was sent. Fix model {spec.model!r} so that {spec.key_column} is unique.")
            raise SyncAborted(out.message, out)

        if not dry_run and spec.mode in ("create_once", "insert") and plan.never_synced:
            out.adopted = _adopt_existing(spec, store, plan, dest(), run_id, log)
            _describe_plan(out, plan)

        refusal = evaluate_guards(spec, plan, out.previous_source_rows)
        if refusal and override_guards:
            out.guard_decision = f"overridden (override_guards): {refusal}"
            log.warning("sync '%s': guards overridden for this run: %s", spec.name, refusal)
        elif refusal:
            out.guard_decision = f"aborted: {refusal}"
        else:
            out.guard_decision = "passed"

        if plan.records or dry_run:
            from cs_platform.activation.preflight import ERROR, preflight

            problems = preflight(spec, dest(), warehouse.column_types(table))
            out.preflight = [str(p) for p in problems if p.severity == ERROR]
            for p in problems:
                if p.severity != ERROR:
                    log.warning("sync '%s' preflight: %s", spec.name, p)

        if dry_run:
            out.outcome = "dry_run"
            out.message = ("dry run: nothing sent"
                           + (f"; a real run would abort: {refusal}" if refusal and not override_guards else "")
                           + (f"; preflight failed: {' | '.join(out.preflight)}" if out.preflight else ""))
            return out

        if plan.invalid:
            store.write_log({"run_id": run_id, "record_key": r.key, "outcome": "invalid",
                             "error_code": "INVALID_ROW", "error_message": r.reason,
                             "logged_at": utcnow()} for r in plan.invalid)
        if out.preflight:
            out.outcome = "aborted"
            out.deferred = out.planned
            out.message = (f"sync '{spec.name}' does not fit {spec.destination} {spec.object}; nothing was "
                           f"sent: " + " | ".join(out.preflight))
            raise SyncAborted(out.message, out)
        if refusal and not override_guards:
            out.outcome = "aborted"
            out.deferred = out.planned
            out.message = (f"sync '{spec.name}' refused to send {out.planned} records: {refusal}. "
                           f"Nothing was sent. If the change is intended, run it once with run config "
                           f"override_guards: true.")
            raise SyncAborted(out.message, out)

        if plan.records:
            _send(spec, store, plan, dest(), out, run_id, log, lease)
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
            try:
                lease.release()
            except Exception:  # the lease expires on its own
                log.exception("sync '%s': could not release the lease", spec.name)


def _describe_plan(out: SyncOutcome, plan: Plan) -> None:
    out.source_rows = plan.source_rows
    out.planned = len(plan.records)
    out.planned_creates, out.planned_updates = plan.creates, plan.updates
    out.retrying = plan.retrying
    out.unchanged = plan.unchanged
    out.invalid = len(plan.invalid)
    out.previously_synced = plan.previously_synced
    out.changed_previously_synced = plan.changed_previously_synced
    out.never_synced = plan.never_synced
    out.dead_letter = len(plan.dead_letter)
    out.dead_letter_sample = plan.dead_letter[:SAMPLE_FAILURES]
    out.changes_sample = change_sample(plan.records)
    out.invalid_sample = [{"key": r.key, "reason": r.reason} for r in plan.invalid[:SAMPLE_CHANGES]]


def _adopt_existing(spec: SyncSpec, store: SyncStore, plan: Plan, destination: Destination,
                    run_id: str, log) -> int:
    """Create-only records never synced that the CRM already holds (a renamed sync,
    a lost state table, a run whose answer was lost): marked synced, not sent, so
    a CSM's edits to them stay."""
    candidates = [r for r in plan.records if not (plan.state.get(r.key) or {}).get("synced_hash")]
    found = destination.reconcile(candidates)
    if not found:
        return 0
    now = utcnow()
    rows, logs = [], []
    for rec in candidates:
        if rec.key not in found:
            continue
        st = dict(plan.state.get(rec.key) or {"record_key": rec.key})
        _mark_synced(st, rec, now, found[rec.key])
        st.update(last_run_id=run_id, updated_at=now)
        plan.state[rec.key] = st
        rows.append(st)
        logs.append({"run_id": run_id, "record_key": rec.key, "operation": rec.operation, "outcome": "adopted",
                     "destination_id": found[rec.key], "payload_hash": rec.hash, "logged_at": now,
                     "error_message": f"already in {spec.destination}: adopted, not created again"})
    store.write_log(logs)
    store.write_state(rows)
    plan.records = [r for r in plan.records if r.key not in found]
    plan.never_synced -= len(rows)
    plan.retrying = sum(r.retry for r in plan.records)
    log.info("sync '%s': %d record(s) to create already exist in %s (by %s); adopted, not sent",
             spec.name, len(rows), spec.destination, spec.key_field)
    return len(rows)


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
        if not destination.idempotent:
            raise  # a create sent again without knowing would duplicate it: stop instead
        log.warning("sync '%s': could not check %d interrupted records in %s (%s); they will be resent",
                    spec.name, len(records), spec.destination, exc)
        found = {}
    now = utcnow()
    rows, logs = [], []
    for rec in records:
        st = dict(state[rec.key])
        if rec.key in found:
            _mark_synced(st, rec, now, found[rec.key])
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


def _mark_synced(st: dict, rec: PlannedRecord, now, destination_id: str | None) -> None:
    """The record's state once the destination holds `rec`: what was written, and
    no attempt left to recover."""
    st.update(status=SYNCED, synced_hash=rec.hash, synced_payload=rec.payload, synced_at=now,
              destination_id=destination_id or st.get("destination_id"), attempt_payload=None,
              error_code=None, error_message=None, failures=0)


def _intent_rows(records: Sequence[PlannedRecord], state, run_id: str) -> list[dict]:
    now = utcnow()
    rows = []
    for rec in records:
        st = dict(state.get(rec.key) or {"record_key": rec.key, "failures": 0})
        st.update(status=IN_FLIGHT, attempt_hash=rec.hash,
                  attempt_payload={"record_id": rec.record_id, "fields": rec.payload},
                  attempt_operation=rec.operation, last_run_id=run_id, updated_at=now)
        state[rec.key] = st
        rows.append(st)
    return rows


def checkpoint_groups(batches: Sequence[Batch], records_per_group: int) -> list[list[Batch]]:
    """Consecutive batches holding up to `records_per_group` records (at least one batch each)."""
    groups: list[list[Batch]] = []
    size = 0
    for batch in batches:
        if not groups or size + len(batch.records) > records_per_group:
            groups.append([])
            size = 0
        groups[-1].append(batch)
        size += len(batch.records)
    return groups


@dataclass
class Delivery:
    """What became of one batch: per-record results, or the whole call's error."""

    batch: Batch
    results: dict[str, RecordResult]
    error: Exception | None = None  # a whole call failed (not for one of its records)
    split_calls: int = 0


def deliver(destination: Destination, batch: Batch) -> Delivery:
    """Send one batch. When the API refuses the whole call because of something in
    its records (`Destination.record_level`), split it in halves until the bad
    records stand alone, send the rest, and mark the bad ones failed with the
    API's error. At most ~4 log2(n) extra calls per batch (one bad record costs
    2 log2(n)); past that, what is still refused is marked failed as a whole."""
    budget = [4 * max(1, len(batch.records)).bit_length()]
    out = Delivery(batch, {})

    def send(records: list[PlannedRecord]) -> None:
        try:
            out.results.update(destination.send(Batch(batch.api, records, batch.calls_estimate)))
            return
        except Exception as exc:  # noqa: BLE001 - the whole call failed (after the session's retries)
            error = exc
        if isinstance(error, ApiBudgetExhausted) or not destination.record_level(error):
            out.results.update(getattr(error, "results", None) or {})  # what a failed job did process
            out.error = out.error or error  # its records get the whole call's result (`_whole_call_result`)
            return
        if len(records) == 1 or budget[0] < 2:
            out.results.update({r.key: RecordResult(False, error_code=destination.error_code(error),
                                                    error_message=str(error)[:1000]) for r in records})
            return
        budget[0] -= 2
        out.split_calls += 2
        mid = len(records) // 2
        send(records[:mid])
        send(records[mid:])

    send(batch.records)
    return out


def _send(spec: SyncSpec, store: SyncStore, plan: Plan, destination: Destination, out: SyncOutcome,
          run_id: str, log, lease: SyncLease | None) -> None:
    state = plan.state
    groups = checkpoint_groups(destination.batches(plan.records), spec.checkpoint_records)
    answers: list[dict] = []  # state rows of the last group, written with the next group's intent
    logs: list[dict] = []
    pool = ThreadPoolExecutor(destination.concurrency) if destination.concurrency > 1 else None
    writer = ThreadPoolExecutor(1)
    try:
        for g, group in enumerate(groups):
            pending = sum(len(b.records) for grp in groups[g:] for b in grp)
            stop = destination.budget_stop(sum(b.calls_estimate for b in group))
            if stop is not None:
                _checkpoint(store, logs, answers)
                _stopped_for_budget(spec, out, stop, pending, log)
                return
            # The group's intent (with the previous group's answers) is written while the
            # destination prepares its calls; it is durable before any call that applies
            # a record goes out (`Destination.ready`): a Bulk job is created and uploaded
            # meanwhile, and closed (which applies it) only after.
            intent = writer.submit(_checkpoint, store, logs,
                                   answers + _intent_rows([r for b in group for r in b.records], state, run_id))
            destination.ready = intent.result
            if lease is not None:
                lease.heartbeat()
            if pool is not None:
                deliveries = list(pool.map(lambda b: deliver(destination, b), group))
            else:
                deliveries = [deliver(destination, b) for b in group]
            intent.result()  # a failed checkpoint stops the run here (nothing was applied without it)
            answers, logs = [], []
            errors: list[tuple[Batch, Exception]] = []
            first_batch = sum(len(grp) for grp in groups[:g]) + 1
            for b_index, d in enumerate(deliveries, start=first_batch):
                out.batches[d.batch.api] = out.batches.get(d.batch.api, 0) + 1
                out.split_calls += d.split_calls
                if d.error is not None:
                    errors.append((d.batch, d.error))
                refused = isinstance(d.error, ApiBudgetExhausted)
                for rec in d.batch.records:
                    res = d.results.get(rec.key) or _whole_call_result(spec, destination, d.error)
                    row, entry = _record_outcome(spec, state[rec.key], rec, res, out, run_id, b_index,
                                                 d.batch.api, refused)
                    answers.append(row)
                    logs.append(entry)
                if not refused:
                    out.sent += len(d.batch.records)
            rest = sum(len(b.records) for grp in groups[g + 1:] for b in grp)
            budget_error = next((e for _, e in errors if isinstance(e, ApiBudgetExhausted)), None)
            if budget_error is not None:
                _checkpoint(store, logs, answers)
                refused_records = sum(len(b.records) for b, e in errors if isinstance(e, ApiBudgetExhausted))
                _stopped_for_budget(spec, out, budget_error, rest + refused_records, log)
                return
            if errors:
                _checkpoint(store, logs, answers)
                batch, error = errors[0]
                out.deferred = rest
                out.outcome = "error"
                out.message = (f"sync '{spec.name}': a {batch.api} call for {len(batch.records)} records failed: "
                               f"{type(error).__name__}: {str(error)[:500]}. Those records are marked "
                               + ("in flight (checked in the CRM before any resend)" if not destination.idempotent
                                  else "failed")
                               + f" and {rest} were not sent; the next run retries them.")
                raise SyncFailed(out.message, out)
        _checkpoint(store, logs, answers)
    finally:
        writer.shutdown(wait=True)
        if pool is not None:
            pool.shutdown(wait=True)


def _whole_call_result(spec: SyncSpec, destination: Destination, error: Exception | None) -> RecordResult:
    if error is None:
        return RecordResult(False, error_code="NO_RESULT",
                            error_message=f"{spec.destination} returned no result for this record")
    if not destination.idempotent and not isinstance(error, ApiBudgetExhausted):
        # A create whose answer never came may have been applied: ask before resending.
        return RecordResult(False, unknown=True, error_code=destination.error_code(error),
                            error_message=str(error)[:1000])
    return RecordResult(False, transient=True, error_code=destination.error_code(error),
                        error_message=str(error)[:1000])


def _record_outcome(spec, st: dict, rec: PlannedRecord, res: RecordResult, out: SyncOutcome, run_id: str,
                    batch_no: int, api: str, refused: bool) -> tuple[dict, dict]:
    """Apply one record's result to its state row and the run's counts; the log entry."""
    now = utcnow()
    created = None
    if res.success:
        created = res.created if res.created is not None else rec.operation == "create"
        out.succeeded += 1
        out.created += created
        out.updated += not created
        _mark_synced(st, rec, now, res.destination_id)
        outcome = "success"
    elif res.unknown:
        st.update(status=IN_FLIGHT, error_code=res.error_code, error_message=res.error_message)
        outcome = "unknown"
    else:
        failures = int(st.get("failures") or 0) + (0 if res.transient else 1)
        st.update(status=FAILED, error_code=res.error_code, error_message=res.error_message, failures=failures)
        outcome = "failed"
        if not refused:
            out.failed += 1
            if len(out.failed_sample) < SAMPLE_FAILURES:
                out.failed_sample.append({"key": rec.key, "error_code": res.error_code,
                                          "error_message": (res.error_message or "")[:300]})
    st.update(updated_at=now, last_run_id=run_id)
    entry = {"run_id": run_id, "batch": batch_no, "api": api, "record_key": rec.key,
             "operation": rec.operation, "outcome": "deferred" if refused else outcome, "created": created,
             "destination_id": res.destination_id, "error_code": res.error_code,
             "error_message": res.error_message, "payload_hash": rec.hash, "logged_at": now}
    return st, entry


def _checkpoint(store: SyncStore, logs: list[dict], rows: list[dict]) -> None:
    store.checkpoint(logs, rows)


def _stopped_for_budget(spec: SyncSpec, out: SyncOutcome, reason, deferred: int, log) -> None:
    out.deferred = deferred
    out.outcome = "stopped_api_budget"
    out.message = (f"stopped before exhausting the {spec.destination} API budget: {reason}. "
                   f"{deferred} records were not sent; the next run sends them.")
    log.warning("sync '%s': %s", spec.name, out.message)
