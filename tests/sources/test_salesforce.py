"""Salesforce loaders against the sandbox: OAuth client credentials, SOQL queryAll
paging, incremental reads, deletions, retries, auth failures, quarantine, drift
and secret hygiene."""

import dataclasses
import logging
import math
import time
import types

import dagster as dg
import urllib3.util.retry

from cs_platform.defs.sources import salesforce as sf_source
from cs_platform.resources.http import single_attempt
from cs_platform.sources import catalog
from tests.sources.crm_fixtures import (  # noqa: F401 (fixtures)
    PAGE_SIZE,
    SANDBOX_SECRETS,
    _crm_sandbox,
    assert_nowhere,
    assert_tool_defs,
    calls_since,
    crm_sandbox,
    route_calls,
    row_count,
    run_log_text,
    salesforce,
    salesforce_resource,
)

ACCOUNT = catalog.get("salesforce", "account")
ACCOUNT_ASSET = sf_source.salesforce_objects([ACCOUNT])  # the code path of a one-object subset
TOKEN, QUERY, QUERY_MORE = "POST /services/oauth2/token", "GET /queryAll", "GET /queryAll/<locator>"


def account_ids(sandbox, n):
    return [r["Id"] for r in sandbox.records("salesforce/Account")[:n]]


def test_first_load_reads_every_object_over_several_pages(source_data, crm_sandbox, materialize, salesforce):
    loaded = materialize([sf_source.objects], salesforce=salesforce)

    assert loaded.success
    for obj in catalog.objects_of("salesforce"):
        expected = row_count(source_data, obj)
        assert len(loaded.table(obj)) == expected, obj.name
        meta = loaded.metadata(obj)
        assert meta["fetched"] == expected
        assert meta["pages_fetched"] == max(1, math.ceil(expected / PAGE_SIZE))
        assert meta["cursor_before"] is None and meta["cursor_after"]
        assert meta["salesforce_api_usage"].endswith("/100000")  # from Sforce-Limit-Info
    assert route_calls(crm_sandbox, "salesforce")[QUERY_MORE] > 0
    # One run, one step, one OAuth login for the seven objects.
    assert route_calls(crm_sandbox, "salesforce")["POST /services/oauth2/token"] == 1
    assert len({e.step_key for e in loaded.result.get_asset_materialization_events()}) == 1


def test_one_object_of_the_shipped_multi_asset_loads_alone(crm_sandbox, instance, warehouse, salesforce):
    result = dg.materialize([sf_source.objects], selection=[dg.AssetKey(ACCOUNT.asset_key_path)],
                            resources={"warehouse": warehouse, "salesforce": salesforce}, instance=instance)
    assert result.success
    assert [e.asset_key for e in result.get_asset_materialization_events()] == [dg.AssetKey(ACCOUNT.asset_key_path)]
    assert warehouse.columns(catalog.get("salesforce", "contact").table) is None  # not loaded
    assert {e.asset_key for e in result.get_asset_check_evaluations()} == {dg.AssetKey(ACCOUNT.asset_key_path)}


def test_second_run_reads_only_the_changed_records(crm_sandbox, materialize, salesforce):
    materialize([ACCOUNT_ASSET], salesforce=salesforce)
    first, second = account_ids(crm_sandbox, 2)
    crm_sandbox.mutate("salesforce/Account", "update", [{"Id": first, "Name": "Renamed One"},
                                                        {"Id": second, "Industry": "Aerospace"}])
    before = route_calls(crm_sandbox, "salesforce")

    loaded = materialize([ACCOUNT_ASSET], salesforce=salesforce)

    meta = loaded.metadata(ACCOUNT)
    assert meta["fetched"] == 2 and meta["rows_written"] == 2
    assert meta["cursor_after"] > meta["cursor_before"]
    assert calls_since(before, crm_sandbox, "salesforce") == {TOKEN: 1, QUERY: 1}
    rows = loaded.table(ACCOUNT).set_index("Id")
    assert rows.loc[first, "Name"] == "Renamed One" and rows.loc[second, "Industry"] == "Aerospace"
    assert len(rows) == 50

    # Nothing changed since: another run reads nothing and leaves the same rows.
    again = materialize([ACCOUNT_ASSET], salesforce=salesforce)
    assert again.metadata(ACCOUNT)["fetched"] == 0
    after = again.table(ACCOUNT).set_index("Id")
    assert after.drop(columns="_loaded_at").equals(rows.drop(columns="_loaded_at"))


