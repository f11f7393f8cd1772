"""`make demo`: the whole platform on one laptop.

1. generate a sample customer base (deterministic for a seed),
2. start the sandbox (local emulators of Salesforce, HubSpot, Freshdesk, Airtable,
   GA4 and Slack serving that data),
3. materialize the whole asset graph once into a fresh DuckDB warehouse, through
   a persistent Dagster instance so the UI shows it all materialized,
4. print what was built and where to look,
5. serve the Dagster UI on http://127.0.0.1:3000 (unless --no-ui).

Each run starts from fresh sample data, warehouse, sandbox and Dagster history
(under DAGSTER_HOME), so it can be repeated and the UI shows what the warehouse holds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date, datetime, timezone
from pathlib import Path

import dagster as dg

from cs_platform import settings

SANDBOX_START_TIMEOUT_S = 60
# Runs log to the instance (see them in the UI); the terminal shows warnings and the summary.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make demo ARGS=...", description=__doc__.splitlines()[0])
    parser.add_argument("--no-ui", action="store_true", help="build everything, print the summary, exit")
    parser.add_argument("--accounts", type=int, default=500)
    parser.add_argument("--days", type=int, default=120, help="days of usage history")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--port", type=int, default=3000, help="Dagster UI port")
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


def materialize_everything(defs: dg.Definitions, instance: dg.DagsterInstance, as_of: date) -> list[str]:
    """Build the whole graph in dependency order: each daily-partitioned source over
    its history in one run (a single-run backfill), each export file the way the
    daemon would (evaluating the export sensors), then every unpartitioned asset —
    sources, dbt, syncs — in one run."""
    graph = defs.resolve_asset_graph()
    # The sensors that register export files as partitions (KARTE's).
    export_sensors = [s for s in defs.get_repository_def().sensor_defs
                      if any(isinstance(graph.get(a.key).partitions_def, dg.DynamicPartitionsDefinition)
                             for target in s.targets for a in target.assets_defs)]
    built: list[str] = []

    def job_for(name: str, keys) -> dg.JobDefinition:
        # The assets with their own checks; dbt's tests on raw tables run with dbt
        # in the last run rather than once per partition or file.
        own_checks = [c for k in keys for c in graph.assets_def_for_key(k).check_keys if c.asset_key == k]
        selection = dg.AssetSelection.assets(*keys).without_checks() | dg.AssetSelection.checks(*own_checks)
        job = dg.define_asset_job(f"demo_{name}", selection=selection)
        return dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def(job.name)

    now = datetime.combine(as_of, datetime.min.time(), tzinfo=timezone.utc)
    for i, partitions_def in enumerate(graph.all_partitions_defs):
        if isinstance(partitions_def, dg.DynamicPartitionsDefinition):
            continue  # export files: registered by their sensors below
        keys = [k for k in graph.asset_keys_for_partitions_def(partitions_def=partitions_def)
                if graph.get(k).is_materializable]
        partition_keys = partitions_def.get_partition_keys(current_time=now)
        job_for(f"history_{i}", keys).execute_in_process(
            instance=instance, run_config=QUIET,
            tags={"dagster/asset_partition_range_start": partition_keys[0],
                  "dagster/asset_partition_range_end": partition_keys[-1]})
        built.extend(keys)

    for sensor in export_sensors:
        keys = [a.key for target in sensor.targets for a in target.assets_defs]
        job = job_for(sensor.name, keys)
        with dg.build_sensor_context(instance=instance, definitions=defs,
                                     resources=settings.resources_for()) as context:
            result = sensor(context)
        if not isinstance(result, dg.SensorResult):
            continue
        for request in result.dynamic_partitions_requests or []:
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        for request in result.run_requests or []:
            job.execute_in_process(instance=instance, partition_key=request.partition_key, run_config=QUIET,
                                   tags={"dagster/sensor_name": sensor.name})
        built.extend(keys)

    unpartitioned = [k for k in graph.toposorted_asset_keys
                     if k in graph.unpartitioned_asset_keys and graph.get(k).is_materializable]
    final = dg.define_asset_job("demo_build", selection=dg.AssetSelection.assets(*unpartitioned))
    dg.Definitions.merge(defs, dg.Definitions(jobs=[final])).resolve_job_def(final.name).execute_in_process(
        instance=instance, run_config=QUIET)
    built.extend(unpartitioned)
    return sorted({k.to_user_string() for k in built})


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
    try:
        drop_exports(data)
        from cs_platform.definitions import defs as load_definitions

        defs = load_definitions()
        with dg.DagsterInstance.get() as instance:
            started = time.monotonic()
            built = materialize_everything(defs, instance, as_of)
            print_summary(defs, instance, built, time.monotonic() - started)
        if not args.no_ui:
            serve_ui(args.port)
    finally:
        stop(sandbox)
    return 0


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


def serve_ui(port: int) -> None:
    print(f"\nDagster UI: http://127.0.0.1:{port}  (Ctrl-C to stop)")
    subprocess.run([str(Path(sys.executable).parent / "dagster"), "dev", "-w",
                    str(settings.PROJECT_ROOT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
                   check=False)


if __name__ == "__main__":
    sys.exit(main())
