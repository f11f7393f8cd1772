"""Airtable emulator over real HTTP with requests."""

from __future__ import annotations

from urllib.parse import quote

import pytest


@pytest.fixture
def at(sandbox, http):
    env = sandbox.env()
    http.headers["Authorization"] = f"Bearer {env['AIRTABLE_TOKEN']}"
    return http, f"{env['AIRTABLE_BASE_URL']}/v0/{env['AIRTABLE_BASE_ID']}/{quote('Feature Requests')}"


def test_wrong_token_is_401(sandbox, http):
    env = sandbox.env()
    response = http.get(f"{env['AIRTABLE_BASE_URL']}/v0/{env['AIRTABLE_BASE_ID']}/Feature%20Requests",
                        headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.json() == {"error": {"type": "AUTHENTICATION_REQUIRED", "message": "Authentication required"}}


def test_pages_with_offset_tokens(at):
    session, url = at
    records, offset, calls = [], None, 0
    while True:
        body = session.get(url, params={"pageSize": 2, **({"offset": offset} if offset else {})}).json()
        calls += 1
        records += body["records"]
        offset = body.get("offset")
        if not offset:
            break
    assert calls == 3 and [r["fields"]["Title"] for r in records] == [f"Feature {n}" for n in range(1, 6)]
    assert set(records[0]) == {"id", "createdTime", "fields"}
    assert "Priority" not in records[1]["fields"]  # Airtable leaves empty fields out


def test_bad_offset_page_size_and_base(sandbox, at, http):
    session, url = at
    assert session.get(url, params={"offset": "itrNope/rec2"}).json()["error"]["type"] == \
        "LIST_RECORDS_ITERATOR_NOT_AVAILABLE"
    assert session.get(url, params={"pageSize": 101}).status_code == 422
    wrong_base = session.get(url.replace(sandbox.env()["AIRTABLE_BASE_ID"], "appOther"))
    assert wrong_base.status_code == 403
    assert wrong_base.json()["error"]["type"] == "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND"


def test_rate_limit_fault(sandbox, at):
    session, url = at
    sandbox.add_fault(api="airtable", sequence=[429])
    response = session.get(url)
    assert response.status_code == 429 and response.json()["error"]["type"] == "RATE_LIMIT_REACHED"
    assert session.get(url).status_code == 200
