"""Salesforce connection: OAuth client-credentials login, then simple-salesforce.

`client()` is what both the raw loaders (SOQL reads) and the reverse-ETL engine
(sObject Collections, Bulk API 2.0 through `sf.bulk2`) use: one login, one
retrying session whose 429/5xx handling and CA trust apply to every call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg
import requests

from cs_platform.resources.http import SourceAuthError, check_response, describe, retrying_session

if TYPE_CHECKING:  # simple-salesforce (with its SOAP client) loads when a client is made
    from simple_salesforce import Salesforce

CREDENTIALS = "SALESFORCE_CLIENT_ID / SALESFORCE_CLIENT_SECRET"
# OAuth errors (RFC 6749 §5.2) that mean "these credentials are wrong", which
# Salesforce answers with 400 rather than 401.
_OAUTH_CREDENTIAL_ERRORS = {"invalid_client", "invalid_client_id", "unauthorized_client", "invalid_grant"}


class SalesforceResource(dg.ConfigurableResource):
    """A connected app's client-credentials flow against `login_url`
    (https://<my-domain>.my.salesforce.com in production)."""

    login_url: str
    client_id: str
    client_secret: str
    api_version: str = "61.0"
    ca_bundle: str | None = None  # a private CA (the sandbox's); None = system trust store
    retry_backoff_seconds: float = 0.5  # urllib3 backoff factor; tests make it tiny
    timeout_seconds: float = 120.0  # per HTTP call; SOQL pages of 2,000 rows can be slow

    def session(self) -> requests.Session:
        # The timeout applies to every call made through the session, including
        # simple-salesforce's own (Collections, queries, Bulk), which pass none.
        return retrying_session(backoff_factor=self.retry_backoff_seconds, ca_bundle=self.ca_bundle,
                                timeout=self.timeout_seconds)

    def login(self, session: requests.Session) -> tuple[str, str]:
        """Client-credentials token request; returns (instance_url, access_token)."""
        response = session.post(
            f"{self.login_url.rstrip('/')}/services/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": self.client_id,
                  "client_secret": self.client_secret},
            timeout=self.timeout_seconds,
        )
        if response.status_code == 400 and _oauth_error(response) in _OAUTH_CREDENTIAL_ERRORS:
            raise SourceAuthError(
                f"Salesforce rejected the credentials ({describe(response)}, "
                f"{_oauth_error(response)}): check {CREDENTIALS}.")
        body = check_response(response, source="Salesforce", credential_hint=CREDENTIALS).json()
        return body["instance_url"], body["access_token"]

    def client(self) -> Salesforce:
        """A logged-in simple-salesforce client on a retrying session."""
        from simple_salesforce import Salesforce

        session = self.session()
        instance_url, access_token = self.login(session)
        return Salesforce(instance_url=instance_url, session_id=access_token,
                          version=self.api_version, session=session)


def _oauth_error(response: requests.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None
