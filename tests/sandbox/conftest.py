"""Fixtures for the sandbox tests: a tiny data set in the sample-data layout, one
sandbox per test session (reset before every test), and real clients."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests
from simple_salesforce import Salesforce

from devkit.sandbox import Sandbox

# The sandbox's "now": after every timestamp in the fixture data.
NOW = datetime(2026, 11, 5, 12, 0, tzinfo=timezone.utc)
SF_VERSION = "61.0"


def sf_id(prefix: str, n: int) -> str:
    return f"{prefix}8d0000000{n:03d}AAA"


def write_sample_data(root: Path) -> Path:
    """Write a small data set in the generator's layout: wire-shaped JSON Lines, one
    record per line, as each vendor API returns it."""

    def put(relpath: str, records: list[dict]) -> None:
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in records))

    users = [sf_id("005", 1), sf_id("005", 2)]
    put("salesforce/User.jsonl", [
        {"Id": users[k], "Name": f"CSM {k}", "Email": f"csm{k}@example.com", "Title": "CSM", "IsActive": True,
         "SystemModstamp": "2026-09-01T09:00:00.000+0000"} for k in range(2)])
    put("salesforce/Account.jsonl", [
        {"Id": sf_id("001", n), "Name": f"Account {n}", "OwnerId": users[n % 2],
         "Product_Account_Id__c": f"acct-{n:03d}", "Industry": "Software", "NumberOfEmployees": 10 * n,
         "CSM_Impression__c": "Good", "CSM_Impression_Date__c": "2026-09-15",
         "Legacy_Rating__c": "B",  # a data-file column neither the catalog nor crm_setup.yaml declares
         "CreatedDate": "2026-01-01T00:00:00.000+0000",
         "SystemModstamp": f"2026-10-{n:02d}T10:00:00.000+0000", "IsDeleted": n == 7} for n in range(1, 8)])
    put("salesforce/Contact.jsonl", [
        {"Id": sf_id("003", n), "AccountId": sf_id("001", n), "FirstName": "Ann", "LastName": f"Lee{n}",
         "Email": f"ann{n}@example.com", "Title": "VP", "Is_Champion__c": n == 1,
         "SystemModstamp": f"2026-10-{n:02d}T11:00:00.000+0000", "IsDeleted": False} for n in range(1, 4)])
    put("salesforce/Opportunity.jsonl", [
        {"Id": sf_id("006", n), "AccountId": sf_id("001", n), "Name": f"Renewal {n}", "Type": "Renewal",
         "StageName": "Prospecting", "Amount": 12000.0, "CloseDate": "2026-12-31", "IsClosed": False,
         "IsWon": False, "SystemModstamp": f"2026-10-{n:02d}T12:00:00.000+0000", "IsDeleted": False}
        for n in range(1, 3)])
    put("salesforce/Contract.jsonl", [
        {"Id": sf_id("800", n), "AccountId": sf_id("001", n), "ContractNumber": f"{100 + n:08d}",
         "Status": "Activated", "StartDate": "2026-01-01", "EndDate": "2026-12-31", "ContractTerm": 12,
         "ARR__c": 12000.0, "Auto_Renew__c": True, "SystemModstamp": f"2026-10-{n:02d}T13:00:00.000+0000",
         "IsDeleted": False} for n in range(1, 3)])
    put("salesforce/Task.jsonl", [
        {"Id": sf_id("00T", n), "AccountId": sf_id("001", n), "WhatId": sf_id("001", n), "OwnerId": users[0],
         "Subject": f"Call {n}", "Type": "Call", "Status": "Completed", "Priority": "Normal",
         "ActivityDate": "2026-10-01", "Description": None,
         "CS_External_Id__c": "task-ext-1" if n == 1 else None, "CreatedDate": "2026-10-01T00:00:00.000+0000",
         "SystemModstamp": f"2026-10-{n:02d}T14:00:00.000+0000", "IsDeleted": False} for n in range(1, 3)])
    put("salesforce/Event.jsonl", [
        {"Id": sf_id("00U", 1), "AccountId": sf_id("001", 1), "WhatId": sf_id("001", 1), "OwnerId": users[0],
         "Subject": "QBR", "Type": "Meeting", "StartDateTime": "2026-10-10T09:00:00.000+0000",
         "EndDateTime": "2026-10-10T10:00:00.000+0000", "SystemModstamp": "2026-10-10T10:00:00.000+0000",
         "IsDeleted": False}])

    put("hubspot/companies.jsonl", [
        {"id": str(100 + n), "properties": {
            "name": f"Company {n}", "domain": f"c{n}.example.com", "product_account_id": f"acct-{n:03d}",
            "lifecyclestage": "customer", "hs_lastmodifieddate": f"2026-10-{n:02d}T10:00:00.000Z",
            "createdate": "2026-01-01T00:00:00.000Z", "hs_object_id": str(100 + n)},
         "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": f"2026-10-{n:02d}T10:00:00.000Z",
         "archived": False} for n in range(1, 8)])
    put("hubspot/contacts.jsonl", [
        {"id": str(200 + n), "properties": {
            "email": f"p{n}@c{n}.example.com", "firstname": "Pat", "lastname": f"Doe{n}", "jobtitle": "CTO",
            "associatedcompanyid": str(100 + n), "hs_lastmodifieddate": f"2026-10-{n:02d}T10:00:00.000Z",
            "lastmodifieddate": f"2026-10-{n:02d}T10:00:00.000Z", "createdate": "2026-01-01T00:00:00.000Z",
            "hs_object_id": str(200 + n)},
         "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": f"2026-10-{n:02d}T10:00:00.000Z",
         "archived": False} for n in range(1, 4)])
    day_ms = 86_400_000
    oct1 = int(datetime(2026, 10, 1, tzinfo=timezone.utc).timestamp() * 1000)
    put("hubspot/email_events.jsonl", [
        {"id": f"evt-{n}", "type": ["SENT", "DELIVERED", "OPEN", "CLICK", "OPEN"][n - 1],
         "created": oct1 + n * day_ms, "recipient": f"p{n}@example.com", "emailCampaignId": 9000 + n % 2,
         "portalId": 4242} for n in range(1, 6)])

    put("freshdesk/companies.jsonl", [
        {"id": n, "name": f"Company {n}", "custom_fields": {"cf_product_account_id": f"acct-{n:03d}"},
         "created_at": "2026-01-01T00:00:00Z", "updated_at": f"2026-10-{n:02d}T08:00:00Z"} for n in range(1, 4)])
    put("freshdesk/tickets.jsonl", [
        {"id": n, "company_id": 1 + n % 3, "requester_id": 500 + n, "subject": f"Ticket {n}", "type": "Question",
         "status": 2, "priority": 1 + n % 4, "tags": ["escalation"] if n == 3 else [],
         "created_at": "2026-10-20T08:00:00Z" if n == 7 else f"2026-09-{n:02d}T08:00:00Z",
         "updated_at": f"2026-10-{n + 10:02d}T08:00:00Z", "due_by": "2026-11-30T08:00:00Z",
         "fr_due_by": "2026-11-30T08:00:00Z"} for n in range(1, 8)])
    put("freshdesk/satisfaction_ratings.jsonl", [
        {"id": n, "survey_id": 1, "ticket_id": n, "user_id": 500 + n, "ratings": {"default_question": 103},
         "feedback": "thanks", "created_at": f"2026-10-{n + 10:02d}T09:00:00Z",
         "updated_at": f"2026-10-{n + 10:02d}T09:00:00Z"} for n in range(1, 4)])

    put("airtable/feature_requests.jsonl", [
        {"id": f"recFeature{n:07d}", "createdTime": f"2026-10-{n:02d}T10:00:00.000Z",
         "fields": {"Title": f"Feature {n}", "AccountId": f"acct-{n:03d}", "Category": "Reports",
                    "Status": "New", "Priority": None if n == 2 else "High", "Votes": n,
                    "RequestedAt": f"2026-10-{n:02d}"}} for n in range(1, 6)])

    put("google_analytics/page_views_daily.jsonl", [
        {"date": f"202611{d:02d}", "customEvent_account_id": f"acct-{a:03d}", "hostName": host,
         "screenPageViews": 10 * a + d, "sessions": a + d, "activeUsers": a}
        for d in range(1, 4) for a in range(1, 4) for host in ("app.example.com", "help.example.com")])
    return root


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory) -> Path:
    return write_sample_data(tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="session")
def _sandbox(sample_dir, tmp_path_factory):
    with Sandbox(sample_dir, state_dir=tmp_path_factory.mktemp("sandbox-state"), salesforce_page_size=3,
                 now=lambda: NOW) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(_sandbox) -> Sandbox:
    """The session's sandbox, reset to the fixture data before each test."""
    _sandbox.reset()
    return _sandbox


@pytest.fixture
def http() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE (set on these machines) would override verify
    yield session
    session.close()


@pytest.fixture
def sf_session(sandbox) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = str(sandbox.ca_path)
    yield session
    session.close()


def salesforce_client(sandbox: Sandbox, session: requests.Session) -> Salesforce:
    """simple-salesforce over the sandbox: client-credentials token, then a direct session
    (SalesforceLogin only knows *.salesforce.com domains)."""
    env = sandbox.env()
    token = session.post(f"{env['SALESFORCE_LOGIN_URL']}/services/oauth2/token", data={
        "grant_type": "client_credentials", "client_id": env["SALESFORCE_CLIENT_ID"],
        "client_secret": env["SALESFORCE_CLIENT_SECRET"]})
    token.raise_for_status()
    body = token.json()
    return Salesforce(instance_url=body["instance_url"], session_id=body["access_token"], session=session,
                      version=SF_VERSION)


@pytest.fixture
def sf(sandbox, sf_session) -> Salesforce:
    return salesforce_client(sandbox, sf_session)
