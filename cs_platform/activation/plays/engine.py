"""The play engine: segment members -> entries and exits -> firings -> delivery.

One run of a play:

1. **Members**: the accounts in the play's segment now (`account_segments`, the
   segment key and the play's `where`), against the members the play recorded on
   its last run (`plays.play_members`). An account is *entered* when it is in the
   segment now and was not last time; *exited* the other way round.
2. **Decide** per entered account, each decision a row of `plays.play_firings`:
   `baseline` (first run of a play with `first_run: baseline`: the accounts already
   in the segment, acted on by nobody: the comparison group of `play_outcomes`),
   `suppressed_cooldown` (the play fired for the account within `cooldown_days`),
   `suppressed_open_task` (a task play whose last Task for the account is still
   open: in the platform's records and in Salesforce as last loaded), else
   `pending`. Exits are recorded when the play reports them or undoes something
   on exit (closes its Task, resets its HubSpot property).
3. **Guard**: more pending firings than `max_firings_per_run` refuses the run
   (nothing written), naming the counts; `override_guards` lets one through.
4. **Record** the decisions, the new member list and the play's outbox (its Tasks,
   its HubSpot values) in one `write_many`, *before* anything is sent: a firing is
   never lost. Its id is a hash of play, account, event and day, and ids already
   recorded are never written again: a rerun fires nothing new.
5. **Deliver** every firing of the play not yet sent (this run's and earlier runs'
   failures, up to `max_attempts` runs): Slack messages (one per account, or one
   digest per recipient), Salesforce Tasks and HubSpot properties through the
   reverse-ETL engine (`run_sync`: diff, guards, per-record results, create-once
   on the Task's external ID). Each firing ends `sent` (with its Slack ts or Task
   key), `failed` (with the error; retried next run) or `in_flight`.

Delivery is at least once across a crash: firings are marked `in_flight` before
their Slack message goes and `sent` after, a group at a time; a process killed in
between leaves them `in_flight`, and the next run sends them again (Slack's API has
no idempotency key to ask with). Tasks and HubSpot writes have the sync engine's
guarantee instead: exactly once (a lost answer is looked up in the CRM by key).

A dry run stops after step 3 and returns what would be sent.
"""

from __future__ import annotations

import hashlib
import logging
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pandas as pd

from cs_platform.activation.engine import SyncAborted, SyncFailed, run_sync
from cs_platform.activation.plays import messages
from cs_platform.activation.plays.component import Play
from cs_platform.activation.spec import FieldMapping, SyncSpec
from cs_platform.activation.state import FAILED, IN_FLIGHT, SYNCED, SyncStore, utcnow
from cs_platform.resources.warehouse import Warehouse, Write
from cs_platform.values import is_missing

SCHEMA = "plays"
MEMBERS_TABLE = f"{SCHEMA}.play_members"
FIRINGS_TABLE = f"{SCHEMA}.play_firings"
RUNS_TABLE = f"{SCHEMA}.play_runs"
TASKS_TABLE = f"{SCHEMA}.play_tasks"
ACTIONS_TABLE = f"{SCHEMA}.play_actions"
RAW_TASKS_TABLE = "raw_salesforce.task"

FIRING_COLUMNS = {
    "firing_id": "string", "play": "string", "level": "string", "segment_key": "string",
    "account_id": "string", "event": "string", "status": "string", "event_date": "date",
    "detected_at": "timestamp", "sent_at": "timestamp", "attempts": "integer", "recipient": "string",
    "message": "string", "destination_ref": "string", "error": "string", "run_id": "string",
}
# The name is kept so that messages and Task notes about an account that left can still name it.
MEMBER_COLUMNS = {"play": "string", "account_id": "string", "account_name": "string", "entered_on": "date",
                  "detail": "string", "updated_at": "timestamp"}
