"""The admin API (/__sandbox/ on every server), fault rules, the write log and the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from devkit.sandbox import Sandbox
from devkit.sandbox.__main__ import main as sandbox_cli

from .conftest import NOW, sf_id

REPO = Path(__file__).resolve().parents[2]


def test_admin_api_over_http(sandbox, http):
    admin = sandbox.urls["hubspot"] + "/__sandbox"
    env = sandbox.env()
    assert http.get(admin + "/health").json()["api"] == "hubspot"
    assert http.get(admin + "/endpoints").json() == env

    fault = http.post(admin + "/faults", json={"route": "crm/v3/objects/companies", "sequence": [503]}).json()
    assert fault["faults"][0]["sequence"] == [503]
    auth = {"Authorization": f"Bearer {env['HUBSPOT_ACCESS_TOKEN']}"}
    assert http.get(env["HUBSPOT_BASE_URL"] + "/crm/v3/objects/companies", headers=auth).status_code == 503
    assert http.get(admin + "/faults").json()["faults"] == []  # the sequence is spent

    # Records can be changed through any server, e.g. Salesforce data through HubSpot's port.
    changed = http.post(admin + "/records", json={"object": "salesforce/Account", "op": "update",
                                                  "records": [{"Id": sf_id("001", 1), "Industry": "Retail"}]})
    assert changed.json()["records"][0]["Industry"] == "Retail"
    got = http.get(admin + "/records", params={"object": "salesforce/Account", "key": sf_id("001", 1)}).json()
    assert got["records"][0]["SystemModstamp"] >= "2026-11-05T12:00:00.000+0000"
    # A bare name resolves to the server's own API; elsewhere an ambiguous one is refused.
    assert http.post(admin + "/records", json={"object": "companies", "op": "update", "records": []}).ok
    ambiguous = http.post(sandbox.urls["airtable"] + "/__sandbox/records",
                          json={"object": "companies", "op": "update", "records": []})
    assert ambiguous.status_code == 400 and "ambiguous" in ambiguous.json()["error"]
    calls = http.get(admin + "/calls").json()
    assert calls["routes"]["GET /crm/v3/objects/companies"] == 1 and calls["total"] == 1
    assert calls["by_api"] == {"hubspot": 1}

    http.post(sandbox.urls["slack"] + "/services/x", json={"text": "x"})
    http.post(env["SLACK_WEBHOOK_URL"], json={"text": "hello"})
    writes = http.get(sandbox.urls["salesforce"] + "/__sandbox/writes", verify=str(sandbox.ca_path),
                      params={"api": "slack"}).json()["writes"]
    assert [w["records"][0]["text"] for w in writes] == ["hello"]

    assert http.post(admin + "/reset").json() == {"ok": True}
    assert http.get(admin + "/calls").json()["total"] == 0
    assert http.get(admin + "/writes").json()["writes"] == []
    restored = http.get(admin + "/records", params={"object": "salesforce/Account", "key": sf_id("001", 1)}).json()
    assert restored["records"][0]["Industry"] == "Software"


def test_error_rate_is_reproducible_with_the_seed(sample_dir, tmp_path, http):
    def statuses(sandbox):
        env = sandbox.env()
        sandbox.add_fault(api="freshdesk", error_rate=0.5, error_status=502)
        return [http.get(env["FRESHDESK_BASE_URL"] + "/api/v2/companies",
                         auth=(env["FRESHDESK_API_KEY"], "X")).status_code for _ in range(20)]

    with Sandbox(sample_dir, state_dir=tmp_path / "a", seed=7, now=lambda: NOW) as first:
        a = statuses(first)
        first.reset()
        b = statuses(first)
    assert a == b and 502 in a and 200 in a


def test_latency_and_times(sandbox, http):
    env = sandbox.env()
    auth = {"Authorization": f"Bearer {env['AIRTABLE_TOKEN']}"}
    url = f"{env['AIRTABLE_BASE_URL']}/v0/{env['AIRTABLE_BASE_ID']}/Feature%20Requests"
    sandbox.add_fault(api="airtable", latency_ms=60, times=1)
    started = time.perf_counter()
    assert http.get(url, headers=auth).status_code == 200
    assert time.perf_counter() - started >= 0.06
    assert sandbox.faults() == []


def test_writes_are_appended_to_the_state_dir(sandbox, http):
    http.post(sandbox.env()["SLACK_WEBHOOK_URL"], json={"text": "persisted"})
    lines = (sandbox.state_dir / "writes.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["records"] == [{"text": "persisted"}]


def test_cli_serves_until_sigterm(sample_dir, tmp_path):
    state = tmp_path / "state"
    ports = [arg for api in ("salesforce", "hubspot", "freshdesk", "airtable", "google-analytics", "slack")
             for arg in (f"--{api}-port", "0")]
    env = {k: v for k, v in os.environ.items() if k != "REQUESTS_CA_BUNDLE"}
    process = subprocess.Popen(
        [sys.executable, "-m", "devkit.sandbox", "--data", str(sample_dir), "--state", str(state),
         "--ready-file", str(tmp_path / "ready"), *ports],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        endpoints = state / "endpoints.json"
        deadline = time.monotonic() + 20
        while not endpoints.exists():
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline, "sandbox did not become ready"
            time.sleep(0.05)
        settings = json.loads(endpoints.read_text())
        assert (tmp_path / "ready").exists() and Path(settings["SALESFORCE_CA_BUNDLE"]).exists()
        session = requests.Session()
        session.trust_env = False
        assert session.get(settings["SALESFORCE_LOGIN_URL"] + "/__sandbox/health",
                           verify=settings["SALESFORCE_CA_BUNDLE"]).json()["ok"] is True
        for key in ("HUBSPOT_BASE_URL", "FRESHDESK_BASE_URL", "AIRTABLE_BASE_URL", "GA4_BASE_URL"):
            assert session.get(settings[key] + "/__sandbox/health").status_code == 200
        assert session.post(settings["SLACK_WEBHOOK_URL"], json={"text": "hi"}).text == "ok"
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert "sandbox ready" in out and not endpoints.exists()


def test_cli_reports_a_missing_data_dir(tmp_path, capsys):
    assert sandbox_cli(["--data", str(tmp_path / "none"), "--state", str(tmp_path / "state")]) == 2
    assert "does not exist" in capsys.readouterr().err
