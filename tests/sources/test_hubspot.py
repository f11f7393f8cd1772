"""HubSpot loaders against the sandbox: CRM v3 search paging (and its 10,000-result
cap), email events, incremental reads, retries, auth failures, quarantine, drift
and secret hygiene."""

import logging
import math
import time

from cs_platform.defs.sources import hubspot as hs_source
from cs_platform.sources import catalog
from cs_platform.sources.loading import CHECK_COLUMNS, CHECK_NEW_COLUMNS, CHECK_PRIMARY_KEY
from tests.sources.crm_fixtures import (  # noqa: F401 (fixtures)
    PAGE_SIZE,
    SANDBOX_SECRETS,
    _crm_sandbox,
    assert_nowhere,
    assert_tool_defs,
    calls_since,
    check_evaluation,
    crm_sandbox,
    hubspot,
    hubspot_resource,
    route_calls,
    row_count,
    run_log_text,
)

COMPANIES, CONTACTS, EVENTS = (catalog.get("hubspot", n) for n in ("companies", "contacts", "email_events"))
SEARCH = "POST /crm/v3/objects/companies/search"


def asset(obj):
    """The tool's multi-asset over one object: the code path of a subset run."""
    return hs_source.hubspot_objects([obj])


def test_first_load_reads_every_object_over_several_pages(source_data, crm_sandbox, materialize, hubspot):
    loaded = materialize([hs_source.objects], hubspot=hubspot)

    assert loaded.success
    for obj, page_size in [(COMPANIES, PAGE_SIZE), (CONTACTS, PAGE_SIZE), (EVENTS, 5 * PAGE_SIZE)]:
        expected = row_count(source_data, obj)
        rows = loaded.table(obj)
        assert len(rows) == expected, obj.name
        meta = loaded.metadata(obj)
        assert meta["fetched"] == expected
        assert meta["pages_fetched"] == math.ceil(expected / page_size) > 1
        # Exactly the catalog's columns: the properties HubSpot adds unasked are not kept.
        assert loaded.checks(obj)[CHECK_COLUMNS]
        assert set(rows.columns) == {*obj.columns, "_loaded_at", "_load_id"}


def test_second_run_reads_only_the_changed_records(crm_sandbox, materialize, hubspot):
    materialize([asset(COMPANIES)], hubspot=hubspot)
    first, second = (r["id"] for r in crm_sandbox.records("hubspot/companies")[:2])
    crm_sandbox.mutate("hubspot/companies", "update", [
        {"id": first, "properties": {"lifecyclestage": "evangelist"}},
        {"id": second, "properties": {"name": "Renamed Two"}}])
    before = route_calls(crm_sandbox, "hubspot")

    loaded = materialize([asset(COMPANIES)], hubspot=hubspot)

    meta = loaded.metadata(COMPANIES)
    assert meta["fetched"] == 2 and meta["rows_written"] == 2
    assert meta["cursor_after"] > meta["cursor_before"]
    assert calls_since(before, crm_sandbox, "hubspot") == {SEARCH: 1}
    rows = loaded.table(COMPANIES).set_index("id")
    assert rows.loc[first, "properties__lifecyclestage"] == "evangelist"
    assert rows.loc[second, "properties__name"] == "Renamed Two"
    assert len(rows) == 50

    again = materialize([asset(COMPANIES)], hubspot=hubspot)
    assert again.metadata(COMPANIES)["fetched"] == 0
    after = again.table(COMPANIES).set_index("id")
    assert after.drop(columns="_loaded_at").equals(rows.drop(columns="_loaded_at"))


def test_searches_past_the_result_cap_restart_from_the_last_modified_date(source_data, crm_sandbox, materialize,
                                                                         monkeypatch):
    # A cap of 40 results per search (the sandbox answers 400 past it), and 39
    # contacts sharing one modified date (changed in one edit): reading all takes
    # several searches, and a restart inside the tied group neither skips nor repeats.
    monkeypatch.setattr("devkit.sandbox.hubspot.SEARCH_WINDOW", 40)
    tied = [r["id"] for r in crm_sandbox.records("hubspot/contacts")[:39]]
    crm_sandbox.mutate("hubspot/contacts", "update", [{"id": i, "properties": {"jobtitle": "CFO"}} for i in tied])

    loaded = materialize([asset(CONTACTS)], hubspot=hubspot_resource(search_result_cap=40))

    assert len(loaded.table(CONTACTS)) == row_count(source_data, CONTACTS)
    assert loaded.checks(CONTACTS)[CHECK_PRIMARY_KEY]  # nothing read twice


