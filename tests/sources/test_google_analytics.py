"""GA4 page views over the sandbox's runReport: paging, ranges, faults, bad credentials."""

import json
import math
from collections import Counter

import pandas as pd

from cs_platform.defs.sources.google_analytics import page_views_daily
from cs_platform.sources import catalog

PAGE_VIEWS = catalog.get("google_analytics", "page_views_daily")
REPORT_ROUTE = "POST /v1beta/properties/<id>:runReport"


def report_calls(sandbox) -> int:
    return sandbox.calls("google_analytics")["routes"].get(REPORT_ROUTE, 0)


def generated_rows_per_day(source_data) -> Counter:
    path = source_data.out_dir / "google_analytics" / "page_views_daily.jsonl"
    with open(path) as handle:
        days = [json.loads(line)["date"] for line in handle]
    return Counter(f"{d[:4]}-{d[4:6]}-{d[6:]}" for d in days)


def test_one_day_is_read_over_several_pages(materialize, google_analytics, api_sandbox, source_data, data_days):
    day = data_days[-3]
    expected = generated_rows_per_day(source_data)[day]
    loaded = materialize([page_views_daily], partition_key=day, google_analytics=google_analytics)
    assert loaded.success
    assert report_calls(api_sandbox) == math.ceil(expected / google_analytics.page_size) > 1
    table = loaded.table(PAGE_VIEWS)
    assert len(table) == expected
    assert set(table["date"]) == {pd.Timestamp(day)}
    assert table["customEvent_account_id"].str.startswith("A").all()
    assert table[["screenPageViews", "sessions", "activeUsers"]].notna().all().all()
    assert all(loaded.checks(PAGE_VIEWS).values())


def test_a_range_is_one_report_and_one_write(materialize, google_analytics, api_sandbox, source_data, data_days):
    week = data_days[-7:]
    per_day = generated_rows_per_day(source_data)
    expected = sum(per_day[d] for d in week)
    loaded = materialize([page_views_daily], days=(week[0], week[-1]), google_analytics=google_analytics)
    assert loaded.success
    assert report_calls(api_sandbox) == math.ceil(expected / google_analytics.page_size)
    assert loaded.warehouse.row_count(PAGE_VIEWS.table) == expected
    assert {e.partition for e in loaded.result.get_asset_materialization_events()} == set(week)

    # Re-loading one day of the range replaces that day only.
    again = materialize([page_views_daily], partition_key=week[0], google_analytics=google_analytics)
    assert again.warehouse.row_count(PAGE_VIEWS.table) == expected


def test_throttling_and_server_errors_are_retried(materialize, google_analytics, api_sandbox, data_days):
    api_sandbox.add_fault(route="runReport", sequence=[429, 500], retry_after=0)
    loaded = materialize([page_views_daily], partition_key=data_days[-1], google_analytics=google_analytics)
    assert loaded.success
    assert len(loaded.table(PAGE_VIEWS)) > 0


def test_rejected_credentials_fail_naming_the_ga4_settings(materialize, google_analytics, api_sandbox,
                                                           monkeypatch, data_days):
    monkeypatch.setenv("GA4_ACCESS_TOKEN", "ya29.expired")
    loaded = materialize([page_views_daily], partition_key=data_days[-1], google_analytics=google_analytics)
    assert not loaded.success
    error = loaded.error()
    assert "GA4_ACCESS_TOKEN" in error and "application-default credentials" in error and "401" in error
    assert "ya29.expired" not in error
    assert report_calls(api_sandbox) == 1
