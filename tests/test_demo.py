"""`make demo ARGS=--no-ui` end to end, at a small size: every asset of the graph
materializes, raw row counts equal what the generator produced, the syncs write
to the sandbox's CRM, every run is a run of one of the code location's own jobs
(so the UI's job pages, timeline and re-execution know it), the sensors have
ticked, and the printed account page is the link its Salesforce Account holds."""

import json
import os
import subprocess
import sys

import dagster as dg
import duckdb
import pytest

from cs_platform.sources import catalog


@pytest.mark.slow
def test_demo_builds_the_whole_graph(tmp_path):
    env = {**os.environ, "CS_PLATFORM_DATA_DIR": str(tmp_path / "data"),
           "DAGSTER_HOME": str(tmp_path / "dagster_home"),
           "DUCKDB_PATH": str(tmp_path / "data" / "warehouse.duckdb"),
           "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}
    for key in [k for k in env if k.startswith(("SALESFORCE_", "HUBSPOT_", "FRESHDESK_", "AIRTABLE_",
                                                 "GA4_", "SLACK_", "KARTE_", "PRODUCT_DB_"))]:
        del env[key]
    proc = subprocess.run([sys.executable, "-m", "devkit.demo", "--no-ui", "--accounts", "50",
                           "--days", "42", "--port", "0", "--report-port", "0"],
                          env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Built " in proc.stdout

    manifest = json.loads((tmp_path / "data" / "sample" / "manifest.json").read_text())
    with duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True) as con:
        for obj in catalog.SOURCE_OBJECTS.values():
            loaded = con.execute(f"select count(*) from {obj.table}").fetchone()[0]
            assert loaded == manifest["row_counts"][f"{obj.tool}/{obj.name}"], obj.table
        assert con.execute("select count(*) from marts.account_360").fetchone()[0] == 50
        at_risk = con.execute("select count(*) from marts.account_segments "
                              "where segment_key = 'renewal_at_risk'").fetchone()[0]

    writes = [json.loads(line) for line in (tmp_path / "data" / "sandbox" / "writes.jsonl").read_text().splitlines()]
    assert writes, "the syncs wrote nothing to the sandbox"
    summary = {line.split()[0]: line.split()[1] for line in proc.stdout.splitlines()
               if line.strip().startswith(("sync/", "play/"))}
    assert summary["sync/salesforce/account_health"] == "50"
    assert summary["play/renewal_risk_task"] == str(at_risk)  # it backfills: a Task per account at risk

    # The printed account page is the page written, and the link on its Salesforce Account.
    lines = proc.stdout.splitlines()
    page = next(line.split(": ", 1)[1].strip() for line in lines if line.strip().startswith("account page:"))
    link = next(line.rsplit(" = ", 1)[1] for line in lines if "CS_Report_URL__c = " in line)
    assert page == link and page.endswith(".html")
    assert (tmp_path / "data" / "reports" / page.rsplit("/", 1)[1]).exists()
    assert any(line.strip().startswith("renewal board: http://127.0.0.1:") for line in lines)

    # Every run is one of the code location's jobs, launched through it (re-executable from the UI).
    from cs_platform.definitions import defs

    jobs = {j.name for j in defs().get_repository_def().get_all_jobs()}
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        runs = instance.get_runs()
        assert runs and {r.job_name for r in runs} <= jobs, {r.job_name for r in runs} - jobs
        assert all(r.remote_job_origin is not None for r in runs)
        assert {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}
        by_sensor = {r.tags.get("dagster/sensor_name") for r in runs} - {None}
        assert {"karte_nps_responses_files", "activation_automation_sensor", "plays_automation_sensor"} <= by_sensor
