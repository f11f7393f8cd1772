"""Fixtures for the alert sensors: a sandbox (its Slack webhook records every
message; no sample data needed), a persistent Dagster instance (sensors read it),
a DuckDB file, and the resources wired through `dg.EnvVar` as in production."""

import dagster as dg
import pytest

from cs_platform.resources.airtable import AirtableResource
from cs_platform.resources.karte_exports import KarteExportsResource
from cs_platform.resources.slack import SlackResource
from cs_platform.resources.warehouse import DuckDBWarehouse
from devkit.sandbox import Sandbox
from tests.conftest import point_at_sandbox


@pytest.fixture(scope="session")
def _session_sandbox():
    with Sandbox(None) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(_session_sandbox, monkeypatch) -> Sandbox:
    return point_at_sandbox(_session_sandbox, monkeypatch)


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture
def karte_inbox(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    return inbox


@pytest.fixture
def resources(sandbox, tmp_path, karte_inbox) -> dict:
    return {
        "warehouse": DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb")),
        "airtable": AirtableResource(base_url=dg.EnvVar("AIRTABLE_BASE_URL"), token=dg.EnvVar("AIRTABLE_TOKEN"),
                                     base_id=dg.EnvVar("AIRTABLE_BASE_ID")),
        "karte_exports": KarteExportsResource(location=str(karte_inbox)),
        "slack": SlackResource(webhook_url=dg.EnvVar("SLACK_WEBHOOK_URL")),
    }


@pytest.fixture
def slack_messages(sandbox):
    """Reads the text of every message the sandbox's webhook accepted, oldest first."""
    return lambda: [record["text"] for write in sandbox.writes("slack") for record in write["records"]]
