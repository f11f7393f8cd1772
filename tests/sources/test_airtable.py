"""Airtable feature requests over the sandbox: paging, rate limits, bad token, full refresh."""

import math
import time

from cs_platform.defs.sources.airtable import feature_requests
from cs_platform.sources import catalog

FEATURE_REQUESTS = catalog.get("airtable", "feature_requests")
LIST_ROUTE = "GET /v0/<base>/Feature Requests"


def list_calls(sandbox) -> int:
    return sandbox.calls("airtable")["routes"].get(LIST_ROUTE, 0)


def test_reads_every_page(materialize, airtable, api_sandbox, source_data):
    expected = source_data.row_counts["airtable/feature_requests"]
    loaded = materialize([feature_requests], airtable=airtable)
    assert loaded.success
    assert loaded.warehouse.row_count(FEATURE_REQUESTS.table) == expected
    assert list_calls(api_sandbox) == math.ceil(expected / airtable.page_size) > 1
    table = loaded.table(FEATURE_REQUESTS)
    assert table["fields__Title"].notna().all() and table["fields__AccountId"].notna().all()


def test_a_429_with_retry_after_is_waited_out(materialize, airtable, api_sandbox, source_data):
    api_sandbox.add_fault(route="Feature Requests", sequence=[429], retry_after=1)
    started = time.monotonic()
    loaded = materialize([feature_requests], airtable=airtable)
    assert loaded.success
    assert time.monotonic() - started >= 1  # waited as told
    assert loaded.warehouse.row_count(FEATURE_REQUESTS.table) == source_data.row_counts["airtable/feature_requests"]


def test_a_429_without_retry_after_waits_the_configured_penalty(materialize, airtable, api_sandbox):
    api_sandbox.add_fault(route="Feature Requests", sequence=[429])
    started = time.monotonic()
    assert materialize([feature_requests], airtable=airtable).success
    assert time.monotonic() - started >= airtable.rate_limit_wait_seconds


def test_a_rejected_token_fails_naming_the_setting(materialize, airtable, api_sandbox, monkeypatch):
    monkeypatch.setenv("AIRTABLE_TOKEN", "patWrongToken.oops")
    loaded = materialize([feature_requests], airtable=airtable)
    assert not loaded.success
    error = loaded.error()
    assert "AIRTABLE_TOKEN" in error and "401" in error
    assert "patWrongToken" not in error
    assert list_calls(api_sandbox) == 1  # a 401 is not retried


def test_full_refresh_drops_records_deleted_in_airtable(materialize, airtable, api_sandbox, source_data):
    assert materialize([feature_requests], airtable=airtable).success
    gone = api_sandbox.records("airtable/feature_requests")[0]["id"]
    api_sandbox.mutate("airtable/feature_requests", "delete", [{"id": gone}])

    loaded = materialize([feature_requests], airtable=airtable)
    table = loaded.table(FEATURE_REQUESTS)
    assert len(table) == source_data.row_counts["airtable/feature_requests"] - 1
    assert gone not in set(table["id"])

