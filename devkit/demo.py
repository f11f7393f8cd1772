"""`make demo`: the whole platform on one laptop.

1. generate a sample customer base (deterministic for a seed),
2. start the sandbox (local emulators of Salesforce, HubSpot, Freshdesk, Airtable,
   GA4 and Slack serving that data),
3. start Dagster (`dagster dev`: webserver, daemon) and materialize the whole asset
   graph once into a fresh DuckDB warehouse through the code location's own jobs
   and sensors, so the UI's runs, job pages, timeline and sensor ticks show what ran,
4. print what was built and where to look,
5. keep serving the Dagster UI on http://127.0.0.1:3000 (unless --no-ui).

Each run starts from fresh sample data, warehouse, sandbox and Dagster history
(under DAGSTER_HOME), so it can be repeated and the UI shows what the warehouse holds.
"""

from __future__ import annotations

import argparse
import graphlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import date, datetime, timezone
from pathlib import Path

import dagster as dg
import requests
from dagster import DagsterRunStatus

from cs_platform import settings

SANDBOX_START_TIMEOUT_S = 60
DAGSTER_START_TIMEOUT_S = 120
RUN_TIMEOUT_S = 1800
# The automation sensors tick every 30 s: a few rounds for the syncs and plays to start.
AUTOMATION_WAIT_S = 240
POLL_S = 1.0
SENSOR_WAIT_S = 90
LOCATION, REPOSITORY, IMPLICIT_JOB = "cs_platform", "__repository__", "__ASSET_JOB"
UNFINISHED = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
              DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]
# The webserver's and daemon's output (the runs' logs are in the UI).
DAGSTER_LOG = settings.data_dir() / "dagster_dev.log"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make demo ARGS=...", description=__doc__.splitlines()[0])
    parser.add_argument("--no-ui", action="store_true", help="build everything, print the summary, exit")
    parser.add_argument("--accounts", type=int, default=500)
    parser.add_argument("--days", type=int, default=120, help="days of usage history")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--port", type=int, default=3000, help="Dagster UI port; 0 = any free one")
    parser.add_argument("--report-port", type=int, default=3100,
                        help="port of the report pages (the links written to Salesforce); 0 = any free one")
    return parser.parse_args(argv)


def reset_local_state(data: Path, dagster_home: Path) -> None:
    """A fresh warehouse, sandbox, export inbox and Dagster history for every demo
    run, so what the UI shows is what the warehouse holds (dagster.yaml is kept)."""
    for path in (data / "warehouse.duckdb", data / "warehouse.duckdb.wal"):
        path.unlink(missing_ok=True)
    for folder in (data / "sandbox", data / "inbox", data / "sample"):
        shutil.rmtree(folder, ignore_errors=True)
    for entry in dagster_home.iterdir():
        if entry.name != "dagster.yaml":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def start_sandbox(data: Path) -> subprocess.Popen:
    """Run the sandbox in the background; it writes endpoints.json once every server listens."""
    endpoints = data / "sandbox" / "endpoints.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "devkit.sandbox", "--data", str(data / "sample"),
         "--state", str(data / "sandbox"),
         # Any free ports: the platform reads them from endpoints.json, and a second
         # sandbox (a test run, `make sandbox`) can run beside the demo.
         *[arg for api in ("salesforce", "hubspot", "freshdesk", "airtable", "google-analytics", "slack")
           for arg in (f"--{api}-port", "0")]],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + SANDBOX_START_TIMEOUT_S
    while not endpoints.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"the sandbox exited during start-up:\n{proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.terminate()
            raise RuntimeError(f"the sandbox did not start within {SANDBOX_START_TIMEOUT_S} s")
        time.sleep(0.2)
    for key, value in json.loads(endpoints.read_text()).items():
        os.environ[key] = str(value)
    return proc


def stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def drop_exports(data: Path) -> int:
    """Put the generated KARTE exports where the export sensor looks (as the vendor would)."""
    inbox = Path(os.environ.get("KARTE_EXPORT_URI", data / "inbox" / "karte"))
    inbox.mkdir(parents=True, exist_ok=True)
    files = sorted((data / "sample" / "karte").glob("*.csv"))
    for f in files:
        shutil.copy(f, inbox / f.name)
    return len(files)


class Runs:
    """Launches the code location's own jobs through the running webserver (as the UI's
    Launch button and the daemon's ticks do), so every demo run is on the job's page,
    the Overview timeline and the run list, and re-executes like any other run."""

    def __init__(self, instance: dg.DagsterInstance, port: int, dagster: subprocess.Popen):
        from dagster_graphql import DagsterGraphQLClient

        self.instance = instance
        self.client = DagsterGraphQLClient("127.0.0.1", port_number=port)
        self.dagster = dagster
        self.started = datetime.now(timezone.utc)

    def launch(self, job: str, tags: dict | None = None, asset_selection=None) -> str:
        from dagster_graphql import DagsterGraphQLClientError

        deadline = time.monotonic() + DAGSTER_START_TIMEOUT_S
        while True:
            try:
                return self.client.submit_job_execution(
                    job, repository_location_name=LOCATION, repository_name=REPOSITORY, tags=tags or {},
                    asset_selection=asset_selection)
            except DagsterGraphQLClientError as exc:
                # The webserver answers before the code location has loaded.
                if time.monotonic() > deadline or "RepositoryLocationNotFound" not in str(exc) \
                        and "LocationStateChange" not in str(exc) and "not found" not in str(exc).lower():
                    raise RuntimeError(f"could not launch job {job}: {exc}") from exc
                self.alive_or_fail(None, f"the code location to load (to launch {job})")

    def since(self, created_after: datetime, job: str | None = None) -> list:
        return list(self.instance.get_runs(dg.RunsFilter(job_name=job, created_after=created_after)))

    def busy(self) -> list:
        return list(self.instance.get_runs(dg.RunsFilter(statuses=UNFINISHED)))

    def wait(self, run_ids: list[str], what: str) -> None:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while True:
            runs = [self.instance.get_run_by_id(r) for r in run_ids]
            if all(r.status == DagsterRunStatus.SUCCESS for r in runs):
                return
            self.alive_or_fail(deadline, what)

    def ticked_since(self, sensor: str, since: float) -> bool:
        """Whether the daemon has evaluated `sensor` since the timestamp (a finished tick)."""
        for state in self.instance.all_instigator_state():
            if state.name == sensor and any(
                    t.status.value != "STARTED"
                    for t in self.instance.get_ticks(state.instigator_origin_id, state.selector_id, after=since)):
                return True
        return False

    def wait_until(self, condition, what: str, timeout: float = RUN_TIMEOUT_S) -> bool:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                return False
            self.alive_or_fail(None, what)
        return True

    def alive_or_fail(self, deadline: float | None, what: str) -> None:
        """Waiting goes on only while dagster dev lives and no run of the build failed
        (a run a sensor started included)."""
        if self.dagster.poll() is not None:
            raise RuntimeError(f"dagster dev exited while waiting for {what} (its log: {DAGSTER_LOG})")
        failed = self.instance.get_runs(dg.RunsFilter(statuses=[DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED],
                                                      created_after=self.started), limit=1)
        if failed:
            raise RuntimeError(f"while waiting for {what}: run {failed[0].run_id} ({failed[0].job_name}) ended "
                               f"{failed[0].status.value}; see {settings.run_url(failed[0].run_id)}")
        if deadline is not None and time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not finish within {RUN_TIMEOUT_S} s")
        time.sleep(POLL_S)


