"""`make demo ARGS=--no-ui` end to end, at a small size: every asset of the graph
materializes, raw row counts equal what the generator produced, the syncs write
to the sandbox's CRM."""

import json
import os
import subprocess
import sys

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
                           "--days", "42"], env=env, capture_output=True, text=True, timeout=900)
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
