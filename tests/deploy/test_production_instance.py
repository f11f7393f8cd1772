"""The production deployment's parts, proven without Docker.

docker-compose.yml cannot run here (no Docker engine), so its parts are tested
directly: the PostgreSQL-backed instance config (deploy/dagster.prod.yaml) against
the real PostgreSQL server, and the user-code server command.
"""

import http.server
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import dagster as dg
import psycopg2
import yaml

from tests.conftest import PG_SERVER as PG
from tests.processes import stop

ROOT = Path(__file__).resolve().parents[2]


def production_home(tmp_path, monkeypatch, database: str):
    """A DAGSTER_HOME holding the production instance config, on the test's PostgreSQL database."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.prod.yaml", home / "dagster.yaml")
    for key, value in {"DAGSTER_PG_HOST": PG["host"], "DAGSTER_PG_PORT": str(PG["port"]),
                       "DAGSTER_PG_USER": PG["user"], "DAGSTER_PG_PASSWORD": "",
                       "DAGSTER_PG_DB": database}.items():
        monkeypatch.setenv(key, value)
    return home


def test_postgres_instance_materializes_a_project_asset(tmp_path, monkeypatch, postgres_database):
    home = production_home(tmp_path, monkeypatch, postgres_database)

    from cs_platform.defs.sources.product_db import table_assets
    from cs_platform.resources.product_db import ProductDBResource
    from cs_platform.resources.warehouse import DuckDBWarehouse
    from devkit.sample_data import generate

    generate(tmp_path / "sample", accounts=50, seed=7, days=42)
    (plans,) = [a for a in table_assets if a.key == dg.AssetKey(["raw", "product_db", "plans"])]
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        # The freshness daemon (what the stale-asset alert reads) runs in production too.
        assert "FRESHNESS_DAEMON" in instance.get_required_daemon_types()
        result = dg.materialize(
            [plans], instance=instance,
            resources={"warehouse": warehouse,
                       "product_db": ProductDBResource(url=f"sqlite:///{tmp_path / 'sample' / 'product.db'}")})
        assert result.success
        event = instance.get_latest_materialization_event(plans.key)
        assert event is not None and event.run_id == result.run_id

    # The run and its events are in PostgreSQL, not in a local file.
    with psycopg2.connect(dbname=postgres_database, **PG) as con, con.cursor() as cur:
        cur.execute("select count(*) from runs where run_id = %s", (result.run_id,))
        assert cur.fetchone()[0] == 1
        cur.execute("select count(*) from event_logs where run_id = %s", (result.run_id,))
        assert cur.fetchone()[0] > 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def user_code_command() -> tuple[str, list[str]]:
    """docker-compose's user_code command: the step run before serving, and the server."""
    command = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["user_code"]["command"]
    assert command[:2] == ["sh", "-c"], command
    before, _, serve = command[2].partition(" && exec ")
    return before, shlex.split(serve)


def test_user_code_service_prepares_the_manifest_then_serves():
    before, serve = user_code_command()
    assert before == "python -m cs_platform.models"
    assert serve[:3] == ["dagster", "code-server", "start"]


