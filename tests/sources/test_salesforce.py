"""Salesforce loaders against the sandbox: OAuth client credentials, SOQL queryAll
paging, incremental reads, deletions, retries, auth failures, quarantine, drift
and secret hygiene."""

import dataclasses
import logging
import math
import time

import dagster as dg

from cs_platform.defs.sources import salesforce as sf_source
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