RUN_COLUMNS = {
    "play": "string", "run_id": "string", "as_of_date": "date", "started_at": "timestamp",
    "finished_at": "timestamp", "outcome": "string", "members": "integer", "entered": "integer",
    "exited": "integer", "baseline": "integer", "suppressed": "integer", "fired": "integer",
    "sent": "integer", "failed": "integer", "message": "string",
}
TASK_COLUMNS = {
    "task_key": "string", "play": "string", "firing_id": "string", "account_id": "string",
    "salesforce_account_id": "string", "owner_id": "string", "subject": "string", "description": "string",
    "due_date": "date", "priority": "string", "status": "string", "opened_on": "date", "closed_on": "date",
    "salesforce_task_id": "string", "close_status": "string", "exit_note": "string",
}
ACTION_COLUMNS = {"play": "string", "account_id": "string", "value": "string", "firing_id": "string",
                  "updated_at": "timestamp"}

PENDING, SENT, BASELINE, SUPERSEDED = "pending", "sent", "baseline", "superseded"
SUPPRESSED_COOLDOWN, SUPPRESSED_OPEN_TASK = "suppressed_cooldown", "suppressed_open_task"
UNSENT = (PENDING, FAILED, IN_FLIGHT)
# Firings that count for the cooldown: the play acted, or is about to.
ACTED = (SENT, *UNSENT)
SALESFORCE_CLOSED_STATUSES = ("Completed",)  # the org's closed Task statuses (standard picklist)
SLACK_CHECKPOINT = 20  # Slack messages between two writes of the firings' status


class PlayRefused(RuntimeError):
    def __init__(self, message: str, outcome: PlayOutcome):
        super().__init__(message)
        self.outcome = outcome


@dataclass
class PlayOutcome:
    play: str
    run_id: str
    dry_run: bool = False
    outcome: str = "running"  # completed | baseline | refused | dry_run | failed
    as_of: date | None = None
    members: int = 0
    entered: int = 0
    exited: int = 0
    baseline: int = 0
    suppressed_cooldown: int = 0
    suppressed_open_task: int = 0
    fired: int = 0  # new firings this run
    retried: int = 0  # earlier firings sent again
    sent: int = 0
    failed: int = 0
    given_up: int = 0  # failed max_attempts times: no longer retried
    message: str = ""
    preview: list[dict] = field(default_factory=list)  # what is (or would be) sent
    failures: list[dict] = field(default_factory=list)
    syncs: dict[str, dict] = field(default_factory=dict)


@dataclass
class Channels:
    """What a play sends through: the Slack resource, and a factory of the reverse-ETL
    destination for a sync spec (Salesforce or HubSpot)."""

    slack: object | None = None
    destination_factory: Callable[[SyncSpec], Callable] | None = None


def firing_id(play: str, account_id: str, event: str, day: date) -> str:
    return hashlib.sha256(f"{play}|{account_id}|{event}|{day.isoformat()}".encode()).hexdigest()[:24]


# --------------------------------------------------------------------------- reads

def _query_or_empty(warehouse: Warehouse, table: str, sql: str, params, columns: Mapping[str, str]) -> pd.DataFrame:
    if warehouse.columns(table) is None:
        return pd.DataFrame(columns=list(columns))
    return warehouse.query(sql, params)


def read_segment(warehouse: Warehouse, play: Play, segment_table: str) -> pd.DataFrame:
    sql = f"select * from {warehouse.table_ref(segment_table)} where segment_key = ?"
    if play.where:
        sql += f" and ({play.where})"
    try:
        df = warehouse.query(sql, [play.segment])
    except Exception as exc:
        if warehouse.columns(segment_table) is None:
            raise RuntimeError(f"play '{play.name}': the segment model's table {segment_table} does not exist "
                               f"(has account_segments been materialized?)") from None
        raise RuntimeError(f"play '{play.name}': could not read segment {play.segment!r} from {segment_table}"
                           + (f" with where {play.where!r}" if play.where else "") + f": {exc}") from exc
    duplicated = df["account_id"][df["account_id"].duplicated()].tolist()
    if duplicated:
        raise RuntimeError(f"play '{play.name}': segment {play.segment!r} lists account(s) {duplicated[:10]} "
                           f"more than once in {segment_table}; a segment holds an account once")
    return df.astype(object).where(df.notna(), None)


def data_day(warehouse: Warehouse, segment_table: str, members: Mapping[str, dict]) -> date:
    """The day of the data the segment was computed on (events are dated by it, not by the
    clock): from the members, else from any segment's rows, else today."""
    days = {_day(r.get("as_of_date")) for r in members.values()} - {None}
    if not days:
        days = {_day(warehouse.scalar(f"select max(as_of_date) from {warehouse.table_ref(segment_table)}"))} - {None}
    return max(days) if days else date.today()


