"""Fixtures and helpers for the Salesforce, HubSpot and Freshdesk loader tests.

They build on conftest.py (the session's generated data set, `materialize`, the
per-test warehouse and instance) and add a sandbox of their own over the same
data with small Salesforce pages, the three API resources wired as in production
(secrets through `dg.EnvVar`, small pages and backoff) and a few assertions.
The test modules import what they use from here.
"""

from collections.abc import Sequence
from datetime import timedelta

import dagster as dg
import pytest

from cs_platform.freshness import policy_for
from cs_platform.resources.freshdesk import FreshdeskResource
from cs_platform.resources.hubspot import HubSpotResource
from cs_platform.resources.salesforce import SalesforceResource
from cs_platform.sources import catalog
from cs_platform.sources.catalog import SourceObject
from devkit.sample_data import Manifest
from devkit.sandbox import CREDENTIALS, Sandbox
from tests.conftest import point_at_sandbox

# Small pages, so that the small data set is read over several of them.
PAGE_SIZE = 20
SANDBOX_SECRETS = [CREDENTIALS[k] for k in ("SALESFORCE_CLIENT_SECRET", "HUBSPOT_ACCESS_TOKEN",
                                            "FRESHDESK_API_KEY")]


@pytest.fixture(scope="session")
def _crm_sandbox(source_data):
    with Sandbox(source_data.out_dir, salesforce_page_size=PAGE_SIZE) as sandbox:
        yield sandbox


@pytest.fixture
def crm_sandbox(_crm_sandbox, monkeypatch) -> Sandbox:
    """The session's sandbox reset to the generated data, its URLs and credentials in
    the environment (as `settings` reads them)."""
    return point_at_sandbox(_crm_sandbox, monkeypatch)


def salesforce_resource(**overrides) -> SalesforceResource:
    env = dg.EnvVar
    return SalesforceResource(**{
        "login_url": env("SALESFORCE_LOGIN_URL"), "client_id": env("SALESFORCE_CLIENT_ID"),
        "client_secret": env("SALESFORCE_CLIENT_SECRET"), "ca_bundle": env("SALESFORCE_CA_BUNDLE"),
        "retry_backoff_seconds": 0.01, **overrides})


def hubspot_resource(**overrides) -> HubSpotResource:
    env = dg.EnvVar
    return HubSpotResource(**{
        "base_url": env("HUBSPOT_BASE_URL"), "access_token": env("HUBSPOT_ACCESS_TOKEN"),
        "retry_backoff_seconds": 0.01, "search_page_size": PAGE_SIZE, "events_page_size": 5 * PAGE_SIZE,
        **overrides})


def freshdesk_resource(**overrides) -> FreshdeskResource:
    env = dg.EnvVar
    return FreshdeskResource(**{
        "base_url": env("FRESHDESK_BASE_URL"), "api_key": env("FRESHDESK_API_KEY"),
        "retry_backoff_seconds": 0.01, "page_size": PAGE_SIZE, **overrides})


@pytest.fixture
def salesforce(crm_sandbox) -> SalesforceResource:
    return salesforce_resource()


@pytest.fixture
def hubspot(crm_sandbox) -> HubSpotResource:
    return hubspot_resource()


@pytest.fixture
def freshdesk(crm_sandbox) -> FreshdeskResource:
    return freshdesk_resource()


def row_count(data: Manifest, obj: SourceObject) -> int:
    return data.row_counts[f"{obj.tool}/{obj.name}"]


def check_evaluation(loaded, obj: SourceObject, name: str) -> dg.AssetCheckEvaluation:
    (evaluation,) = [e for e in loaded.result.get_asset_check_evaluations()
                     if e.asset_key == dg.AssetKey(obj.asset_key_path) and e.check_name == name]
    return evaluation


def run_log_text(instance: dg.DagsterInstance, loaded) -> str:
    """Everything the run recorded in the instance: log messages, metadata, errors."""
    return "\n".join(repr(entry) for entry in instance.all_logs(loaded.result.run_id))


def route_calls(sandbox: Sandbox, api: str) -> dict[str, int]:
    return dict(sandbox.calls(api)["routes"])


def calls_since(before: dict[str, int], sandbox: Sandbox, api: str) -> dict[str, int]:
    after = route_calls(sandbox, api)
    return {route: n - before.get(route, 0) for route, n in after.items() if n != before.get(route, 0)}


def assert_nowhere(secrets: Sequence[str], *texts: str) -> None:
    for secret in secrets:
        for text in texts:
            assert secret not in text


def assert_tool_defs(module, tool: str, every_minutes: int) -> None:
    """One job over all the tool's objects, a schedule every `every_minutes` (stopped
    locally), and a freshness policy on every asset: warn after 2, fail after 4 periods."""
    (schedule,) = module.defs.schedules
    assert schedule.name == f"{tool}_every_{every_minutes}min"
    assert schedule.cron_schedule == f"*/{every_minutes} * * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert schedule.job.name == f"{tool}_job"
    keys = {dg.AssetKey(o.asset_key_path) for o in catalog.objects_of(tool)}
    assert schedule.job.selection.resolve([module.objects]) == keys
    (asset,) = module.defs.assets  # one multi-asset: one login per run
    assert set(asset.keys) == keys and asset.can_subset
    for spec in asset.specs:  # the policy the code location applies (cs_platform/freshness.py)
        policy = policy_for(spec)
        assert policy.warn_window.to_timedelta() == timedelta(minutes=2 * every_minutes)
        assert policy.fail_window.to_timedelta() == timedelta(minutes=4 * every_minutes)
