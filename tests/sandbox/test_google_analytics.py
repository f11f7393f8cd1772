"""GA4 Data API emulator over real HTTP with requests."""

from __future__ import annotations

import pytest

DIMENSIONS = [{"name": "date"}, {"name": "customEvent:account_id"}, {"name": "hostName"}]
METRICS = [{"name": "screenPageViews"}, {"name": "sessions"}, {"name": "activeUsers"}]


@pytest.fixture
def ga(sandbox, http):
    env = sandbox.env()
    http.headers["Authorization"] = f"Bearer {env['GA4_ACCESS_TOKEN']}"
    url = f"{env['GA4_BASE_URL']}/v1beta/properties/{env['GA4_PROPERTY_ID']}:runReport"
    return lambda body: http.post(url, json=body)


def test_wrong_token_is_401(sandbox, http):
    env = sandbox.env()
    response = http.post(f"{env['GA4_BASE_URL']}/v1beta/properties/{env['GA4_PROPERTY_ID']}:runReport",
                         json={}, headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401 and response.json()["error"]["status"] == "UNAUTHENTICATED"


def test_run_report_pages_with_limit_and_offset(ga):
    rows, offset = [], 0
    while True:
        body = ga({"dateRanges": [{"startDate": "2026-11-01", "endDate": "2026-11-03"}],
                   "dimensions": DIMENSIONS, "metrics": METRICS, "limit": 5, "offset": offset}).json()
        rows += body["rows"]
        offset += 5
        if offset >= body["rowCount"]:
            break
    assert len(rows) == 18 and body["rowCount"] == 18
    assert [h["name"] for h in body["dimensionHeaders"]] == ["date", "customEvent:account_id", "hostName"]
    assert body["metricHeaders"][0] == {"name": "screenPageViews", "type": "TYPE_INTEGER"}
    first = rows[0]
    assert [v["value"] for v in first["dimensionValues"]] == ["20261101", "acct-001", "app.example.com"]
    assert [v["value"] for v in first["metricValues"]] == ["11", "2", "1"]  # strings, as GA4 sends


def test_fewer_dimensions_aggregate_and_empty_reports_omit_rows(ga):
    body = ga({"dateRanges": [{"startDate": "2026-11-02", "endDate": "2026-11-03"}],
               "dimensions": [{"name": "customEvent:account_id"}], "metrics": [{"name": "screenPageViews"}]}).json()
    assert {r["dimensionValues"][0]["value"]: r["metricValues"][0]["value"] for r in body["rows"]} == \
        {"acct-001": str(2 * (12 + 13)), "acct-002": str(2 * (22 + 23)), "acct-003": str(2 * (32 + 33))}
    empty = ga({"dateRanges": [{"startDate": "2025-01-01", "endDate": "2025-01-02"}],
                "dimensions": DIMENSIONS, "metrics": METRICS}).json()
    assert "rows" not in empty and "rowCount" not in empty


def test_invalid_fields_and_property(sandbox, ga, http):
    bad = ga({"dateRanges": [{"startDate": "2026-11-01", "endDate": "2026-11-03"}],
              "dimensions": [{"name": "country"}], "metrics": METRICS})
    assert bad.status_code == 400 and bad.json()["error"]["status"] == "INVALID_ARGUMENT"
    env = sandbox.env()
    other = http.post(f"{env['GA4_BASE_URL']}/v1beta/properties/999:runReport", json={},
                      headers={"Authorization": f"Bearer {env['GA4_ACCESS_TOKEN']}"})
    assert other.status_code == 403 and other.json()["error"]["status"] == "PERMISSION_DENIED"