def _rows(df: pd.DataFrame) -> list[dict]:
    return df.astype(object).where(df.notna(), None).to_dict("records")


def _day(value) -> date | None:
    if is_missing(value):
        return None
    return pd.Timestamp(value).date()


class PlayStore:
    """One play's members, firings, runs and outbox, in schema `plays`."""

    def __init__(self, warehouse: Warehouse, play: str):
        self.warehouse, self.play = warehouse, play

    def _select(self, table: str, columns: Mapping[str, str], where: str = "play = ?") -> pd.DataFrame:
        ref = self.warehouse.table_ref(table)
        return _query_or_empty(self.warehouse, table, f"select * from {ref} where {where}", [self.play], columns)

    def members(self) -> dict[str, dict]:
        return {r["account_id"]: r for r in _rows(self._select(MEMBERS_TABLE, MEMBER_COLUMNS))}

    def firings(self) -> pd.DataFrame:
        return self._select(FIRINGS_TABLE, FIRING_COLUMNS)

    def has_run(self) -> bool:
        runs = self._select(RUNS_TABLE, RUN_COLUMNS, "play = ? and outcome in ('completed', 'baseline')")
        return not runs.empty

    def tasks(self) -> pd.DataFrame:
        return self._select(TASKS_TABLE, TASK_COLUMNS)

    def actions(self) -> dict[str, dict]:
        return {r["account_id"]: r for r in _rows(self._select(ACTIONS_TABLE, ACTION_COLUMNS))}


def write(table: str, rows: Sequence[Mapping], columns: Mapping[str, str], **kwargs) -> Write:
    df = pd.DataFrame.from_records([{c: r.get(c) for c in columns} for r in rows], columns=list(columns))
    return Write(table, df, columns, **kwargs)


# --------------------------------------------------------------------------- templates

class _Fields(dict):
    def __missing__(self, key):  # checked against the manifest at load; a gap here is a data gap
        return ""


def _shown(value):
    """A value as a template shows it: a day as 2026-03-02 (DuckDB hands dates to pandas as midnight)."""
    if is_missing(value):
        return ""
    if isinstance(value, (pd.Timestamp, datetime)):
        return value.date().isoformat() if value == pd.Timestamp(value).normalize() else value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def render(template: str, values: Mapping) -> str:
    shown = _Fields({k: _shown(v) for k, v in values.items()})
    return string.Formatter().vformat(template, (), shown)


# --------------------------------------------------------------------------- run

