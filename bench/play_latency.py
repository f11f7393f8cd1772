"""Benchmark: from a raw usage partition landing to the play's Slack alert and Salesforce Task, on the sensor path.

Real processes on the local instance configuration (`dagster.yaml` copied into a
temporary DAGSTER_HOME: SQLite storage, the run queue, the "warehouse" pool of 1):
the project's code location served by `dagster code-server start` (the command of
docker-compose's user_code service), the Dagster daemon (run queue, sensors, the
automation-condition sensors), the sandbox serving a generated customer base
(`python -m devkit.sandbox`, no injected latency or faults) and a DuckDB warehouse.

1. Generates a customer base (`--accounts` x `--days`, ending yesterday) and holds
   back yesterday's rows of the product DB's `feature_usage_daily` (the day "D").
2. Starts the code server, the daemon and a webserver, and runs the first build as
   `make demo` does (devkit.demo.build_everything: the code location's jobs launched
   through the webserver, the export files and the syncs, plays and reports by their
   sensors); the plays' first run records the accounts already in each segment as
   its baseline.
3. Picks `--plant` accounts with a normal, busy usage history that are on the
   renewal list without a risk signal, and plants a sudden drop in their rows of D
   (every feature's users and events at 5%, the generator's drop level).
4. Waits until the automation sensors have ticked twice and nothing runs.
5. Lands D: its rows are written to the product DB. What loads a product-DB usage
   partition is the schedule `product_db_usage_hourly` (:10 every hour; its 00:10
   tick closes the day before): the benchmark launches the runs that tick requests
   at once (`dagster job launch`, through the daemon's run queue, as a tick submits
   them), the usage job for each partition the schedule's own function returns for
   the 00:10 tick after D. From there on nothing is launched by hand: the sensor
   `dbt_after_usage_landed` starts `dbt_build` when D's partition has landed,
   `plays_automation_sensor` starts the plays after `account_segments` updated and
   its blocking checks passed (and `activation_automation_sensor` the syncs).
6. Times, from the event log (run records, run events, sensor ticks) and the
   sandbox's recorded writes, every hop until the first Slack alert and the first
   Salesforce Task for a planted account, and checks that each planted account got
   exactly one anomaly alert.

    .venv/bin/python bench/play_latency.py                     # 300 accounts x 84 days, 3 planted drops
    .venv/bin/python bench/play_latency.py --accounts 100 --keep

The schedule's wait (up to 10 minutes for the usage load) is not slept through; it
is printed beside the measured figures.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import duckdb
import requests
import sqlalchemy as sa
import yaml
from dagster import DagsterEventType, DagsterRunStatus

warnings.filterwarnings("ignore", category=dg.BetaWarning)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent

DROP_LEVEL = 0.05  # the planted day's users and events, as a share of the real ones (devkit stories' level)
MIN_DROP_Z = -3.5  # planted accounts must clear the anomaly model's 3-day z-score bound (-3) with a margin
USAGE_JOB, DBT_JOB = "product_db_usage_job", "dbt_build"
USAGE_KEY = dg.AssetKey(["raw", "product_db", "feature_usage_daily"])
SEGMENTS_KEY = dg.AssetKey(["account_segments"])
ALERT_PLAY, TASK_PLAY = "usage_anomaly_alert", "renewal_risk_task"
PLAYS_SENSOR, SYNCS_SENSOR = "plays_automation_sensor", "activation_automation_sensor"
DBT_SENSOR = "dbt_after_usage_landed"
FINISHED = (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)
BENCH_TAG = {"cs_platform/bench": "play_latency"}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--days", type=int, default=84,
                        help="days of usage history (the anomaly baseline needs 8 same weekdays: at least 64)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--plant", type=int, default=3, help="accounts given a sudden drop on the new day")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for each stage")
    parser.add_argument("--workdir", type=Path, help="default: a temporary folder, removed afterwards")
    parser.add_argument("--keep", action="store_true", help="keep the workdir (instance, warehouse, logs)")
    args = parser.parse_args(argv)
    if args.days < 64:
        parser.error("--days must be at least 64: the anomaly model compares a day with 8 same weekdays before it")
    return args


# ----------------------------------------------------------------------------- processes


@dataclass
class Processes:
    """The processes this benchmark started, each in its own process group, ended by pid."""
    workdir: Path
    started: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str, argv: list[str], env: dict) -> subprocess.Popen:
        log = (self.workdir / f"{name}.log").open("w")
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.started[name] = proc
        return proc

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def stop_all(self) -> None:
        for proc in reversed(list(self.started.values())):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).ok
    except requests.ConnectionError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, condition, timeout: float, procs: Processes, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        for name, proc in procs.started.items():
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited while waiting for {what}:\n{procs.log_tail(name)}")
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}.\n--- daemon log:\n"
                             f"{procs.log_tail('daemon')}")
        time.sleep(interval)
    return value


# ----------------------------------------------------------------------------- the product DB


def product_db_engine(sample: Path) -> sa.Engine:
    return sa.create_engine(f"sqlite:///{(sample / 'product.db').resolve()}")


def hold_back(sample: Path, day: dt.date) -> list[dict]:
    """Remove the day's usage rows from the product DB and return them."""
    engine = product_db_engine(sample)
    try:
        with engine.begin() as conn:
            rows = [dict(r._mapping) for r in conn.execute(
                sa.text("select * from feature_usage_daily where usage_date = :d"), {"d": day.isoformat()})]
            conn.execute(sa.text("delete from feature_usage_daily where usage_date = :d"), {"d": day.isoformat()})
    finally:
        engine.dispose()
    return rows


