"""Freshdesk emulator over real HTTP with requests."""

from __future__ import annotations

import pytest


@pytest.fixture
def fd(sandbox, http):
    env = sandbox.env()
    http.auth = (env["FRESHDESK_API_KEY"], "X")
    return http, env["FRESHDESK_BASE_URL"]


def _all_pages(session, url, params):
    rows, calls = [], 0
    response = session.get(url, params=params)
    while True:
        calls += 1
        assert response.status_code == 200
        rows += response.json()
        link = response.links.get("next")
        if not link:
            return rows, calls
        response = session.get(link["url"])


def test_wrong_key_is_401(sandbox, http):
    response = http.get(sandbox.urls["freshdesk"] + "/api/v2/tickets", auth=("wrong", "X"))
    assert response.status_code == 401
    assert response.json() == {"code": "invalid_credentials",
                               "message": "You have to be logged in to perform this action."}


def test_tickets_updated_since_pages_through_link_header(fd):
    session, base = fd
    rows, calls = _all_pages(session, base + "/api/v2/tickets", {
        "updated_since": "2026-10-13T00:00:00Z", "per_page": 2, "order_by": "updated_at", "order_type": "asc"})
    assert [t["id"] for t in rows] == [3, 4, 5, 6, 7] and calls == 3
    assert rows[0]["tags"] == ["escalation"]


def test_tickets_default_to_the_last_30_days_of_creation(fd):
    session, base = fd
    assert [t["id"] for t in session.get(base + "/api/v2/tickets").json()] == [7]


def test_companies_and_satisfaction_ratings(fd):
    session, base = fd
    companies, _ = _all_pages(session, base + "/api/v2/companies", {"per_page": 2})
    assert [c["id"] for c in companies] == [1, 2, 3]
    assert companies[0]["custom_fields"] == {"cf_product_account_id": "acct-001"}
    ratings, _ = _all_pages(session, base + "/api/v2/surveys/satisfaction_ratings",
                            {"created_since": "2026-10-12T00:00:00Z", "per_page": 1})
    assert [r["id"] for r in ratings] == [2, 3]


def test_user_edit_moves_updated_at(sandbox, fd):
    session, base = fd
    sandbox.mutate("freshdesk/tickets", "update", [{"id": 2, "status": 4}])
    rows = session.get(base + "/api/v2/tickets", params={"updated_since": "2026-11-01T00:00:00Z"}).json()
    assert [(t["id"], t["status"]) for t in rows] == [(2, 4)]


def test_validation_and_rate_limit_errors(sandbox, fd):
    session, base = fd
    too_big = session.get(base + "/api/v2/tickets", params={"per_page": 101})
    assert too_big.status_code == 400 and too_big.json()["errors"][0]["field"] == "per_page"
    sandbox.add_fault(route="tickets", sequence=[429], retry_after=7)
    throttled = session.get(base + "/api/v2/tickets")
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "7"
    assert session.get(base + "/api/v2/tickets").status_code == 200