def run_play(play: Play, warehouse: Warehouse, channels: Channels, *, segment_table: str, run_id: str,
             dry_run: bool = False, override_guards: bool = False, log: logging.Logger | None = None,
             salesforce_url: Callable[[str], str] | None = None) -> PlayOutcome:
    log = log or logging.getLogger("cs_platform.plays")
    dry_run = dry_run or not play.enabled
    started = utcnow()
    out = PlayOutcome(play=play.name, run_id=run_id, dry_run=dry_run)
    store = PlayStore(warehouse, play.name)

    current = {r["account_id"]: r for r in _rows(read_segment(warehouse, play, segment_table))}
    out.as_of = data_day(warehouse, segment_table, current)
    previous = store.members()
    firings = store.firings()
    first_run = not store.has_run()
    entered = sorted(set(current) - set(previous))
    exited = sorted(set(previous) - set(current))
    out.members, out.entered, out.exited = len(current), len(entered), len(exited)
    context = {a: {**row, "play": play.name, "play_name": play.name.replace("_", " "),
                   "entered_on": out.as_of.isoformat(),
                   "salesforce_url": (salesforce_url(row["salesforce_account_id"])
                                      if salesforce_url and row.get("salesforce_account_id") else "")}
               for a, row in current.items()}

    known_ids = set(firings["firing_id"]) if not firings.empty else set()
    tasks = store.tasks()
    open_tasks = _open_tasks(warehouse, tasks) if play.level == "task" else {}
    decisions: list[dict] = []
    now = utcnow()

    def decide(account_id: str, event: str, status: str, row: Mapping | None) -> None:
        fid = firing_id(play.name, account_id, event, out.as_of)
        if fid in known_ids:
            return  # decided by an earlier run on the same day's data
        decisions.append({
            "firing_id": fid, "play": play.name, "level": play.level, "segment_key": play.segment,
            "account_id": account_id, "event": event, "status": status, "event_date": out.as_of,
            "detected_at": now, "attempts": 0, "run_id": run_id,
            "recipient": messages.recipient_of(play, row or previous.get(account_id) or {}, event),
            "message": messages.text_for(play, row or {"account_id": account_id, **previous.get(account_id, {})},
                                         event),
            "destination_ref": None, "sent_at": None, "error": None,
        })

    baseline = first_run and play.first_run == "baseline"
    last_acted = _last_acted(firings)
    for account_id in entered:
        if baseline:
            status = BASELINE
        elif (last := last_acted.get(account_id)) and (out.as_of - last).days < play.cooldown_days:
            status = SUPPRESSED_COOLDOWN
        elif account_id in open_tasks:
            status = SUPPRESSED_OPEN_TASK
        else:
            status = PENDING
        decide(account_id, "entered", status, context[account_id])
    if not baseline and _acts_on_exit(play):
        for account_id in exited:
            if play.level == "alert" or account_id in last_acted:
                decide(account_id, "exited", PENDING, None)
    counts = pd.Series([d["status"] for d in decisions], dtype=object).value_counts()
    out.baseline = int(counts.get(BASELINE, 0))
    out.suppressed_cooldown = int(counts.get(SUPPRESSED_COOLDOWN, 0))
    out.suppressed_open_task = int(counts.get(SUPPRESSED_OPEN_TASK, 0))
    new_pending = [d for d in decisions if d["status"] == PENDING]
    out.fired = len(new_pending)
    out.preview = [{"account_id": d["account_id"], "event": d["event"], "recipient": d["recipient"],
                    "message": d["message"]} for d in new_pending[:50]]

    # A first run told to backfill acts on every member by design (its dry run shows how many).
    if out.fired > play.max_firings_per_run and not override_guards and not (first_run and not baseline):
        out.outcome = "refused"
        out.message = (f"play '{play.name}' refused: {out.fired} accounts would be acted on in one run "
                       f"(entered {out.entered} of {out.members} in segment {play.segment!r}), above "
                       f"max_firings_per_run {play.max_firings_per_run}. Nothing was sent or recorded. If the "
                       f"segment is right, run once with override_guards: true; a new play starts with "
                       f"first_run: baseline.")
        if not dry_run:
            raise PlayRefused(out.message, out)
    if dry_run:
        out.outcome = "dry_run"
        return out

    # Step 4: decisions, members and outbox together, before anything is sent.
    task_rows, action_rows = _outbox(play, decisions, context, previous, tasks, out.as_of)
    writes = [w for w in (
        write(FIRINGS_TABLE, decisions, FIRING_COLUMNS, key_columns=("firing_id",)) if decisions else None,
        write(MEMBERS_TABLE, [{"play": play.name, "account_id": a, "account_name": row.get("account_name"),
                               "updated_at": now,
                               "entered_on": previous[a]["entered_on"] if a in previous else out.as_of,
                               "detail": row.get("detail")} for a, row in current.items()],
              MEMBER_COLUMNS, replace_where=("play", [play.name])),
        write(TASKS_TABLE, task_rows, TASK_COLUMNS, key_columns=("task_key",)) if task_rows else None,
        write(ACTIONS_TABLE, action_rows, ACTION_COLUMNS, key_columns=("play", "account_id"))
        if action_rows else None,
    ) if w is not None]
    warehouse.write_many(writes)

    # Step 5: deliver what is owed.
    owed = _owed(store.firings(), play, out)
    if owed:
        deliver = {"alert": _deliver_slack, "task": _deliver_tasks, "action": _deliver_actions}[play.level]
        if play.level != "alert":
            exits = [f for f in owed if f["event"] == "exited" and play.report_exits]
            owed = [f for f in owed if f not in exits]
            if exits:
                _deliver_slack(play, warehouse, channels, exits, out, run_id, log)
        if owed:
            deliver(play, warehouse, channels, owed, out, run_id, log)
    out.outcome = "baseline" if baseline else "completed"
    warehouse.write(RUNS_TABLE, pd.DataFrame.from_records([{
        "play": play.name, "run_id": run_id, "as_of_date": out.as_of, "started_at": started,
        "finished_at": utcnow(), "outcome": out.outcome, "members": out.members, "entered": out.entered,
        "exited": out.exited, "baseline": out.baseline,
        "suppressed": out.suppressed_cooldown + out.suppressed_open_task, "fired": out.fired,
        "sent": out.sent, "failed": out.failed, "message": out.message}], columns=list(RUN_COLUMNS)), RUN_COLUMNS)
    log.info("play '%s' on %s: %s in segment, %s entered, %s exited, %s fired, %s sent, %s failed, %s suppressed, "
             "%s baseline", play.name, out.as_of, out.members, out.entered, out.exited, out.fired, out.sent,
             out.failed, out.suppressed_cooldown + out.suppressed_open_task, out.baseline)
    return out