def land(sample: Path, rows: list[dict]) -> None:
    """The day's rows appear in the product DB, in one transaction."""
    engine = product_db_engine(sample)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("insert into feature_usage_daily (account_id, usage_date, feature_key, "
                                 "active_users, event_count) values (:account_id, :usage_date, :feature_key, "
                                 ":active_users, :event_count)"), rows)
    finally:
        engine.dispose()


def same_weekday_baseline(sample: Path, account_ids: list[str], day: dt.date) -> dict[str, tuple[float, float]]:
    """(mean, sd) of each account's daily active users on the 8 same weekdays before `day`,
    as the anomaly model computes its expectation."""
    days = [(day - dt.timedelta(weeks=w)).isoformat() for w in range(1, 9)]
    engine = product_db_engine(sample)
    out: dict[str, tuple[float, float]] = {}
    try:
        with engine.connect() as conn:
            for account_id in account_ids:
                values = [r[0] for r in conn.execute(
                    sa.text("select active_users from feature_usage_daily where account_id = :a and "
                            "feature_key = 'session' and usage_date in (" + ", ".join(f"'{d}'" for d in days) + ")"),
                    {"a": account_id})]
                values += [0] * (8 - len(values))
                mean = sum(values) / 8
                sd = (sum((v - mean) ** 2 for v in values) / 7) ** 0.5
                out[account_id] = (mean, sd)
    finally:
        engine.dispose()
    return out


def choose_targets(warehouse_path: Path, sample: Path, day: dt.date, count: int) -> list[dict]:
    """Accounts on the renewal list without a risk signal (so the drop puts them into
    renewal_at_risk: a Task) and busy enough that a drop to 5% on one day is a clear
    collapse; none from the generator's planted stories (their usage already moves)."""
    truth = json.loads((sample / "ground_truth.json").read_text())
    storied = {a for v in truth.values() if isinstance(v, list) for a in v}
    with duckdb.connect(str(warehouse_path), read_only=True) as conn:
        candidates = conn.sql("""
            select r.account_id, r.account_name, r.dau_avg_28d, r.renewal_date
            from marts.renewal_list as r
            where not r.has_risk_signal and r.salesforce_account_id is not null and r.owner_user_id is not null
              and r.account_id not in (
                  select account_id from marts.account_segments
                  where segment_key in ('usage_anomaly_last_3d', 'renewal_at_risk', 'renewal_90d_red_health'))
            order by r.dau_avg_28d desc, r.account_id
        """).fetchall()
    candidates = [c for c in candidates if c[0] not in storied]
    baseline = same_weekday_baseline(sample, [c[0] for c in candidates[:count * 4]], day)
    targets = []
    for account_id, name, _dau, renewal in candidates[:count * 4]:
        mean, sd = baseline[account_id]
        spread = max(sd, mean ** 0.5, 1.0)
        if mean >= 1 and (int(mean * DROP_LEVEL) - mean) / spread <= MIN_DROP_Z:
            targets.append({"account_id": account_id, "account_name": name, "expected_dau": round(mean, 1),
                            "renewal_date": str(renewal)})
        if len(targets) == count:
            break
    return targets


