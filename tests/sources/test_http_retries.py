"""Retry-After handling of `retrying_session` (every API client's session): honoured
when the wait is short, refused at once, with a message naming the API, the call and
the asked wait, when it is past `max_retry_after_seconds`."""

import time
from email.utils import formatdate

import dagster as dg
import pytest
from urllib3.response import HTTPResponse

from cs_platform.resources.http import (
    DEFAULT_MAX_RETRY_AFTER_SECONDS,
    CappedRetry,
    RetryAfterTooLong,
    SourceError,
    retrying_session,
    single_attempt,
)
from devkit.sandbox import CREDENTIALS
from tests.sources.crm_fixtures import _crm_sandbox, crm_sandbox, hubspot_resource, route_calls  # noqa: F401

SEARCH = "POST /crm/v3/objects/companies/search"


def hubspot_search(sandbox, session):
    return session.post(f"{sandbox.urls['hubspot']}/crm/v3/objects/companies/search?archived=false&hapikey=x",
                        json={"limit": 1}, timeout=30,
                        headers={"Authorization": f"Bearer {CREDENTIALS['HUBSPOT_ACCESS_TOKEN']}"})


def test_a_retry_after_past_the_cap_fails_at_once_naming_api_call_and_wait(crm_sandbox, no_long_retry_sleep):
    crm_sandbox.add_fault(api="hubspot", route="search", sequence=[429], retry_after=21600)
    session = retrying_session(backoff_factor=0.01, source="HubSpot")

    with pytest.raises(RetryAfterTooLong) as raised:
        hubspot_search(crm_sandbox, session)

    message = str(raised.value)
    assert message.startswith("HubSpot asked to wait 21600 s (Retry-After) on POST /crm/v3/objects/companies/search; "
                              "the cap is 300 s (max_retry_after_seconds)")
    assert "hapikey" not in message and "archived" not in message  # no query string
    assert isinstance(raised.value, SourceError) and raised.value.status == 429
    assert raised.value.retry_after == 21600
    assert route_calls(crm_sandbox, "hubspot")[SEARCH] == 1  # not retried
    # The session still works (its connection went back to the pool).
    assert hubspot_search(crm_sandbox, session).status_code == 200


@pytest.mark.parametrize("wait", [0, 1])
def test_a_short_retry_after_is_honoured_and_the_call_succeeds(crm_sandbox, no_long_retry_sleep, wait):
    crm_sandbox.add_fault(api="hubspot", route="search", sequence=[429], retry_after=wait)

    response = hubspot_search(crm_sandbox, retrying_session(backoff_factor=0.01, source="HubSpot"))

    assert response.status_code == 200
    assert len(response.raw.retries.history) == 1 and response.raw.retries.history[0].status == 429
    assert route_calls(crm_sandbox, "hubspot")[SEARCH] == 2


def test_the_cap_is_a_setting_and_applies_to_single_attempt_sessions(crm_sandbox, no_long_retry_sleep):
    crm_sandbox.add_fault(api="hubspot", route="search", sequence=[503], retry_after=30)

    with pytest.raises(RetryAfterTooLong, match=r"asked to wait 30 s .* the cap is 10 s"):
        hubspot_search(crm_sandbox, retrying_session(backoff_factor=0.01, source="HubSpot",
                                                     max_retry_after_seconds=10))

    # A session that never retries returns the 429/503 as it is: nothing waits.
    crm_sandbox.add_fault(api="hubspot", route="search", sequence=[429], retry_after=21600)
    assert hubspot_search(crm_sandbox, single_attempt(retrying_session())).status_code == 429


def test_every_api_resource_caps_retry_after_and_names_its_api(crm_sandbox, no_long_retry_sleep):
    # HubSpot (as Freshdesk, Airtable, GA4) passes its name and the default cap.
    crm_sandbox.add_fault(api="hubspot", route="search", sequence=[429], retry_after=21600)
    with dg.build_resources({"hubspot": hubspot_resource()}) as resources:
        client = resources.hubspot.client()

    with pytest.raises(RetryAfterTooLong) as raised:
        client.request("POST", "/crm/v3/objects/companies/search", json={"limit": 1})

    assert str(raised.value).startswith("HubSpot asked to wait 21600 s (Retry-After) on "
                                        "POST /crm/v3/objects/companies/search; the cap is 300 s "
                                        "(max_retry_after_seconds)")
    assert DEFAULT_MAX_RETRY_AFTER_SECONDS == 300


def test_an_http_date_retry_after_is_capped_too():
    retry = CappedRetry(total=6, status_forcelist=(429,), allowed_methods=None, retry_after_max=300,
                        source="Freshdesk")
    later = formatdate(time.time() + 7200, usegmt=True)
    response = HTTPResponse(body=b"", status=429, headers={"Retry-After": later}, preload_content=False)

    with pytest.raises(RetryAfterTooLong) as raised:
        retry.increment("GET", "/api/v2/tickets?updated_since=2026-01-01&api_key=secret", response=response)

    message = str(raised.value)
    assert message.startswith("Freshdesk asked to wait 7") and "on GET /api/v2/tickets;" in message
    assert "api_key" not in message and 7100 <= raised.value.retry_after <= 7200
    # The subclass survives urllib3's copies (`new`), cap and source included.
    copied = retry.new(total=3)
    assert isinstance(copied, CappedRetry)
    assert (copied.source, copied.show_path, copied.retry_after_max) == ("Freshdesk", True, 300)