def _acts_on_exit(play: Play) -> bool:
    return (play.report_exits
            or (play.task is not None and play.task.on_exit != "keep")
            or (play.action is not None and play.action.exit_value is not None))


def _last_acted(firings: pd.DataFrame) -> dict[str, date]:
    """Per account, the day of the play's latest firing on entry that it acted on."""
    if firings.empty:
        return {}
    acted = firings[(firings["event"] == "entered") & firings["status"].isin(ACTED)]
    return {a: _day(d) for a, d in acted.groupby("account_id")["event_date"].max().items()}


def _open_tasks(warehouse: Warehouse, tasks: pd.DataFrame) -> dict[str, str]:
    """Account -> key of the play's Task still open: not closed by the platform, and
    not closed (or deleted) in Salesforce as last loaded."""
    if tasks.empty:
        return {}
    open_rows = tasks[tasks["status"] == "open"]
    closed_in_crm: set[str] = set()
    if not open_rows.empty and warehouse.columns(RAW_TASKS_TABLE):
        keys = open_rows["task_key"].tolist()
        marks = ", ".join("?" for _ in keys)
        statuses = ", ".join("?" for _ in SALESFORCE_CLOSED_STATUSES)
        closed = warehouse.query(
            f"select CS_External_Id__c as task_key from {warehouse.table_ref(RAW_TASKS_TABLE)} "
            f"where CS_External_Id__c in ({marks}) and (Status in ({statuses}) or coalesce(IsDeleted, false))",
            [*keys, *SALESFORCE_CLOSED_STATUSES])
        closed_in_crm = set(closed["task_key"])
    return {r["account_id"]: r["task_key"] for r in _rows(open_rows) if r["task_key"] not in closed_in_crm}


def _outbox(play: Play, decisions: Sequence[dict], context: Mapping[str, dict], previous: Mapping[str, dict],
            tasks: pd.DataFrame, as_of: date) -> tuple[list[dict], list[dict]]:
    """The Tasks to create or close and the HubSpot values to set for this run's decisions."""
    task_rows: list[dict] = []
    action_rows: list[dict] = []
    pending = [d for d in decisions if d["status"] == PENDING]
    if play.task is not None:
        open_by_account = {r["account_id"]: r for r in _rows(tasks[tasks["status"] == "open"])} \
            if not tasks.empty else {}
        for d in pending:
            if d["event"] == "entered":
                task_rows.append(_task_row(play, d, context[d["account_id"]], as_of))
                d["destination_ref"] = task_rows[-1]["task_key"]
            elif (task := open_by_account.get(d["account_id"])) is not None and play.task.on_exit != "keep":
                d["destination_ref"] = task["task_key"]
                if play.task.on_exit == "close":
                    task_rows.append({**task, "status": "closing", "closed_on": as_of, "close_status": "Completed"})
                else:  # comment: the Task stays open, so a return to the segment still finds it
                    name = (previous.get(d["account_id"]) or {}).get("account_name") or d["account_id"]
                    task_rows.append({**task, "exit_note": f"{as_of}: {name} left the segment {play.segment!r} "
                                                           f"(play {play.name}); this Task stays open for you."})
    if play.action is not None:
        for d in pending:
            value = play.action.value if d["event"] == "entered" else play.action.exit_value
            action_rows.append({"play": play.name, "account_id": d["account_id"], "value": value,
                                "firing_id": d["firing_id"], "updated_at": d["detected_at"]})
            d["destination_ref"] = f"{play.action.property}={value}"
    return task_rows, action_rows