def build_everything(defs: dg.Definitions, runs: Runs, as_of: date) -> list[str]:
    """Build the whole graph the way production does, through the code location's own
    jobs, schedules' targets and sensors: each job in dependency order (a partitioned
    source over its history in one run, a single-run backfill); the export files by
    the export sensors as the daemon evaluates them; a job a sensor already started
    (dbt after the usage landed) is waited for, not launched twice; the assets with an
    automation condition (syncs, plays) by their automation sensors once their models
    are built, as they run in production. Whatever is still unbuilt then is launched
    by its own job, and anything left over at the end is an error."""
    graph = defs.resolve_asset_graph()
    repo = defs.get_repository_def()
    started = runs.started
    materializable = {k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable}
    jobs = {j.name: set(j.asset_layer.selected_asset_keys) & materializable for j in repo.get_all_jobs()
            # Dry-run jobs run the same assets without writing; the implicit job is for leftovers.
            if not j.name.startswith("__") and not j.name.endswith("_dry_run")}
    in_a_job = set().union(*jobs.values())
    sensors_of: dict[str, list[str]] = {}
    for sensor in repo.sensor_defs:
        if sensor.has_jobs and sensor.default_status == dg.DefaultSensorStatus.RUNNING:
            for job in sensor.jobs:
                sensors_of.setdefault(job.name, []).append(sensor.name)
    by_sensors = {k for k in materializable - in_a_job if graph.get(k).automation_condition is None}
    automated = {k for k in materializable if graph.get(k).automation_condition is not None}

    def built(keys) -> bool:
        return all(runs.instance.get_latest_materialization_event(k) is not None for k in keys)

    # Jobs in dependency order: a job runs after the jobs holding its assets' parents.
    owner = {k: name for name, keys in jobs.items() for k in keys}
    order = graphlib.TopologicalSorter({
        name: {owner[p] for k in keys for p in graph.get(k).parent_keys if owner.get(p, name) != name}
        for name, keys in jobs.items()}).static_order()
    now = datetime.combine(as_of, datetime.min.time(), tzinfo=timezone.utc)
    for name in order:
        keys = jobs[name]
        if keys <= automated:
            continue  # its automation sensor starts it, below
        if any(p in by_sensors for k in keys for p in graph.get(k).parent_keys):
            runs.wait_until(lambda: built(by_sensors) and not runs.busy(), "the export sensors' runs")
        # A sensor that starts this job (dbt after the day's usage landed) gets to evaluate
        # what has landed first, so the job is not run twice.
        last_end = max((r.end_time or 0 for r in (runs.instance.get_run_record_by_id(x.run_id)
                                                  for x in runs.since(started)) if r), default=0)
        for sensor in sensors_of.get(name, ()):
            runs.wait_until(lambda s=sensor, t=last_end: runs.ticked_since(s, t), f"sensor {sensor}",
                            timeout=SENSOR_WAIT_S)
        by_sensor = runs.since(started, name)
        if by_sensor:  # e.g. dbt_after_usage_landed started dbt when the usage history landed
            runs.wait([r.run_id for r in by_sensor], f"job {name}, started by a sensor")
            continue
        partitions_def = repo.get_job(name).partitions_def
        tags = {}
        if partitions_def is not None:
            keys_ = partitions_def.get_partition_keys(current_time=now)
            tags = {"dagster/asset_partition_range_start": keys_[0],
                    "dagster/asset_partition_range_end": keys_[-1]}
        runs.wait([runs.launch(name, tags)], f"job {name}")

    # The automation sensors evaluate every 30 s; give them two rounds after the last run.
    def settled() -> bool:
        return built(automated) and not runs.busy()

    if not runs.wait_until(settled, "the automation sensors' runs", timeout=AUTOMATION_WAIT_S):
        runs.wait_until(lambda: not runs.busy(), "the automation sensors' runs")
    for name in order:
        if jobs[name] <= automated and not built(jobs[name]):
            print(f"  (the automation sensors did not start {name} within {AUTOMATION_WAIT_S} s: launched)")
            runs.wait([runs.launch(name)], f"job {name}")
    leftover = sorted(k for k in materializable if runs.instance.get_latest_materialization_event(k) is None)
    if leftover:
        runs.wait([runs.launch(IMPLICIT_JOB, asset_selection=leftover)], "the assets in no job")
    missing = [k.to_user_string() for k in materializable if runs.instance.get_latest_materialization_event(k) is None]
    if missing:
        raise RuntimeError(f"the demo build left these assets unmaterialized: {', '.join(sorted(missing))}")
    return sorted(k.to_user_string() for k in materializable)


