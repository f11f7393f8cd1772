"""What the engine remembers between runs, kept in the warehouse (schema `activation`).

- `sync_state`: one row per sync and record key: the hash and payload last written
  successfully, the destination record ID, and the record's status:
  `synced`, `failed` (retried every run until it succeeds) or `in_flight` (a batch
  was sent and its answer never recorded: the process died; the next run asks the
  destination before sending it again).
- `sync_log`: one row per record per attempt (and per invalid row): the outcome,
  created or updated, destination ID, error code and message. Append-only.
- `sync_runs`: one row per run: counts, API calls, guard decision, and the source's
  row count, which the shrink guard compares against.
- `sync_leases`: at most one live row per sync: the run that holds it. Runs of one
  sync are mutually exclusive (a sensor, a schedule and a manual launch can start
  them together, and production runs several at once): see `SyncLease`.

Everything goes through the `Warehouse` resource, so production keeps this in
BigQuery; each write is one transaction and no connection is held between writes.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone

import pandas as pd

from cs_platform.resources.warehouse import Warehouse, Write
from cs_platform.values import plain

SCHEMA = "activation"
STATE_TABLE = f"{SCHEMA}.sync_state"
LOG_TABLE = f"{SCHEMA}.sync_log"
RUNS_TABLE = f"{SCHEMA}.sync_runs"
LEASE_TABLE = f"{SCHEMA}.sync_leases"

STATE_COLUMNS = {
    "sync": "string", "record_key": "string", "status": "string",
    "synced_hash": "string", "synced_payload": "json", "synced_at": "timestamp",
    "attempt_hash": "string", "attempt_payload": "json", "attempt_operation": "string",
    "destination_id": "string", "error_code": "string", "error_message": "string",
    "failures": "integer", "last_run_id": "string", "updated_at": "timestamp",
}
LOG_COLUMNS = {
    "sync": "string", "run_id": "string", "batch": "integer", "api": "string",
    "record_key": "string", "operation": "string", "outcome": "string", "created": "boolean",
    "destination_id": "string", "error_code": "string", "error_message": "string",
    "payload_hash": "string", "logged_at": "timestamp",
}
RUN_COLUMNS = {
    "sync": "string", "run_id": "string", "dry_run": "boolean", "outcome": "string",
    "started_at": "timestamp", "finished_at": "timestamp", "source_rows": "integer",
    "planned": "integer", "sent": "integer", "succeeded": "integer", "failed": "integer",
    "unchanged": "integer", "invalid": "integer", "deferred": "integer", "created": "integer",
    "updated": "integer", "reconciled": "integer", "api_calls": "integer",
    "guard_decision": "string", "message": "string",
}

LEASE_COLUMNS = {"sync": "string", "run_id": "string", "holder": "string", "acquired_at": "timestamp",
                 "heartbeat_at": "timestamp"}

SYNCED, FAILED, IN_FLIGHT = "synced", "failed", "in_flight"
# Run outcomes whose source row count is a baseline for the shrink guard.
BASELINE_OUTCOMES = ("completed", "stopped_api_budget")


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class SyncStore:
    """Reads and writes one sync's state, log and run rows."""

    def __init__(self, warehouse: Warehouse, sync: str):
        self.warehouse = warehouse
        self.sync = sync

    # ------------------------------------------------------------------ reads
    def _query_if_exists(self, table: str, sql: str, params) -> pd.DataFrame | None:
        """Run `sql`; None when `table` does not exist yet (asked only after a failure,
        so the usual run opens one connection, not two)."""
        try:
            return self.warehouse.query(sql, params)
        except Exception:
            if self.warehouse.columns(table) is None:
                return None
            raise

    def load_state(self) -> dict[str, dict]:
        df = self._query_if_exists(
            STATE_TABLE, f"select * from {self.warehouse.table_ref(STATE_TABLE)} where sync = ?", [self.sync])
        if df is None:
            return {}
        df = df.astype(object).where(df.notna(), None)  # pandas' missing markers -> None, column-wise
        for col in ("synced_payload", "attempt_payload"):
            df[col] = [json.loads(v) if v else None for v in df[col]]
        return {rec["record_key"]: rec for rec in df.to_dict("records")}

    def last_source_rows(self) -> int | None:
        """Source rows at the last run that got past the guards and sent (the shrink baseline)."""
        outcomes = ", ".join(f"'{o}'" for o in BASELINE_OUTCOMES)
        df = self._query_if_exists(
            RUNS_TABLE, f"select source_rows from {self.warehouse.table_ref(RUNS_TABLE)} "
                        f"where sync = ? and not dry_run and outcome in ({outcomes}) "
                        f"order by started_at desc limit 1", [self.sync])
        if df is None or df.empty or pd.isna(df.iat[0, 0]):
            return None
        return int(df.iat[0, 0])

    # ------------------------------------------------------------------ writes
    def _state_write(self, rows: Iterable[Mapping]) -> Write | None:
        records = []
        for row in rows:
            rec = {c: row.get(c) for c in STATE_COLUMNS}
            rec["sync"] = self.sync
            for col in ("synced_payload", "attempt_payload"):
                if rec[col] is not None and not isinstance(rec[col], str):
                    rec[col] = canonical_json(rec[col])
            records.append(rec)
        if not records:
            return None
        return Write(STATE_TABLE, pd.DataFrame.from_records(records, columns=list(STATE_COLUMNS)), STATE_COLUMNS,
                     key_columns=("sync", "record_key"))

    def _log_write(self, rows: Iterable[Mapping]) -> Write | None:
        records = [{**{c: row.get(c) for c in LOG_COLUMNS}, "sync": self.sync} for row in rows]
        if not records:
            return None
        return Write(LOG_TABLE, pd.DataFrame.from_records(records, columns=list(LOG_COLUMNS)), LOG_COLUMNS)

    def write_state(self, rows: Iterable[Mapping]) -> None:
        self.checkpoint((), rows)

    def write_log(self, rows: Iterable[Mapping]) -> None:
        self.checkpoint(rows, ())

    def checkpoint(self, logs: Iterable[Mapping], rows: Iterable[Mapping]) -> None:
        """Log entries and state rows, written together (one transaction on DuckDB)."""
        writes = [w for w in (self._log_write(logs), self._state_write(rows)) if w is not None]
        if writes:
            self.warehouse.write_many(writes)

    def write_run(self, row: Mapping) -> None:
        rec = {**{c: row.get(c) for c in RUN_COLUMNS}, "sync": self.sync}
        self.warehouse.write(RUNS_TABLE, pd.DataFrame.from_records([rec], columns=list(RUN_COLUMNS)),
                             RUN_COLUMNS, key_columns=("sync", "run_id"))