def _task_row(play: Play, decision: Mapping, row: Mapping, as_of: date) -> dict:
    spec = play.task
    due = as_of + timedelta(days=spec.due_in_days)
    renewal = _day(row.get("renewal_date"))
    if renewal is not None and as_of <= renewal < due:
        due = renewal
    priority = spec.priority
    days = row.get("days_until_renewal")
    within = spec.high_priority_within_days
    if within is not None and not is_missing(days) and 0 <= days < within:
        priority = "High"
    owner = row.get("owner_user_id") if spec.owner == "account_owner" else row.get("owner_lead_user_id")
    return {"task_key": render(spec.key, row)[:255], "play": play.name, "firing_id": decision["firing_id"],
            "account_id": decision["account_id"], "salesforce_account_id": row.get("salesforce_account_id"),
            "owner_id": owner, "subject": render(spec.subject, row)[:255],
            "description": render(spec.description, row)[:32000], "due_date": due, "priority": priority,
            "status": "open", "opened_on": as_of, "closed_on": None, "salesforce_task_id": None,
            "close_status": None, "exit_note": None}


def _owed(firings: pd.DataFrame, play: Play, out: PlayOutcome) -> list[dict]:
    rows = _rows(firings[firings["status"].isin(UNSENT)]) if not firings.empty else []
    owed = []
    for r in rows:
        if int(r.get("attempts") or 0) >= play.max_attempts:
            out.given_up += 1
            continue
        out.retried += r["status"] != PENDING
        owed.append(r)
    return sorted(owed, key=lambda r: (r["event_date"], r["account_id"], r["event"]))


def _finish(warehouse: Warehouse, rows: Sequence[dict]) -> None:
    if rows:
        warehouse.write_many([write(FIRINGS_TABLE, rows, FIRING_COLUMNS, key_columns=("firing_id",))])


def _fail(row: dict, out: PlayOutcome, error: str) -> None:
    row.update(status=FAILED, attempts=int(row.get("attempts") or 0) + 1, error=error[:2000])
    out.failed += 1
    if len(out.failures) < 20:
        out.failures.append({"account_id": row["account_id"], "event": row["event"], "error": row["error"]})


# --------------------------------------------------------------------------- Slack

def _deliver_slack(play: Play, warehouse: Warehouse, channels: Channels, owed: list[dict], out: PlayOutcome,
                   run_id: str, log: logging.Logger) -> None:
    slack = channels.slack
    if slack is None:
        raise RuntimeError(f"play '{play.name}' sends Slack messages, but no Slack resource is configured")
    groups = messages.group(play, owed)
    done: list[dict] = []
    for i, (recipient, rows) in enumerate(groups):
        # In flight before the message goes: a crash from here on re-sends this group (at least once).
        for r in rows:
            r.update(status=IN_FLIGHT, run_id=run_id)
        _finish(warehouse, rows)
        try:
            address, text = messages.address(slack, play, recipient, rows)
            posted = messages.post(slack, address, text)
        except Exception as exc:  # noqa: BLE001 - one recipient's refusal must not stop the others
            error = f"{type(exc).__name__}: {exc}"
            log.warning("play '%s': Slack message to %s failed for %s: %s", play.name, recipient,
                        ", ".join(r["account_id"] for r in rows), error)
            for r in rows:
                _fail(r, out, error)
        else:
            for r in rows:
                r.update(status=SENT, sent_at=utcnow(), attempts=int(r.get("attempts") or 0) + 1,
                         recipient=posted["recipient"], destination_ref=posted.get("ts"), error=None,
                         message=text if len(rows) == 1 else r["message"])
            out.sent += len(rows)
        done.extend(rows)
        if len(done) >= SLACK_CHECKPOINT or i == len(groups) - 1:
            _finish(warehouse, done)
            done = []


# --------------------------------------------------------------------------- through the sync engine

