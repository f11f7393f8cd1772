"""Freshdesk loaders against the sandbox: `Link` paging, incremental reads (with
whole-second timestamps), retries, auth failures, quarantine, drift and secret
hygiene."""

import logging
import math
import time
from datetime import datetime, timedelta, timezone

from cs_platform.defs.sources import freshdesk as fd_source
from cs_platform.sources import catalog
from cs_platform.sources.loading import CHECK_COLUMNS, CHECK_NEW_COLUMNS
from devkit.sandbox import Sandbox
from tests.sources.crm_fixtures import (  # noqa: F401 (fixtures)
    PAGE_SIZE,
    SANDBOX_SECRETS,
    _crm_sandbox,
    assert_nowhere,
    assert_tool_defs,
    calls_since,
    check_evaluation,
    crm_sandbox,
    freshdesk,
    route_calls,
    row_count,
    run_log_text,
)

COMPANIES, TICKETS, RATINGS = (catalog.get("freshdesk", n) for n in ("companies", "tickets", "satisfaction_ratings"))
LIST_TICKETS, LIST_COMPANIES = "GET /api/v2/tickets", "GET /api/v2/companies"


def asset(obj):
    """The tool's multi-asset over one object: the code path of a subset run."""
    return fd_source.freshdesk_objects([obj])


def ticket_ids(sandbox, n):
    return [r["id"] for r in sandbox.records("freshdesk/tickets")[:n]]


def test_first_load_reads_every_object_over_several_pages(source_data, crm_sandbox, materialize, freshdesk):
    loaded = materialize([fd_source.objects], freshdesk=freshdesk)

    assert loaded.success
    for obj in (COMPANIES, TICKETS, RATINGS):
        expected = row_count(source_data, obj)
        assert len(loaded.table(obj)) == expected, obj.name
        meta = loaded.metadata(obj)
        assert meta["fetched"] == expected
        assert meta["pages_fetched"] == max(1, math.ceil(expected / PAGE_SIZE))
        assert loaded.checks(obj)[CHECK_COLUMNS]
    # Tickets created over 30 days ago too (the list's default window without updated_since).
    created = loaded.table(TICKETS)["created_at"]
    assert created.min() < datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(days=30)


def test_second_run_reads_only_the_changed_records(crm_sandbox, materialize, freshdesk):
    materialize([asset(TICKETS)], freshdesk=freshdesk)
    first, second = ticket_ids(crm_sandbox, 2)
    crm_sandbox.mutate("freshdesk/tickets", "update", [{"id": first, "status": 5}, {"id": second, "priority": 4}])
    before = route_calls(crm_sandbox, "freshdesk")

    loaded = materialize([asset(TICKETS)], freshdesk=freshdesk)

    meta = loaded.metadata(TICKETS)
    assert meta["fetched"] == 2 and meta["rows_written"] == 2
    assert meta["cursor_after"] > meta["cursor_before"]
    assert calls_since(before, crm_sandbox, "freshdesk") == {LIST_TICKETS: 1}
    rows = loaded.table(TICKETS).set_index("id")
    assert rows.loc[first, "status"] == 5 and rows.loc[second, "priority"] == 4

    again = materialize([asset(TICKETS)], freshdesk=freshdesk)
    assert again.metadata(TICKETS)["fetched"] == 0
    after = again.table(TICKETS).set_index("id")
    assert after.drop(columns="_loaded_at").equals(rows.drop(columns="_loaded_at"))


def test_a_change_in_the_same_second_as_the_last_loaded_one_is_not_lost(source_data, materialize, freshdesk,
                                                                        monkeypatch):
    # A clock stopped before the data: every edit is stamped a millisecond after the
    # newest record, and Freshdesk writes whole seconds, so all land in one second.
    with Sandbox(source_data.out_dir, now=lambda: datetime(2000, 1, 1, tzinfo=timezone.utc)) as frozen:
        for name, value in frozen.env().items():
            monkeypatch.setenv(name, value)
        first, second = ticket_ids(frozen, 2)
        frozen.mutate("freshdesk/tickets", "update", [{"id": first, "status": 5}])
        materialize([asset(TICKETS)], freshdesk=freshdesk)
        (edited,) = frozen.mutate("freshdesk/tickets", "update", [{"id": second, "status": 5}])
        assert edited["updated_at"] == frozen.records("freshdesk/tickets", first)[0]["updated_at"]

        loaded = materialize([asset(TICKETS)], freshdesk=freshdesk)

    meta = loaded.metadata(TICKETS)
    assert meta["fetched"] == 1 and meta["unchanged_skipped"] >= 1
    assert loaded.table(TICKETS).set_index("id").loc[second, "status"] == 5