def plant_drop(rows: list[dict], account_ids: set[str]) -> int:
    planted = 0
    for row in rows:
        if row["account_id"] in account_ids:
            row["active_users"] = int((row["active_users"] or 0) * DROP_LEVEL)
            row["event_count"] = int((row["event_count"] or 0) * DROP_LEVEL)
            planted += 1
    return planted


# ----------------------------------------------------------------------------- the sandbox's writes


class SandboxWrites:
    """The writes the sandbox recorded, read over its admin API as another process would."""

    def __init__(self, base_url: str):
        self.url = base_url.rstrip("/") + "/__sandbox/writes"
        self.session = requests.Session()
        self.session.trust_env = False

    def since(self, seq: int) -> list[dict]:
        answer = self.session.get(self.url, params={"since": seq}, timeout=30)
        answer.raise_for_status()
        return answer.json()["writes"]

    def last_seq(self) -> int:
        writes = self.since(0)
        return writes[-1]["seq"] if writes else 0


def at(write: dict) -> float:
    return dt.datetime.fromisoformat(write["at"]).timestamp()


def slack_texts(write: dict) -> list[str]:
    return [r.get("text") or "" for r in write.get("records") or [] if isinstance(r, dict)]


def play_title(play: str) -> str:
    return f"*{play.replace('_', ' ')}*"


def alerts_for(writes: list[dict], targets: list[dict]) -> dict[str, list[float]]:
    """Times of the anomaly alerts naming each planted account."""
    from cs_platform.resources.slack import slack_escape

    found: dict[str, list[float]] = {t["account_id"]: [] for t in targets}
    for w in writes:
        if w["api"] != "slack":
            continue
        for text in slack_texts(w):
            if not text.lstrip("_").startswith(play_title(ALERT_PLAY)) and play_title(ALERT_PLAY) not in text:
                continue
            for t in targets:
                if slack_escape(t["account_name"]) in text or t["account_id"] in text:
                    found[t["account_id"]].append(at(w))
    return found


def tasks_for(writes: list[dict], targets: list[dict]) -> dict[str, list[float]]:
    """Times of the Salesforce Task writes whose external id names a planted account."""
    found: dict[str, list[float]] = {t["account_id"]: [] for t in targets}
    for w in writes:
        if w["api"] != "salesforce" or "Task" not in str(w.get("object")):
            continue
        for record in w.get("records") or []:
            key = str((record or {}).get("CS_External_Id__c") or "")
            for t in targets:
                if key.startswith(f"renewal-risk-{t['account_id']}-"):
                    found[t["account_id"]].append(at(w))
    return found


def first_message_per_play(writes: list[dict]) -> dict[str, float]:
    """The first Slack message of each play (by its bold title) among the writes."""
    first: dict[str, float] = {}
    for w in writes:
        if w["api"] != "slack":
            continue
        for text in slack_texts(w):
            line = text.splitlines()[0] if text else ""
            start = line.find("*")
            end = line.find("*", start + 1)
            title = line[start + 1:end] if start >= 0 and end > start else "(untitled)"
            first.setdefault(title, at(w))
    return first


# ----------------------------------------------------------------------------- the event log


