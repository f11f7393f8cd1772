"""A run worker killed with `kill -9` does not keep the "warehouse" pool slot.

Real processes on the local instance config (dagster.yaml, copied to a temporary
DAGSTER_HOME): the Dagster daemon (run queue and run monitoring) with a code location
whose two jobs each hold the "warehouse" pool, runs launched with `dagster job launch`
as the UI launches them (DefaultRunLauncher: one process per run in the code server).
The first run's worker is killed mid-step; the run must be marked FAILURE (what the
run-failure alert fires on), its slot freed, and the second run must then succeed.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import yaml
from dagster import DagsterEventType, DagsterRunStatus

from cs_platform.defs.alerts.run_failure import failure_message

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

JOBS = '''
import os
import time
from pathlib import Path

import dagster as dg


@dg.asset(pool="warehouse")
def slow_load():
    # The step's own process id: the default (multiprocess) executor runs it in a
    # child of the run worker, which outlives a killed worker; the test ends it.
    Path(os.environ["CRASH_TEST_DIR"], "slow_load.pid").write_text(str(os.getpid()))
    time.sleep(300)


@dg.asset(pool="warehouse")
def quick_load():
    return 1


defs = dg.Definitions(
    assets=[slow_load, quick_load],
    jobs=[dg.define_asset_job("slow_job", [slow_load]), dg.define_asset_job("quick_job", [quick_load])],
)
'''


def wait_for(what: str, condition, timeout: float, daemon_log: Path):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s. Daemon log:\n{daemon_log.read_text()[-4000:]}")
        time.sleep(0.5)
    return value


def status(instance: dg.DagsterInstance, run_id: str):
    run = instance.get_run_by_id(run_id)
    return run.status if run else None


def run_worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid the run worker reports when it starts ("Started process for run (pid: N)")."""
    for record in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        event = record.dagster_event
        if event.message.startswith("Started process for run"):
            return int(event.engine_event_data.metadata["pid"].value)
    return None


def test_a_killed_run_worker_fails_its_run_frees_its_pool_slot_and_alerts(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    (tmp_path / "jobs.py").write_text(JOBS)
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(yaml.safe_dump({"load_from": [{"python_file": {
        "relative_path": "jobs.py", "working_directory": str(tmp_path), "location_name": "crash_test"}}]}))
    env = {**os.environ, "DAGSTER_HOME": str(home), "CRASH_TEST_DIR": str(tmp_path)}
    daemon_log = tmp_path / "daemon.log"

    def launch(job: str) -> str:
        run_id = str(uuid.uuid4())
        subprocess.run([str(BIN / "dagster"), "job", "launch", "-w", str(workspace), "-j", job, "--run-id", run_id],
                       env=env, cwd=tmp_path, check=True, capture_output=True, timeout=120)
        return run_id

    # Opening the instance first creates its SQLite storage, which the daemon and the
    # CLI would otherwise race to create.
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] > 0
        # The daemon runs in its own process group, with the code server it starts and
        # the run workers that code server starts: ended together below.
        with daemon_log.open("w") as log:
            daemon = subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-w", str(workspace)], env=env,
                                      cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            slow = launch("slow_job")
            wait_for("the slow step started", (tmp_path / "slow_load.pid").exists, 60, daemon_log)
            worker = wait_for("the run worker's pid", lambda: run_worker_pid(instance, slow), 10, daemon_log)
            assert worker != int((tmp_path / "slow_load.pid").read_text())
            [claimed] = instance.event_log_storage.get_concurrency_info("warehouse").claimed_slots
            assert claimed.run_id == slow

            quick = launch("quick_job")
            time.sleep(2)
            assert status(instance, quick) == DagsterRunStatus.QUEUED  # waits for the only slot

            os.kill(worker, signal.SIGKILL)

            wait_for("the dead run marked FAILURE",
                     lambda: status(instance, slow) == DagsterRunStatus.FAILURE, 30, daemon_log)
            wait_for("the second warehouse run succeeded",
                     lambda: status(instance, quick) == DagsterRunStatus.SUCCESS, 60, daemon_log)
            # It had waited for the dead run's slot, which is now free.
            assert f'"pending_step_run_ids": ["{slow}"]' in daemon_log.read_text()
            pool = instance.event_log_storage.get_concurrency_info("warehouse")
            assert slow not in {s.run_id for s in pool.claimed_slots} | {s.run_id for s in pool.pending_steps}

            # The run-failure alert fires on the RUN_FAILURE event, and says what was lost.
            [failure] = instance.all_logs(slow, of_type=DagsterEventType.RUN_FAILURE)
            with dg.build_run_status_sensor_context(
                    sensor_name="slack_on_run_failure", dagster_event=failure.dagster_event,
                    dagster_instance=instance, dagster_run=instance.get_run_by_id(slow)) as context:
                text = failure_message(context.for_run_failure())
            assert "`slow_job`" in text and "Not materialized: `slow_load`" in text
            assert "marked as failed" in text, text
            # ...and the run's log says why (the code server saw its process exit).
            messages = [e.message for e in instance.all_logs(slow, of_type=DagsterEventType.ENGINE_EVENT)]
            assert [m for m in messages if "was terminated by signal 9 (SIGKILL)" in m], messages
        finally:
            daemon.terminate()
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            # What is left of the group: the code server and the killed worker's step.
            try:
                os.killpg(daemon.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            daemon.wait()