def test_companies_are_listed_in_full_but_only_changes_are_loaded(source_data, crm_sandbox, materialize, freshdesk):
    # The company list has no modified-since filter.
    materialize([asset(COMPANIES)], freshdesk=freshdesk)
    company = crm_sandbox.records("freshdesk/companies")[0]["id"]
    crm_sandbox.mutate("freshdesk/companies", "update", [{"id": company, "name": "Renamed Co"}])
    before = route_calls(crm_sandbox, "freshdesk")

    loaded = materialize([asset(COMPANIES)], freshdesk=freshdesk)

    meta = loaded.metadata(COMPANIES)
    assert meta["fetched"] == 1 and meta["unchanged_skipped"] == row_count(source_data, COMPANIES) - 1
    assert calls_since(before, crm_sandbox, "freshdesk") == {LIST_COMPANIES: meta["pages_fetched"]}
    assert loaded.table(COMPANIES).set_index("id").loc[company, "name"] == "Renamed Co"


def test_throttling_and_server_errors_are_retried(source_data, crm_sandbox, materialize, freshdesk):
    crm_sandbox.add_fault(api="freshdesk", route="tickets", sequence=[429, 500], retry_after=1)
    started = time.monotonic()

    loaded = materialize([asset(TICKETS)], freshdesk=freshdesk)

    assert loaded.success
    assert time.monotonic() - started >= 1  # Retry-After was honoured
    meta = loaded.metadata(TICKETS)
    assert meta["fetched"] == row_count(source_data, TICKETS)
    assert route_calls(crm_sandbox, "freshdesk")[LIST_TICKETS] == meta["pages_fetched"] + 2 == meta["api_calls"]


def test_a_wrong_api_key_fails_at_once_naming_the_setting(crm_sandbox, materialize, instance, freshdesk,
                                                          monkeypatch, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-freshdesk-key-9d4e2b"
    monkeypatch.setenv("FRESHDESK_API_KEY", wrong)

    loaded = materialize([asset(TICKETS)], freshdesk=freshdesk)

    message = loaded.error()
    assert "SourceAuthError" in message and "FRESHDESK_API_KEY" in message
    assert route_calls(crm_sandbox, "freshdesk") == {LIST_TICKETS: 1}  # not retried
    out, err = capfd.readouterr()
    assert_nowhere([wrong], message, run_log_text(instance, loaded), caplog.text, out, err)


def test_a_malformed_record_is_quarantined(source_data, crm_sandbox, materialize, freshdesk):
    (bad,) = ticket_ids(crm_sandbox, 1)
    crm_sandbox.mutate("freshdesk/tickets", "update", [{"id": bad, "priority": "urgent"}])

    loaded = materialize([asset(TICKETS)], freshdesk=freshdesk)

    assert loaded.metadata(TICKETS)["quarantined"] == 1
    (row,) = loaded.quarantined(TICKETS).to_dict("records")
    assert (row["source"], row["object"], row["record_key"]) == ("freshdesk", "tickets", str(bad))
    assert "priority" in row["reason"] and "'urgent'" in row["reason"]
    assert len(loaded.table(TICKETS)) == row_count(source_data, TICKETS) - 1


def test_an_added_field_is_named_as_schema_drift(crm_sandbox, materialize, freshdesk):
    materialize([asset(TICKETS)], freshdesk=freshdesk)
    (ticket,) = ticket_ids(crm_sandbox, 1)
    crm_sandbox.mutate("freshdesk/tickets", "update", [{"id": ticket, "source": 7}])

    loaded = materialize([asset(TICKETS)], freshdesk=freshdesk)

    drift = check_evaluation(loaded, TICKETS, CHECK_NEW_COLUMNS)
    assert not drift.passed and "source" in drift.description
    assert drift.metadata["added_columns"].value == ["source"]
    assert loaded.table(TICKETS).set_index("id").loc[ticket, "source"] == "7"  # kept, as text


def test_secrets_stay_out_of_logs_metadata_and_events(crm_sandbox, materialize, instance, freshdesk,
                                                      caplog, capfd):
    caplog.set_level(logging.DEBUG)

    loaded = materialize([fd_source.objects], freshdesk=freshdesk)

    assert loaded.success
    out, err = capfd.readouterr()
    log_text = run_log_text(instance, loaded)
    assert "freshdesk/tickets" in log_text and "raw__freshdesk__tickets" in err
    assert_nowhere(SANDBOX_SECRETS, log_text, caplog.text, out, err)


def test_job_schedule_and_freshness():
    assert_tool_defs(fd_source, "freshdesk", every_minutes=30)