def task_sync_specs(play: Play) -> tuple[SyncSpec, SyncSpec]:
    """The creation (create-once on the external ID) and closing (update by Id) syncs of a task play."""
    relaxed = {"max_change_share": 1.0, "max_shrink_share": 1.0, "max_new_share": 1e9}
    create = SyncSpec(
        name=play.sync_name, description=f"Tasks of play {play.name}", model="account_segments",
        destination="salesforce", object="Task", mode="create_once", key_column="task_key",
        key_field="CS_External_Id__c", table=f"{SCHEMA}.tasks__{play.name}",
        fields=tuple(FieldMapping(c, f, "skip") for c, f in (
            ("salesforce_account_id", "WhatId"), ("owner_id", "OwnerId"), ("subject", "Subject"),
            ("due_date", "ActivityDate"), ("priority", "Priority"), ("description", "Description"))),
        constants={"Status": "Not Started"}, options=_salesforce_options(), **relaxed)
    close = SyncSpec(
        name=f"{play.sync_name}_close", description=f"Tasks play {play.name} closes", model="account_segments",
        destination="salesforce", object="Task", mode="update", key_column="task_key",
        key_field="CS_External_Id__c", record_id_column="salesforce_task_id",
        table=f"{SCHEMA}.task_closures__{play.name}",
        fields=(FieldMapping("close_status", "Status", "skip"),
                FieldMapping("exit_description", "Description", "skip")),
        options=_salesforce_options(), **relaxed)
    return create, close


def action_sync_spec(play: Play) -> SyncSpec:
    return SyncSpec(
        name=play.sync_name, description=f"HubSpot property of play {play.name}", model="account_segments",
        destination="hubspot", object="companies", mode="update", key_column="account_id",
        key_field="product_account_id", table=f"{SCHEMA}.actions__{play.name}",
        fields=(FieldMapping("value", play.action.property, "clear"),), options=_hubspot_options(),
        max_change_share=1.0, max_shrink_share=1.0, max_new_share=1e9)


def play_sync_specs(plays: Sequence[Play]) -> list[SyncSpec]:
    """The reverse-ETL syncs the plays' Tasks and actions go through (for `setup` and its checks)."""
    specs: list[SyncSpec] = []
    for play in plays:
        if play.task is not None:
            specs.extend(task_sync_specs(play))
        elif play.action is not None:
            specs.append(action_sync_spec(play))
    return specs


def _salesforce_options() -> dict:
    from cs_platform.activation.component import SalesforceOptions

    return SalesforceOptions().model_dump()


def _hubspot_options() -> dict:
    from cs_platform.activation.component import HubSpotOptions

    return HubSpotOptions().model_dump()


def _run(spec: SyncSpec, warehouse: Warehouse, channels: Channels, run_id: str, log, out: PlayOutcome) -> dict:
    """Run one of the play's syncs; its per-record state afterwards (key -> state row)."""
    try:
        result = run_sync(spec, warehouse, channels.destination_factory(spec), table=spec.table,
                          run_id=run_id, log=log)
        out.syncs[spec.name] = {"outcome": result.outcome, "sent": result.sent, "succeeded": result.succeeded,
                                "failed": result.failed, "adopted": result.adopted, "api_calls": result.api_calls}
    except (SyncAborted, SyncFailed) as exc:
        out.syncs[spec.name] = {"outcome": exc.outcome.outcome, "message": str(exc)[:500]}
        log.warning("play '%s': sync %s stopped: %s", out.play, spec.name, exc)
    return SyncStore(warehouse, spec.name).load_state()


def _settle(rows: Sequence[dict], state: Mapping[str, dict], out: PlayOutcome,
            key: Callable[[dict], str] = lambda r: r["destination_ref"]) -> None:
    """Each firing's outcome from its record's state in the sync engine."""
    for r in rows:
        st = state.get(key(r))
        if st and st.get("status") == SYNCED:
            r.update(status=SENT, sent_at=st.get("synced_at") or utcnow(), error=None,
                     attempts=int(r.get("attempts") or 0) + 1)
            out.sent += 1
        elif st and st.get("status") == IN_FLIGHT:
            r.update(status=IN_FLIGHT)
        else:
            reason = (f"{st.get('error_code')}: {st.get('error_message')}" if st
                      else "not sent (the sync refused or stopped; see its metadata)")
            _fail(r, out, reason)