def test_a_deleted_record_arrives_flagged_is_deleted(crm_sandbox, materialize, salesforce):
    materialize([ACCOUNT_ASSET], salesforce=salesforce)
    (gone,) = account_ids(crm_sandbox, 1)
    crm_sandbox.mutate("salesforce/Account", "delete", [{"Id": gone}])

    loaded = materialize([ACCOUNT_ASSET], salesforce=salesforce)

    assert loaded.metadata(ACCOUNT)["fetched"] == 1
    rows = loaded.table(ACCOUNT).set_index("Id")
    assert bool(rows.loc[gone, "IsDeleted"]) is True
    assert rows["IsDeleted"].sum() == 1


def test_throttling_and_server_errors_are_retried(crm_sandbox, materialize, salesforce):
    crm_sandbox.add_fault(api="salesforce", route="queryAll", sequence=[429, 500], retry_after=1)
    started = time.monotonic()

    loaded = materialize([ACCOUNT_ASSET], salesforce=salesforce)

    assert loaded.success
    assert time.monotonic() - started >= 1  # Retry-After was honoured
    assert route_calls(crm_sandbox, "salesforce")[QUERY] == 3
    meta = loaded.metadata(ACCOUNT)
    assert meta["fetched"] == 50
    assert meta["api_calls"] == meta["pages_fetched"] + 2