def test_user_code_server_command_serves_the_code_location(tmp_path):
    """The server command docker-compose's user_code service runs, on a free local port.
    (Its manifest step is `make manifest`'s, which every test run has just done.)"""
    port = _free_port()
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "CS_PLATFORM_ENV": "local"}
    _, serve = user_code_command()
    options = dict(zip(serve[3::2], serve[4::2]))
    options.update({"-h": "127.0.0.1", "-p": str(port)})
    server = subprocess.Popen(
        [str(bin_dir / "dagster"), *serve[1:3], *[x for pair in options.items() for x in pair]],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            check = subprocess.run([str(bin_dir / "dagster"), "api", "grpc-health-check", "-p", str(port)],
                                   env=env, capture_output=True, text=True)
            if check.returncode == 0:
                break
            assert server.poll() is None, f"code server exited: {server.stderr.read()}"
            assert time.monotonic() < deadline, "code server did not become healthy in 90 s"
            time.sleep(1)
    finally:
        # Serving is what is tested; a slow graceful stop under load is not a failure.
        stop(server, timeout=30)


def test_the_workspace_loads_as_the_webserver_and_daemon_load_it(tmp_path):
    """`dagster definitions validate` loads the code location the way `dagster dev`,
    the webserver and the daemon do (one Definitions at module scope, every
    resource and schedule valid) — what a bare import does not check."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "CS_PLATFORM_ENV": "local",
           "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    proc = subprocess.run([str(bin_dir / "dagster"), "definitions", "validate", "-w", str(ROOT / "workspace.yaml")],
                          env=env, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "All code locations passed validation" in proc.stdout + proc.stderr


def test_the_image_build_parses_the_project_for_bigquery_without_deployment_settings(tmp_path):
    """The Dockerfile prepares the dbt manifest at build time with CS_PLATFORM_ENV=prod,
    where no deployment's settings (GCP_PROJECT, BigQuery credentials) exist yet: the
    prod target must parse without them. (The same `dbt parse` the build step's
    `python -m cs_platform.models` runs, into a scratch target path.)"""
    from cs_platform import settings

    env = {k: v for k, v in os.environ.items() if not k.startswith(("GCP_", "BIGQUERY_", "GOOGLE_"))}
    env.update(CS_PLATFORM_ENV="prod", DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    proc = subprocess.run(
        [settings.dbt_executable(), "parse", "--target", settings.dbt_target("prod"),
         "--project-dir", str(settings.DBT_PROJECT_DIR), "--profiles-dir", str(settings.DBT_PROJECT_DIR),
         "--target-path", str(tmp_path / "target")],
        env=env, capture_output=True, text=True, cwd=settings.DBT_PROJECT_DIR, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    assert manifest["metadata"]["adapter_type"] == "bigquery"


class FakeDockerEngine(http.server.ThreadingHTTPServer):
    """The two calls of the Docker Engine API the DockerRunLauncher's health check makes
    (GET /version, GET /containers/{id}/json), answering as the engine documents
    (https://docs.docker.com/reference/api/engine/): no Docker engine runs here."""

    def __init__(self, containers: dict[str, dict]):
        self.containers = containers

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(handler):  # noqa: N805
                path = handler.path.split("?")[0]
                if path.endswith("/version"):
                    return handler.reply(200, {"ApiVersion": "1.45", "Version": "26.1.0", "MinAPIVersion": "1.24"})
                parts = path.strip("/").split("/")
                if parts[-3:-2] == ["containers"] and parts[-1] == "json":
                    state = self.containers.get(parts[-2])
                    if state is None:
                        return handler.reply(404, {"message": f"No such container: {parts[-2]}"})
                    return handler.reply(200, {"Id": parts[-2], "State": state})
                handler.reply(404, {"message": "page not found"})

            def reply(handler, code: int, body: dict):
                data = json.dumps(body).encode()
                handler.send_response(code)
                handler.send_header("Content-Type", "application/json")
                handler.send_header("Content-Length", str(len(data)))
                handler.end_headers()
                handler.wfile.write(data)

            def log_message(handler, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)


def test_production_run_launcher_reports_a_dead_run_worker(tmp_path, monkeypatch, postgres_database):
    """deploy/dagster.prod.yaml, loaded and validated by Dagster itself, has run
    monitoring on with a launcher that can tell a dead run worker (its container
    exited: kill -9 gives exit code 137) from a running one, frees a dead run's pool
    slots and fails rather than resumes it (so the run-failure alert fires)."""
    from dagster_docker import DockerRunLauncher

    home = production_home(tmp_path, monkeypatch, postgres_database)
    engine = FakeDockerEngine({
        "alive": {"Status": "running", "Running": True, "ExitCode": 0},
        "killed": {"Status": "exited", "Running": False, "ExitCode": 137, "OOMKilled": False},
    })
    threading.Thread(target=engine.serve_forever, daemon=True).start()
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{engine.server_address[1]}")
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            launcher = instance.run_launcher
            assert isinstance(launcher, DockerRunLauncher) and launcher.supports_check_run_worker_health
            assert instance.run_monitoring_enabled and "MONITORING" in instance.get_required_daemon_types()
            assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] > 0
            assert instance.run_monitoring_max_resume_run_attempts == 0

            def health(container_id: str | None):
                tags = {"docker/container_id": container_id} if container_id else {}
                run = instance.add_run(dg.DagsterRun(job_name="warehouse_job", run_id=str(uuid.uuid4()),
                                                     status=dg.DagsterRunStatus.STARTED, tags=tags))
                return launcher.check_run_worker_health(run)

            assert health("alive").status.value == "RUNNING"
            killed = health("killed")
            assert killed.status.value == "FAILED" and '"ExitCode": 137' in killed.msg
            assert health("removed").status.value == "NOT_FOUND"
            assert health(None).status.value == "NOT_FOUND"
    finally:
        engine.shutdown()
        engine.server_close()


def test_run_containers_get_the_image_network_settings_and_docker_socket():
    """What the DockerRunLauncher needs from docker-compose.yml: the image from the
    user-code server, a network that PostgreSQL is on, every setting the product reads
    in production (from the daemon's environment, so the daemon reads .env), and the
    Docker socket in the daemon (launch, health checks) and webserver (terminate)."""
    from cs_platform.settings import PROD_SETTINGS

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    launcher = yaml.safe_load((ROOT / "deploy" / "dagster.prod.yaml").read_text())["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_docker", "DockerRunLauncher")
    config = launcher["config"]

    assert services["user_code"]["environment"]["DAGSTER_CURRENT_IMAGE"] == services["user_code"]["image"]
    network = config["network"]
    assert compose["networks"][network]["name"] == network  # not prefixed with the project name
    assert all(network in service["networks"] for service in services.values())

    passed = set(config["env_vars"])
    assert set(PROD_SETTINGS) | set(services["daemon"]["environment"]) <= passed, \
        sorted(set(PROD_SETTINGS) | set(services["daemon"]["environment"]) - passed)
    assert services["daemon"]["env_file"] == ".env"
    for name in ("daemon", "webserver"):
        assert "/var/run/docker.sock:/var/run/docker.sock" in services[name]["volumes"], name