def _deliver_tasks(play: Play, warehouse: Warehouse, channels: Channels, owed: list[dict], out: PlayOutcome,
                   run_id: str, log: logging.Logger) -> None:
    create, close = task_sync_specs(play)
    tasks = _rows(PlayStore(warehouse, play.name).tasks())
    missing_owner = {t["task_key"] for t in tasks if t["status"] == "open" and not t.get("owner_id")}
    for r in owed:
        if r["event"] == "entered" and r["destination_ref"] in missing_owner:
            _fail(r, out, f"account {r['account_id']} has no {play.task.owner.replace('_', ' ')} in Salesforce: "
                          f"no Task is created without an owner")
    owed = [r for r in owed if r["status"] != FAILED or r["destination_ref"] not in missing_owner]
    # Tasks the play still owes the CRM: those not closed before they were ever created.
    creatable = [t for t in tasks if t.get("owner_id") and t["status"] in ("open", "closing", "closed")]
    warehouse.write(create.table, pd.DataFrame.from_records(
        [{c: t.get(c) for c in TASK_COLUMNS} for t in creatable], columns=list(TASK_COLUMNS)),
        TASK_COLUMNS, replace_all=True)
    created = _run(create, warehouse, channels, run_id, log, out)
    # Closed Tasks (Status) and commented ones (Description plus the exit note), updated by Id.
    closing = [dict(t, salesforce_task_id=(created.get(t["task_key"]) or {}).get("destination_id"),
                    exit_description=f"{t.get('description') or ''}\n\n{t['exit_note']}".strip()
                    if t.get("exit_note") else None)
               for t in tasks if t["status"] in ("closing", "closed") or t.get("exit_note")]
    closing = [t for t in closing if t["salesforce_task_id"]]
    closed: Mapping[str, dict] = {}
    if closing:
        closure_columns = {**TASK_COLUMNS, "exit_description": "string"}
        warehouse.write(close.table, pd.DataFrame.from_records(
            [{c: t.get(c) for c in closure_columns} for t in closing], columns=list(closure_columns)),
            closure_columns, replace_all=True)
        closed = _run(close, warehouse, channels, run_id, log, out)
    entered = [r for r in owed if r["event"] == "entered" and r["status"] != FAILED]
    exits = [r for r in owed if r["event"] == "exited"]
    _settle(entered, created, out)
    _settle(exits, closed, out)
    done_closing = [dict(t, status="closed") for t in closing
                    if (closed.get(t["task_key"]) or {}).get("status") == SYNCED and t["status"] == "closing"]
    writes = [write(FIRINGS_TABLE, [*entered, *exits, *[r for r in owed if r["status"] == FAILED]],
                    FIRING_COLUMNS, key_columns=("firing_id",))]
    if done_closing:
        writes.append(write(TASKS_TABLE, done_closing, TASK_COLUMNS, key_columns=("task_key",)))
    warehouse.write_many(writes)


def _deliver_actions(play: Play, warehouse: Warehouse, channels: Channels, owed: list[dict], out: PlayOutcome,
                     run_id: str, log: logging.Logger) -> None:
    spec = action_sync_spec(play)
    actions = list(PlayStore(warehouse, play.name).actions().values())
    warehouse.write(spec.table, pd.DataFrame.from_records(
        [{"account_id": a["account_id"], "value": a["value"]} for a in actions], columns=["account_id", "value"]),
        {"account_id": "string", "value": "string"}, replace_all=True)
    state = _run(spec, warehouse, channels, run_id, log, out)
    latest = {a["account_id"]: a["firing_id"] for a in actions}
    superseded = [r for r in owed if latest.get(r["account_id"]) != r["firing_id"]]
    for r in superseded:  # a later firing (the account left, or came back) replaced the value before it went
        r.update(status=SUPERSEDED, error="replaced by a later firing for the account before it was sent")
    current = [r for r in owed if r not in superseded]
    _settle(current, state, out, key=lambda r: str(r["account_id"]))
    _finish(warehouse, [*superseded, *current])