@dataclass
class RunTimes:
    run_id: str
    job: str
    status: str
    created: float
    started: float | None
    ended: float | None
    assets: list[str]
    tags: dict
    steps: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    materialized: dict[str, float] = field(default_factory=dict)  # "key[partition]" -> first time
    failure: str | None = None  # the first failed step's error
    submitted: float | None = None  # when the benchmark began submitting it (runs it launched)


def run_times(instance: dg.DagsterInstance, run_id: str) -> RunTimes:
    [record] = instance.get_run_records(dg.RunsFilter(run_ids=[run_id]))
    run = record.dagster_run
    stats = instance.get_run_stats(run_id)
    out = RunTimes(run_id=run_id, job=run.job_name, status=run.status.value,
                   created=record.create_timestamp.timestamp(), started=stats.start_time, ended=stats.end_time,
                   assets=sorted(k.to_user_string() for k in (run.asset_selection or [])), tags=dict(run.tags))
    for entry in instance.all_logs(run_id, of_type={DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS,
                                                    DagsterEventType.STEP_FAILURE,
                                                    DagsterEventType.ASSET_MATERIALIZATION}):
        event = entry.dagster_event
        if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            name = event.asset_key.to_user_string() + (f"[{event.partition}]" if event.partition else "")
            out.materialized.setdefault(name, entry.timestamp)
        elif event.event_type == DagsterEventType.STEP_START:
            out.steps[entry.step_key] = (entry.timestamp, None)
        else:
            out.steps[entry.step_key] = (out.steps.get(entry.step_key, (None, None))[0], entry.timestamp)
            error = event.step_failure_data.error if event.event_type == DagsterEventType.STEP_FAILURE else None
            if error and out.failure is None:
                out.failure = error.message.strip().splitlines()[-1][:400]
    return out


def runs_created_after(instance: dg.DagsterInstance, after: float) -> list[str]:
    records = instance.get_run_records(dg.RunsFilter(created_after=dt.datetime.fromtimestamp(after, dt.timezone.utc)),
                                       ascending=True, order_by="create_timestamp")
    return [r.dagster_run.run_id for r in records]


def unfinished_runs(instance: dg.DagsterInstance) -> list[str]:
    return [r.run_id for r in instance.get_runs(dg.RunsFilter(statuses=[
        DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
        DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]))]


def sensor_ticks(instance: dg.DagsterInstance, name: str, after: float | None = None) -> list:
    ticks = []
    for state in instance.all_instigator_state():
        if state.name == name:
            ticks += instance.get_ticks(state.instigator_origin_id, state.selector_id, after=after)
    return sorted(ticks, key=lambda t: t.timestamp)


# ----------------------------------------------------------------------------- launching as a tick does


def launch(workspace: Path, env: dict, job: str, tags_per_run: list[dict]) -> list[tuple[str, float]]:
    """Submit runs of `job` to the instance's run queue together, as one schedule tick
    submits its run requests (the daemon dequeues each and launches it in the code
    server). Returns each run's id and when its submission began."""
    def submit(tags: dict) -> tuple[str, float]:
        run_id = str(uuid.uuid4())
        started = time.time()
        subprocess.run([str(BIN / "dagster"), "job", "launch", "-w", str(workspace), "-j", job, "--run-id", run_id,
                        "--tags", json.dumps({**BENCH_TAG, **tags})],
                       env=env, cwd=ROOT, check=True, capture_output=True, timeout=300)
        return run_id, started

    with ThreadPoolExecutor(max_workers=len(tags_per_run)) as pool:
        return list(pool.map(submit, tags_per_run))


@contextlib.contextmanager
def output_to(path: Path):
    """Send this process's stdout and stderr (file descriptors, so dbt's output too) to a file."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with path.open("w") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def usage_tick_requests(day: dt.date) -> list[dg.RunRequest]:
    """What product_db_usage_hourly's own function requests at its first tick after `day` closed."""
    from cs_platform.defs.sources.product_db import usage_hourly

    tick = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0, 10), tzinfo=dt.timezone.utc)
    return list(usage_hourly(dg.build_schedule_context(scheduled_execution_time=tick)))


# ----------------------------------------------------------------------------- main