def test_more_records_on_one_modified_date_than_a_search_returns_fail_clearly(crm_sandbox, materialize,
                                                                             monkeypatch):
    monkeypatch.setattr("devkit.sandbox.hubspot.SEARCH_WINDOW", 40)
    tied = [r["id"] for r in crm_sandbox.records("hubspot/contacts")[:45]]
    crm_sandbox.mutate("hubspot/contacts", "update", [{"id": i, "properties": {"jobtitle": "CFO"}} for i in tied])

    loaded = materialize([asset(CONTACTS)], hubspot=hubspot_resource(search_result_cap=40))

    assert "more than 40 contacts share hs_lastmodifieddate" in loaded.error()


def test_new_email_events_are_read_incrementally_and_an_added_field_is_named(crm_sandbox, materialize, hubspot):
    materialize([asset(EVENTS)], hubspot=hubspot)
    crm_sandbox.mutate("hubspot/email_events", "insert", [
        {"type": "OPEN", "recipient": "a@example.com", "emailCampaignId": 70001, "portalId": 4815162},
        {"type": "CLICK", "recipient": "b@example.com", "emailCampaignId": 70001, "portalId": 4815162,
         "appName": "Batch"}])

    loaded = materialize([asset(EVENTS)], hubspot=hubspot)

    assert loaded.metadata(EVENTS)["fetched"] == 2
    drift = check_evaluation(loaded, EVENTS, CHECK_NEW_COLUMNS)
    assert not drift.passed and "appName" in drift.description
    assert "Batch" in set(loaded.table(EVENTS)["appName"])


def test_throttling_and_server_errors_are_retried(crm_sandbox, materialize, hubspot):
    crm_sandbox.add_fault(api="hubspot", route="search", sequence=[429, 500], retry_after=1)
    started = time.monotonic()

    loaded = materialize([asset(COMPANIES)], hubspot=hubspot)

    assert loaded.success
    assert time.monotonic() - started >= 1  # Retry-After was honoured
    meta = loaded.metadata(COMPANIES)
    assert meta["fetched"] == 50
    assert route_calls(crm_sandbox, "hubspot")[SEARCH] == meta["pages_fetched"] + 2 == meta["api_calls"]


def test_a_wrong_token_fails_at_once_naming_the_setting(crm_sandbox, materialize, instance, hubspot,
                                                        monkeypatch, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    wrong = "pat-na1-wrong-token-51c0ffee"
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", wrong)

    loaded = materialize([asset(COMPANIES)], hubspot=hubspot)

    message = loaded.error()
    assert "SourceAuthError" in message and "HUBSPOT_ACCESS_TOKEN" in message
    assert route_calls(crm_sandbox, "hubspot") == {SEARCH: 1}  # not retried
    out, err = capfd.readouterr()
    assert_nowhere([wrong], message, run_log_text(instance, loaded), caplog.text, out, err)


def test_a_malformed_record_is_quarantined(crm_sandbox, materialize, hubspot):
    (bad,) = crm_sandbox.mutate("hubspot/email_events", "insert", [
        {"id": "evt-bad", "type": "OPEN", "recipient": "c@example.com", "emailCampaignId": "spring-promo",
         "portalId": 4815162}])

    loaded = materialize([asset(EVENTS)], hubspot=hubspot)

    assert loaded.metadata(EVENTS)["quarantined"] == 1
    (row,) = loaded.quarantined(EVENTS).to_dict("records")
    assert (row["source"], row["object"], row["record_key"]) == ("hubspot", "email_events", bad["id"])
    assert "emailCampaignId" in row["reason"] and "'spring-promo'" in row["reason"]


def test_secrets_stay_out_of_logs_metadata_and_events(crm_sandbox, materialize, instance, hubspot, caplog, capfd):
    caplog.set_level(logging.DEBUG)

    loaded = materialize([hs_source.objects], hubspot=hubspot)

    assert loaded.success
    out, err = capfd.readouterr()
    log_text = run_log_text(instance, loaded)
    assert "hubspot/companies" in log_text and "raw__hubspot__companies" in err
    assert_nowhere(SANDBOX_SECRETS, log_text, caplog.text, out, err)


def test_job_schedule_and_freshness():
    assert_tool_defs(hs_source, "hubspot", every_minutes=15)