def start_dagster(port: int) -> subprocess.Popen:
    """`dagster dev` (webserver, daemon, the code location) in the background; its output
    goes to DAGSTER_LOG. Returns once the webserver answers."""
    DAGSTER_LOG.parent.mkdir(parents=True, exist_ok=True)
    log = DAGSTER_LOG.open("w")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster"), "dev", "-w", str(settings.PROJECT_ROOT / "workspace.yaml"),
         "-h", "127.0.0.1", "-p", str(port)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + DAGSTER_START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"dagster dev exited during start-up; its log: {DAGSTER_LOG}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/server_info", timeout=2).ok:
                return proc
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            stop(proc)
            raise RuntimeError(f"dagster dev did not answer within {DAGSTER_START_TIMEOUT_S} s; its log: {DAGSTER_LOG}")
        time.sleep(1)


def main(argv=None) -> int:
    args = parse_args(argv)
    data = settings.data_dir()
    as_of = date.today()
    os.environ.setdefault("DAGSTER_HOME", str(settings.PROJECT_ROOT / ".dagster_home"))
    dagster_home = Path(os.environ["DAGSTER_HOME"])
    dagster_home.mkdir(parents=True, exist_ok=True)
    if not (dagster_home / "dagster.yaml").exists():
        shutil.copy(settings.PROJECT_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")

    from devkit.sample_data import generate

    reset_local_state(data, dagster_home)
    print(f"Generating {args.accounts} accounts, {args.days} days of usage (seed {args.seed}) ...")
    generate(data / "sample", accounts=args.accounts, seed=args.seed, days=args.days, as_of=as_of)
    sandbox = start_sandbox(data)
    dagster = None
    from devkit.report_server import ReportServer

    # The pages are served where the Salesforce sync's links point: REPORT_BASE_URL is set
    # before Dagster starts, so dbt writes this base into every CS_Report_URL__c.
    reports = ReportServer(base_url=f"http://127.0.0.1:{args.report_port}/reports").start()
    os.environ["REPORT_BASE_URL"] = reports.base_url
    try:
        drop_exports(data)
        from cs_platform.definitions import defs as load_definitions

        defs = load_definitions()
        if args.port == 0:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                args.port = probe.getsockname()[1]
        os.environ["DAGSTER_WEBSERVER_URL"] = f"http://127.0.0.1:{args.port}"
        print(f"Starting Dagster (webserver, daemon) on http://127.0.0.1:{args.port}; its log: {DAGSTER_LOG}")
        dagster = start_dagster(args.port)
        with dg.DagsterInstance.get() as instance:
            started = time.monotonic()
            print("Building every asset through the code location's jobs and sensors ...")
            built = build_everything(defs, Runs(instance, args.port, dagster), as_of)
            print_summary(defs, instance, built, time.monotonic() - started)
        print_report_links(reports.base_url)
        if not args.no_ui:
            print(f"\nDagster UI: http://127.0.0.1:{args.port}  (Ctrl-C to stop)")
            dagster.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop(dagster)
        stop(sandbox)
        reports.stop()
    return 0


def print_report_links(base_url: str) -> None:
    """The renewal board, and one account's page with the link its Salesforce Account
    holds in the sandbox (the one a CSM clicks)."""
    sf = settings.resources_for()["salesforce"].process_config_and_initialize().client()
    warehouse = settings.resources_for()["warehouse"]
    # The reddest account the Salesforce sync writes (it skips churned accounts).
    first = warehouse.query("select account_id from marts.activation_salesforce_accounts "
                            "where report_url is not null order by usage_health_score nulls last, account_id limit 1")
    print(f"\nReports (served on their own port, not the Dagster UI's):\n  renewal board: {base_url}/renewals.html"
          f"\n  portfolio:     {base_url}/portfolio.html")
    if first.empty:
        return
    account_id = first.iloc[0]["account_id"]
    records = sf.query("select Id, Name, CS_Report_URL__c from Account "
                       f"where Product_Account_Id__c = '{account_id}'")["records"]
    print(f"  account page:  {base_url}/{account_id}.html")
    for r in records:
        print(f"  Salesforce Account {r['Id']} ({r['Name']}): CS_Report_URL__c = {r['CS_Report_URL__c']}")


def print_summary(defs: dg.Definitions, instance: dg.DagsterInstance, built: list[str], seconds: float) -> None:
    """What was built and where to look: raw row counts, the headline marts, what each sync wrote."""
    from cs_platform.sources import catalog
    from cs_platform.sources.loading import QUARANTINE_TABLE

    warehouse = settings.resources_for()["warehouse"]
    print(f"\nBuilt {len(built)} assets in {seconds:.0f} s into {settings.duckdb_path()}\n")
    print("Raw tables (rows):")
    for obj in catalog.SOURCE_OBJECTS.values():
        print(f"  {obj.table:<42} {warehouse.row_count(obj.table):>10,}")
    if warehouse.columns(QUARANTINE_TABLE):
        unresolved = warehouse.scalar(f"select count(*) from {warehouse.table_ref(QUARANTINE_TABLE)} "
                                      "where resolved_at is null")
        print(f"  {QUARANTINE_TABLE:<42} {int(unresolved):>10,} quarantined, unresolved")

    bands = warehouse.query("select usage_health_band as band, count(*) as n from marts.usage_health "
                            "group by 1 order by 1")
    renewals = warehouse.query(
        "select count(*) as n, count(*) filter (where has_risk_signal) as risk, "
        "count(*) filter (where has_upsell_signal) as upsell from marts.renewal_list").iloc[0]
    anomalies = warehouse.scalar("select count(distinct account_id) from marts.usage_anomalies")
    print("\nHealth: " + ", ".join(f"{r.band} {r.n}" for r in bands.itertuples()))
    print(f"Renewal list: {renewals.n} contracts renew within the window "
          f"({renewals.risk} at risk, {renewals.upsell} with an upsell signal)")
    print(f"Usage anomalies: {anomalies} accounts")

    print("\nReverse-ETL syncs (records written to the sandbox's CRM):")
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        if key.path[0] != "sync":
            continue
        event = instance.get_latest_materialization_event(key)
        metadata = event.asset_materialization.metadata if event and event.asset_materialization else {}
        written = metadata.get("succeeded")
        failed = metadata.get("failed")
        print(f"  {key.to_user_string():<40} {written.value if written else '-':>6} written, "
              f"{failed.value if failed else '-'} failed")

    print("\nPlays (first run: the accounts already in a segment are the baseline, unless the play backfills):")
    for key in graph.get_all_asset_keys():
        if key.path[0] != "play":
            continue
        event = instance.get_latest_materialization_event(key)
        metadata = {k: v.value for k, v in (event.asset_materialization.metadata if event and
                                             event.asset_materialization else {}).items()}
        if "sent" in metadata:
            print(f"  {key.to_user_string():<40} {metadata['sent']:>6} sent, {metadata['failed']} failed, "
                  f"{metadata['baseline']} baseline, {metadata['in_segment']} in segment")
        elif "posted" in metadata:
            print(f"  {key.to_user_string():<40} posted for {metadata['as_of_date']}")

    print(f"\nSandbox writes: {settings.data_dir() / 'sandbox' / 'writes.jsonl'}")
    print("Query the warehouse: .venv/bin/python -c \"import duckdb; "
          f"print(duckdb.connect('{settings.duckdb_path()}', read_only=True).sql('from marts.renewal_list'))\"")


if __name__ == "__main__":
    sys.exit(main())