def main(argv=None) -> int:
    args = parse_args(argv)
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="play_latency_"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    data, home = workdir / "data", workdir / "dagster_home"
    for path in (data, home):
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    os.environ.update({
        "DAGSTER_HOME": str(home), "CS_PLATFORM_DATA_DIR": str(data), "DUCKDB_PATH": str(data / "warehouse.duckdb"),
        "CS_PLATFORM_ENV": "local", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"})
    os.environ.setdefault("DBT_EXECUTABLE", str(ROOT / ".venv-dbt" / "bin" / "cs-dbt"))
    procs = Processes(workdir)
    try:
        return run(args, workdir, data, home, procs)
    finally:
        procs.stop_all()
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
        elif args.keep:
            print(f"\nkept {workdir} (DAGSTER_HOME {home}; logs *.log)")


def run(args, workdir: Path, data: Path, home: Path, procs: Processes) -> int:
    from devkit import demo
    from devkit.sample_data import generate

    today = dt.date.today()
    day = today - dt.timedelta(days=1)
    sample = data / "sample"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    print(f"cs_platform at {commit}{' + uncommitted changes' if dirty else ''}; {os.cpu_count()} CPUs; "
          f"load {os.getloadavg()[0]:.2f}; workdir {workdir}")

    started = time.monotonic()
    generate(sample, accounts=args.accounts, seed=args.seed, days=args.days, as_of=today)
    held = hold_back(sample, day)
    print(f"generated {args.accounts} accounts x {args.days} days up to {day} in {time.monotonic() - started:.0f} s; "
          f"held back {len(held):,} usage rows of {day}")

    sandbox_proc = demo.start_sandbox(data)  # sets the sandbox's endpoints in os.environ
    procs.started["sandbox"] = sandbox_proc
    demo.drop_exports(data)

    # ---- the code location, the daemon and the webserver, as in production (one code
    # server, one daemon); the webserver is what the first build launches its runs through.
    env = dict(os.environ)
    port, web_port = free_port(), free_port()
    workspace = workdir / "workspace.yaml"
    workspace.write_text(yaml.safe_dump({"load_from": [{"grpc_server": {
        "host": "127.0.0.1", "port": port, "location_name": "cs_platform"}}]}))
    started = time.monotonic()
    procs.start("code_server", [str(BIN / "dagster"), "code-server", "start", "-h", "127.0.0.1", "-p", str(port),
                                "-m", "cs_platform.definitions", "--location-name", "cs_platform"], env)
    wait_for("the code server", lambda: subprocess.run(
        [str(BIN / "dagster"), "api", "grpc-health-check", "-p", str(port)], env=env, capture_output=True
    ).returncode == 0, args.timeout, procs, interval=1)
    procs.start("daemon", [str(BIN / "dagster-daemon", ), "run", "-w", str(workspace)], env)
    webserver = procs.start("webserver", [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(web_port),
                                          "-w", str(workspace)], env)
    wait_for("the webserver", lambda: _answers(f"http://127.0.0.1:{web_port}/server_info"), args.timeout, procs, 1)
    print(f"code server, daemon and webserver up in {time.monotonic() - started:.0f} s")

    # ---- first build, as `make demo` does it (the code location's jobs and sensors)
    from cs_platform.definitions import defs as load_definitions

    started = time.monotonic()
    with dg.DagsterInstance.get() as instance:
        built = demo.build_everything(load_definitions(), demo.Runs(instance, web_port, webserver), today)
        first_build = time.monotonic() - started
        plays = {}
        for key in instance.get_asset_keys():
            if key.path[0] == "play":
                event = instance.get_latest_materialization_event(key)
                if event and event.asset_materialization:
                    plays[key.to_user_string()] = {k: v.value for k, v in event.asset_materialization.metadata.items()
                                                   if k in ("outcome", "in_segment", "baseline", "sent")}
    print(f"first build: {len(built)} assets in {first_build:.0f} s; plays' first run "
          "(baseline / in segment / sent): " + ", ".join(
              f"{k.split('/', 1)[1]} {v['baseline']}/{v['in_segment']}/{v['sent']}"
              for k, v in sorted(plays.items()) if "baseline" in v))

    targets = choose_targets(data / "warehouse.duckdb", sample, day, args.plant)
    if not targets:
        raise SystemExit("no account fits a planted drop (on the renewal list without a risk signal, busy enough): "
                         "try more --accounts")
    planted_rows = plant_drop(held, {t["account_id"] for t in targets})
    print(f"planted a drop to {DROP_LEVEL:.0%} on {day} in {planted_rows} usage rows of "
          + ", ".join(f"{t['account_id']} ({t['account_name']}, expected {t['expected_dau']} users, renews "
                      f"{t['renewal_date']})" for t in targets))
    writes = SandboxWrites(os.environ["HUBSPOT_BASE_URL"])
    started = time.monotonic()

    with dg.DagsterInstance.get() as instance:
        # Quiet: both automation sensors have evaluated since the daemon started, twice, and nothing runs.
        daemon_up = time.time()
        wait_for("the automation sensors' first evaluations", lambda: all(
            len(sensor_ticks(instance, s, after=daemon_up)) >= 2 for s in (PLAYS_SENSOR, SYNCS_SENSOR))
            and not unfinished_runs(instance), args.timeout, procs, interval=1)
        settled = [r for r in runs_created_after(instance, daemon_up)]
        print(f"quiet after the first build in {time.monotonic() - started:.0f} s"
              + (f" ({len(settled)} runs the daemon started by itself: "
                 + ", ".join(run_times(instance, r).job for r in settled) + ")" if settled else
                 " (the daemon started no run by itself)"))

        # ---- the timed part
        seq = writes.last_seq()
        landed = time.time()
        land(sample, held)
        raw_runs = launch(workspace, env, USAGE_JOB, [
            {"dagster/partition": request.partition_key, "cs_platform/bench_tick": "product_db_usage_hourly"}
            for request in usage_tick_requests(day)])
        day_key = f"{USAGE_KEY.to_user_string()}[{day.isoformat()}]"
        wait_for(f"the usage runs of the 00:10 tick ({len(raw_runs)})", lambda: all(
            (r := instance.get_run_by_id(run_id)) and r.status in FINISHED for run_id, _ in raw_runs),
            args.timeout, procs)
        raws = [run_times(instance, run_id) for run_id, _ in raw_runs]
        for r, (_, submitted) in zip(raws, raw_runs):
            r.submitted = submitted
        if not any(day_key in r.materialized for r in raws):
            raise SystemExit(f"the usage runs did not materialize {day_key}: "
                             + ", ".join(f"{r.run_id} {r.status}" for r in raws))
        def sensor_dbt_run():
            return next((r for r in runs_created_after(instance, landed)
                         if instance.get_run_by_id(r).job_name == DBT_JOB), None)

        wait_for(f"the dbt run {DBT_SENSOR} starts", sensor_dbt_run, args.timeout, procs)
        dbt_id = sensor_dbt_run()
        wait_for("the dbt run", lambda: instance.get_run_by_id(dbt_id).status in FINISHED, args.timeout, procs)
        dbt = run_times(instance, dbt_id)
        if dbt.status != DagsterRunStatus.SUCCESS.value:
            raise SystemExit(f"the dbt run {dbt_id} ended {dbt.status}; see its events in {home}")

        def delivered():
            got = writes.since(seq)
            alerts, tasks = alerts_for(got, targets), tasks_for(got, targets)
            return got if all(alerts.values()) and any(tasks.values()) else None

        wait_for("the planted accounts' Slack alerts and a Salesforce Task", delivered, args.timeout, procs, 0.5)
        # Then until every run the sensors started has finished, and one more plays tick after that.
        wait_for("the runs the sensors started", lambda: not unfinished_runs(instance), args.timeout, procs, 1)
        quiet_since = time.time()
        wait_for("one more plays sensor evaluation", lambda: sensor_ticks(instance, PLAYS_SENSOR, after=quiet_since)
                 and not unfinished_runs(instance), args.timeout, procs, 1)
        got = writes.since(seq)
        later = [run_times(instance, r) for r in runs_created_after(instance, dbt.created + 0.001)]
        ticks = {s: sensor_ticks(instance, s, after=dbt.created) for s in (PLAYS_SENSOR, SYNCS_SENSOR)}
        report(args, day, targets, landed, raws, dbt, later, ticks, got)
    return 0


def step_name(step_key: str) -> str:
    return step_key.split("__")[-1] if step_key.startswith(("play__", "sync__")) else step_key


def report(args, day, targets, landed, raws, dbt, later, ticks, got) -> None:
    day_key = f"{USAGE_KEY.to_user_string()}[{day.isoformat()}]"
    alerts, tasks = alerts_for(got, targets), tasks_for(got, targets)
    first_alert = min(t for ts in alerts.values() for t in ts)
    first_task = min((t for ts in tasks.values() for t in ts), default=None)

    events: list[tuple[float, str]] = [(landed, f"partition {day} landed in the product DB (rows committed)")]

    def run_events(r: RunTimes, kind: str, steps: bool = True) -> None:
        events.append((r.created, f"  {kind} run created{' (queued)' if kind != 'dbt' else ''}"))
        if r.started:
            events.append((r.started, f"  {kind} run started (run worker up)"))
        for step, (start, _) in r.steps.items():
            if start and steps:
                events.append((start, f"  {kind} step {step_name(step)} started"))
        for name, t in r.materialized.items():
            if name.startswith((USAGE_KEY.to_user_string(), f"play/{ALERT_PLAY}", f"play/{TASK_PLAY}")) \
                    or name == SEGMENTS_KEY.to_user_string():
                events.append((t, f"  {name} materialized"))
        if r.ended:
            events.append((r.ended, f"  {kind} run ended {r.status}" + (f": {r.failure}" if r.failure else "")))

    for r in raws:
        events.append((r.submitted, f"usage tick: run for {r.tags.get('dagster/partition')} submitted"))
        run_events(r, f"usage {r.tags.get('dagster/partition')}")
    run_events(dbt, "dbt")
    for sensor, sensor_tick_list in ticks.items():
        for tick in sensor_tick_list:
            if tick.run_ids:
                events.append((tick.timestamp, f"{sensor} tick requested {len(tick.run_ids)} run(s)"))
    for r in later:
        kind = ("play" if any(a.startswith("play/") for a in r.assets) else
                "sync" if any(a.startswith("sync/") for a in r.assets) else r.job)
        run_events(r, kind)
    for account_id, ts in alerts.items():
        for t in ts:
            events.append((t, f"Slack '{ALERT_PLAY}' message for {account_id} (sandbox)"))
    for account_id, ts in tasks.items():
        for t in ts:
            events.append((t, f"Salesforce Task written for {account_id} (sandbox, {TASK_PLAY})"))
    events.sort(key=lambda e: e[0])

    print(f"\n{args.accounts} accounts x {args.days} days; partition {day}; {len(targets)} planted drops. "
          "Seconds after the partition landed (the schedules' waits are not in them, see the end)\n")
    print(f"{'s':>8} {'+s':>7}  event")
    previous = landed
    for t, label in events:
        print(f"{t - landed:8.1f} {t - previous:+7.1f}  {label}")
        previous = max(previous, t)

    day_run = next(r for r in raws if day_key in r.materialized)
    raw_done = day_run.materialized[day_key]
    raw_end = max(r.ended for r in raws if r.ended)
    segments = dbt.materialized.get(SEGMENTS_KEY.to_user_string(), dbt.ended)
    play = next((r for r in later if f"play/{ALERT_PLAY}" in r.assets), None)
    first_created = min(r.created for r in raws)
    order = " then ".join(r.tags.get("dagster/partition") for r in sorted(raws, key=lambda r: r.started or 0))
    hops = [
        ("partition landed -> the tick's usage runs created (launched at once; dagster job launch)",
         first_created - landed),
        (f"-> {day} materialized (queue, run worker; the tick's runs one at a time: {order})",
         raw_done - first_created),
        ("-> the tick's usage runs ended (each also runs the raw table's dbt source test, as its check)",
         raw_end - raw_done),
        (f"-> dbt run created ({DBT_SENSOR}'s tick)", dbt.created - day_run.ended),
        ("dbt run created -> started (run queue, run worker)", dbt.started - dbt.created),
        ("dbt run started -> account_segments materialized (dbt build)", segments - dbt.started),
        ("account_segments materialized -> dbt run ended", dbt.ended - segments),
    ]
    if play:
        alert_step = play.steps.get(f"play__{ALERT_PLAY}", (None, None))[0]
        task_step = play.steps.get(f"play__{TASK_PLAY}", (None, None))[0]
        hops += [
            ("dbt run ended -> play run created (plays_automation_sensor's tick)", play.created - dbt.ended),
            ("play run created -> started (run queue, run worker)", play.started - play.created),
        ]
        if task_step and first_task is not None:
            hops += [(f"play run started -> {TASK_PLAY} step started (after the plays before it)",
                      task_step - play.started),
                     (f"{TASK_PLAY} step started -> first Salesforce Task", first_task - task_step)]
        if alert_step:
            hops += [(f"play run started -> {ALERT_PLAY} step started (after the plays before it)",
                      alert_step - play.started),
                     (f"{ALERT_PLAY} step started -> first Slack alert", first_alert - alert_step)]
    print("\nhops (s):")
    for label, seconds in hops:
        print(f"  {seconds:7.1f}  {label}")
    print(f"\n  {first_alert - landed:7.1f}  partition landed -> first Slack alert (schedule waits excluded)")
    if first_task is not None:
        print(f"  {first_task - landed:7.1f}  partition landed -> first Salesforce Task (schedule waits excluded)")
    else:
        print("  no Salesforce Task was written for a planted account")
    if play:
        print(f"  {play.created - dbt.created:7.1f}  of which dbt run created -> play run created; "
              f"{first_alert - play.created:.1f} play run created -> first Slack alert")

    print("\nplanted accounts:")
    for t in targets:
        a, k = alerts[t["account_id"]], tasks[t["account_id"]]
        print(f"  {t['account_id']} {t['account_name']}: {len(a)} anomaly alert(s)"
              f"{' at +' + ', +'.join(f'{x - landed:.1f}' for x in a) + ' s' if a else ''}; {len(k)} Task write(s)"
              f"{' at +' + ', +'.join(f'{x - landed:.1f}' for x in k) + ' s' if k else ''}")
    wrong = [a for a, ts in alerts.items() if len(ts) != 1]
    print("  exactly one anomaly alert each: " + ("yes" if not wrong else f"NO ({', '.join(wrong)})"))
    firsts = first_message_per_play(got)
    print("Slack messages after the landing, first per title: "
          + (", ".join(f"{title} +{t - landed:.1f} s" for title, t in sorted(firsts.items(), key=lambda x: x[1]))
             or "none"))
    print("\nruns the sensors started:")
    for r in later:
        source = r.tags.get("dagster/sensor_name") or "-"
        print(f"  {r.run_id[:8]} ({source}) {r.status}, created +{r.created - landed:.1f} s, ran "
              f"{(r.ended or 0) - (r.started or 0):.1f} s; steps one at a time (pool 'warehouse'): "
              + ", ".join(f"{step_name(k)} {(e or 0) - (s or 0):.1f} s" for k, (s, e) in
                          sorted(r.steps.items(), key=lambda item: item[1][0] or 0)))
        if r.failure:
            print(f"      failed: {r.failure}")

    print(f"\nNot slept through: the schedule. {day}'s usage closes at midnight UTC and product_db_usage_hourly's "
          f"00:10 tick loads it (10 min later); from there {DBT_SENSOR} and the automation sensors carry it. "
          "A drop on day D therefore reaches Slack at about 00:10 UTC on D+1 plus the hops above.")


if __name__ == "__main__":
    sys.exit(main())