class LeaseHeld(RuntimeError):
    """Another run of the sync holds the lease and did not let go in time."""


class SyncLease:
    """Mutual exclusion between runs of one sync, kept in the warehouse next to the
    state it protects, so it holds across processes, hosts and Dagster instances.

    Acquire: drop the sync's expired row, then insert ours only if the sync has
    none (`Warehouse.insert_if_absent`: one atomic statement, so two runs can never
    both hold it). A run that finds it held waits, polling, up to `wait_seconds`.
    The holder heartbeats at every checkpoint; a row whose heartbeat is older than
    `ttl_seconds` is expired. A holder known to be dead (its process on this host is
    gone, or `finished(run_id)` says its Dagster run ended) is taken over at once,
    so a killed run never blocks the next."""

    def __init__(self, store: "SyncStore", run_id: str, *, ttl_seconds: float = 600.0,
                 wait_seconds: float = 300.0, finished: Callable[[str], bool] | None = None):
        self.store, self.run_id = store, run_id
        self.ttl, self.wait = ttl_seconds, wait_seconds
        self.finished = finished
        self.holder = f"{socket.gethostname()}:{os.getpid()}"
        self._beat = 0.0
        self.waited_for: str | None = None  # the run this one waited for, if any

    @property
    def _table(self) -> str:
        return self.store.warehouse.table_ref(LEASE_TABLE)

    def _current(self) -> dict | None:
        df = self.store.warehouse.query(f"select * from {self._table} where sync = ?", [self.store.sync])
        rows = [{k: plain(v) for k, v in row.items()} for row in df.to_dict("records")]
        return rows[0] if rows else None

    def _delete(self, run_id: str) -> None:
        self.store.warehouse.execute(f"delete from {self._table} where sync = ? and run_id = ?",
                                     [self.store.sync, run_id])

    def _dead(self, row: dict) -> bool:
        host, _, pid = str(row.get("holder") or "").rpartition(":")
        if host == socket.gethostname() and pid.isdigit() and int(pid) != os.getpid():
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                pass
        return bool(self.finished and row.get("run_id") and self.finished(row["run_id"]))

    def acquire(self) -> None:
        warehouse, sync = self.store.warehouse, self.store.sync
        deadline = time.monotonic() + self.wait
        pause = 0.2
        while True:
            now = utcnow()
            row = {"sync": sync, "run_id": self.run_id, "holder": self.holder, "acquired_at": now,
                   "heartbeat_at": now}
            if warehouse.insert_if_absent(LEASE_TABLE, row, LEASE_COLUMNS, ("sync",)):
                self._beat = time.monotonic()
                return
            holder = self._current()
            if holder is None:
                continue  # released in between
            if holder["run_id"] == self.run_id:
                return  # already ours (a retried step of the same run)
            stale = holder["heartbeat_at"] is None or holder["heartbeat_at"] < now - timedelta(seconds=self.ttl)
            if stale or self._dead(holder):
                self._delete(holder["run_id"])
                continue
            self.waited_for = holder["run_id"]
            if time.monotonic() > deadline:
                raise LeaseHeld(
                    f"sync '{sync}' is being run by run {holder['run_id']} ({holder['holder']}, since "
                    f"{holder['acquired_at']}); this run waited {self.wait:.0f} s and sent nothing. Runs of one "
                    f"sync never overlap; if that run is dead, its lease expires {self.ttl:.0f} s after its "
                    f"last heartbeat ({holder['heartbeat_at']}).")
            time.sleep(pause)
            pause = min(pause * 1.5, 5.0)

    def heartbeat(self) -> None:
        if time.monotonic() - self._beat < min(30.0, self.ttl / 10):
            return
        self._beat = time.monotonic()
        self.store.warehouse.execute(f"update {self._table} set heartbeat_at = ? where sync = ? and run_id = ?",
                                     [utcnow(), self.store.sync, self.run_id])

    def release(self) -> None:
        self._delete(self.run_id)


def canonical_json(value) -> str:
    """The one serialisation the payload hash is computed over: sorted keys, no spaces."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