def test_a_wrong_client_secret_fails_at_once_naming_the_setting(crm_sandbox, materialize, instance, salesforce,
                                                                monkeypatch, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-secret-7f3a9c1e"
    monkeypatch.setenv("SALESFORCE_CLIENT_SECRET", wrong)

    loaded = materialize([ACCOUNT_ASSET], salesforce=salesforce)

    message = loaded.error()
    assert "SourceAuthError" in message and "SALESFORCE_CLIENT_SECRET" in message
    assert route_calls(crm_sandbox, "salesforce") == {TOKEN: 1}  # not retried
    out, err = capfd.readouterr()
    assert_nowhere([wrong], message, run_log_text(instance, loaded), caplog.text, out, err)


def _assert_no_query_text(*texts):
    """Neither the SOQL (sent as ?q=) nor any part of the query string reaches the user."""
    for text in texts:
        assert "SELECT" not in text and "?q=" not in text and "q=SELECT" not in text


def test_a_session_expiring_mid_read_logs_in_again_once_and_the_load_completes(crm_sandbox, materialize,
                                                                               salesforce):
    # Account spans 3 pages: the session expires after the first, as a timeout does mid-run.
    crm_sandbox.expire_salesforce_sessions(after_calls=1)

    loaded = materialize([ACCOUNT_ASSET], salesforce=salesforce)

    assert loaded.success, loaded.error()
    calls = route_calls(crm_sandbox, "salesforce")
    assert calls[TOKEN] == 2  # the run's login, and one more when the session expired
    assert calls[QUERY] == 1 and calls[QUERY_MORE] == 3  # the refused page was asked for again
    meta = loaded.metadata(ACCOUNT)
    assert meta["fetched"] == 50 and len(loaded.table(ACCOUNT)) == 50
    assert meta["pages_fetched"] == 3  # the refused call is not a page


def test_every_call_through_the_client_logs_in_again_after_an_expired_session(crm_sandbox, salesforce):
    # The sync engine calls sf.restful / sf.query_all and its own requests over
    # sf.session with sf.headers (single_attempt for inserts): all of them renew.
    with dg.build_resources({"salesforce": salesforce}) as resources:
        sf = resources.salesforce.client()
    crm_sandbox.expire_salesforce_sessions()
    assert sf.restful("limits/")["DailyApiRequests"]["Max"] == 100_000
    crm_sandbox.expire_salesforce_sessions()
    assert sf.query_all("SELECT Id FROM Account")["totalSize"] == 50
    crm_sandbox.expire_salesforce_sessions()
    response = sf.session.get(sf.base_url + "limits/", headers=sf.headers)
    assert response.status_code == 200
    crm_sandbox.expire_salesforce_sessions()
    response = single_attempt(sf.session).get(sf.base_url + "limits/", headers=sf.headers)
    assert response.status_code == 200
    assert route_calls(crm_sandbox, "salesforce")[TOKEN] == 5
    assert sf.headers["Authorization"] == f"Bearer {sf.session_id}"
    assert sf.session_id in crm_sandbox.apis["salesforce"].tokens


def test_an_expired_session_with_revoked_credentials_fails_naming_them(crm_sandbox, materialize, instance,
                                                                       salesforce, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    # After the first page, the connected app is revoked: sessions expire, logins fail.
    crm_sandbox.expire_salesforce_sessions(after_calls=1, revoke=True)

    loaded = materialize([ACCOUNT_ASSET], salesforce=salesforce)

    message = loaded.error()
    assert "SourceAuthError" in message and "SALESFORCE_CLIENT_ID" in message
    assert "expired" in message
    assert route_calls(crm_sandbox, "salesforce")[TOKEN] == 2  # one new login tried, not more
    out, err = capfd.readouterr()
    log_text = run_log_text(instance, loaded)
    _assert_no_query_text(message, log_text)
    assert_nowhere([*SANDBOX_SECRETS, *crm_sandbox.apis["salesforce"].tokens], message, log_text, caplog.text,
                   out, err)


def test_a_new_session_refused_too_fails_naming_the_credentials(crm_sandbox, materialize, salesforce):
    # 401 INVALID_SESSION_ID, a new login, and 401 again: no third attempt.
    crm_sandbox.add_fault(api="salesforce", route="queryAll", sequence=[401, 401])

    loaded = materialize([ACCOUNT_ASSET], salesforce=salesforce)

    message = loaded.error()
    assert "SourceAuthError" in message and "SALESFORCE_CLIENT_ID" in message
    assert "GET /services/data/v61.0/queryAll" in message
    _assert_no_query_text(message)
    calls = route_calls(crm_sandbox, "salesforce")
    assert calls[TOKEN] == 2 and calls[QUERY] == 2


def test_a_failed_query_names_the_call_without_the_soql(crm_sandbox, materialize, salesforce):
    crm_sandbox.add_fault(api="salesforce", route="queryAll", error_rate=1.0, error_status=500)

    loaded = materialize([ACCOUNT_ASSET], salesforce=salesforce)

    message = loaded.error()
    assert "GET /services/data/v61.0/queryAll" in message and "500" in message
    _assert_no_query_text(message)


def test_a_retry_after_past_the_cap_fails_at_once_naming_the_wait(crm_sandbox, materialize, salesforce,
                                                                   no_long_retry_sleep):
    crm_sandbox.add_fault(api="salesforce", route="queryAll", sequence=[429], retry_after=21600)

    loaded = materialize([ACCOUNT_ASSET], salesforce=salesforce)

    message = loaded.error()
    assert ("Salesforce asked to wait 21600 s (Retry-After) on GET /services/data/v61.0/queryAll/; "
            "the cap is 300 s (max_retry_after_seconds)") in message
    _assert_no_query_text(message)
    assert route_calls(crm_sandbox, "salesforce")[QUERY] == 1  # not retried


def test_the_retry_after_cap_is_a_resource_setting(crm_sandbox, materialize, monkeypatch):
    crm_sandbox.add_fault(api="salesforce", route="queryAll", sequence=[429], retry_after=5)
    slept = []
    monkeypatch.setattr(urllib3.util.retry, "time", types.SimpleNamespace(sleep=slept.append, time=time.time))

    loaded = materialize([ACCOUNT_ASSET], salesforce=salesforce_resource(max_retry_after_seconds=2))

    assert "asked to wait 5 s (Retry-After)" in loaded.error()
    assert "the cap is 2 s (max_retry_after_seconds)" in loaded.error()
    assert slept == []


def test_a_malformed_record_is_quarantined(crm_sandbox, materialize, salesforce):
    (bad,) = account_ids(crm_sandbox, 1)
    crm_sandbox.mutate("salesforce/Account", "update", [{"Id": bad, "NumberOfEmployees": "many"}])

    loaded = materialize([ACCOUNT_ASSET], salesforce=salesforce)

    assert loaded.metadata(ACCOUNT)["quarantined"] == 1
    (row,) = loaded.quarantined(ACCOUNT).to_dict("records")
    assert (row["source"], row["object"], row["record_key"]) == ("salesforce", "account", bad)
    assert "NumberOfEmployees" in row["reason"] and "'many'" in row["reason"]
    assert bad not in set(loaded.table(ACCOUNT)["Id"])


def test_a_lone_bad_change_is_quarantined_once_without_blocking_other_changes(crm_sandbox, materialize,
                                                                              salesforce):
    # One bad record in a small incremental load is held in quarantine; the other
    # changes still land, and a record that stays bad is held once, not once per run.
    materialize([ACCOUNT_ASSET], salesforce=salesforce)
    bad, good = account_ids(crm_sandbox, 2)
    crm_sandbox.mutate("salesforce/Account", "update", [{"Id": bad, "NumberOfEmployees": "many"},
                                                        {"Id": good, "NumberOfEmployees": 4321}])

    loaded = materialize([ACCOUNT_ASSET], salesforce=salesforce)
    again = materialize([ACCOUNT_ASSET], salesforce=salesforce)

    assert loaded.metadata(ACCOUNT)["quarantined"] == 1
    table = again.table(ACCOUNT).set_index("Id")
    assert table.loc[good, "NumberOfEmployees"] == 4321
    assert list(again.quarantined(ACCOUNT)["record_key"]) == [bad]


def test_a_field_the_org_no_longer_has_fails_naming_it(crm_sandbox, materialize, salesforce):
    # SOQL selects the catalog's fields, so a field added in the org never arrives
    # unasked; the drift that stops a load is a catalog field the org lacks.
    drifted = dataclasses.replace(ACCOUNT, columns={**ACCOUNT.columns, "Not_In_Org__c": "string"})

    loaded = materialize([sf_source.salesforce_objects([drifted])], salesforce=salesforce)

    assert "No such column 'Not_In_Org__c' on entity 'Account'" in loaded.error()


def test_secrets_stay_out_of_logs_metadata_and_events(crm_sandbox, materialize, instance, salesforce,
                                                      caplog, capfd):
    caplog.set_level(logging.DEBUG)

    loaded = materialize([ACCOUNT_ASSET], salesforce=salesforce)

    access_tokens = list(crm_sandbox.apis["salesforce"].tokens)
    assert loaded.success and access_tokens
    out, err = capfd.readouterr()
    log_text = run_log_text(instance, loaded)
    # What is searched was captured: the event log, the console, the client's debug logs.
    assert "salesforce/account" in log_text and "raw__salesforce__account" in err
    assert "127.0.0.1" in caplog.text
    assert_nowhere([*SANDBOX_SECRETS, *access_tokens], log_text, caplog.text, out, err)


def test_job_schedule_and_freshness():
    assert_tool_defs(sf_source, "salesforce", every_minutes=15)
